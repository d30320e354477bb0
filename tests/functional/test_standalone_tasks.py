"""Every door into ECS, end to end against moto in server mode: standalone tasks (RunTask, StartTask) judged on their
task definition with their overrides applied and on their own launch settings, archived when they stop; task sets
judged on what they run; a service deploying through task sets never judged as a service without a task definition.

The handler loads the whole catalog (policies/); what each test asserts is about the policies it names.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, register_sample_task_definitions
from fault_proxy import FaultProxy

from ecsguard.handlers.scanner import handler
from ecsguard.observability import logger

SECRETS = "ecs-secrets-managed"
EFS = "ecs-efs-fargate-platform"
# A plaintext password given at launch, in the RunTask overrides: the task definition itself holds none.
PLANTED = "PLANTED-launch-7d41-NEVER-PRINT"
RUN_TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
EFS_TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/1b2c3d4e5f60718293a4b5c6d7e8f90a"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/payments-api:2026.11.20"


def register_payments_api(ecs: Any) -> str:
    """The task definition the RunTask sample runs, with no secret in its environment as registered."""
    registered = ecs.register_task_definition(
        family="payments-api",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {
                "name": "api",
                "image": IMAGE,
                "essential": True,
                "environment": [{"name": "RECONCILE_DATE", "value": "2026-11-01"}],
                "secrets": [
                    {"name": "DB_TOKEN", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/reports/db-token"}
                ],
            }
        ],
    )
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def register_reports_efs(ecs: Any) -> str:
    """An EFS task definition for Fargate, the one the EFS RunTask sample runs."""
    registered = ecs.register_task_definition(
        family="reports-efs",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "reports", "image": IMAGE, "essential": True}],
        volumes=[{"name": "media", "efsVolumeConfiguration": {"fileSystemId": "fs-0a1b2c3d4e5f67890"}}],
    )
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def launched(name: str, task_definition: str, task_arn: str | None = None) -> dict[str, Any]:
    """A sample RunTask or StartTask event, running ``task_definition`` (as moto registered it)."""
    event = copy.deepcopy(load_event(name))
    detail = event["detail"]
    detail["requestParameters"]["taskDefinition"] = task_definition
    for task in detail["responseElements"]["tasks"]:
        task["taskDefinitionArn"] = task_definition
        if task_arn is not None:
            task["taskArn"] = task_arn
    return event


def run_task_with_planted_password(task_definition: str) -> dict[str, Any]:
    event = launched("ecs-run-task.json", task_definition)
    detail = event["detail"]
    for overrides in (detail["requestParameters"]["overrides"], detail["responseElements"]["tasks"][0]["overrides"]):
        (container,) = overrides["containerOverrides"]
        assert [variable["name"] for variable in container["environment"]] == ["RECONCILE_DATE", "DB_PASSWORD"]
        container["environment"][1]["value"] = PLANTED
    return event


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Callable[[], tuple[str, str]]:
    """What the invocation wrote to file descriptors 1 (metrics) and 2 (logs), as CloudWatch would read them."""
    monkeypatch.setattr(logger.registered_handler, "stream", sys.__stderr__)

    def read() -> tuple[str, str]:
        captured = capfd.readouterr()
        return captured.out, captured.err

    return read


def findings_on(aws: Aws, arn: str) -> dict[str, dict[str, Any]]:
    """The findings on one resource, by policy."""
    return {
        finding["ProductFields"]["ecsguard/PolicyId"]: finding
        for finding in aws.findings().values()
        if finding["Resources"][0]["Id"] == arn
    }


def evidence_of(finding: dict[str, Any]) -> dict[str, str]:
    fields = finding["ProductFields"]
    return dict(value.split(": ", 1) for name, value in fields.items() if name.startswith("ecsguard/Evidence/"))


def describe_calls(proxy: FaultProxy) -> int:
    return proxy.counts().get("ecs:DescribeTaskDefinition", 0)


def test_run_task_override_with_a_plaintext_password_fails_on_the_task_and_never_shows_the_value(
    aws: Aws, proxy: FaultProxy, output: Callable[[], tuple[str, str]], tmp_path: Path
) -> None:
    # GIVEN a compliant task definition, run by RunTask with a plaintext password in its overrides
    task_definition = register_payments_api(aws.ecs)
    event = run_task_with_planted_password(task_definition)
    assert PLANTED in json.dumps(event)

    # WHEN the Lambda handles the event
    answer = handler(event, None)

    # THEN the task fails the secrets policy, on an AwsEcsTask resource, with the override's path as evidence
    out, err = output()
    assert (answer["action"], answer["resource"]) == ("evaluated", RUN_TASK)
    assert SECRETS in answer["failed_policies"]
    on_task = findings_on(aws, RUN_TASK)
    secrets = on_task[SECRETS]
    assert secrets["Compliance"]["Status"] == "FAILED"
    assert [(resource["Type"], resource["Id"]) for resource in secrets["Resources"]] == [("AwsEcsTask", RUN_TASK)]
    (path,) = evidence_of(secrets)
    assert path == "overrides.containerOverrides[0].environment[1]"
    assert "DB_PASSWORD" in evidence_of(secrets)[path]
    # ... one DescribeTaskDefinition for the task definition it runs ...
    assert describe_calls(proxy) == 1
    # ... and the value is in no log line, metric, finding, notification, answer or request sent to AWS
    # ... the notification tells of what the launch added; failures wholly in the task definition are the task
    # definition's own findings' to tell (the task's findings still show them) ...
    messages = aws.messages()
    (message,) = messages
    notified = {failure["policy_id"] for failure in json.loads(message["Body"])["failures"]}
    assert notified == {SECRETS}
    assert len(answer["failed_policies"]) > 1
    assert "event processed" in err
    wire = [unquote_plus(call.body.decode("utf-8")) for call in proxy.calls()]
    for text in (out, err, json.dumps(aws.findings()), json.dumps(messages), json.dumps(answer), *wire):
        assert PLANTED not in text

    # AND the same event through ecsguard scan, with the task definition's describe output: the same verdict,
    # the same evidence, and the value shown nowhere
    (tmp_path / "run-task.json").write_text(json.dumps(event), encoding="utf-8")
    described = aws.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    (tmp_path / "task-definition.json").write_text(json.dumps({"taskDefinition": described}, default=str))
    completed = subprocess.run(
        [sys.executable, "-m", "ecsguard.cli", "scan", "--pack", "all", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert PLANTED not in completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    (scanned,) = [r for r in report["results"] if r["resource"]["id"] == RUN_TASK and r["policy_id"] == SECRETS]
    assert (scanned["status"], [item["path"] for item in scanned["evidence"]]) == ("FAIL", [path])


def test_a_second_task_of_the_same_revision_costs_no_describe(aws: Aws, proxy: FaultProxy) -> None:
    # GIVEN a task of a revision already described in this container's life
    task_definition = register_payments_api(aws.ecs)
    handler(launched("ecs-run-task.json", task_definition), None)
    assert describe_calls(proxy) == 1

    # WHEN another task of it starts
    second = launched("ecs-run-task.json", task_definition, f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{'c' * 32}")
    answer = handler(second, None)

    # THEN it is judged without describing the revision again: a revision's content never changes
    assert answer["action"] == "evaluated"
    assert describe_calls(proxy) == 1


def test_run_task_on_fargate_1_3_0_with_an_efs_task_definition_fails_the_efs_policy(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN RunTask with its own launchType FARGATE and platformVersion 1.3.0, of an EFS task definition
    event = launched("ecs-run-task-fargate-efs-1.3.0.json", register_reports_efs(aws.ecs))
    assert event["detail"]["requestParameters"]["platformVersion"] == "1.3.0"

    # WHEN it is handled
    answer = handler(event, None)

    # THEN the task fails the EFS policy on its own launch settings
    assert answer["resource"] == EFS_TASK
    assert EFS in answer["failed_policies"]
    efs = findings_on(aws, EFS_TASK)[EFS]
    assert efs["Compliance"]["Status"] == "FAILED"
    assert list(evidence_of(efs)) == ["platformVersion"]


def test_the_stopped_event_archives_the_tasks_findings(
    aws: Aws, configure: Callable[..., None], output: Callable[[], tuple[str, str]]
) -> None:
    # GIVEN a running task with findings
    task_definition = register_payments_api(aws.ecs)
    handler(run_task_with_planted_password(task_definition), None)
    active = {policy for policy, finding in findings_on(aws, RUN_TASK).items() if finding["RecordState"] == "ACTIVE"}
    assert SECRETS in active

    # WHEN ECS says it stopped (its event carries the overrides, the password included)
    stopped = load_event("ecs-task-state-change-stopped.json")
    stopped["detail"]["overrides"] = run_task_with_planted_password(task_definition)["detail"]["requestParameters"][
        "overrides"
    ]
    answer = handler(stopped, None)

    # THEN every finding on the task is archived, and the answer shows nothing of the event
    assert (answer["action"], answer["resource"]) == ("archived", RUN_TASK)
    archived = findings_on(aws, RUN_TASK)
    assert archived
    assert {finding["RecordState"] for finding in archived.values()} == {"ARCHIVED"}
    out, err = output()
    assert "event processed" in err
    assert PLANTED not in json.dumps(answer) + json.dumps(archived) + out + err


def test_a_task_set_on_fargate_1_3_0_with_efs_fails_and_its_external_service_has_no_error(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN an EXTERNAL service, and a task set of it on Fargate 1.3.0 running an EFS task definition
    register_sample_task_definitions(aws.ecs)
    service = aws.ecs.create_service(cluster="prod", serviceName="checkout", deploymentController={"type": "EXTERNAL"})
    created = aws.ecs.create_task_set(
        cluster="prod",
        service="checkout",
        taskDefinition="reports-efs:3",
        launchType="FARGATE",
        platformVersion="1.3.0",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}},
    )["taskSet"]
    event = copy.deepcopy(load_event("ecs-create-task-set.json"))
    event["detail"]["responseElements"]["taskSet"] = json.loads(json.dumps(created, default=str))

    # WHEN the CreateTaskSet event is handled
    answer = handler(event, None)

    # THEN the task set fails the EFS policy, on its own launch settings and the task definition it runs
    assert answer["resource"] == created["taskSetArn"]
    assert EFS in answer["failed_policies"]
    assert answer["error_policies"] == []

    # AND the service itself, judged on its CreateService event, has no false ERROR: what it runs is its task sets'
    create_service = copy.deepcopy(load_event("ecs-create-service.json"))
    described = json.loads(json.dumps(service["service"], default=str))
    create_service["detail"]["responseElements"]["service"] = described
    create_service["detail"]["requestParameters"] = {
        "cluster": "prod",
        "serviceName": "checkout",
        "deploymentController": {"type": "EXTERNAL"},
    }
    answer = handler(create_service, None)
    assert answer["resource"] == described["serviceArn"]
    assert answer["error_policies"] == []
    assert EFS not in answer["failed_policies"]
    assert answer["results"].get("ERROR", 0) == 0


def test_a_stopped_event_handled_before_the_run_task_event_leaves_no_active_finding(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a short task: ECS's STOPPED event arrives before CloudTrail's RunTask event
    task_definition = register_payments_api(aws.ecs)
    stopped = load_event("ecs-task-state-change-stopped.json")
    handler(stopped, None)

    # WHEN the late RunTask event is handled
    answer = handler(run_task_with_planted_password(task_definition), None)

    # THEN what it observed is older than the stop: the findings stay archived, and nothing is notified
    assert answer["older_than_known"] > 0
    assert {finding["RecordState"] for finding in findings_on(aws, RUN_TASK).values()} == {"ARCHIVED"}
    assert aws.messages() == []
