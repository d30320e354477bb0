"""The scanner Lambda end to end against moto in server mode: every file in events/, sequences of events, settings.

Each test starts from a fresh emulated account (the ``aws`` fixture resets the session's moto server) and
reads back what landed: every finding in Security Hub (GetFindings) and every message delivered to the
SQS queue subscribed to the findings topic.

The expectations (verdicts, findings, messages, counts) are about the policies the sample events were written
for, so the handler loads only those (``policy_dir`` below); one test runs every event file with the whole
catalog and checks that each of its policies gets its finding.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import (
    ACCOUNT,
    EVENTS,
    REGION,
    Aws,
    create_payments_service,
    describe_family_answers_latest,
    load_event,
    register_sample_task_definitions,
)
from fault_proxy import FaultProxy

from ecsguard.core.models import ResourceType
from ecsguard.errors import EventFailed
from ecsguard.handlers.scanner import handler
from policy_catalog import POLICY_DIR, SAMPLE_EVENT_POLICIES, narrowed_policy_dir, policy_ids


@pytest.fixture(scope="module", autouse=True)
def _service_models_parsed_once() -> Iterator[None]:
    """Speed only: every test builds fresh boto3 sessions (the ``aws`` fixture's clients, the handler's clients),
    and each new session parses the service models again. Share one botocore loader, which only reads those
    data files, so they are parsed once per module."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", lambda *args, **kwargs: shared)
        yield


@pytest.fixture
def policy_dir() -> Path:
    """The handler loads the sample events' policies, and the cluster events' one, which this module's expectations
    are about."""
    return narrowed_policy_dir([*SAMPLE_EVENT_POLICIES, *CLUSTER_POLICIES, *TASK_SET_POLICIES])


# (finding Id, Compliance.Status, RecordState)
FindingState = tuple[str, str, str]
# (resource id, failing policy ids in the body, severity attribute, policy_ids attribute)
MessageSummary = tuple[str, tuple[str, ...], str, tuple[str, ...]]

TASK_DEFINITION_POLICIES = ("ecs-images-ecr-only", "ecs-network-awsvpc", "ecs-secrets-managed")
SERVICE_POLICIES = ("ecs-efs-fargate-platform",)
CLUSTER_POLICIES = ("ecs-cluster-container-insights",)
TASK_SET_POLICIES = ("ecs-task-set-no-public-ip",)
ECR, NETWORK, SECRETS = TASK_DEFINITION_POLICIES
(EFS,) = SERVICE_POLICIES
(INSIGHTS,) = CLUSTER_POLICIES
(TASK_SET_PUBLIC_IP,) = TASK_SET_POLICIES


def td_arn(family_revision: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family_revision}"


def service_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/{name}"


def finding_id(policy_id: str, resource_arn: str) -> str:
    return f"ecsguard/{policy_id}/{resource_arn}"


PAYMENTS_TD = td_arn("payments-api:1")
BILLING_TD = td_arn("billing-worker:4")
LEGACY_TD = td_arn("legacy-proxy:12")
REPORTS_TD = td_arn("reports-efs:3")
PAYMENTS_SERVICE = service_arn("payments-api")
REPORTS_SERVICE = service_arn("reports")
REPORTS_SPOT_SERVICE = service_arn("reports-spot")
ANALYTICS_CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/analytics"
GREEN_TASK_SET = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/prod/checkout/ecs-svc/1234567890123456789"
RECONCILE_TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REPORTS_TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/1b2c3d4e5f60718293a4b5c6d7e8f90a"
PROXY_TASK = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b"


def states(resource_arn: str, compliance: dict[str, str], record_state: str = "ACTIVE") -> tuple[FindingState, ...]:
    return tuple((finding_id(policy, resource_arn), status, record_state) for policy, status in compliance.items())


def archived(resource_arn: str, policies: tuple[str, ...]) -> tuple[FindingState, ...]:
    return states(resource_arn, dict.fromkeys(policies, "NOT_AVAILABLE"), "ARCHIVED")


def finding_states(aws: Aws) -> list[FindingState]:
    """Every finding in Security Hub, sorted, duplicates kept (``Aws.findings`` keys by Id and would hide one)."""
    found: list[FindingState] = []
    token: str | None = None
    while True:
        parameters: dict[str, Any] = {"MaxResults": 100, **({"NextToken": token} if token else {})}
        response = aws.securityhub.get_findings(**parameters)
        found.extend((f["Id"], f["Compliance"]["Status"], f["RecordState"]) for f in response["Findings"])
        token = response.get("NextToken")
        if not token:
            return sorted(found)


def message_summaries(aws: Aws) -> list[MessageSummary]:
    """Every message delivered (and so consumed) since the last call, sorted."""
    summaries = []
    for message in aws.messages():
        body = json.loads(message["Body"])
        attributes = message["MessageAttributes"]
        summaries.append(
            (
                body["resource"]["id"],
                tuple(failure["policy_id"] for failure in body["failures"]),
                attributes["severity"]["StringValue"],
                tuple(json.loads(attributes["policy_ids"]["StringValue"])),
            )
        )
    return sorted(summaries)


