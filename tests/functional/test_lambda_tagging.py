"""The tagging policies (Security Hub ECS.13, ECS.14, ECS.15) end to end against moto in server mode: a
resource's tags are read where AWS gives them (a creating call's request, DescribeTaskDefinition's and
DescribeServices' TAGS, DescribeClusters), and TagResource and UntagResource judge the resource again on the tags
it has now.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, create_payments_service, load_event, register_sample_task_definitions

from ecsguard.handlers.scanner import handler
from policy_catalog import narrowed_policy_dir

SERVICE_TAGGED, CLUSTER_TAGGED, TASK_DEFINITION_TAGGED = (
    "ecs-service-tagged",
    "ecs-cluster-tagged",
    "ecs-task-definition-tagged",
)
PAYMENTS_SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/payments-api"
PAYMENTS_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/payments-api:1"
ANALYTICS = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/analytics"
TEAM = [{"key": "team", "value": "payments"}]


@pytest.fixture
def policy_dir() -> Path:
    return narrowed_policy_dir([SERVICE_TAGGED, CLUSTER_TAGGED, TASK_DEFINITION_TAGGED])


def tagging_event(call: str, resource_arn: str, number: int, at: str) -> dict[str, Any]:
    """The sample TagResource event, as ``call`` on ``resource_arn``, event ``number`` recorded ``at``."""
    event = copy.deepcopy(load_event("ecs-tag-resource.json"))
    event["id"] = f"00000000-0000-0000-0000-{number:012d}"
    event["time"] = event["detail"]["eventTime"] = at
    event["detail"]["eventName"] = call
    event["detail"]["requestParameters"] = {"resourceArn": resource_arn, "tags": TEAM}
    return event


def compliance(aws: Aws, policy_id: str, resource_arn: str) -> tuple[str, str]:
    finding = aws.findings()[f"ecsguard/{policy_id}/{resource_arn}"]
    return finding["Compliance"]["Status"], finding["RecordState"]


def failures_notified(aws: Aws) -> list[tuple[str, list[str]]]:
    documents = [json.loads(message["Body"]) for message in aws.messages()]
    return sorted((d["resource"]["id"], [f["policy_id"] for f in d["failures"]]) for d in documents)


def test_service_tagged_after_an_untagged_creation_passes_the_same_finding(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the payments-api service created without tags: its CreateService event fails ECS.13, with a message
    register_sample_task_definitions(aws.ecs)
    create_payments_service(aws.ecs)
    answer = handler(load_event("ecs-create-service.json"), None)
    assert answer["failed_policies"] == [SERVICE_TAGGED]
    assert compliance(aws, SERVICE_TAGGED, PAYMENTS_SERVICE) == ("FAILED", "ACTIVE")
    assert failures_notified(aws) == [(PAYMENTS_SERVICE, [SERVICE_TAGGED])]

    # WHEN the service is tagged, and that TagResource event is handled
    aws.ecs.tag_resource(resourceArn=PAYMENTS_SERVICE, tags=TEAM)
    answer = handler(load_event("ecs-tag-resource.json"), None)

    # THEN the service was described with its tags, and the same finding passes, without a message
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == ("evaluated", PAYMENTS_SERVICE, [])
    assert compliance(aws, SERVICE_TAGGED, PAYMENTS_SERVICE) == ("PASSED", "ACTIVE")
    assert failures_notified(aws) == []


def test_update_service_judges_the_tags_the_service_has_not_their_absence_from_the_response(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the reports service exists, tagged, and UpdateService's response (which leaves tags out) arrives
    register_sample_task_definitions(aws.ecs)
    aws.ecs.create_service(
        cluster="prod", serviceName="reports", taskDefinition="reports-efs:3", launchType="FARGATE", tags=TEAM
    )
    event = load_event("ecs-update-service.json")
    assert "tags" not in event["detail"]["responseElements"]["service"]

    # WHEN it is handled
    answer = handler(event, None)

    # THEN the service was described with its tags: ECS.13 passes rather than being left unjudged
    reports = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/reports"
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == ("evaluated", reports, [])
    assert compliance(aws, SERVICE_TAGGED, reports) == ("PASSED", "ACTIVE")


def test_task_definition_untagged_fails_and_tagged_again_passes(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN payments-api:1 registered with a team tag, as its RegisterTaskDefinition event says: it passes ECS.15
    aws.ecs.register_task_definition(
        family="payments-api",
        containerDefinitions=[
            {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1", "memory": 512}
        ],
        tags=TEAM,
    )
    handler(load_event("ecs-register-task-definition.json"), None)
    assert compliance(aws, TASK_DEFINITION_TAGGED, PAYMENTS_TD) == ("PASSED", "ACTIVE")

    # WHEN its only tag is removed (the sample UntagResource event)
    aws.ecs.untag_resource(resourceArn=PAYMENTS_TD, tagKeys=["team"])
    answer = handler(load_event("ecs-untag-resource.json"), None)

    # THEN the same finding fails, with one message
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == (
        "evaluated",
        PAYMENTS_TD,
        [TASK_DEFINITION_TAGGED],
    )
    assert compliance(aws, TASK_DEFINITION_TAGGED, PAYMENTS_TD) == ("FAILED", "ACTIVE")
    assert failures_notified(aws) == [(PAYMENTS_TD, [TASK_DEFINITION_TAGGED])]

    # WHEN it is tagged again, later
    aws.ecs.tag_resource(resourceArn=PAYMENTS_TD, tags=TEAM)
    handler(tagging_event("TagResource", PAYMENTS_TD, 901, "2026-11-20T14:00:00Z"), None)

    # THEN it passes again
    assert compliance(aws, TASK_DEFINITION_TAGGED, PAYMENTS_TD) == ("PASSED", "ACTIVE")


def test_cluster_tagging_event_describes_the_cluster_and_judges_its_tags(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the analytics cluster, created without tags
    aws.ecs.create_cluster(clusterName="analytics")

    # WHEN an UntagResource event names it
    answer = handler(tagging_event("UntagResource", ANALYTICS, 902, "2026-11-20T14:05:00Z"), None)

    # THEN it is described and fails ECS.14 on an AwsEcsCluster resource
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == (
        "evaluated",
        ANALYTICS,
        [CLUSTER_TAGGED],
    )
    finding = aws.findings()[f"ecsguard/{CLUSTER_TAGGED}/{ANALYTICS}"]
    assert [resource["Type"] for resource in finding["Resources"]] == ["AwsEcsCluster"]
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["Severity"]["Label"] == "LOW"


def test_tagging_event_for_a_deleted_task_definition_archives_rather_than_fails(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN payments-api:1 judged, then deregistered and deleted before its UntagResource event is handled
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-register-task-definition.json"), None)
    aws.ecs.deregister_task_definition(taskDefinition=PAYMENTS_TD)
    aws.ecs.delete_task_definitions(taskDefinitions=[PAYMENTS_TD])

    # WHEN the late UntagResource event is handled
    answer = handler(load_event("ecs-untag-resource.json"), None)

    # THEN its findings are archived: the event does not fail into the dead-letter queue for a resource that is gone
    assert (answer["action"], answer["resource"]) == ("archived", PAYMENTS_TD)
    assert compliance(aws, TASK_DEFINITION_TAGGED, PAYMENTS_TD) == ("NOT_AVAILABLE", "ARCHIVED")


def test_tagging_event_for_a_deregistered_task_definition_archives(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN payments-api:1 judged, then deregistered (INACTIVE, still described)
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-register-task-definition.json"), None)
    aws.ecs.deregister_task_definition(taskDefinition=PAYMENTS_TD)

    # WHEN a TagResource event names it
    answer = handler(tagging_event("TagResource", PAYMENTS_TD, 903, "2026-11-20T14:10:00Z"), None)

    # THEN its findings are archived, not judged again
    assert (answer["action"], answer["resource"]) == ("archived", PAYMENTS_TD)
    assert compliance(aws, TASK_DEFINITION_TAGGED, PAYMENTS_TD) == ("NOT_AVAILABLE", "ARCHIVED")
