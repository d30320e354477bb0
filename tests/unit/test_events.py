"""Reading EventBridge CloudTrail events from ECS: every fixture in events/, then variants that change one field."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sample_events import EVENT_DIR, load, response

from ecsguard.core.models import ResourceType
from ecsguard.core.times import parse_time
from ecsguard.events import (
    Action,
    ArchiveResource,
    EvaluateCluster,
    EvaluateService,
    EvaluateTaskDefinition,
    EvaluateTasks,
    EvaluateTaskSet,
    EventContext,
    MalformedEvent,
    Skip,
    cluster_arn,
    interpret,
    partition_of,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
ACTOR = "arn:aws:sts::123456789012:assumed-role/PlatformDeployer/alice"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
# A value planted in the event: no MalformedEvent message may repeat it.
PLANTED = "PLANTED-s3cr3t-9c2e"


def request(name: str) -> dict[str, Any]:
    value: dict[str, Any] = load(name)["detail"]["requestParameters"]
    return value


def tasks(name: str) -> list[dict[str, Any]]:
    value: list[dict[str, Any]] = load(name)["detail"]["responseElements"]["tasks"]
    return value


def context(event_number: str, api_call: str, event_time: str) -> EventContext:
    """The context every fixture shares, apart from its id, call and time."""
    return EventContext(
        event_id=f"00000000-0000-0000-0000-{event_number}",
        api_call=api_call,
        account=ACCOUNT,
        region=REGION,
        actor=ACTOR,
        event_time=event_time,
    )


# --- every fixture ---------------------------------------------------------------------------

CONTEXTS = {
    "ecs-register-task-definition.json": context("000000000001", "RegisterTaskDefinition", "2026-11-20T09:15:02Z"),
    "ecs-register-task-definition-plaintext-secret.json": context(
        "000000000002", "RegisterTaskDefinition", "2026-11-20T09:21:40Z"
    ),
    "ecs-register-task-definition-non-ecr-image.json": context(
        "000000000003", "RegisterTaskDefinition", "2026-11-20T09:30:11Z"
    ),
    "ecs-register-task-definition-truncated.json": context(
        "000000000004", "RegisterTaskDefinition", "2026-11-20T09:31:00Z"
    ),
    "ecs-register-task-definition-efs.json": context("000000000005", "RegisterTaskDefinition", "2026-11-20T09:40:00Z"),
    "ecs-create-service.json": context("000000000006", "CreateService", "2026-11-20T09:50:12Z"),
    "ecs-create-service-fargate-efs-1.3.0.json": context("000000000007", "CreateService", "2026-11-20T10:02:45Z"),
    "ecs-create-service-capacity-providers.json": context("000000000008", "CreateService", "2026-11-20T10:05:31Z"),
    "ecs-update-service.json": context("000000000009", "UpdateService", "2026-11-20T11:12:00Z"),
    "ecs-create-service-failed.json": context("00000000000a", "CreateService", "2026-11-20T10:01:02Z"),
    "ecs-deregister-task-definition.json": context("00000000000b", "DeregisterTaskDefinition", "2026-11-21T08:00:00Z"),
    "ecs-delete-service.json": context("00000000000c", "DeleteService", "2026-11-21T08:05:00Z"),
    "ecs-create-cluster.json": context("000000000020", "CreateCluster", "2026-11-20T12:00:05Z"),
    "ecs-update-cluster-settings.json": context("000000000021", "UpdateClusterSettings", "2026-11-20T12:30:41Z"),
    "ecs-delete-cluster.json": context("000000000022", "DeleteCluster", "2026-11-20T13:10:17Z"),
    "ecs-update-cluster.json": context("000000000023", "UpdateCluster", "2026-11-20T12:45:09Z"),
    "ecs-tag-resource.json": context("000000000024", "TagResource", "2026-11-20T13:20:00Z"),
    "ecs-untag-resource.json": context("000000000025", "UntagResource", "2026-11-20T13:25:00Z"),
    "ecs-create-task-set.json": context("000000000026", "CreateTaskSet", "2026-11-20T14:00:05Z"),
    "ecs-update-task-set.json": context("000000000027", "UpdateTaskSet", "2026-11-20T14:05:00Z"),
    "ecs-update-service-primary-task-set.json": context(
        "000000000028", "UpdateServicePrimaryTaskSet", "2026-11-20T14:10:00Z"
    ),
    "ecs-delete-task-set.json": context("000000000029", "DeleteTaskSet", "2026-11-21T08:10:00Z"),
    # EventBridge Scheduler starts the nightly report under its own role.
    "ecs-run-task.json": replace(
        context("000000000040", "RunTask", "2026-11-20T02:00:01Z"),
        actor="arn:aws:sts::123456789012:assumed-role/ReconciliationScheduler/a1b2c3d4e5f6",
    ),
    "ecs-run-task-fargate-efs-1.3.0.json": context("000000000041", "RunTask", "2026-11-20T14:10:00Z"),
    "ecs-start-task.json": context("000000000042", "StartTask", "2026-11-20T15:30:00Z"),
    # ECS's own event names no caller; its time is the task's stoppedAt.
    "ecs-task-state-change-stopped.json": replace(
        context("000000000043", "ECS Task State Change", "2026-11-20T02:09:40.511Z"), actor=None
    ),
}
CHECKOUT = "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout"
GREEN_TASK_SET = "arn:aws:ecs:us-east-1:123456789012:task-set/prod/checkout/ecs-svc/1234567890123456789"
TEAM_TAG = {"key": "team", "value": "payments"}


def tagged(described: dict[str, Any], *tags: dict[str, str]) -> dict[str, Any]:
    """A resource as its creating call's event gives it: with the tags it was created with (none unless given)."""
    return {**described, "tags": list(tags)}