def register_as_requested(event_name: str) -> Callable[[Aws], None]:
    """Arrange what AWS did before it sent the event: register the event's requestParameters in ECS."""

    def arrange(aws: Aws) -> None:
        aws.ecs.register_task_definition(**load_event(event_name)["detail"]["requestParameters"])

    return arrange


def sample_task_definitions(aws: Aws) -> None:
    register_sample_task_definitions(aws.ecs)


def task_definitions_of_the_events(aws: Aws) -> None:
    """The task definitions the task samples run, registered as the sample events register them:
    payments-api:1, reports-efs:3 and legacy-proxy:12."""
    for event_name, revision in (
        ("ecs-register-task-definition.json", 1),
        ("ecs-register-task-definition-efs.json", 3),
        ("ecs-register-task-definition-non-ecr-image.json", 12),
    ):
        for _ in range(revision):
            register_as_requested(event_name)(aws)


def registered_at(family: str, revision: int, when: datetime) -> None:
    """moto 5.2.5 gives task definitions no registeredAt (MOTO.md); ECS stamps every revision it registers. The
    server runs in this process, so set, on moto's stored revision, the attribute its describe answers as
    registeredAt."""
    from moto.ecs.models import ecs_backends

    ecs_backends[ACCOUNT][REGION].task_definitions[family][revision].registered_at = when


TRUNCATED = "ecs-register-task-definition-truncated.json"
# The truncated event's eventTime (CloudTrail's, to the second), and when ECS registered that call's revision.
TRUNCATED_EVENT_TIME = datetime(2026, 11, 20, 9, 31, tzinfo=UTC)
REGISTERED_BY_EVENT = TRUNCATED_EVENT_TIME + timedelta(milliseconds=412)


def register_truncated_request(aws: Aws, when: datetime | None = REGISTERED_BY_EVENT, **changes: Any) -> int:
    """Register the truncated event's request (with ``changes``) as the next revision of payments-api, stamped as
    registered at ``when`` (None: left without registeredAt, as moto leaves it); return the revision."""
    parameters = {**load_event(TRUNCATED)["detail"]["requestParameters"], **changes}
    revision = int(aws.ecs.register_task_definition(**parameters)["taskDefinition"]["revision"])
    if when is not None:
        registered_at("payments-api", revision, when)
    return revision


def truncated_request_at_event_time(aws: Aws) -> None:
    """What AWS did before it sent the truncated event: register its request, at the event's time."""
    register_truncated_request(aws)


def payments_service_created(aws: Aws) -> None:
    """What AWS holds before the TagResource event: the sample task definitions and the payments-api service."""
    register_sample_task_definitions(aws.ecs)
    create_payments_service(aws.ecs)


def cluster_as_after(event_name: str) -> Callable[[Aws], None]:
    """Arrange what AWS did before it sent the event: the analytics cluster as the event's response describes it
    (the handler describes the cluster again rather than trust the response)."""

    def arrange(aws: Aws) -> None:
        cluster = load_event(event_name)["detail"]["responseElements"]["cluster"]
        aws.ecs.create_cluster(
            clusterName=cluster["clusterName"],
            settings=cluster["settings"],
            **({"configuration": cluster["configuration"]} if "configuration" in cluster else {}),
        )

    return arrange


@dataclass(frozen=True)
class Expected:
    """What one event file leads to on a fresh account arranged by ``arrange``."""

    action: str
    resource: str | None
    failed_policies: tuple[str, ...] = ()
    findings: tuple[FindingState, ...] = ()
    messages: tuple[MessageSummary, ...] = ()
    arrange: Callable[[Aws], None] | None = None


