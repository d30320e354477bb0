"""Results to ASFF findings and SNS notifications: exact fields, service limits, and no secret values."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ecsguard.catalog import load_policy_file, load_policy_set
from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.engine import PolicySet
from ecsguard.core.findings import (
    MAX_PRODUCT_FIELDS,
    ArnParts,
    FindingContext,
    NotAnArn,
    NotificationContext,
    asff_finding,
    finding_id,
    notification_for,
    parse_arn,
)
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.resources import build_task_definition
from ecsguard.core.results import Evidence, ResourceRef, Result, Status
from policy_catalog import narrowed

REPOSITORY = Path(__file__).resolve().parents[2]
POLICY_DIR = REPOSITORY / "policies"
EVENT_DIR = REPOSITORY / "events"

ACCOUNT = "123456789012"
ACTOR = "arn:aws:sts::123456789012:assumed-role/PlatformDeployer/alice"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/legacy-proxy:12"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/reports"
NOW = "2026-11-22T00:00:00.000Z"
EVENT_TIME = "2026-11-20T09:30:11Z"
# The scanner's own account and Region differ from the resource's here, to show which field comes from where.
CONTEXT = FindingContext(
    product_account="210987654321",
    product_region="eu-west-1",
    partition="aws",
    now=NOW,
    event_id="evt-1",
    observed_at=EVENT_TIME,
)
NOTE_CONTEXT = NotificationContext(
    account=ACCOUNT,
    region="us-east-1",
    event_id="evt-1",
    api_call="RegisterTaskDefinition",
    event_time=EVENT_TIME,
    actor=ACTOR,
)
SNS_LIMIT = 256 * 1024
PLANTED_PASSWORD = "PLANTED-pa55w0rd-4e1d"
PLANTED_KEY = "AKIAPLANTED7QX2ZKEYQ"
PLANTED_GITHUB = "ghp_PLANTEDplantedPLANTEDplanted12345678"
PLANTED_SLACK = "xoxb-PLANTED-0123456789-slack"
PLANTED_LABEL = "PLANTED-label-9a8b"


@cache
def policy_set() -> PolicySet:
    return load_policy_set(POLICY_DIR)


def policy(policy_id: str) -> CompiledPolicy:
    found = policy_set().get(policy_id)
    assert found is not None, policy_id
    return found


def policies() -> dict[str, CompiledPolicy]:
    return {p.id: p for p in policy_set().policies}


def normalised(text: str) -> str:
    return " ".join(text.split())


def result(
    policy_id: str,
    status: Status,
    resource_id: str = TD_ARN,
    evidence: tuple[tuple[str, str], ...] = (),
    reason: str | None = None,
    source: CompiledPolicy | None = None,
) -> Result:
    compiled = source or policy(policy_id)
    return Result(
        policy_id=compiled.id,
        resource=ResourceRef(type=compiled.resource_type, id=resource_id),
        status=status,
        severity=compiled.severity,
        title=compiled.title,
        evidence=tuple(Evidence(path=path, message=message) for path, message in evidence),
        reason=reason,
    )


def event_task_definition(name: str) -> dict[str, Any]:
    event = json.loads((EVENT_DIR / name).read_text(encoding="utf-8"))
    data: dict[str, Any] = event["detail"]["responseElements"]["taskDefinition"]
    return data


# --- parse_arn ------------------------------------------------------------------------------------


def test_parse_arn_ecs_arn_gives_partition_region_account() -> None:
    assert parse_arn(TD_ARN) == ArnParts(partition="aws", region="us-east-1", account=ACCOUNT)
    assert parse_arn("arn:aws-cn:ecs:cn-north-1:123456789012:service/prod/x") == ArnParts(
        partition="aws-cn", region="cn-north-1", account=ACCOUNT
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "legacy-proxy:12",
        "arn:aws:ecs:us-east-1:123456789012",
        "arn:aws:ecs::123456789012:task-definition/x:1",
        "arn:aws:ecs:us-east-1::task-definition/x:1",
        "urn:aws:ecs:us-east-1:123456789012:task-definition/x:1",
    ],
)
def test_parse_arn_without_region_or_account_raises_not_an_arn(text: str) -> None:
    with pytest.raises(NotAnArn) as caught:
        parse_arn(text)

    assert str(caught.value) == f"'{text}' is not an ARN with a region and an account"


def test_asff_finding_resource_id_not_an_arn_raises_not_an_arn() -> None:
    with pytest.raises(NotAnArn):
        asff_finding(
            policy("ecs-network-awsvpc"),
            ResourceType.TASK_DEFINITION,
            "legacy-proxy:12",
            result("ecs-network-awsvpc", Status.PASS, "legacy-proxy:12"),
            CONTEXT,
        )


# --- asff_finding ---------------------------------------------------------------------------------


def test_asff_finding_fail_gives_complete_active_failed_finding() -> None:
    # GIVEN a FAIL of the network policy on a task definition, with one piece of evidence
    message = "networkMode is bridge; register a revision with networkMode awsvpc"
    failed = result("ecs-network-awsvpc", Status.FAIL, evidence=(("networkMode", message),))

    # WHEN it becomes a finding
    finding = asff_finding(policy("ecs-network-awsvpc"), ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)

    # THEN every field is as Security Hub expects it
    description = normalised(policy("ecs-network-awsvpc").description)
    assert finding == {
        "SchemaVersion": "2018-10-08",
        "Id": f"ecsguard/ecs-network-awsvpc/{TD_ARN}",
        "ProductArn": "arn:aws:securityhub:eu-west-1:210987654321:product/210987654321/default",
        "ProductName": "ecsguard",
        "CompanyName": "ecsguard",
        "GeneratorId": "ecsguard/ecs-network-awsvpc",
        "AwsAccountId": ACCOUNT,
        "Region": "us-east-1",
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": EVENT_TIME,
        "FirstObservedAt": EVENT_TIME,
        "LastObservedAt": EVENT_TIME,
        "UpdatedAt": NOW,
        "Severity": {"Label": "MEDIUM"},
        "FindingProviderFields": {
            "Severity": {"Label": "MEDIUM", "Original": "MEDIUM"},
            "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        },
        "Title": "Task definitions use the awsvpc network mode",
        "Description": f"networkMode: {message}. {description}",
        "Remediation": {
            "Recommendation": {
                "Text": 'Register a new revision of the task definition with "networkMode": "awsvpc", give the '
                "service a networkConfiguration (subnets and security groups), and redeploy it.",
                "Url": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html",
            }
        },
        "ProductFields": {
            "ecsguard/PolicyId": "ecs-network-awsvpc",
            "ecsguard/Status": "FAIL",
            "ecsguard/ControlTowerControls": "CT.ECS.PR.4",
            "ecsguard/RelatedControls": "ECS.17",
            "ecsguard/Packs": "mission,control-tower",
            "ecsguard/EventId": "evt-1",
            "ecsguard/Evidence/0": f"networkMode: {message}",
        },
        "Resources": [{"Type": "AwsEcsTaskDefinition", "Id": TD_ARN, "Partition": "aws", "Region": "us-east-1"}],
        # The policy judges no control whose framework requirements AWS lists (Control Tower lists none).
        "Compliance": {"Status": "FAILED"},
        "RecordState": "ACTIVE",
    }


@pytest.mark.parametrize(
    ("status", "compliance", "record_state", "product_status"),
    [
        (Status.PASS, "PASSED", "ACTIVE", "PASS"),
        (Status.FAIL, "FAILED", "ACTIVE", "FAIL"),
        (Status.ERROR, "NOT_AVAILABLE", "ACTIVE", "ERROR"),
        (Status.NOT_APPLICABLE, "NOT_AVAILABLE", "ARCHIVED", "NOT_APPLICABLE"),
        (None, "NOT_AVAILABLE", "ARCHIVED", "RESOURCE_DELETED"),
    ],
)
def test_asff_finding_status_gives_compliance_and_record_state(
    status: Status | None, compliance: str, record_state: str, product_status: str
) -> None:
    evaluated = None if status is None else result("ecs-images-ecr-only", status)

    finding = asff_finding(policy("ecs-images-ecr-only"), ResourceType.TASK_DEFINITION, TD_ARN, evaluated, CONTEXT)

    assert finding["Compliance"] == {"Status": compliance}
    assert finding["RecordState"] == record_state
    assert finding["ProductFields"]["ecsguard/Status"] == product_status
    assert finding["Id"] == f"ecsguard/ecs-images-ecr-only/{TD_ARN}"
    assert finding["Severity"] == {"Label": "HIGH"}


@pytest.mark.parametrize(
    ("status", "reason", "prefix"),
    [
        (Status.PASS, None, ""),
        (Status.NOT_APPLICABLE, None, ""),
        (Status.ERROR, "cluster 'prod' was not found", "ecsguard could not evaluate this policy: "),
        (None, None, "The resource no longer exists. "),
    ],
)
def test_asff_finding_description_says_why_before_policy_description(
    status: Status | None, reason: str | None, prefix: str
) -> None:
    evaluated = None if status is None else result("ecs-network-awsvpc", status, reason=reason)

    finding = asff_finding(policy("ecs-network-awsvpc"), ResourceType.TASK_DEFINITION, TD_ARN, evaluated, CONTEXT)

    because = f"{prefix}{reason}. " if reason else prefix
    assert finding["Description"] == because + normalised(policy("ecs-network-awsvpc").description)


def test_asff_finding_error_reason_is_a_product_field() -> None:
    errored = result("ecs-network-awsvpc", Status.ERROR, reason="cluster 'prod' was not found")

    finding = asff_finding(policy("ecs-network-awsvpc"), ResourceType.TASK_DEFINITION, TD_ARN, errored, CONTEXT)

    assert finding["ProductFields"] == {
        "ecsguard/PolicyId": "ecs-network-awsvpc",
        "ecsguard/Status": "ERROR",
        "ecsguard/ControlTowerControls": "CT.ECS.PR.4",
        "ecsguard/RelatedControls": "ECS.17",
        "ecsguard/Packs": "mission,control-tower",
        "ecsguard/EventId": "evt-1",
        "ecsguard/ErrorReason": "cluster 'prod' was not found",
    }


def test_asff_finding_service_is_aws_ecs_service_resource() -> None:
    evaluated = result("ecs-efs-fargate-platform", Status.PASS, SERVICE_ARN)

    finding = asff_finding(policy("ecs-efs-fargate-platform"), ResourceType.SERVICE, SERVICE_ARN, evaluated, CONTEXT)

    assert finding["Resources"] == [
        {"Type": "AwsEcsService", "Id": SERVICE_ARN, "Partition": "aws", "Region": "us-east-1"}
    ]
    assert finding["Id"] == f"ecsguard/ecs-efs-fargate-platform/{SERVICE_ARN}"
    assert finding["GeneratorId"] == "ecsguard/ecs-efs-fargate-platform"
    # The policy references no control or rule.
    assert finding["Compliance"] == {"Status": "PASSED"}


def test_asff_finding_secrets_policy_names_the_controls_it_implies_and_sets_no_security_control_id() -> None:
    failed = result("ecs-secrets-managed", Status.FAIL, evidence=(("containerDefinitions[0].environment[1]", "x"),))

    finding = asff_finding(policy("ecs-secrets-managed"), ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)

    # SecurityControlId belongs to Security Hub's own control findings; the controls go to ProductFields
    assert finding["Compliance"] == {"Status": "FAILED"}
    assert finding["ProductFields"]["ecsguard/RelatedControls"] == "ECS.8,CT.ECS.PR.12"
    assert finding["Remediation"]["Recommendation"]["Url"] == (
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/specifying-sensitive-data.html"
    )
    assert finding["Remediation"]["Recommendation"]["Text"] == normalised(
        policy("ecs-secrets-managed").document.remediation.text
    )
    # Its description is longer than Security Hub allows, so it is cut.
    assert len(finding["Description"]) == 1024


def test_asff_finding_china_partition_in_product_arn_and_resource() -> None:
    arn = "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/legacy-proxy:12"
    context = FindingContext(
        product_account=ACCOUNT, product_region="cn-north-1", partition="aws-cn", now=NOW, event_id="evt-1"
    )

    finding = asff_finding(
        policy("ecs-network-awsvpc"),
        ResourceType.TASK_DEFINITION,
        arn,
        result("ecs-network-awsvpc", Status.PASS, arn),
        context,
    )

    assert finding["ProductArn"] == "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
    assert finding["Resources"] == [
        {"Type": "AwsEcsTaskDefinition", "Id": arn, "Partition": "aws-cn", "Region": "cn-north-1"}
    ]
    assert (finding["AwsAccountId"], finding["Region"]) == (ACCOUNT, "cn-north-1")


def test_asff_finding_without_event_uses_now_and_no_event_id() -> None:
    context = FindingContext(product_account=ACCOUNT, product_region="us-east-1", partition="aws", now=NOW)

    finding = asff_finding(
        policy("ecs-network-awsvpc"),
        ResourceType.TASK_DEFINITION,
        TD_ARN,
        result("ecs-network-awsvpc", Status.PASS),
        context,
    )

    assert (finding["CreatedAt"], finding["UpdatedAt"]) == (NOW, NOW)
    assert {key: value for key, value in finding["ProductFields"].items() if "Controls" not in key} == {
        "ecsguard/PolicyId": "ecs-network-awsvpc",
        "ecsguard/Status": "PASS",
        "ecsguard/Packs": "mission,control-tower",
    }


def test_asff_finding_related_requirements_are_the_frameworks_the_policy_lists_at_most_32(tmp_path: Path) -> None:
    listed = [f"NIST.800-53.r5 AC-{number}" for number in range(1, 41)]
    edited = edited_policy(
        tmp_path,
        "with-requirements",
        ("  related_controls: [ECS.17]\n", f"  related_controls: [ECS.17]\n  requirements: {listed}\n"),
    )
    failed = result("ecs-network-awsvpc", Status.FAIL, evidence=(("networkMode", "x"),), source=edited)

    finding = asff_finding(edited, ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)

    assert finding["Compliance"] == {"Status": "FAILED", "RelatedRequirements": listed[:32]}


def edited_policy(tmp_path: Path, name: str, *changes: tuple[str, str]) -> CompiledPolicy:
    """A copy of a shipped policy file with each (old, new) replaced once, loaded from tmp_path/<name>/."""
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "ecs-network-awsvpc.yaml"
    shutil.copy(POLICY_DIR / "ecs-network-awsvpc.yaml", path)
    text = path.read_text(encoding="utf-8")
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return load_policy_file(path)


def test_asff_finding_id_ignores_policy_title_and_description(tmp_path: Path) -> None:
    # GIVEN the shipped network policy and a copy whose title and description were edited
    original = edited_policy(tmp_path, "original")
    edited = edited_policy(
        tmp_path,
        "edited",
        ("title: Task definitions use the awsvpc network mode", "title: Tasks run in awsvpc mode (reworded)"),
        ("Every task gets its own elastic network interface", "Reworded: each task has its own network interface"),
    )
    failed = result("ecs-network-awsvpc", Status.FAIL, evidence=(("networkMode", "bridge"),))

    # WHEN both produce a finding for the same resource
    before = asff_finding(original, ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)
    after = asff_finding(edited, ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)

    # THEN the texts differ but the finding (and generator) is the same one
    assert (before["Title"], after["Title"]) == (
        "Task definitions use the awsvpc network mode",
        "Tasks run in awsvpc mode (reworded)",
    )
    assert before["Description"] != after["Description"]
    assert before["Id"] == after["Id"] == f"ecsguard/ecs-network-awsvpc/{TD_ARN}"
    assert before["GeneratorId"] == after["GeneratorId"] == "ecsguard/ecs-network-awsvpc"
    assert finding_id("ecs-network-awsvpc", TD_ARN) == before["Id"]


def test_asff_finding_long_texts_and_200_evidence_stay_within_asff_limits(tmp_path: Path) -> None:
    # GIVEN a policy with an over-long title, description and remediation, and a FAIL with 200 long evidence items
    long_title = "Title " + "t" * 400
    long_description = "Description " + "d" * 3000
    long_remediation = "Remediation " + "r" * 800
    compiled = edited_policy(
        tmp_path,
        "long",
        ("title: Task definitions use the awsvpc network mode", f"title: {long_title}"),
        ("Every task gets its own elastic network interface", long_description),
        ("Register a new revision of the task definition", long_remediation),
    )
    evidence = tuple((f"containerDefinitions[{i}].image", f"message {i} " + "m" * 3000) for i in range(200))
    failed = result("ecs-network-awsvpc", Status.FAIL, evidence=evidence, source=compiled)

    # WHEN it becomes a finding
    finding = asff_finding(compiled, ResourceType.TASK_DEFINITION, TD_ARN, failed, CONTEXT)

    # THEN every text fits its ASFF limit, and ProductFields has at most 50 entries
    assert len(finding["Title"]) <= 256
    assert finding["Title"].startswith(long_title[:250])
    assert len(finding["Description"]) <= 1024
    assert finding["Description"].startswith("containerDefinitions[0].image: message 0 mmm")
    assert len(finding["Remediation"]["Recommendation"]["Text"]) <= 512
    fields = finding["ProductFields"]
    assert len(fields) == MAX_PRODUCT_FIELDS == 50
    named = {"ecsguard/PolicyId", "ecsguard/Status", "ecsguard/EventId", "ecsguard/Packs"}
    named |= {"ecsguard/ControlTowerControls", "ecsguard/RelatedControls"}
    room = MAX_PRODUCT_FIELDS - len(named)
    assert set(fields) == named | {f"ecsguard/Evidence/{i}" for i in range(room)}
    assert all(len(value) <= 2048 for value in fields.values())
    last = room - 1
    assert fields[f"ecsguard/Evidence/{last}"].startswith(f"containerDefinitions[{last}].image: message {last} mmm")


def test_asff_finding_long_error_reason_fits_product_field_limit() -> None:
    errored = result("ecs-network-awsvpc", Status.ERROR, reason="reason " + "x" * 5000)

    finding = asff_finding(policy("ecs-network-awsvpc"), ResourceType.TASK_DEFINITION, TD_ARN, errored, CONTEXT)

    assert len(finding["ProductFields"]["ecsguard/ErrorReason"]) <= 2048
    assert finding["ProductFields"]["ecsguard/ErrorReason"].startswith("reason xxx")
    assert len(finding["Description"]) <= 1024


# --- notification_for -----------------------------------------------------------------------------


IMAGE_EVIDENCE = (
    ("containerDefinitions[0].image", "container proxy uses image nginx:1.27"),
    ("containerDefinitions[1].image", "container exporter uses image quay.io/prometheus/nginx-exporter:1.3"),
)
NETWORK_EVIDENCE = (("networkMode", "networkMode is bridge"),)


def test_notification_for_nothing_failing_is_none() -> None:
    results = [
        result("ecs-images-ecr-only", Status.PASS),
        result("ecs-network-awsvpc", Status.NOT_APPLICABLE),
        result("ecs-secrets-managed", Status.PASS),
    ]

    assert notification_for(results, policies(), NOTE_CONTEXT, Severity.INFORMATIONAL) is None
    assert notification_for([], policies(), NOTE_CONTEXT, Severity.INFORMATIONAL) is None


def test_notification_for_failure_below_minimum_is_none() -> None:
    results = [result("ecs-network-awsvpc", Status.FAIL, evidence=NETWORK_EVIDENCE)]  # MEDIUM

    assert notification_for(results, policies(), NOTE_CONTEXT, Severity.HIGH) is None


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR])
def test_notification_for_failure_or_error_at_minimum_alerts(status: Status) -> None:
    results = [result("ecs-network-awsvpc", status, reason="x" if status is Status.ERROR else None)]

    notification = notification_for(results, policies(), NOTE_CONTEXT, Severity.MEDIUM)

    assert notification is not None
    assert notification.attributes["severity"] == {"DataType": "String", "StringValue": "MEDIUM"}
    assert [item["status"] for item in json.loads(notification.message)["failures"]] == [status.value]


def test_notification_for_failures_gives_exact_message_subject_and_attributes() -> None:
    # GIVEN a HIGH and a MEDIUM failure, a passing policy, on one task definition
    results = [
        result("ecs-network-awsvpc", Status.FAIL, evidence=NETWORK_EVIDENCE),
        result("ecs-secrets-managed", Status.PASS),
        result("ecs-images-ecr-only", Status.FAIL, evidence=IMAGE_EVIDENCE),
    ]

    # WHEN the notification is built
    notification = notification_for(results, policies(), NOTE_CONTEXT, Severity.LOW)

    # THEN it lists both failures, most severe first, in the documented schema
    assert notification is not None
    assert notification.subject == "ecsguard HIGH: 2 policy violation(s) on legacy-proxy:12"
    assert notification.attributes == {
        "severity": {"DataType": "String", "StringValue": "HIGH"},
        "policy_ids": {"DataType": "String.Array", "StringValue": '["ecs-images-ecr-only", "ecs-network-awsvpc"]'},
        "resource_type": {"DataType": "String", "StringValue": "AWS::ECS::TaskDefinition"},
        "account": {"DataType": "String", "StringValue": ACCOUNT},
    }
    assert json.loads(notification.attributes["policy_ids"]["StringValue"]) == [
        "ecs-images-ecr-only",
        "ecs-network-awsvpc",
    ]
    assert json.loads(notification.message) == {
        "schema_version": "1.0",
        "source": "ecsguard",
        "account": ACCOUNT,
        "region": "us-east-1",
        "event": {"id": "evt-1", "api_call": "RegisterTaskDefinition", "time": EVENT_TIME, "actor": ACTOR},
        "resource": {"type": "AWS::ECS::TaskDefinition", "id": TD_ARN},
        "severity": "HIGH",
        "failures": [
            {
                "policy_id": "ecs-images-ecr-only",
                "status": "FAIL",
                "severity": "HIGH",
                "title": "Container images come only from Amazon ECR",
                "evidence": [{"path": path, "message": message} for path, message in IMAGE_EVIDENCE],
                "remediation": {
                    "text": policy("ecs-images-ecr-only").document.remediation.text,
                    "url": "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html",
                },
                "finding_id": f"ecsguard/ecs-images-ecr-only/{TD_ARN}",
            },
            {
                "policy_id": "ecs-network-awsvpc",
                "status": "FAIL",
                "severity": "MEDIUM",
                "title": "Task definitions use the awsvpc network mode",
                "evidence": [{"path": "networkMode", "message": "networkMode is bridge"}],
                "remediation": {
                    "text": policy("ecs-network-awsvpc").document.remediation.text,
                    "url": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html",
                },
                "finding_id": f"ecsguard/ecs-network-awsvpc/{TD_ARN}",
            },
        ],
    }


def test_notification_for_only_lists_failures_at_or_above_minimum() -> None:
    results = [
        result("ecs-network-awsvpc", Status.FAIL, evidence=NETWORK_EVIDENCE),
        result("ecs-images-ecr-only", Status.FAIL, evidence=IMAGE_EVIDENCE),
    ]

    notification = notification_for(results, policies(), NOTE_CONTEXT, Severity.HIGH)

    assert notification is not None
    assert notification.subject == "ecsguard HIGH: 1 policy violation(s) on legacy-proxy:12"
    assert [item["policy_id"] for item in json.loads(notification.message)["failures"]] == ["ecs-images-ecr-only"]
    assert notification.attributes["policy_ids"]["StringValue"] == '["ecs-images-ecr-only"]'


def test_notification_for_error_carries_reason_and_no_evidence() -> None:
    errored = result("ecs-efs-fargate-platform", Status.ERROR, SERVICE_ARN, reason="task definition not found")

    notification = notification_for([errored], policies(), NOTE_CONTEXT, Severity.LOW)

    assert notification is not None
    (item,) = json.loads(notification.message)["failures"]
    assert (item["status"], item["reason"], item["evidence"]) == ("ERROR", "task definition not found", [])
    assert item["finding_id"] == f"ecsguard/ecs-efs-fargate-platform/{SERVICE_ARN}"
    assert notification.attributes["resource_type"]["StringValue"] == "AWS::ECS::Service"
    assert notification.subject == "ecsguard HIGH: 1 policy violation(s) on reports"


def test_notification_for_resource_without_arn_has_no_finding_id() -> None:
    failed = result("ecs-network-awsvpc", Status.FAIL, "legacy-proxy:12", evidence=NETWORK_EVIDENCE)

    notification = notification_for([failed], policies(), NOTE_CONTEXT, Severity.LOW)

    assert notification is not None
    (item,) = json.loads(notification.message)["failures"]
    assert "finding_id" not in item
    assert "reason" not in item


@pytest.mark.parametrize("name", ["a" * 300, "café-" + "é" * 150, "short-é"])
def test_notification_for_subject_is_ascii_and_at_most_100_characters(name: str) -> None:
    arn = f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1"
    failed = result("ecs-network-awsvpc", Status.FAIL, arn, evidence=NETWORK_EVIDENCE)

    notification = notification_for([failed], policies(), NOTE_CONTEXT, Severity.LOW)

    assert notification is not None
    assert len(notification.subject) <= 100
    assert notification.subject.isascii()
    assert notification.subject.startswith("ecsguard MEDIUM: 1 policy violation(s) on ")
    assert "\n" not in notification.subject


# --- real engine results ----------------------------------------------------------------------------


def huge_task_definition(containers: int) -> dict[str, Any]:
    """Every container fails two policies: a Docker Hub image, a plaintext password and an access key."""
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/huge:1",
        "family": "huge",
        "revision": 1,
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
                "name": f"worker-{index}",
                "image": "nginx:1.27",
                "environment": [
                    {"name": "DB_PASSWORD", "value": f"{PLANTED_PASSWORD}-{index}"},
                    {"name": "UPLOAD_ID", "value": PLANTED_KEY},
                ],
            }
            for index in range(containers)
        ],
    }


def test_notification_for_2000_failing_containers_fits_sns_and_counts_omitted_evidence() -> None:
    # GIVEN the sample events' policies' results for a task definition with 2,000 containers, each failing
    # images and secrets (the sizes below are theirs: another policy's failures would add to them)
    results = narrowed().evaluate([build_task_definition(huge_task_definition(2000), "huge")])
    statuses = {r.policy_id: (r.status, len(r.evidence)) for r in results}
    assert statuses == {
        "ecs-images-ecr-only": (Status.FAIL, 2000),
        "ecs-network-awsvpc": (Status.PASS, 0),
        "ecs-secrets-managed": (Status.FAIL, 4000),
    }

    # WHEN the notification is built
    notification = notification_for(results, policies(), NOTE_CONTEXT, Severity.LOW)

    # THEN its UTF-8 size is under SNS's 256 KiB limit and each failure says how much evidence was left out
    assert notification is not None
    assert len(notification.message.encode("utf-8")) < SNS_LIMIT
    document = json.loads(notification.message)
    counts = {item["policy_id"]: (len(item["evidence"]), item["evidence_omitted"]) for item in document["failures"]}
    assert set(counts) == {"ecs-images-ecr-only", "ecs-secrets-managed"}
    assert sum(counts["ecs-images-ecr-only"]) == 2000
    assert sum(counts["ecs-secrets-managed"]) == 4000
    assert all(omitted > 0 and kept > 0 for kept, omitted in counts.values())
    assert PLANTED_PASSWORD not in notification.message
    assert PLANTED_KEY not in notification.message


def test_asff_finding_2000_failing_containers_stays_within_limits() -> None:
    results = policy_set().evaluate([build_task_definition(huge_task_definition(2000), "huge")])
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/huge:1"

    findings = [asff_finding(policy(r.policy_id), r.resource.type, arn, r, CONTEXT) for r in results]

    for finding in findings:
        assert len(finding["ProductFields"]) <= 50
        assert all(len(value) <= 2048 for value in finding["ProductFields"].values())
        assert len(finding["Description"]) <= 1024
    assert PLANTED_PASSWORD not in json.dumps(findings)
    assert PLANTED_KEY not in json.dumps(findings)


def planted_task_definition() -> dict[str, Any]:
    """Secrets planted wherever a task definition can carry one."""
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/planted:3",
        "family": "planted",
        "revision": 3,
        "networkMode": "awsvpc",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0",
                "environment": [
                    {"name": "DB_PASSWORD", "value": PLANTED_PASSWORD},
                    {"name": "UPLOAD_ID", "value": PLANTED_KEY},
                ],
                "secrets": [{"name": "GITHUB", "valueFrom": PLANTED_GITHUB}],
                "repositoryCredentials": {"credentialsParameter": PLANTED_KEY},
                "dockerLabels": {"token": PLANTED_LABEL},
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {"splunk-token": PLANTED_LABEL},
                    "secretOptions": [{"name": "splunk-token", "valueFrom": PLANTED_SLACK}],
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("data", "planted", "evidence_paths"),
    [
        (
            event_task_definition("ecs-register-task-definition-plaintext-secret.json"),
            ["Tr0ub4dor-and-3-horses", "AKIAZ7EXAMPLEKEYQ2XW"],
            {"containerDefinitions[0].environment[1]", "containerDefinitions[0].environment[2].value"},
        ),
        (
            planted_task_definition(),
            [PLANTED_PASSWORD, PLANTED_KEY, PLANTED_GITHUB, PLANTED_SLACK, PLANTED_LABEL],
            {
                "containerDefinitions[0].environment[0]",
                "containerDefinitions[0].environment[1].value",
                "containerDefinitions[0].secrets[0].valueFrom",
                "containerDefinitions[0].logConfiguration.secretOptions[0].valueFrom",
                "containerDefinitions[0].repositoryCredentials",
                # the plaintext splunk-token option and token label, since the policy reads every field
                "containerDefinitions[0].logConfiguration.options[0]",
                "containerDefinitions[0].dockerLabels[0]",
            },
        ),
    ],
    ids=["plaintext-secret-event", "planted-everywhere"],
)
def test_findings_and_notification_from_engine_never_hold_planted_secret(
    data: dict[str, Any], planted: list[str], evidence_paths: set[str]
) -> None:
    # GIVEN engine results for a task definition with plaintext secrets
    resource = build_task_definition(data, "fallback")
    results = policy_set().evaluate([resource])
    (secrets,) = [r for r in results if r.policy_id == "ecs-secrets-managed"]
    assert secrets.status is Status.FAIL
    assert {e.path for e in secrets.evidence} == evidence_paths

    # WHEN findings and the notification are built
    findings = [asff_finding(policy(r.policy_id), resource.type, resource.id, r, CONTEXT) for r in results]
    notification = notification_for(results, policies(), NOTE_CONTEXT, Severity.INFORMATIONAL)

    # THEN neither holds any planted value
    assert notification is not None
    published = json.dumps(findings) + notification.message + notification.subject + json.dumps(notification.attributes)
    assert [value for value in planted if value in published] == []