ANALYTICS = "arn:aws:ecs:us-east-1:123456789012:cluster/analytics"


def expected_action(name: str) -> Action:
    """What each fixture asks for, written out by hand."""
    ctx = CONTEXTS[name]
    register = "ecs-register-task-definition"
    expected: dict[str, Action] = {
        f"{register}.json": EvaluateTaskDefinition(
            ctx, tagged(response(f"{register}.json", "taskDefinition"), TEAM_TAG), f"{TD_ARN}payments-api:1"
        ),
        f"{register}-plaintext-secret.json": EvaluateTaskDefinition(
            ctx, tagged(response(f"{register}-plaintext-secret.json", "taskDefinition")), f"{TD_ARN}billing-worker:4"
        ),
        f"{register}-non-ecr-image.json": EvaluateTaskDefinition(
            ctx, tagged(response(f"{register}-non-ecr-image.json", "taskDefinition")), f"{TD_ARN}legacy-proxy:12"
        ),
        f"{register}-truncated.json": EvaluateTaskDefinition(
            ctx, None, "payments-api", request(f"{register}-truncated.json"), datetime(2026, 11, 20, 9, 31, tzinfo=UTC)
        ),
        f"{register}-efs.json": EvaluateTaskDefinition(
            ctx, tagged(response(f"{register}-efs.json", "taskDefinition")), f"{TD_ARN}reports-efs:3"
        ),
        "ecs-create-service.json": EvaluateService(
            ctx, tagged(response("ecs-create-service.json", "service")), CLUSTER_ARN, f"{SERVICE_ARN}payments-api"
        ),
        "ecs-create-service-fargate-efs-1.3.0.json": EvaluateService(
            ctx,
            tagged(response("ecs-create-service-fargate-efs-1.3.0.json", "service")),
            CLUSTER_ARN,
            f"{SERVICE_ARN}reports",
        ),
        "ecs-create-service-capacity-providers.json": EvaluateService(
            ctx,
            tagged(response("ecs-create-service-capacity-providers.json", "service")),
            CLUSTER_ARN,
            f"{SERVICE_ARN}reports-spot",
        ),
        "ecs-update-service.json": EvaluateService(
            # UpdateService's response leaves out the tags: the service is to be described.
            ctx,
            response("ecs-update-service.json", "service"),
            CLUSTER_ARN,
            f"{SERVICE_ARN}reports",
            complete=False,
        ),
        "ecs-create-service-failed.json": Skip(
            ctx, "CreateService failed with AccessDeniedException; nothing changed", failed_call=True
        ),
        "ecs-deregister-task-definition.json": ArchiveResource(
            ctx, ResourceType.TASK_DEFINITION, f"{TD_ARN}legacy-proxy:12"
        ),
        "ecs-delete-service.json": ArchiveResource(ctx, ResourceType.SERVICE, f"{SERVICE_ARN}reports-spot"),
        **{
            name: EvaluateCluster(ctx, ANALYTICS, response(name, "cluster"))
            for name in ("ecs-create-cluster.json", "ecs-update-cluster.json", "ecs-update-cluster-settings.json")
        },
        "ecs-delete-cluster.json": ArchiveResource(ctx, ResourceType.CLUSTER, ANALYTICS),
        "ecs-tag-resource.json": EvaluateService(ctx, None, CLUSTER_ARN, f"{SERVICE_ARN}payments-api"),
        "ecs-untag-resource.json": EvaluateTaskDefinition(ctx, None, f"{TD_ARN}payments-api:1"),
        # CreateTaskSet makes the task set with exactly its request's tags (none here).
        "ecs-create-task-set.json": EvaluateTaskSet(
            ctx, tagged(response("ecs-create-task-set.json", "taskSet")), CLUSTER_ARN, CHECKOUT, GREEN_TASK_SET
        ),
        **{
            name: EvaluateTaskSet(ctx, response(name, "taskSet"), CLUSTER_ARN, CHECKOUT, GREEN_TASK_SET)
            for name in ("ecs-update-task-set.json", "ecs-update-service-primary-task-set.json")
        },
        "ecs-delete-task-set.json": ArchiveResource(ctx, ResourceType.TASK_SET, GREEN_TASK_SET),
        # Each task as the response gives it, with the launch settings of the request: its network configuration.
        **{
            name: EvaluateTasks(
                ctx,
                tuple({**task, "networkConfiguration": request(name)["networkConfiguration"]} for task in tasks(name)),
                CLUSTER_ARN,
            )
            for name in ("ecs-run-task.json", "ecs-run-task-fargate-efs-1.3.0.json")
        },
        "ecs-start-task.json": EvaluateTasks(
            ctx, tuple(tasks("ecs-start-task.json")), "arn:aws:ecs:us-east-1:123456789012:cluster/batch"
        ),
        "ecs-task-state-change-stopped.json": ArchiveResource(
            ctx, ResourceType.TASK, "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
        ),
    }
    return expected[name]