# One entry per file in events/, no more, no less (test_event_expectations_name_exactly_the_event_files).
EXPECTED: dict[str, Expected] = {
    "ecs-create-service-capacity-providers.json": Expected(
        action="evaluated",
        resource=REPORTS_SPOT_SERVICE,
        failed_policies=(EFS,),
        findings=states(REPORTS_SPOT_SERVICE, {EFS: "FAILED"}),
        messages=((REPORTS_SPOT_SERVICE, (EFS,), "HIGH", (EFS,)),),
        arrange=sample_task_definitions,
    ),
    "ecs-create-service-failed.json": Expected(action="skipped", resource=None, arrange=sample_task_definitions),
    "ecs-create-service-fargate-efs-1.3.0.json": Expected(
        action="evaluated",
        resource=REPORTS_SERVICE,
        failed_policies=(EFS,),
        findings=states(REPORTS_SERVICE, {EFS: "FAILED"}),
        messages=((REPORTS_SERVICE, (EFS,), "HIGH", (EFS,)),),
        arrange=sample_task_definitions,
    ),
    # payments-api:1 mounts no EFS: NOT_APPLICABLE, which is imported archived, as Security Hub does for controls.
    "ecs-create-service.json": Expected(
        action="evaluated",
        resource=PAYMENTS_SERVICE,
        findings=archived(PAYMENTS_SERVICE, SERVICE_POLICIES),
        arrange=sample_task_definitions,
    ),
    "ecs-delete-service.json": Expected(
        action="archived", resource=REPORTS_SPOT_SERVICE, findings=archived(REPORTS_SPOT_SERVICE, SERVICE_POLICIES)
    ),
    "ecs-deregister-task-definition.json": Expected(
        action="archived", resource=LEGACY_TD, findings=archived(LEGACY_TD, TASK_DEFINITION_POLICIES)
    ),
    "ecs-register-task-definition-efs.json": Expected(
        action="evaluated",
        resource=REPORTS_TD,
        findings=states(REPORTS_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}),
    ),
    "ecs-register-task-definition-non-ecr-image.json": Expected(
        action="evaluated",
        resource=LEGACY_TD,
        failed_policies=(ECR, NETWORK),
        findings=states(LEGACY_TD, {ECR: "FAILED", NETWORK: "FAILED", SECRETS: "PASSED"}),
        messages=((LEGACY_TD, (ECR, NETWORK), "HIGH", (ECR, NETWORK)),),
    ),
    "ecs-register-task-definition-plaintext-secret.json": Expected(
        action="evaluated",
        resource=BILLING_TD,
        failed_policies=(SECRETS,),
        findings=states(BILLING_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "FAILED"}),
        messages=((BILLING_TD, (SECRETS,), "HIGH", (SECRETS,)),),
    ),
    # No responseElements: the handler finds the family's revision registered at the event's time; on a fresh
    # account the request became revision 1.
    "ecs-register-task-definition-truncated.json": Expected(
        action="evaluated",
        resource=PAYMENTS_TD,
        findings=states(PAYMENTS_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}),
        arrange=truncated_request_at_event_time,
    ),
    "ecs-register-task-definition.json": Expected(
        action="evaluated",
        resource=PAYMENTS_TD,
        findings=states(PAYMENTS_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}),
    ),
    "ecs-update-service.json": Expected(
        action="evaluated",
        resource=REPORTS_SERVICE,
        findings=states(REPORTS_SERVICE, {EFS: "PASSED"}),
        arrange=sample_task_definitions,
    ),
    # Created with Container Insights disabled: a FAILED finding on an AwsEcsCluster resource, and a message.
    "ecs-create-cluster.json": Expected(
        action="evaluated",
        resource=ANALYTICS_CLUSTER,
        failed_policies=(INSIGHTS,),
        findings=states(ANALYTICS_CLUSTER, {INSIGHTS: "FAILED"}),
        messages=((ANALYTICS_CLUSTER, (INSIGHTS,), "MEDIUM", (INSIGHTS,)),),
        arrange=cluster_as_after("ecs-create-cluster.json"),
    ),
    "ecs-update-cluster-settings.json": Expected(
        action="evaluated",
        resource=ANALYTICS_CLUSTER,
        findings=states(ANALYTICS_CLUSTER, {INSIGHTS: "PASSED"}),
        arrange=cluster_as_after("ecs-update-cluster-settings.json"),
    ),
    "ecs-update-cluster.json": Expected(
        action="evaluated",
        resource=ANALYTICS_CLUSTER,
        findings=states(ANALYTICS_CLUSTER, {INSIGHTS: "PASSED"}),
        arrange=cluster_as_after("ecs-update-cluster.json"),
    ),
    "ecs-delete-cluster.json": Expected(
        action="archived", resource=ANALYTICS_CLUSTER, findings=archived(ANALYTICS_CLUSTER, CLUSTER_POLICIES)
    ),
    # Tagging events name the resource by ARN: it is described again, with its tags, and judged by every policy
    # of its type (test_lambda_tagging.py follows the tagging policies through them).
    "ecs-tag-resource.json": Expected(
        action="evaluated",
        resource=PAYMENTS_SERVICE,
        findings=archived(PAYMENTS_SERVICE, SERVICE_POLICIES),
        arrange=payments_service_created,
    ),
    "ecs-untag-resource.json": Expected(
        action="evaluated",
        resource=PAYMENTS_TD,
        findings=states(PAYMENTS_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}),
        arrange=sample_task_definitions,
    ),
    # The checkout service's green task set assigns public IPs (ECS.16): judged from each call's response, on an
    # Other resource (ASFF has no task set type); on a fresh account each event finds the failure new.
    **{
        name: Expected(
            action="evaluated",
            resource=GREEN_TASK_SET,
            failed_policies=(TASK_SET_PUBLIC_IP,),
            # It runs payments-api:1, which mounts no EFS: the EFS policy, which judges task sets too, does not apply.
            findings=(
                *states(GREEN_TASK_SET, {TASK_SET_PUBLIC_IP: "FAILED"}),
                *archived(GREEN_TASK_SET, SERVICE_POLICIES),
            ),
            messages=((GREEN_TASK_SET, (TASK_SET_PUBLIC_IP,), "HIGH", (TASK_SET_PUBLIC_IP,)),),
            arrange=sample_task_definitions,
        )
        for name in (
            "ecs-create-task-set.json",
            "ecs-update-task-set.json",
            "ecs-update-service-primary-task-set.json",
        )
    },
    "ecs-delete-task-set.json": Expected(
        action="archived",
        resource=GREEN_TASK_SET,
        findings=archived(GREEN_TASK_SET, (*SERVICE_POLICIES, *TASK_SET_POLICIES)),
    ),
    # Standalone tasks, judged on the task definition they run with their overrides, and on their launch: only
    # what the launch added is notified (a failure wholly in the task definition is that definition's finding's).
    "ecs-run-task.json": Expected(
        action="evaluated",
        resource=RECONCILE_TASK,
        failed_policies=(SECRETS,),
        findings=(
            *states(RECONCILE_TASK, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "FAILED"}),
            *archived(RECONCILE_TASK, SERVICE_POLICIES),
        ),
        messages=((RECONCILE_TASK, (SECRETS,), "HIGH", (SECRETS,)),),
        arrange=task_definitions_of_the_events,
    ),
    "ecs-run-task-fargate-efs-1.3.0.json": Expected(
        action="evaluated",
        resource=REPORTS_TASK,
        failed_policies=(EFS,),
        findings=states(REPORTS_TASK, {EFS: "FAILED", ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}),
        messages=((REPORTS_TASK, (EFS,), "HIGH", (EFS,)),),
        arrange=task_definitions_of_the_events,
    ),
    "ecs-start-task.json": Expected(
        action="evaluated",
        resource=PROXY_TASK,
        failed_policies=(ECR, NETWORK, SECRETS),
        findings=(
            *states(PROXY_TASK, {ECR: "FAILED", NETWORK: "FAILED", SECRETS: "FAILED"}),
            *archived(PROXY_TASK, SERVICE_POLICIES),
        ),
        messages=((PROXY_TASK, (SECRETS,), "HIGH", (SECRETS,)),),
        arrange=task_definitions_of_the_events,
    ),
    "ecs-task-state-change-stopped.json": Expected(
        action="archived",
        resource=RECONCILE_TASK,
        findings=archived(RECONCILE_TASK, (*TASK_DEFINITION_POLICIES, *SERVICE_POLICIES)),
    ),
}

