"""Events from member accounts and other Regions: the scanner works through the member role, in the event's Region."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, member_session

from ecsguard.errors import EventFailed
from ecsguard.handlers.scanner import handler
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

MEMBER = "111111111111"
ROLE = "ecsguard-member"


@pytest.fixture
def policy_dir() -> Path:
    """The handler loads the sample events' policies, which this module's expectations are about."""
    return narrowed_policy_dir(SAMPLE_EVENT_POLICIES)


def member_event(name: str, account: str = MEMBER, region: str = REGION) -> dict[str, Any]:
    """A sample event as if it came from ``account`` in ``region``: every account id and Region in it replaced."""
    text = json.dumps(load_event(name)).replace(ACCOUNT, account).replace(f":{REGION}:", f":{region}:")
    event: dict[str, Any] = json.loads(text)
    event["region"] = event["detail"]["awsRegion"] = region
    return event


def test_handler_member_account_event_imports_findings_into_member_account(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a member account with Security Hub, and a scanner allowed to assume its ecsguard role
    member = member_session(MEMBER)
    member.client("securityhub").enable_security_hub()
    configure(member_role_name=ROLE)

    # WHEN a plaintext-secret task definition registered in the member account arrives
    answer = handler(member_event("ecs-register-task-definition-plaintext-secret.json"), None)

    # THEN its findings are in the member account's Security Hub, under its default product, and none centrally
    arn = f"arn:aws:ecs:{REGION}:{MEMBER}:task-definition/billing-worker:4"
    assert answer["failed_policies"] == ["ecs-secrets-managed"]
    findings = member.client("securityhub").get_findings()["Findings"]
    assert {(f["Id"], f["AwsAccountId"], f["ProductArn"]) for f in findings} == {
        (f"ecsguard/{policy}/{arn}", MEMBER, f"arn:aws:securityhub:{REGION}:{MEMBER}:product/{MEMBER}/default")
        for policy in ("ecs-secrets-managed", "ecs-images-ecr-only", "ecs-network-awsvpc")
    }
    assert aws.findings() == {}
    # AND the notification reaches the one central topic, naming the member account
    (message,) = aws.messages()
    assert json.loads(message["Body"])["account"] == MEMBER
    assert message["MessageAttributes"]["account"]["StringValue"] == MEMBER


def test_handler_member_service_event_describes_in_member_account(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN the member account holds the EFS task definition the service uses
    member = member_session(MEMBER)
    member.client("securityhub").enable_security_hub()
    ecs = member.client("ecs")
    container = {"name": "app", "image": f"{MEMBER}.dkr.ecr.{REGION}.amazonaws.com/app:1", "memory": 512}
    efs = [{"name": "shared-reports", "efsVolumeConfiguration": {"fileSystemId": "fs-0a1b2c3d4e5f67890"}}]
    for _ in range(3):
        ecs.register_task_definition(family="reports-efs", containerDefinitions=[container], volumes=efs)
    configure(member_role_name=ROLE)

    # WHEN the Fargate 1.3.0 service is created there
    answer = handler(member_event("ecs-create-service-fargate-efs-1.3.0.json"), None)

    # THEN the task definition was found in the member account and the service fails the EFS policy
    assert (answer["action"], answer["failed_policies"]) == ("evaluated", ["ecs-efs-fargate-platform"])
    service = f"arn:aws:ecs:{REGION}:{MEMBER}:service/prod/reports"
    statuses = {f["Id"]: f["Compliance"]["Status"] for f in member.client("securityhub").get_findings()["Findings"]}
    assert statuses == {f"ecsguard/ecs-efs-fargate-platform/{service}": "FAILED"}


def test_handler_member_event_without_member_role_fails_naming_the_setting(
    aws: Aws, configure: Callable[..., None]
) -> None:
    configure()

    with pytest.raises(EventFailed) as failed:
        handler(member_event("ecs-register-task-definition.json"), None)

    assert "sts:AssumeRole for account 111111111111 failed: NoMemberRole" in str(failed.value)
    assert "ECSGUARD_MEMBER_ROLE_NAME is not set" in str(failed.value)
    assert (aws.findings(), aws.messages()) == ({}, [])


def test_handler_event_from_other_region_uses_that_region(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN Security Hub enabled in eu-west-1 of the scanner's own account
    other = "eu-west-1"
    securityhub = boto3.client("securityhub", region_name=other)
    securityhub.enable_security_hub()
    configure()
    event = copy.deepcopy(member_event("ecs-register-task-definition-non-ecr-image.json", ACCOUNT, other))

    # WHEN an event from eu-west-1 arrives at the scanner in us-east-1
    handler(event, None)

    # THEN its findings are imported in eu-west-1, with that Region's product, and not in us-east-1
    arn = f"arn:aws:ecs:{other}:{ACCOUNT}:task-definition/legacy-proxy:12"
    findings = securityhub.get_findings()["Findings"]
    assert {(f["Id"], f["ProductArn"]) for f in findings} == {
        (f"ecsguard/{policy}/{arn}", f"arn:aws:securityhub:{other}:{ACCOUNT}:product/{ACCOUNT}/default")
        for policy in ("ecs-secrets-managed", "ecs-images-ecr-only", "ecs-network-awsvpc")
    }
    assert aws.findings() == {}
