"""Task sets (Security Hub ECS.16) end to end against moto in server mode: the event path describes a task set a
call names without its response, the sweep judges the task sets DescribeServices gives for a service with the
EXTERNAL deployment controller and archives those deleted since, and their findings are on an Other resource
that names AWS::ECS::TaskSet.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, register_sample_task_definitions

from ecsguard.handlers.scanner import handler
from ecsguard.settings import Settings
from ecsguard.sweep import sweep_regions
from ecsguard.wiring import build_sweeper
from policy_catalog import narrowed_policy_dir

POLICY = "ecs-task-set-no-public-ip"
CHECKOUT = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/checkout"


@pytest.fixture
def policy_dir() -> Path:
    return narrowed_policy_dir([POLICY])


def external_service(ecs: Any) -> None:
    """The sample task definitions, and the checkout service of prod with the EXTERNAL deployment controller."""
    register_sample_task_definitions(ecs)
    ecs.create_service(cluster="prod", serviceName="checkout", deploymentController={"type": "EXTERNAL"})


def create_task_set(ecs: Any, assign_public_ip: str, external_id: str) -> str:
    created = ecs.create_task_set(
        cluster="prod",
        service="checkout",
        externalId=external_id,
        taskDefinition="payments-api:1",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"], "assignPublicIp": assign_public_ip}
        },
    )
    return str(created["taskSet"]["taskSetArn"])


def update_without_response(task_set: str) -> dict[str, Any]:
    """The sample UpdateTaskSet event naming ``task_set``, without its response (so it is described)."""
    event = copy.deepcopy(load_event("ecs-update-task-set.json"))
    event["detail"]["requestParameters"]["taskSet"] = task_set
    event["detail"]["responseElements"] = None
    return event


def finding(aws: Aws, task_set: str) -> dict[str, Any]:
    return aws.findings()[f"ecsguard/{POLICY}/{task_set}"]


def test_update_task_set_without_response_describes_the_task_set_it_names(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a task set that assigns public IPs, and an UpdateTaskSet event naming it, without its response
    external_service(aws.ecs)
    task_set = create_task_set(aws.ecs, "ENABLED", "green")
    event = update_without_response(task_set)

    # WHEN it is handled
    answer = handler(event, None)

    # THEN the task set was described and fails ECS.16, on an Other resource that names its type
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == ("evaluated", task_set, [POLICY])
    stored = finding(aws, task_set)
    assert stored["Compliance"]["Status"] == "FAILED"
    assert [(r["Type"], r["Id"], r["Details"]) for r in stored["Resources"]] == [
        ("Other", task_set, {"Other": {"ResourceType": "AWS::ECS::TaskSet"}})
    ]
    assert stored["ProductFields"]["ecsguard/PolicyId"] == POLICY


def test_update_task_set_naming_a_deleted_task_set_archives_its_findings(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a task set judged FAILED, then deleted before a late UpdateTaskSet event without response arrives
    external_service(aws.ecs)
    task_set = create_task_set(aws.ecs, "ENABLED", "green")
    event = update_without_response(task_set)
    handler(event, None)
    aws.ecs.delete_task_set(cluster="prod", service="checkout", taskSet=task_set)

    # WHEN the late event is handled
    answer = handler(event, None)

    # THEN the task set is gone: its finding is archived rather than the event failing
    assert (answer["action"], answer["resource"]) == ("archived", task_set)
    assert (finding(aws, task_set)["RecordState"], finding(aws, task_set)["Compliance"]["Status"]) == (
        "ARCHIVED",
        "NOT_AVAILABLE",
    )


def test_sweep_judges_the_task_sets_of_an_external_service_and_archives_deleted_ones(aws: Aws) -> None:
    # GIVEN an EXTERNAL service with a task set that assigns public IPs and one that does not
    external_service(aws.ecs)
    public = create_task_set(aws.ecs, "ENABLED", "blue")
    private = create_task_set(aws.ecs, "DISABLED", "green")
    settings = Settings.from_environment(
        {
            "ECSGUARD_AWS_MAX_ATTEMPTS": "2",
            "ECSGUARD_PACKS": "all",
            "ECSGUARD_POLICY_DIR": str(narrowed_policy_dir([POLICY])),
        }
    )

    # WHEN the account is swept
    (report,), failures = sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [REGION])

    # THEN each task set has its own finding, one FAILED, one PASSED
    assert failures == []
    assert {(r.resource.id, r.status.value) for r in report.results} == {(public, "FAIL"), (private, "PASS")}
    assert finding(aws, public)["Compliance"]["Status"] == "FAILED"
    assert finding(aws, private)["Compliance"]["Status"] == "PASSED"

    # WHEN the public task set is deleted and the account swept again
    aws.ecs.delete_task_set(cluster="prod", service="checkout", taskSet=public)
    (report,), failures = sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [REGION])

    # THEN its finding is archived and the other stays
    assert failures == []
    assert report.archived == [f"ecsguard/{POLICY}/{public}"]
    assert finding(aws, public)["RecordState"] == "ARCHIVED"
    assert (finding(aws, private)["RecordState"], finding(aws, private)["Compliance"]["Status"]) == (
        "ACTIVE",
        "PASSED",
    )