def test_event_fixtures_all_have_an_expected_action() -> None:
    # A new fixture must be added to the table below, so that every file in events/ is interpreted.
    assert {path.name for path in EVENT_DIR.glob("*.json")} == set(CONTEXTS)


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_interpret_fixture_gives_expected_action(name: str) -> None:
    assert interpret(load(name)) == expected_action(name)


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_interpret_fixture_context_names_event_call_account_region_actor_and_time(name: str) -> None:
    action = interpret(load(name))

    assert action.context == CONTEXTS[name]
    assert action.context is not None
    assert action.context.partition == "aws"


# --- context ---------------------------------------------------------------------------------


def test_interpret_recipient_account_and_aws_region_win_over_envelope() -> None:
    event = load("ecs-register-task-definition.json")
    event["account"] = "999999999999"
    event["region"] = "eu-west-1"
    event["time"] = "2030-01-01T00:00:00Z"

    action = interpret(event)

    assert action.context == CONTEXTS["ecs-register-task-definition.json"]


def test_interpret_detail_without_account_region_and_time_uses_envelope() -> None:
    event = load("ecs-register-task-definition.json")
    del event["detail"]["recipientAccountId"]
    del event["detail"]["awsRegion"]
    del event["detail"]["eventTime"]
    event["account"] = "999999999999"
    event["region"] = "eu-west-1"

    action = interpret(event)

    assert action.context == EventContext(
        event_id="00000000-0000-0000-0000-000000000001",
        api_call="RegisterTaskDefinition",
        account="999999999999",
        region="eu-west-1",
        actor=ACTOR,
        event_time="2026-11-20T09:15:02Z",
    )


def test_interpret_user_identity_without_arn_gives_no_actor() -> None:
    event = load("ecs-register-task-definition.json")
    del event["detail"]["userIdentity"]["arn"]

    action = interpret(event)

    assert action.context is not None
    assert action.context.actor is None


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-central-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
    ],
)
def test_partition_of_region_gives_partition(region: str, partition: str) -> None:
    assert partition_of(region) == partition


# --- skipped events ----------------------------------------------------------------------------


def test_interpret_error_code_skips_as_failed_call() -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["errorCode"] = "ClientException"

    action = interpret(event)

    assert action == Skip(
        CONTEXTS["ecs-register-task-definition.json"],
        "RegisterTaskDefinition failed with ClientException; nothing changed",
        failed_call=True,
    )


def test_interpret_other_event_source_skips_not_failed() -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventSource"] = "ec2.amazonaws.com"

    action = interpret(event)

    assert action == Skip(
        CONTEXTS["ecs-register-task-definition.json"],
        "not an ECS API call (AWS API Call via CloudTrail from ec2.amazonaws.com)",
        failed_call=False,
    )


def test_interpret_detail_type_not_cloudtrail_skips_not_failed() -> None:
    event = load("ecs-create-service.json")
    event["detail-type"] = "ECS Service Action"

    action = interpret(event)

    assert action == Skip(
        CONTEXTS["ecs-create-service.json"],
        "not an ECS API call (ECS Service Action from ecs.amazonaws.com)",
        failed_call=False,
    )


@pytest.mark.parametrize("call", ["ListServices", "StopTask", "PutAccountSetting"])
def test_interpret_unknown_ecs_call_skips_not_failed(call: str) -> None:
    event = load("ecs-update-service.json")
    event["detail"]["eventName"] = call

    action = interpret(event)

    assert isinstance(action, Skip)
    assert action.reason == f"ECS call {call} does not change what the policies check"
    assert action.failed_call is False
    assert action.context is not None
    assert action.context.api_call == call