EVENT_FILES = sorted(path.name for path in EVENTS.glob("*.json"))


def test_event_expectations_name_exactly_the_event_files() -> None:
    assert set(EXPECTED) == set(EVENT_FILES)


@pytest.mark.parametrize("event_name", EVENT_FILES)
def test_handler_event_file_lands_expected_findings_and_messages(
    event_name: str, aws: Aws, configure: Callable[..., None]
) -> None:
    expected = EXPECTED.get(event_name)
    if expected is None:
        pytest.fail(f"events/{event_name} has no entry in EXPECTED: say what it must lead to")
    if expected.arrange is not None:
        expected.arrange(aws)

    answer = handler(load_event(event_name), None)

    assert (answer["action"], answer["resource"], tuple(answer["failed_policies"])) == (
        expected.action,
        expected.resource,
        expected.failed_policies,
    )
    assert finding_states(aws) == sorted(expected.findings)
    assert message_summaries(aws) == sorted(expected.messages)
    assert (answer["findings_imported"], answer["notifications_sent"]) == (
        len(expected.findings),
        len(expected.messages),
    )


def policy_of(finding: FindingState) -> str:
    return finding[0].split("/", 2)[1]


def resource_type_of(arn: str) -> ResourceType:
    if ":task-set/" in arn:
        return ResourceType.TASK_SET
    if ":task/" in arn:
        return ResourceType.TASK
    if ":cluster/" in arn:
        return ResourceType.CLUSTER
    return ResourceType.TASK_DEFINITION if ":task-definition/" in arn else ResourceType.SERVICE