def test_interpret_failed_unknown_call_skips_as_failed_call() -> None:
    event = load("ecs-create-service-failed.json")
    event["detail"]["eventName"] = "TagResource"

    action = interpret(event)

    assert isinstance(action, Skip)
    assert action.failed_call is True


# --- evaluated without the response ------------------------------------------------------------


def test_interpret_register_without_response_describes_family_with_request() -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["responseElements"] = None

    action = interpret(event)

    assert action == EvaluateTaskDefinition(
        CONTEXTS["ecs-register-task-definition.json"],
        data=None,
        reference="payments-api",
        request=request("ecs-register-task-definition.json"),
        call_time=datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize("event_time", ["", "yesterday", "2026-13-40T99:00:00Z"])
def test_interpret_register_without_response_unreadable_event_time_gives_no_call_time(event_time: str) -> None:
    # The resolver then refuses to pick a revision (resolution.registered_revision); reading the event still works.
    event = load("ecs-register-task-definition-truncated.json")
    event["detail"]["eventTime"] = event_time
    del event["time"]

    action = interpret(event)

    assert isinstance(action, EvaluateTaskDefinition)
    assert (action.reference, action.call_time) == ("payments-api", None)


@pytest.mark.parametrize("family", ["payments api", "payments-api:3", "a" * 256, f"{PLANTED}/x"])
def test_interpret_register_without_response_family_not_a_name_is_malformed_without_it(family: str) -> None:
    event = load("ecs-register-task-definition-truncated.json")
    event["detail"]["requestParameters"]["family"] = family

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == "RegisterTaskDefinition event's requestParameters.family is not a family name"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:31:00Z", datetime(2026, 11, 20, 9, 31, tzinfo=UTC)),
        ("2026-11-20T09:31:00", datetime(2026, 11, 20, 9, 31, tzinfo=UTC)),
        (1795167060, datetime(2026, 11, 20, 9, 31, tzinfo=UTC)),
        (datetime(2026, 11, 20, 9, 31), datetime(2026, 11, 20, 9, 31, tzinfo=UTC)),
        ("not a time", None),
        (True, None),
        (None, None),
        (10**20, None),
    ],
)
def test_parse_time_reads_iso_text_epoch_and_datetime(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_interpret_register_response_without_arn_describes_family() -> None:
    event = load("ecs-register-task-definition.json")
    del event["detail"]["responseElements"]["taskDefinition"]["taskDefinitionArn"]

    action = interpret(event)

    assert isinstance(action, EvaluateTaskDefinition)
    assert (action.data, action.reference) == (None, "payments-api")


@pytest.mark.parametrize("family", [None, "", 42])
def test_interpret_register_without_response_or_family_is_malformed(family: object) -> None:
    event = load("ecs-register-task-definition-truncated.json")
    if family is None:
        del event["detail"]["requestParameters"]["family"]
    else:
        event["detail"]["requestParameters"]["family"] = family

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == (
        "RegisterTaskDefinition event has neither responseElements.taskDefinition nor requestParameters.family"
    )


def test_interpret_update_service_without_response_describes_requested_service() -> None:
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None

    action = interpret(event)

    # An UpdateService request holds only changes, so it is not offered as the whole service.
    assert action == EvaluateService(
        CONTEXTS["ecs-update-service.json"], data=None, cluster="prod", service="reports", request=None
    )


def test_interpret_update_service_without_response_or_cluster_uses_default_cluster() -> None:
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"]["cluster"]

    action = interpret(event)

    assert isinstance(action, EvaluateService)
    assert (action.cluster, action.service) == ("default", "reports")


def test_interpret_create_service_without_response_offers_whole_request() -> None:
    event = load("ecs-create-service.json")
    event["detail"]["responseElements"] = None

    action = interpret(event)

    assert action == EvaluateService(
        CONTEXTS["ecs-create-service.json"],
        data=None,
        cluster="prod",
        service="payments-api",
        request=request("ecs-create-service.json"),
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [("ecs-update-service.json", "service"), ("ecs-create-service.json", "serviceName")],
)
def test_interpret_service_call_without_response_or_service_name_is_malformed(name: str, key: str) -> None:
    event = load(name)
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"][key]

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    call = event["detail"]["eventName"]
    assert str(caught.value) == f"{call} event has neither responseElements.service nor requestParameters.{key}"


# --- deletions without the response ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "region", "arn"),
    [
        ("legacy-proxy:12", "us-east-1", f"{TD_ARN}legacy-proxy:12"),
        (f"{TD_ARN}legacy-proxy:12", "us-east-1", f"{TD_ARN}legacy-proxy:12"),
        ("legacy-proxy:12", "cn-north-1", "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/legacy-proxy:12"),
        (
            "legacy-proxy:12",
            "us-gov-west-1",
            "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/legacy-proxy:12",
        ),
    ],
)
def test_interpret_deregister_without_response_builds_arn_from_request(reference: str, region: str, arn: str) -> None:
    event = load("ecs-deregister-task-definition.json")
    event["detail"]["responseElements"] = None
    event["detail"]["requestParameters"]["taskDefinition"] = reference
    event["detail"]["awsRegion"] = region

    action = interpret(event)

    assert action == ArchiveResource(
        EventContext(
            event_id="00000000-0000-0000-0000-00000000000b",
            api_call="DeregisterTaskDefinition",
            account=ACCOUNT,
            region=region,
            actor=ACTOR,
            event_time="2026-11-21T08:00:00Z",
        ),
        ResourceType.TASK_DEFINITION,
        arn,
    )