@pytest.mark.parametrize("event_name", EVENT_FILES)
def test_handler_event_file_with_whole_catalog_lands_one_finding_per_catalog_policy(
    event_name: str, aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the handler loading every policy in policies/ (every pack), not only the sample events' ones
    expected = EXPECTED.get(event_name)
    if expected is None:
        pytest.fail(f"events/{event_name} has no entry in EXPECTED: say what it must lead to")
    configure(policy_dir=str(POLICY_DIR), packs="all")
    if expected.arrange is not None:
        expected.arrange(aws)

    # WHEN
    answer = handler(load_event(event_name), None)

    # THEN each catalog policy on the resource's type has exactly one finding (none when the event is skipped),
    # and the sample events' policies land, and fail, exactly as expected
    about = {*SAMPLE_EVENT_POLICIES, *CLUSTER_POLICIES, *TASK_SET_POLICIES}
    landed = finding_states(aws)
    catalog_findings = (
        sorted(finding_id(p, expected.resource) for p in policy_ids(resource_type_of(expected.resource)))
        if expected.resource is not None and expected.findings
        else []
    )
    assert [finding[0] for finding in landed] == catalog_findings
    assert [finding for finding in landed if policy_of(finding) in about] == sorted(expected.findings)
    assert (answer["action"], answer["resource"]) == (expected.action, expected.resource)
    assert tuple(p for p in answer["failed_policies"] if p in about) == expected.failed_policies
    assert answer["findings_imported"] == len(catalog_findings)


# --- sequences ---------------------------------------------------------------------------------


def test_handler_service_fixed_after_failing_passes_same_finding_without_new_message(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a Fargate service on platform 1.3.0 whose task definition mounts EFS: a FAILED finding and a message
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-create-service-fargate-efs-1.3.0.json"), None)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SERVICE), "FAILED", "ACTIVE")]
    assert message_summaries(aws) == [(REPORTS_SERVICE, (EFS,), "HIGH", (EFS,))]

    # WHEN the service is updated to platform 1.4.0
    answer = handler(load_event("ecs-update-service.json"), None)

    # THEN the same finding (still just one) is PASSED, and nobody is notified of the fix
    assert (answer["action"], answer["failed_policies"]) == ("evaluated", [])
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SERVICE), "PASSED", "ACTIVE")]
    assert (
        aws.findings()[finding_id(EFS, REPORTS_SERVICE)]["ProductFields"]["ecsguard/EventId"]
        == (load_event("ecs-update-service.json")["id"])
    )
    assert message_summaries(aws) == []


def test_handler_deregistered_task_definition_archives_its_failed_findings(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a task definition with a Docker Hub image in bridge mode: two FAILED findings and one PASSED
    handler(load_event("ecs-register-task-definition-non-ecr-image.json"), None)
    assert finding_states(aws) == sorted(states(LEGACY_TD, {ECR: "FAILED", NETWORK: "FAILED", SECRETS: "PASSED"}))
    assert message_summaries(aws) == [(LEGACY_TD, (ECR, NETWORK), "HIGH", (ECR, NETWORK))]

    # WHEN that revision is deregistered
    answer = handler(load_event("ecs-deregister-task-definition.json"), None)

    # THEN the same three findings are archived, and no message is sent
    assert (answer["action"], answer["resource"], answer["findings_imported"]) == ("archived", LEGACY_TD, 3)
    assert finding_states(aws) == sorted(archived(LEGACY_TD, TASK_DEFINITION_POLICIES))
    assert message_summaries(aws) == []


def test_handler_deleted_service_archives_its_failed_finding(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN a Fargate Spot service on 1.3.0 with an EFS task definition: a FAILED finding
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-create-service-capacity-providers.json"), None)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SPOT_SERVICE), "FAILED", "ACTIVE")]
    message_summaries(aws)  # drain the FAILED notification

    # WHEN the service is deleted
    answer = handler(load_event("ecs-delete-service.json"), None)

    # THEN its finding is archived, and no message is sent
    assert (answer["action"], answer["resource"]) == ("archived", REPORTS_SPOT_SERVICE)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SPOT_SERVICE), "NOT_AVAILABLE", "ARCHIVED")]
    assert message_summaries(aws) == []


def test_handler_service_with_unknown_task_definition_reports_error_not_pass(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN an account where the service's task definition reports-efs:3 does not exist
    aws.ecs.create_cluster(clusterName="prod")

    # WHEN the service is created
    answer = handler(load_event("ecs-create-service-fargate-efs-1.3.0.json"), None)

    # THEN the policy reports ERROR: an active NOT_AVAILABLE finding and a message, never a PASSED finding
    assert (answer["failed_policies"], answer["error_policies"]) == ([], [EFS])
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SERVICE), "NOT_AVAILABLE", "ACTIVE")]
    assert message_summaries(aws) == [(REPORTS_SERVICE, (EFS,), "HIGH", (EFS,))]


# --- truncated RegisterTaskDefinition: the handler describes the family ---------------------------