@pytest.mark.parametrize("reference", [None, "", "legacy-proxy", f"{TD_ARN}legacy-proxy"])
def test_interpret_deregister_without_response_or_revision_is_malformed(reference: str | None) -> None:
    event = load("ecs-deregister-task-definition.json")
    event["detail"]["responseElements"] = None
    if reference is None:
        del event["detail"]["requestParameters"]["taskDefinition"]
    else:
        event["detail"]["requestParameters"]["taskDefinition"] = reference

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == "DeregisterTaskDefinition event names no task definition revision"


@pytest.mark.parametrize(
    ("cluster", "service", "region", "arn"),
    [
        ("prod", "reports-spot", "us-east-1", f"{SERVICE_ARN}reports-spot"),
        (CLUSTER_ARN, "reports-spot", "us-east-1", f"{SERVICE_ARN}reports-spot"),
        (None, "reports-spot", "us-east-1", "arn:aws:ecs:us-east-1:123456789012:service/default/reports-spot"),
        ("prod", f"{SERVICE_ARN}reports-spot", "us-east-1", f"{SERVICE_ARN}reports-spot"),
        (
            "prod",
            "reports-spot",
            "cn-northwest-1",
            "arn:aws-cn:ecs:cn-northwest-1:123456789012:service/prod/reports-spot",
        ),
        (
            "prod",
            "reports-spot",
            "us-gov-east-1",
            "arn:aws-us-gov:ecs:us-gov-east-1:123456789012:service/prod/reports-spot",
        ),
    ],
)
def test_interpret_delete_service_without_response_builds_arn_from_request(
    cluster: str | None, service: str, region: str, arn: str
) -> None:
    event = load("ecs-delete-service.json")
    event["detail"]["responseElements"] = None
    parameters = event["detail"]["requestParameters"]
    parameters["service"] = service
    if cluster is None:
        del parameters["cluster"]
    else:
        parameters["cluster"] = cluster
    event["detail"]["awsRegion"] = region

    action = interpret(event)

    assert isinstance(action, ArchiveResource)
    assert (action.resource_type, action.arn) == (ResourceType.SERVICE, arn)
    assert action.context.region == region


def test_interpret_delete_service_without_response_or_service_is_malformed() -> None:
    event = load("ecs-delete-service.json")
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"]["service"]

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == (
        "DeleteService event has neither responseElements.service nor requestParameters.service"
    )


def test_cluster_arn_completes_a_name_with_the_event_s_account_and_region() -> None:
    context = CONTEXTS["ecs-create-service.json"]
    other = EventContext("e", "CreateService", "210987654321", "cn-north-1", None, None)

    assert (cluster_arn(context, "prod"), cluster_arn(other, "prod"), cluster_arn(other, CLUSTER_ARN)) == (
        CLUSTER_ARN,
        "arn:aws-cn:ecs:cn-north-1:210987654321:cluster/prod",
        CLUSTER_ARN,
    )


# --- the CloudTrail record version -------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "1.05", "1.08", "1.09", "1.10", "1.11", "1.99"])
def test_interpret_event_version_major_1_is_read(version: str) -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventVersion"] = version

    assert interpret(event) == expected_action("ecs-register-task-definition.json")


def test_interpret_without_event_version_is_read() -> None:
    # Older samples and hand-written records carry none.
    event = load("ecs-register-task-definition.json")
    del event["detail"]["eventVersion"]

    assert interpret(event) == expected_action("ecs-register-task-definition.json")


@pytest.mark.parametrize("version", ["2.0", "0.9", "2.00", "10.1"])
def test_interpret_event_version_other_major_is_malformed_naming_field_and_supported_major(version: str) -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventVersion"] = version

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == (
        "detail.eventVersion has a major version other than 1, the only CloudTrail record major version supported"
    )