@pytest.fixture
def describe_family_gives_latest_active(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 answers DescribeTaskDefinition by family alone with the latest revision even when it is
    INACTIVE (MOTO.md); AWS answers with the latest ACTIVE one. The server runs in this process, so patch
    its backend to answer like AWS."""
    describe_family_answers_latest(monkeypatch, lambda status: status == "ACTIVE")


def test_handler_truncated_register_event_evaluates_revision_registered_at_event_time(
    aws: Aws, configure: Callable[..., None], describe_family_gives_latest_active: None
) -> None:
    # GIVEN payments-api:1 registered the day before, then the event's own request registered as payments-api:2
    register_sample_task_definitions(aws.ecs)
    registered_at("payments-api", 1, TRUNCATED_EVENT_TIME - timedelta(days=1))
    register_truncated_request(aws)

    # WHEN the RegisterTaskDefinition event arrives without its responseElements
    answer = handler(load_event(TRUNCATED), None)

    # THEN revision 2, described from ECS, is evaluated; revision 1 gets no findings
    payments_2 = td_arn("payments-api:2")
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == ("evaluated", payments_2, [])
    assert finding_states(aws) == sorted(states(payments_2, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}))
    assert message_summaries(aws) == []


def test_handler_truncated_register_event_skips_later_deregistered_revision(
    aws: Aws, configure: Callable[..., None], describe_family_gives_latest_active: None
) -> None:
    # GIVEN the event's request registered as payments-api:1, then a failing revision 2 already deregistered
    register_truncated_request(aws)
    register_truncated_request(aws, TRUNCATED_EVENT_TIME + timedelta(minutes=1), networkMode="bridge")
    aws.ecs.deregister_task_definition(taskDefinition="payments-api:2")

    # WHEN the truncated event arrives
    answer = handler(load_event(TRUNCATED), None)

    # THEN the latest ACTIVE revision (1), registered at the event's time, is evaluated
    assert (answer["resource"], answer["failed_policies"]) == (PAYMENTS_TD, [])
    assert finding_states(aws) == sorted(states(PAYMENTS_TD, {ECR: "PASSED", NETWORK: "PASSED", SECRETS: "PASSED"}))


def family_of_four_revisions(aws: Aws, event_revision_registered: datetime | None) -> None:
    """payments-api revisions 1 and 2 registered days before the event; revision 3 (the event's request) at
    ``event_revision_registered``; revision 4, which fails ecs-network-awsvpc, a minute after the event. With None,
    no revision has a registeredAt (moto's own behaviour)."""
    stamped = event_revision_registered is not None
    for days in (9, 2):
        register_truncated_request(aws, TRUNCATED_EVENT_TIME - timedelta(days=days) if stamped else None)
    register_truncated_request(aws, event_revision_registered)
    later = TRUNCATED_EVENT_TIME + timedelta(minutes=1) if stamped else None
    assert register_truncated_request(aws, later, networkMode="bridge") == 4


def test_handler_truncated_register_event_for_revision_3_after_revision_4_evaluates_revision_3_only(
    aws: Aws, proxy: FaultProxy
) -> None:
    # GIVEN revisions 1-4 of payments-api: the event registered revision 3, and a failing revision 4 came after
    family_of_four_revisions(aws, REGISTERED_BY_EVENT)

    # WHEN the truncated event for revision 3 arrives
    answer = handler(load_event(TRUNCATED), None)

    # THEN revision 3 is evaluated and its findings carry the event; revision 4 gets no finding and no message
    payments_3 = td_arn("payments-api:3")
    assert (answer["action"], answer["resource"], answer["failed_policies"]) == ("evaluated", payments_3, [])
    findings = aws.findings()
    assert set(findings) == {finding_id(policy, payments_3) for policy in TASK_DEFINITION_POLICIES}
    assert {f["ProductFields"]["ecsguard/EventId"] for f in findings.values()} == {load_event(TRUNCATED)["id"]}
    assert aws.messages() == []
    # the family (latest ACTIVE: 4), revision 3 in the window, and revision 2 to rule out a second match
    described = [call.json()["taskDefinition"] for call in proxy.calls("ecs:DescribeTaskDefinition")]
    assert described == ["payments-api", "payments-api:3", "payments-api:2"]
    assert {operation for operation in proxy.counts() if operation.startswith("ecs:")} == {"ecs:DescribeTaskDefinition"}


@pytest.mark.parametrize(
    ("event_revision_registered", "reason"),
    [
        (
            None,
            "task definition family 'payments-api': revision 4 has no registeredAt, so the revision the event "
            "registered is unproven",
        ),
        (
            TRUNCATED_EVENT_TIME - timedelta(hours=3),
            "task definition family 'payments-api': no revision was registered within 2 s of the event's eventTime: "
            "revision 3 was registered before it, and revision 4 after it",
        ),
    ],
    ids=["moto-without-registered-at", "registered-hours-before"],
)
def test_handler_truncated_register_event_revision_unproven_fails_naming_family_and_lands_nothing(
    event_revision_registered: datetime | None, reason: str, aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN revisions 1-4, none of which is shown to be the one registered at the event's time
    family_of_four_revisions(aws, event_revision_registered)

    # WHEN the truncated event arrives
    with pytest.raises(EventFailed) as caught:
        handler(load_event(TRUNCATED), None)

    # THEN the invocation fails (so it is retried, then kept in the dead-letter queue), naming the family and why;
    # nothing is imported or notified, about revision 4 or any other
    assert str(caught.value) == f"event {load_event(TRUNCATED)['id']} (RegisterTaskDefinition): {reason}"
    assert aws.findings() == {}
    assert aws.messages() == []


def test_handler_truncated_register_event_unknown_family_fails_and_lands_nothing(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # The family was just registered, so not finding it is transient: the invocation fails so Lambda retries it.
    with pytest.raises(EventFailed, match="payments-api"):
        handler(load_event(TRUNCATED), None)

    assert finding_states(aws) == []
    assert message_summaries(aws) == []


# --- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "arrange"),
    [
        ("ecs-register-task-definition.json", None),
        ("ecs-register-task-definition-efs.json", None),
        ("ecs-create-service.json", sample_task_definitions),  # NOT_APPLICABLE is quiet too
    ],
)
def test_handler_import_passed_false_never_failed_resource_imports_nothing(
    event_name: str, arrange: Callable[[Aws], None] | None, aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN another resource's FAILED finding in Security Hub (moto's GetFindings ignores Filters and returns it
    # for any Id asked about, so this also checks that the scanner matches the Ids of what comes back)
    configure(import_passed="false")
    if arrange is not None:
        arrange(aws)
    handler(load_event("ecs-register-task-definition-plaintext-secret.json"), None)
    before = finding_states(aws)
    assert before == [(finding_id(SECRETS, BILLING_TD), "FAILED", "ACTIVE")]

    # WHEN a resource that never failed is evaluated
    answer = handler(load_event(event_name), None)

    # THEN none of its quiet findings is imported
    assert (answer["action"], answer["failed_policies"], answer["findings_imported"]) == ("evaluated", [], 0)
    assert finding_states(aws) == before


def test_handler_import_passed_false_fixed_resource_imports_passed_update(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN import_passed false and a service with a FAILED finding
    configure(import_passed="false")
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-create-service-fargate-efs-1.3.0.json"), None)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SERVICE), "FAILED", "ACTIVE")]

    # WHEN the service is fixed
    answer = handler(load_event("ecs-update-service.json"), None)

    # THEN the PASSED update is imported, so the finding resolves
    assert answer["findings_imported"] == 1
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SERVICE), "PASSED", "ACTIVE")]


@pytest.fixture
def get_findings_honours_filters(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5's GetFindings ignores Filters (MOTO.md); AWS applies them. Make the in-process server apply
    the EQUALS filters on Id and RecordState, the ones the scanner sends, like AWS."""
    from moto.securityhub.models import SecurityHubBackend

    original = SecurityHubBackend.get_findings

    def get_findings(self: SecurityHubBackend, *args: Any, **kwargs: Any) -> Any:
        findings, token = original(self, *args, **kwargs)
        filters = kwargs.get("filters") or {}
        for key in ("Id", "RecordState"):
            wanted = {f["Value"] for f in filters.get(key, []) if f.get("Comparison") == "EQUALS"}
            if wanted:
                findings = [finding for finding in findings if finding.get(key) in wanted]
        return findings, token

    monkeypatch.setattr(SecurityHubBackend, "get_findings", get_findings)


def with_platform_version(event_name: str, version: str) -> dict[str, Any]:
    """A CreateService event with one change: the platform version it asked for and got."""
    event = copy.deepcopy(load_event(event_name))
    event["detail"]["requestParameters"]["platformVersion"] = version
    event["detail"]["responseElements"]["service"]["platformVersion"] = version
    return event


def test_handler_import_passed_false_recreated_compliant_service_leaves_archived_finding(
    aws: Aws, configure: Callable[..., None], get_findings_honours_filters: None
) -> None:
    # GIVEN import_passed false and a deleted service whose FAILED finding was archived
    configure(import_passed="false")
    register_sample_task_definitions(aws.ecs)
    handler(load_event("ecs-create-service-capacity-providers.json"), None)
    handler(load_event("ecs-delete-service.json"), None)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SPOT_SERVICE), "NOT_AVAILABLE", "ARCHIVED")]

    # WHEN a compliant service of the same name is created
    answer = handler(with_platform_version("ecs-create-service-capacity-providers.json", "1.4.0"), None)

    # THEN only an ACTIVE finding counts as one to resolve: the archived one stays archived
    assert (answer["failed_policies"], answer["findings_imported"]) == ([], 0)
    assert finding_states(aws) == [(finding_id(EFS, REPORTS_SPOT_SERVICE), "NOT_AVAILABLE", "ARCHIVED")]


@pytest.mark.parametrize(
    ("event_name", "expected_action", "expected_findings", "expected_notifications"),
    [
        ("ecs-register-task-definition-non-ecr-image.json", "evaluated", 3, 1),
        ("ecs-deregister-task-definition.json", "archived", 3, 0),
    ],
)
def test_handler_dry_run_sends_nothing_and_says_what_it_would_send(
    event_name: str,
    expected_action: str,
    expected_findings: int,
    expected_notifications: int,
    aws: Aws,
    configure: Callable[..., None],
) -> None:
    configure(dry_run="true")

    answer = handler(load_event(event_name), None)

    assert finding_states(aws) == []
    assert message_summaries(aws) == []
    assert (answer["action"], answer["findings_imported"], answer["notifications_sent"]) == (expected_action, 0, 0)
    assert answer["dry_run"] == {"findings": expected_findings, "notifications": expected_notifications}


def bridge_network_event() -> dict[str, Any]:
    """The good RegisterTaskDefinition event with one change: networkMode bridge (fails only the MEDIUM policy)."""
    event = copy.deepcopy(load_event("ecs-register-task-definition.json"))
    event["detail"]["requestParameters"]["networkMode"] = "bridge"
    event["detail"]["responseElements"]["taskDefinition"]["networkMode"] = "bridge"
    return event


@pytest.mark.parametrize(
    ("minimum", "expected_messages"),
    [
        ("LOW", [(PAYMENTS_TD, (NETWORK,), "MEDIUM", (NETWORK,))]),
        ("MEDIUM", [(PAYMENTS_TD, (NETWORK,), "MEDIUM", (NETWORK,))]),
        ("HIGH", []),
    ],
)
def test_handler_notify_min_severity_medium_failure_notifies_only_at_or_below_medium(
    minimum: str, expected_messages: list[MessageSummary], aws: Aws, configure: Callable[..., None]
) -> None:
    configure(notify_min_severity=minimum)

    answer = handler(bridge_network_event(), None)

    assert answer["failed_policies"] == [NETWORK]
    assert finding_states(aws) == sorted(states(PAYMENTS_TD, {ECR: "PASSED", NETWORK: "FAILED", SECRETS: "PASSED"}))
    assert message_summaries(aws) == expected_messages


def test_handler_notify_min_severity_high_message_lists_only_high_failures(
    aws: Aws, configure: Callable[..., None]
) -> None:
    configure(notify_min_severity="HIGH")

    handler(load_event("ecs-register-task-definition-non-ecr-image.json"), None)

    assert message_summaries(aws) == [(LEGACY_TD, (ECR,), "HIGH", (ECR,))]
    assert finding_states(aws) == sorted(states(LEGACY_TD, {ECR: "FAILED", NETWORK: "FAILED", SECRETS: "PASSED"}))


def test_handler_security_hub_disabled_imports_nothing_but_notifies(aws: Aws, configure: Callable[..., None]) -> None:
    configure(security_hub="false")

    answer = handler(load_event("ecs-register-task-definition-non-ecr-image.json"), None)

    assert (answer["failed_policies"], answer["findings_imported"], answer["notifications_sent"]) == (
        [ECR, NETWORK],
        0,
        1,
    )
    assert finding_states(aws) == []
    assert message_summaries(aws) == [(LEGACY_TD, (ECR, NETWORK), "HIGH", (ECR, NETWORK))]


def test_handler_without_topic_imports_findings_and_sends_no_message(aws: Aws, configure: Callable[..., None]) -> None:
    configure(topic_arn="")  # an empty ECSGUARD_TOPIC_ARN counts as unset

    answer = handler(load_event("ecs-register-task-definition-non-ecr-image.json"), None)

    assert (answer["findings_imported"], answer["notifications_sent"]) == (3, 0)
    assert finding_states(aws) == sorted(states(LEGACY_TD, {ECR: "FAILED", NETWORK: "FAILED", SECRETS: "PASSED"}))
    assert message_summaries(aws) == []


def test_handler_cluster_event_lands_container_insights_finding_on_an_ecs_cluster_resource(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the analytics cluster, created with Container Insights disabled
    cluster_as_after("ecs-create-cluster.json")(aws)

    # WHEN its CreateCluster event is handled
    answer = handler(load_event("ecs-create-cluster.json"), None)

    # THEN the Container Insights finding is FAILED, on an AwsEcsCluster resource named by the cluster's ARN
    finding = aws.findings()[finding_id(INSIGHTS, ANALYTICS_CLUSTER)]
    assert (answer["action"], answer["failed_policies"]) == ("evaluated", [INSIGHTS])
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("FAILED", "ACTIVE")
    assert finding["Resources"] == [
        {"Type": "AwsEcsCluster", "Id": ANALYTICS_CLUSTER, "Partition": "aws", "Region": REGION}
    ]
    assert finding["ProductFields"]["ecsguard/SecurityHubControls"] == "ECS.12"
    assert "settings" in finding["ProductFields"]["ecsguard/Evidence/0"]

    # WHEN Container Insights is then turned on (UpdateClusterSettings) and that event is handled
    # moto 5.2.5 answers UpdateClusterSettings with a 500; its UpdateCluster takes the same settings.
    aws.ecs.update_cluster(cluster="analytics", settings=[{"name": "containerInsights", "value": "enhanced"}])
    handler(load_event("ecs-update-cluster-settings.json"), None)

    # THEN the same finding is PASSED
    assert aws.findings()[finding_id(INSIGHTS, ANALYTICS_CLUSTER)]["Compliance"]["Status"] == "PASSED"