@pytest.mark.parametrize("version", ["", "1", "1.", "v1.09", "1.09.1", f"1.{PLANTED}", PLANTED])
def test_interpret_event_version_not_major_minor_is_malformed_without_its_value(version: str) -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventVersion"] = version

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == (
        "detail.eventVersion is not a CloudTrail record version (major.minor); major version 1 is supported"
    )


def test_interpret_event_version_not_text_is_malformed_naming_field() -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventVersion"] = 1.09

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert (
        str(caught.value) == "not an EventBridge CloudTrail event: detail.eventVersion: Input should be a valid string"
    )


def test_interpret_event_version_checked_for_events_it_would_skip_too() -> None:
    event = load("ecs-register-task-definition.json")
    event["detail"]["eventSource"] = "ec2.amazonaws.com"
    event["detail"]["eventVersion"] = "2.0"

    with pytest.raises(MalformedEvent, match="eventVersion"):
        interpret(event)


def test_event_fixtures_all_carry_a_major_1_event_version() -> None:
    # CloudTrail records carry a version; ECS's own Task State Change events have none.
    versions = {
        name: load(name)["detail"].get("eventVersion")
        for name in CONTEXTS
        if load(name)["detail-type"] == "AWS API Call via CloudTrail"
    }

    assert {name for name, version in versions.items() if not str(version).startswith("1.")} == set()


# --- malformed events ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([PLANTED], "an event must be a JSON object, not list"),
        (PLANTED, "an event must be a JSON object, not str"),
        (None, "an event must be a JSON object, not NoneType"),
        (42, "an event must be a JSON object, not int"),
    ],
)
def test_interpret_non_dict_event_is_malformed_naming_its_type(event: object, message: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert str(caught.value) == message


def planted(name: str) -> dict[str, Any]:
    """A fixture carrying PLANTED where a secret would be: in a container's environment."""
    event = load(name)
    environment = event["detail"]["requestParameters"]["containerDefinitions"][0]["environment"]
    environment.append({"name": "DB_PASSWORD", "value": PLANTED})
    return event


def _drop_detail(event: dict[str, Any]) -> None:
    del event["detail"]


def _drop_event_name(event: dict[str, Any]) -> None:
    del event["detail"]["eventName"]


def _drop_event_source(event: dict[str, Any]) -> None:
    del event["detail"]["eventSource"]


def _drop_id(event: dict[str, Any]) -> None:
    del event["id"]


def _planted_detail(event: dict[str, Any]) -> None:
    event["detail"] = PLANTED


def _planted_event_name(event: dict[str, Any]) -> None:
    event["detail"]["eventName"] = [PLANTED]


def _planted_request_parameters(event: dict[str, Any]) -> None:
    event["detail"]["requestParameters"] = [PLANTED]


def _planted_user_identity(event: dict[str, Any]) -> None:
    event["detail"]["userIdentity"] = PLANTED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_detail, "not an EventBridge CloudTrail event: detail: Field required"),
        (_drop_event_name, "not an EventBridge CloudTrail event: detail.eventName: Field required"),
        (_drop_event_source, "not an EventBridge CloudTrail event: detail.eventSource: Field required"),
        (_drop_id, "not an EventBridge CloudTrail event: id: Field required"),
        (
            _planted_detail,
            "not an EventBridge CloudTrail event: detail: Input should be a valid dictionary or instance of "
            "CloudTrailDetail",
        ),
        (_planted_event_name, "not an EventBridge CloudTrail event: detail.eventName: Input should be a valid string"),
        (
            _planted_request_parameters,
            "not an EventBridge CloudTrail event: detail.requestParameters: Input should be a valid dictionary",
        ),
        (
            _planted_user_identity,
            "not an EventBridge CloudTrail event: detail.userIdentity: Input should be a valid dictionary or "
            "instance of UserIdentity",
        ),
    ],
    ids=lambda value: getattr(value, "__name__", "message"),
)
def test_interpret_unreadable_event_is_malformed_naming_field_not_value(change: Any, message: str) -> None:
    # GIVEN a good event carrying a planted secret, with one field removed or of the wrong type
    event = planted("ecs-register-task-definition-plaintext-secret.json")
    change(event)

    # WHEN it is interpreted
    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    # THEN the error names the field and repeats nothing from the event
    assert str(caught.value) == message
    assert PLANTED not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_interpret_register_without_family_message_repeats_no_request_value() -> None:
    event = planted("ecs-register-task-definition-truncated.json")
    del event["detail"]["requestParameters"]["family"]

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert PLANTED not in str(caught.value)


def test_interpret_leaves_event_unchanged() -> None:
    event = load("ecs-register-task-definition-truncated.json")
    before = copy.deepcopy(event)

    interpret(event)

    assert event == before


# --- clusters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ecs-create-cluster.json", "ecs-update-cluster.json", "ecs-update-cluster-settings.json"]
)
def test_interpret_cluster_call_evaluates_the_cluster_by_arn_keeping_the_response_for_offline_use(name: str) -> None:
    event = load(name)

    action = interpret(event)

    assert isinstance(action, EvaluateCluster)
    assert (action.cluster, action.data) == (ANALYTICS, event["detail"]["responseElements"]["cluster"])


@pytest.mark.parametrize(
    ("name", "request_key", "named", "arn"),
    [
        ("ecs-update-cluster-settings.json", "cluster", "analytics", ANALYTICS),
        ("ecs-update-cluster.json", "cluster", ANALYTICS, ANALYTICS),
        ("ecs-create-cluster.json", "clusterName", None, "arn:aws:ecs:us-east-1:123456789012:cluster/default"),
    ],
)
def test_interpret_cluster_call_without_response_names_the_cluster_from_the_request(
    name: str, request_key: str, named: str | None, arn: str
) -> None:
    event = load(name)
    event["detail"]["responseElements"] = None
    if named is None:
        del event["detail"]["requestParameters"][request_key]
    else:
        event["detail"]["requestParameters"][request_key] = named

    action = interpret(event)

    assert isinstance(action, EvaluateCluster)
    assert (action.cluster, action.data) == (arn, None)


def test_interpret_cluster_call_naming_something_not_a_cluster_is_malformed_without_echoing_it() -> None:
    event = load("ecs-update-cluster-settings.json")
    event["detail"]["responseElements"] = None
    event["detail"]["requestParameters"]["cluster"] = "PLANTED-s3cr3t value"

    with pytest.raises(MalformedEvent) as caught:
        interpret(event)

    assert "PLANTED" not in str(caught.value)
    assert "cluster" in str(caught.value)


def test_interpret_delete_cluster_archives_the_cluster() -> None:
    action = interpret(load("ecs-delete-cluster.json"))

    assert isinstance(action, ArchiveResource)
    assert (action.resource_type, action.arn) == (ResourceType.CLUSTER, ANALYTICS)


# --- TagResource and UntagResource ----------------------------------------------------------------


def tagging_event(call: str, resource_arn: object) -> dict[str, Any]:
    event = load("ecs-tag-resource.json")
    event["detail"]["eventName"] = call
    event["detail"]["requestParameters"] = {"resourceArn": resource_arn, "tags": [{"key": "team", "value": "a"}]}
    return event


@pytest.mark.parametrize("call", ["TagResource", "UntagResource"])
def test_interpret_tagging_call_evaluates_the_resource_its_arn_names(call: str) -> None:
    ctx = replace(CONTEXTS["ecs-tag-resource.json"], api_call=call)
    account = "arn:aws-us-gov:ecs:us-gov-west-1:210987654321"
    cases = {
        f"{account}:task-definition/web:7": EvaluateTaskDefinition(ctx, None, f"{account}:task-definition/web:7"),
        f"{account}:cluster/prod": EvaluateCluster(ctx, f"{account}:cluster/prod"),
        # The service's cluster comes from its own ARN (partition, Region, account), not from the event's.
        f"{account}:service/prod/web": EvaluateService(
            ctx, None, f"{account}:cluster/prod", f"{account}:service/prod/web"
        ),
    }
    for arn, expected in cases.items():
        assert interpret(tagging_event(call, arn)) == expected, arn


@pytest.mark.parametrize(
    ("resource", "kind"),
    [
        ("task/prod/0123456789abcdef0123456789abcdef", "task"),
        ("container-instance/prod/0123456789abcdef", "container-instance"),
        ("capacity-provider/spot", "capacity-provider"),
        ("task-set/prod/web/ecs-svc/1234567890123456789", "task-set"),
    ],
)
def test_interpret_tagging_call_on_a_resource_no_policy_judges_skips(resource: str, kind: str) -> None:
    action = interpret(tagging_event("TagResource", f"arn:aws:ecs:us-east-1:123456789012:{resource}"))

    assert isinstance(action, Skip)
    assert (action.reason, action.failed_call) == (
        f"TagResource changed the tags of a {kind}, which no policy judges by its tags",
        False,
    )


def test_interpret_tagging_call_old_service_arn_without_cluster_skips_for_the_sweep() -> None:
    action = interpret(tagging_event("UntagResource", "arn:aws:ecs:us-east-1:123456789012:service/web"))

    assert isinstance(action, Skip)
    assert "without its cluster" in action.reason


@pytest.mark.parametrize(
    "resource_arn",
    [
        None,
        "",
        42,
        "web",
        "arn:aws:s3:::bucket",
        "arn:aws:ecs:us-east-1:123456789012:cluster",
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web",
    ],
)
def test_interpret_tagging_call_without_a_usable_ecs_arn_is_malformed(resource_arn: object) -> None:
    with pytest.raises(MalformedEvent) as raised:
        interpret(tagging_event("TagResource", resource_arn))

    assert "TagResource event" in str(raised.value)
    if isinstance(resource_arn, str) and resource_arn:
        assert resource_arn not in str(raised.value)


def test_interpret_update_service_response_with_tags_is_whole() -> None:
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"]["service"]["tags"] = [{"key": "team", "value": "reports"}]

    action = interpret(event)

    assert isinstance(action, EvaluateService)
    assert action.complete is True
    assert action.data is not None
    assert action.data["tags"] == [{"key": "team", "value": "reports"}]


def test_interpret_create_service_takes_the_request_tags_when_the_response_has_none() -> None:
    event = load("ecs-create-service.json")
    event["detail"]["requestParameters"]["tags"] = [{"key": "team", "value": "payments"}]

    action = interpret(event)

    assert isinstance(action, EvaluateService)
    assert action.data is not None
    assert action.data["tags"] == [{"key": "team", "value": "payments"}]


# --- task sets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "named"),
    [
        ("ecs-update-task-set.json", "taskSet", "ecs-svc/1234567890123456789"),
        ("ecs-update-service-primary-task-set.json", "primaryTaskSet", GREEN_TASK_SET),
    ],
)
def test_interpret_task_set_call_without_response_describes_the_task_set_the_request_names(
    name: str, key: str, named: str
) -> None:
    event = load(name)
    event["detail"]["responseElements"] = None
    assert event["detail"]["requestParameters"][key] == named

    action = interpret(event)

    # An id is made an ARN within the request's cluster and service, in the event's account and Region.
    assert action == EvaluateTaskSet(CONTEXTS[name], None, CLUSTER_ARN, "checkout", GREEN_TASK_SET)


def test_interpret_create_task_set_without_response_is_malformed_naming_what_is_missing() -> None:
    event = load("ecs-create-task-set.json")
    event["detail"]["responseElements"] = None

    with pytest.raises(MalformedEvent) as raised:
        interpret(event)

    assert str(raised.value) == (
        "CreateTaskSet event has no responseElements.taskSet, nor the id of the task set it made"
    )


def test_interpret_delete_task_set_without_response_archives_the_task_set_the_request_names() -> None:
    event = load("ecs-delete-task-set.json")
    event["detail"]["responseElements"] = None

    action = interpret(event)

    assert action == ArchiveResource(CONTEXTS["ecs-delete-task-set.json"], ResourceType.TASK_SET, GREEN_TASK_SET)


def test_interpret_delete_task_set_naming_no_task_set_is_malformed() -> None:
    event = load("ecs-delete-task-set.json")
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"]["taskSet"]

    with pytest.raises(MalformedEvent) as raised:
        interpret(event)

    assert "DeleteTaskSet event names no task set" in str(raised.value)


# --- standalone tasks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_arn",
    [
        f"arn:aws:ecs:us-east-1:123456789012:task/prod/x --password={PLANTED}",
        PLANTED,
        f"arn:aws:ecs:us-east-1:123456789012:service/prod/{PLANTED}",
    ],
)
def test_interpret_run_task_whose_task_arn_is_not_one_is_malformed_without_it(task_arn: str) -> None:
    event = load("ecs-run-task.json")
    event["detail"]["responseElements"]["tasks"][0]["taskArn"] = task_arn

    with pytest.raises(MalformedEvent, match=r"tasks\[0\]\.taskArn is not a task ARN") as raised:
        interpret(event)

    assert PLANTED not in str(raised.value)


def test_interpret_run_task_without_its_response_is_malformed() -> None:
    event = load("ecs-run-task.json")
    event["detail"]["responseElements"] = None

    with pytest.raises(MalformedEvent, match=r"no responseElements\.tasks"):
        interpret(event)


def test_interpret_run_task_that_started_no_task_is_a_failed_call() -> None:
    event = load("ecs-run-task.json")
    event["detail"]["responseElements"] = {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY"}]}

    action = interpret(event)

    assert action == Skip(CONTEXTS["ecs-run-task.json"], "RunTask started no task", failed_call=True)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"lastStatus": "RUNNING"}, "the task has not stopped"),
        ({"group": "service:payments-api"}, "the task belongs to a service, which is judged instead of its tasks"),
    ],
)
def test_interpret_task_state_change_of_a_running_or_service_task_is_skipped(
    changes: dict[str, str], reason: str
) -> None:
    event = load("ecs-task-state-change-stopped.json")
    event["detail"].update(changes)

    action = interpret(event)

    assert action == Skip(CONTEXTS["ecs-task-state-change-stopped.json"], reason)
