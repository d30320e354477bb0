"""The Scanner on in-memory fakes of its ports: every action path, partial failures, and publishing options."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sample_events import load
from sample_events import response as described

from ecsguard.core.engine import PolicySet
from ecsguard.core.findings import Notification
from ecsguard.core.models import Severity
from ecsguard.core.resources import Unresolved
from ecsguard.core.results import Status
from ecsguard.errors import AwsCallFailed, EventFailed, PublishFailed
from ecsguard.events import MalformedEvent
from ecsguard.publishing import Options
from ecsguard.report import result_document
from ecsguard.service import Outcome, Scanner
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed

NOW = "2026-11-22T00:00:00.000Z"
ACCOUNT = "123456789012"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
EFS_TD = f"{TD_ARN}reports-efs:3"
TD_POLICIES = ["ecs-images-ecr-only", "ecs-network-awsvpc", "ecs-secrets-managed"]
SERVICE_POLICIES = ["ecs-efs-fargate-platform"]
PLANTED = ["Tr0ub4dor-and-3-horses", "AKIAZ7EXAMPLEKEYQ2XW"]  # the plaintext-secret fixture's values


def policy_set() -> PolicySet:
    """The policies the sample events were written for, and all this module's expectations are about: the
    scanner's behaviour is tested over them, so another policy in policies/ changes no verdict or count here."""
    return narrowed(SAMPLE_EVENT_POLICIES)


def efs_task_definition() -> dict[str, Any]:
    return described("ecs-register-task-definition-efs.json", "taskDefinition")


def plain_task_definition() -> dict[str, Any]:
    """payments-api:1, which passes every task definition policy and mounts no EFS volume."""
    return described("ecs-register-task-definition.json", "taskDefinition")


def fid(policy_id: str, arn: str) -> str:
    return f"ecsguard/{policy_id}/{arn}"


# --- fakes ---------------------------------------------------------------------------------------


@dataclass
class FakeResolver:
    """Answers from dictionaries and records every call; ``failures`` maps a call name to what it raises."""

    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, AwsCallFailed] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def _answer(self, call: str, table: dict[Any, dict[str, Any]], key: Any, what: str) -> dict[str, Any] | Unresolved:
        if call in self.failures:
            raise self.failures[call]
        found = table.get(key)
        return copy.deepcopy(found) if found is not None else Unresolved(f"{what} not found")

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        self.calls.append(("task_definition", reference))
        return self._answer("task_definition", self.task_definitions, reference, f"task definition '{reference}'")

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        self.calls.append(("service", cluster, service))
        return self._answer("service", self.services, (cluster, service), f"service '{service}'")

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        self.calls.append(("cluster", cluster))
        return self._answer("cluster", self.clusters, cluster, f"cluster '{cluster}'")


@dataclass
class ResolverFactory:
    """Makes a fresh FakeResolver per call, all answering the same, and keeps each one made and for whom."""

    template: FakeResolver = field(default_factory=FakeResolver)
    made: list[FakeResolver] = field(default_factory=list)
    places: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, account: str, region: str) -> FakeResolver:
        self.places.append((account, region))
        resolver = FakeResolver(
            self.template.task_definitions, self.template.services, self.template.clusters, self.template.failures
        )
        self.made.append(resolver)
        return resolver

    @property
    def calls(self) -> list[tuple[str, ...]]:
        return [call for resolver in self.made for call in resolver.calls]


def stored(identifier: str, status: str) -> dict[str, Any]:
    """What Security Hub returns of an ACTIVE finding in ``status``, as far as publishing reads it."""
    return {"Id": identifier, "RecordState": "ACTIVE", "Compliance": {"Status": status}}


@dataclass
class FakePublisher:
    """Security Hub in memory: ``existing`` maps finding ids to their compliance status."""

    existing: dict[str, str] = field(default_factory=dict)
    failure: PublishFailed | None = None
    lookup_failure: PublishFailed | None = None
    imports: list[list[dict[str, Any]]] = field(default_factory=list)
    lookups: list[list[str]] = field(default_factory=list)

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        self.imports.append(copy.deepcopy(list(findings)))
        if self.failure is not None:
            raise self.failure
        return len(findings)

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.lookups.append(list(finding_ids))
        if self.lookup_failure is not None:
            raise self.lookup_failure
        return {i: stored(i, self.existing[i]) for i in finding_ids if i in self.existing}

    @property
    def imported_ids(self) -> list[list[str]]:
        return [[finding["Id"] for finding in batch] for batch in self.imports]


@dataclass
class FakeNotifier:
    """SNS in memory; ``failure`` is raised for every message, or only for those whose subject is in
    ``fail_only`` when it is given."""

    failure: PublishFailed | None = None
    fail_only: set[str] | None = None
    attempts: list[Notification] = field(default_factory=list)

    def publish(self, notification: Notification) -> None:
        self.attempts.append(notification)
        if self.failure is not None and (self.fail_only is None or notification.subject in self.fail_only):
            raise self.failure


@dataclass
class Rig:
    """A Scanner on fakes, and the fakes to inspect afterwards."""

    resolvers: ResolverFactory
    publisher: FakePublisher
    notifier: FakeNotifier
    scanner: Scanner

    def handle(self, event: object) -> Outcome:
        return self.scanner.handle(event)


def rig(
    resolver: FakeResolver | None = None,
    publisher: FakePublisher | None = None,
    notifier: FakeNotifier | None = None,
    **options: Any,
) -> Rig:
    resolvers = ResolverFactory(resolver or FakeResolver())
    publisher = publisher or FakePublisher()
    notifier = notifier or FakeNotifier()
    scanner = Scanner(
        policy_set(), resolvers, lambda account, region: publisher, notifier, Options(**options), clock=lambda: NOW
    )
    return Rig(resolvers, publisher, notifier, scanner)


def statuses(outcome: Outcome) -> dict[str, Status]:
    return {result.policy_id: result.status for result in outcome.results}


def efs_resolver(**extra: Any) -> FakeResolver:
    return FakeResolver(task_definitions={EFS_TD: efs_task_definition()}, **extra)


# --- task definitions -----------------------------------------------------------------------------


def test_scanner_register_with_response_evaluates_imports_and_notifies_without_describing() -> None:
    # GIVEN the plaintext-secret registration, whose response carries the whole task definition
    test = rig()

    # WHEN it is handled
    outcome = test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    # THEN every task definition policy of the set ran on the event's copy, all findings were imported, one message sent
    arn = f"{TD_ARN}billing-worker:4"
    assert test.resolvers.calls == []
    assert (outcome.action, outcome.resource, outcome.reason) == ("evaluated", arn, None)
    assert statuses(outcome) == {
        "ecs-images-ecr-only": Status.PASS,
        "ecs-network-awsvpc": Status.PASS,
        "ecs-secrets-managed": Status.FAIL,
    }
    assert test.publisher.imported_ids == [[fid(p, arn) for p in TD_POLICIES]]
    assert test.publisher.imports == [outcome.findings]
    assert [f["Compliance"]["Status"] for f in outcome.findings] == ["PASSED", "PASSED", "FAILED"]
    observed = "2026-11-20T09:21:40.000Z"  # the record's eventTime
    assert {(f["CreatedAt"], f["FirstObservedAt"], f["LastObservedAt"], f["UpdatedAt"]) for f in outcome.findings} == {
        (observed, observed, observed, NOW)
    }
    assert {f["ProductArn"] for f in outcome.findings} == {
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    }
    assert test.notifier.attempts == outcome.notifications
    assert [n.subject for n in outcome.notifications] == ["ecsguard HIGH: 1 policy violation(s) on billing-worker:4"]
    assert (outcome.findings_imported, outcome.notifications_sent) == (3, 1)


def test_scanner_outcome_summary_counts_statuses_and_names_policies() -> None:
    outcome = rig().handle(load("ecs-register-task-definition-non-ecr-image.json"))

    assert outcome.summary() == {
        "event_id": "00000000-0000-0000-0000-000000000003",
        "api_call": "RegisterTaskDefinition",
        "action": "evaluated",
        "resource": f"{TD_ARN}legacy-proxy:12",
        "results": {"FAIL": 2, "PASS": 1},
        "failed_policies": ["ecs-images-ecr-only", "ecs-network-awsvpc"],
        "error_policies": [],
        "exempt_policies": [],
        "exemptions": [],
        "findings_imported": 3,
        "notifications_sent": 1,
        "older_than_known": 0,
        "reason": None,
    }


# The truncated sample event's eventTime; ECS's registeredAt of the revision that call registered lies within a second.
TRUNCATED = "ecs-register-task-definition-truncated.json"
REGISTERED_THEN = "2026-11-20T09:31:00.412Z"


def registered(described: dict[str, Any], revision: int, registered_at: str) -> dict[str, Any]:
    """``described`` as ECS describes revision ``revision`` of its family, registered at ``registered_at``."""
    family = described["family"]
    return {
        **described,
        "taskDefinitionArn": f"{TD_ARN}{family}:{revision}",
        "revision": revision,
        "registeredAt": registered_at,
    }


def test_scanner_truncated_register_evaluates_revision_registered_at_event_time() -> None:
    test = rig(FakeResolver(task_definitions={"payments-api": registered(plain_task_definition(), 1, REGISTERED_THEN)}))

    outcome = test.handle(load(TRUNCATED))

    assert test.resolvers.calls == [("task_definition", "payments-api")]
    assert outcome.resource == f"{TD_ARN}payments-api:1"
    assert statuses(outcome) == dict.fromkeys(TD_POLICIES, Status.PASS)
    assert test.publisher.imported_ids == [[fid(p, f"{TD_ARN}payments-api:1") for p in TD_POLICIES]]
    assert test.notifier.attempts == []


def bridge(described: dict[str, Any]) -> dict[str, Any]:
    """A revision that fails ecs-network-awsvpc: were it evaluated, it would be imported FAILED and notified."""
    return {**described, "networkMode": "bridge"}


def test_scanner_truncated_register_with_later_revision_evaluates_the_event_s_revision_only() -> None:
    # GIVEN the event's revision 3, and a failing revision 4 registered a minute after it (the family's latest)
    plain = plain_task_definition()
    revision_4 = registered(bridge(plain), 4, "2026-11-20T09:32:00.100Z")
    resolver = FakeResolver(
        task_definitions={
            "payments-api": revision_4,
            "payments-api:3": registered(plain, 3, REGISTERED_THEN),
            "payments-api:2": registered(plain, 2, "2026-11-19T17:02:13.000Z"),
        }
    )
    test = rig(resolver)

    # WHEN the truncated registration is handled
    outcome = test.handle(load(TRUNCATED))

    # THEN revision 3 is evaluated and published; nothing is imported or sent about revision 4
    revision_3 = f"{TD_ARN}payments-api:3"
    assert test.resolvers.calls == [
        ("task_definition", "payments-api"),
        ("task_definition", "payments-api:3"),
        ("task_definition", "payments-api:2"),
    ]
    assert (outcome.resource, statuses(outcome)) == (revision_3, dict.fromkeys(TD_POLICIES, Status.PASS))
    assert test.publisher.imported_ids == [[fid(p, revision_3) for p in TD_POLICIES]]
    assert test.notifier.attempts == []


@pytest.mark.parametrize(
    ("revision_3", "reason"),
    [
        (
            "2026-11-19T17:02:13.000Z",
            "no revision was registered within 2 s of the event's eventTime: revision 3 was registered before it, "
            "and revision 4 after it",
        ),
        (None, "revision 3 has no registeredAt, so the revision the event registered is unproven"),
    ],
    ids=["registered-before", "no-registered-at"],
)
def test_scanner_truncated_register_unproven_revision_fails_event_naming_family_and_publishes_nothing(
    revision_3: str | None, reason: str
) -> None:
    # GIVEN a failing revision 4 registered after the event, and a revision 3 not shown to be the event's
    plain = plain_task_definition()
    three = registered(plain, 3, revision_3 or "")
    if revision_3 is None:
        del three["registeredAt"]
    test = rig(
        FakeResolver(
            task_definitions={
                "payments-api": registered(bridge(plain), 4, "2026-11-20T09:32:00.100Z"),
                "payments-api:3": three,
            }
        )
    )

    # WHEN the truncated registration is handled
    with pytest.raises(EventFailed) as caught:
        test.handle(load(TRUNCATED))

    # THEN the event fails, naming the family and why; revision 4 is neither imported nor notified
    assert str(caught.value) == (
        f"event 00000000-0000-0000-0000-000000000004 (RegisterTaskDefinition): task definition family "
        f"'payments-api': {reason}"
    )
    assert (test.publisher.imports, test.publisher.lookups, test.notifier.attempts) == ([], [], [])


def test_scanner_truncated_register_not_found_fails_event_and_publishes_nothing() -> None:
    test = rig()

    with pytest.raises(EventFailed) as caught:
        test.handle(load(TRUNCATED))

    assert str(caught.value) == (
        "event 00000000-0000-0000-0000-000000000004 (RegisterTaskDefinition): task definition 'payments-api' not found"
    )
    assert (test.publisher.imports, test.notifier.attempts) == ([], [])


def test_scanner_truncated_register_unreadable_definition_reports_error_on_its_arn() -> None:
    # GIVEN a described task definition that names its ARN but cannot be read as a task definition
    unreadable = {**registered(plain_task_definition(), 1, REGISTERED_THEN), "containerDefinitions": "not-a-list"}
    test = rig(FakeResolver(task_definitions={"payments-api": unreadable}))

    # WHEN the truncated registration is handled
    outcome = test.handle(load("ecs-register-task-definition-truncated.json"))

    # THEN every policy reports ERROR on that ARN, imported as NOT_AVAILABLE (not an uncaught NotAnArn)
    arn = f"{TD_ARN}payments-api:1"
    assert statuses(outcome) == dict.fromkeys(TD_POLICIES, Status.ERROR)
    assert test.publisher.imported_ids == [[fid(p, arn) for p in TD_POLICIES]]
    assert {f["Compliance"]["Status"] for f in outcome.findings} == {"NOT_AVAILABLE"}


# --- services -------------------------------------------------------------------------------------


def test_scanner_fargate_service_with_launch_type_does_not_ask_for_cluster() -> None:
    # GIVEN a Fargate service on platform 1.3.0 whose task definition mounts EFS
    test = rig(efs_resolver())

    # WHEN its CreateService event is handled
    outcome = test.handle(load("ecs-create-service-fargate-efs-1.3.0.json"))

    # THEN only its task definition is described, and the EFS policy fails on the service
    arn = f"{SERVICE_ARN}reports"
    assert test.resolvers.calls == [("task_definition", EFS_TD)]
    assert (outcome.action, outcome.resource) == ("evaluated", arn)
    assert statuses(outcome) == {"ecs-efs-fargate-platform": Status.FAIL}
    (finding,) = outcome.findings
    assert finding["Resources"] == [{"Type": "AwsEcsService", "Id": arn, "Partition": "aws", "Region": "us-east-1"}]
    assert test.publisher.imported_ids == [[fid("ecs-efs-fargate-platform", arn)]]
    assert [n.subject for n in test.notifier.attempts] == ["ecsguard HIGH: 1 policy violation(s) on reports"]


def test_scanner_service_with_capacity_provider_strategy_does_not_ask_for_cluster() -> None:
    test = rig(efs_resolver())

    outcome = test.handle(load("ecs-create-service-capacity-providers.json"))

    assert test.resolvers.calls == [("task_definition", EFS_TD)]
    assert outcome.resource == f"{SERVICE_ARN}reports-spot"
    assert statuses(outcome) == {"ecs-efs-fargate-platform": Status.FAIL}


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (
            {"clusterArn": CLUSTER_ARN, "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
            Status.FAIL,
        ),
        (
            {"clusterArn": CLUSTER_ARN, "defaultCapacityProviderStrategy": [{"capacityProvider": "ec2-asg"}]},
            Status.NOT_APPLICABLE,
        ),
        (None, Status.ERROR),
    ],
    ids=["cluster-default-fargate", "cluster-default-ec2", "cluster-not-found"],
)
def test_scanner_service_without_launch_type_or_strategy_asks_for_cluster(
    cluster: dict[str, Any] | None, expected: Status
) -> None:
    # GIVEN the Fargate EFS service without its launchType, so its cluster's default strategy decides
    event = load("ecs-create-service-fargate-efs-1.3.0.json")
    del event["detail"]["responseElements"]["service"]["launchType"]
    test = rig(efs_resolver(clusters={CLUSTER_ARN: cluster} if cluster else {}))

    # WHEN it is handled
    outcome = test.handle(event)

    # THEN the cluster was described, and its default strategy decided the result
    assert test.resolvers.calls == [("task_definition", EFS_TD), ("cluster", CLUSTER_ARN)]
    assert statuses(outcome) == {"ecs-efs-fargate-platform": expected}


def test_scanner_service_updated_to_supported_platform_passes() -> None:
    test = rig(efs_resolver())

    outcome = test.handle(load("ecs-update-service.json"))

    assert statuses(outcome) == {"ecs-efs-fargate-platform": Status.PASS}
    assert [f["Compliance"]["Status"] for f in test.publisher.imports[0]] == ["PASSED"]
    assert test.notifier.attempts == []


def test_scanner_service_task_definition_not_found_is_error_not_passed() -> None:
    # GIVEN a Fargate service whose task definition the resolver cannot find
    test = rig(FakeResolver())

    # WHEN its event is handled
    outcome = test.handle(load("ecs-create-service-fargate-efs-1.3.0.json"))

    # THEN the EFS policy reports ERROR, imported as NOT_AVAILABLE and ACTIVE, and an alert goes out
    arn = f"{SERVICE_ARN}reports"
    (result,) = outcome.results
    assert (result.status, result.reason) == (Status.ERROR, f"task definition '{EFS_TD}' not found")
    (batch,) = test.publisher.imports
    assert [(f["Id"], f["Compliance"]["Status"], f["RecordState"]) for f in batch] == [
        (fid("ecs-efs-fargate-platform", arn), "NOT_AVAILABLE", "ACTIVE")
    ]
    assert outcome.summary()["error_policies"] == ["ecs-efs-fargate-platform"]
    (notification,) = test.notifier.attempts
    assert [item["status"] for item in json.loads(notification.message)["failures"]] == ["ERROR"]


def test_scanner_update_service_without_response_describes_service() -> None:
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None
    service = described("ecs-update-service.json", "service")
    test = rig(efs_resolver(services={("prod", "reports"): service}))

    outcome = test.handle(event)

    assert test.resolvers.calls == [("service", "prod", "reports"), ("task_definition", EFS_TD)]
    assert (outcome.action, outcome.resource) == ("evaluated", f"{SERVICE_ARN}reports")
    assert statuses(outcome) == {"ecs-efs-fargate-platform": Status.PASS}


def test_scanner_service_gone_archives_its_findings() -> None:
    # GIVEN an UpdateService event without a response, for a service that no longer exists
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None
    test = rig(FakeResolver())

    # WHEN it is handled
    outcome = test.handle(event)

    # THEN the service's findings are archived and nobody is alerted
    arn = f"{SERVICE_ARN}reports"
    assert test.resolvers.calls == [("service", "prod", "reports")]
    assert (outcome.action, outcome.resource, outcome.reason) == ("archived", arn, "the service no longer exists")
    assert outcome.results == []
    assert test.publisher.imported_ids == [[fid(p, arn) for p in SERVICE_POLICIES]]
    assert [(f["RecordState"], f["ProductFields"]["ecsguard/Status"]) for f in outcome.findings] == [
        ("ARCHIVED", "RESOURCE_DELETED")
    ]
    assert test.notifier.attempts == []
    assert outcome.findings_imported == 1


def test_scanner_inactive_service_archives_its_findings() -> None:
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None
    inactive = {**described("ecs-update-service.json", "service"), "status": "INACTIVE"}
    test = rig(efs_resolver(services={("prod", "reports"): inactive}))

    outcome = test.handle(event)

    assert (outcome.action, outcome.resource) == ("archived", f"{SERVICE_ARN}reports")
    assert [f["RecordState"] for f in outcome.findings] == ["ARCHIVED"]


# --- deletions and skips --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arn", "policy_ids"),
    [
        ("ecs-delete-service.json", f"{SERVICE_ARN}reports-spot", SERVICE_POLICIES),
        ("ecs-deregister-task-definition.json", f"{TD_ARN}legacy-proxy:12", TD_POLICIES),
    ],
)
def test_scanner_deletion_archives_every_policy_finding_without_resolving(
    name: str, arn: str, policy_ids: list[str]
) -> None:
    test = rig()

    outcome = test.handle(load(name))

    assert test.resolvers.made == []
    assert (outcome.action, outcome.resource, outcome.reason) == ("archived", arn, None)
    assert test.publisher.imported_ids == [[fid(p, arn) for p in policy_ids]]
    assert {(f["RecordState"], f["Compliance"]["Status"]) for f in outcome.findings} == {("ARCHIVED", "NOT_AVAILABLE")}
    assert test.notifier.attempts == []
    assert outcome.findings_imported == len(policy_ids)


def test_scanner_failed_call_is_skipped_without_resolving_or_publishing() -> None:
    test = rig()

    outcome = test.handle(load("ecs-create-service-failed.json"))

    assert outcome.summary() == {
        "event_id": "00000000-0000-0000-0000-00000000000a",
        "api_call": "CreateService",
        "action": "skipped",
        "resource": None,
        "results": {},
        "failed_policies": [],
        "error_policies": [],
        "exempt_policies": [],
        "exemptions": [],
        "findings_imported": 0,
        "notifications_sent": 0,
        "older_than_known": 0,
        "reason": "CreateService failed with AccessDeniedException; nothing changed",
    }
    assert (test.resolvers.made, test.publisher.imports, test.notifier.attempts) == ([], [], [])


def test_scanner_malformed_event_raises_and_publishes_nothing() -> None:
    event = load("ecs-register-task-definition.json")
    del event["detail"]["eventName"]
    test = rig()

    with pytest.raises(MalformedEvent):
        test.handle(event)

    assert (test.resolvers.made, test.publisher.imports, test.notifier.attempts) == ([], [], [])


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "call", "failure", "message"),
    [
        (
            "ecs-create-service-fargate-efs-1.3.0.json",
            "task_definition",
            AwsCallFailed("DescribeTaskDefinition", EFS_TD, "ThrottlingException", "Rate exceeded"),
            f"event 00000000-0000-0000-0000-000000000007 (CreateService): DescribeTaskDefinition for {EFS_TD} "
            "failed: ThrottlingException: Rate exceeded",
        ),
        (
            "ecs-register-task-definition-truncated.json",
            "task_definition",
            AwsCallFailed("DescribeTaskDefinition", "payments-api", "AccessDeniedException", "not authorized"),
            "event 00000000-0000-0000-0000-000000000004 (RegisterTaskDefinition): DescribeTaskDefinition for "
            "payments-api failed: AccessDeniedException: not authorized",
        ),
    ],
)
def test_scanner_resolver_call_failed_fails_event_naming_call_and_publishes_nothing(
    name: str, call: str, failure: AwsCallFailed, message: str
) -> None:
    test = rig(efs_resolver(failures={call: failure}))

    with pytest.raises(EventFailed) as caught:
        test.handle(load(name))

    assert str(caught.value) == message
    assert (test.publisher.imports, test.notifier.attempts) == ([], [])


@pytest.mark.parametrize("call", ["service", "cluster"])
def test_scanner_service_or_cluster_describe_failed_fails_event_and_publishes_nothing(call: str) -> None:
    # GIVEN an UpdateService without response, for a service that relies on its cluster's default strategy
    event = load("ecs-update-service.json")
    event["detail"]["responseElements"] = None
    service = described("ecs-update-service.json", "service")
    del service["launchType"]
    api = {"service": "DescribeServices", "cluster": "DescribeClusters"}[call]
    failure = AwsCallFailed(api, "prod", "ThrottlingException", "Rate exceeded")
    test = rig(efs_resolver(services={("prod", "reports"): service}, failures={call: failure}))

    # WHEN the describe call fails
    with pytest.raises(EventFailed) as caught:
        test.handle(event)

    # THEN the event fails naming the call, and nothing is published
    assert str(caught.value) == (
        f"event 00000000-0000-0000-0000-000000000009 (UpdateService): {api} for prod failed: "
        "ThrottlingException: Rate exceeded"
    )
    assert test.resolvers.calls[-1][0] == call
    assert (test.publisher.imports, test.notifier.attempts) == ([], [])


def test_scanner_import_failed_still_notifies_then_fails_event() -> None:
    # GIVEN Security Hub rejecting the import
    publisher = FakePublisher(failure=PublishFailed("securityhub:BatchImportFindings 3 rejected: InvalidInput"))
    test = rig(publisher=publisher)

    # WHEN the plaintext-secret registration is handled
    with pytest.raises(EventFailed) as caught:
        test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    # THEN the alert was still sent, and the event fails naming the import problem
    assert str(caught.value) == (
        f"event 00000000-0000-0000-0000-000000000002 (RegisterTaskDefinition) on {TD_ARN}billing-worker:4: "
        "securityhub:BatchImportFindings 3 rejected: InvalidInput"
    )
    assert len(publisher.imports) == 1
    assert [n.subject for n in test.notifier.attempts] == ["ecsguard HIGH: 1 policy violation(s) on billing-worker:4"]


def test_scanner_notify_failed_imports_all_but_the_announced_failure_then_fails_event() -> None:
    notifier = FakeNotifier(failure=PublishFailed("sns:Publish to arn:aws:sns:us-east-1:123456789012:t failed"))
    test = rig(notifier=notifier)

    with pytest.raises(EventFailed) as caught:
        test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    # THEN the failure the message announces is not imported, so the retried event still sees it as news
    arn = f"{TD_ARN}billing-worker:4"
    assert str(caught.value) == (
        f"event 00000000-0000-0000-0000-000000000002 (RegisterTaskDefinition) on {arn}: "
        "sns:Publish to arn:aws:sns:us-east-1:123456789012:t failed"
    )
    assert test.publisher.imported_ids == [[fid(p, arn) for p in TD_POLICIES if p != "ecs-secrets-managed"]]
    assert len(notifier.attempts) == 1


def test_scanner_archive_import_failed_fails_event() -> None:
    test = rig(publisher=FakePublisher(failure=PublishFailed("securityhub: throttled")))

    with pytest.raises(EventFailed) as caught:
        test.handle(load("ecs-delete-service.json"))

    assert str(caught.value) == (
        f"event 00000000-0000-0000-0000-00000000000c (DeleteService) on {SERVICE_ARN}reports-spot: "
        "securityhub: throttled"
    )


# --- options --------------------------------------------------------------------------------------


def test_scanner_without_import_passed_imports_pass_only_for_existing_findings() -> None:
    # GIVEN a Security Hub that already holds the network finding (it failed before), not the images one
    arn = f"{TD_ARN}billing-worker:4"
    publisher = FakePublisher(existing={fid("ecs-network-awsvpc", arn): "FAILED"})
    test = rig(publisher=publisher, import_passed=False)

    # WHEN the registration (images PASS, network PASS, secrets FAIL) is handled
    outcome = test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    # THEN every finding was looked up, and the new PASS was left out
    assert publisher.lookups == [[fid(p, arn) for p in TD_POLICIES]]
    assert publisher.imported_ids == [[fid("ecs-network-awsvpc", arn), fid("ecs-secrets-managed", arn)]]
    assert [f["Id"] for f in outcome.findings] == publisher.imported_ids[0]
    assert outcome.findings_imported == 2


def test_scanner_without_import_passed_and_nothing_failing_imports_nothing() -> None:
    # The capacity-provider service runs a task definition without EFS: the policy is NOT_APPLICABLE.
    test = rig(FakeResolver(task_definitions={EFS_TD: plain_task_definition()}), import_passed=False)

    outcome = test.handle(load("ecs-create-service-capacity-providers.json"))

    assert statuses(outcome) == {"ecs-efs-fargate-platform": Status.NOT_APPLICABLE}
    assert test.publisher.lookups == [[fid("ecs-efs-fargate-platform", f"{SERVICE_ARN}reports-spot")]]
    assert test.publisher.imports == []
    assert outcome.findings == []


@pytest.mark.parametrize("import_passed", [True, False])
def test_scanner_lookup_failed_notifies_every_failure_imports_nothing_then_fails_event(import_passed: bool) -> None:
    # GIVEN a Security Hub whose findings cannot be read, so what is news and what is newer is unknown
    publisher = FakePublisher(lookup_failure=PublishFailed("securityhub:GetFindings failed: throttled"))
    test = rig(publisher=publisher, import_passed=import_passed)

    with pytest.raises(EventFailed) as caught:
        test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    # THEN the failure is announced (as without Security Hub), nothing is imported, and the event is retried
    assert str(caught.value).endswith(": securityhub:GetFindings failed: throttled")
    assert publisher.imports == []
    assert [n.finding_ids for n in test.notifier.attempts] == [
        (fid("ecs-secrets-managed", f"{TD_ARN}billing-worker:4"),)
    ]


def test_scanner_with_import_passed_looks_up_every_finding_of_the_event() -> None:
    test = rig()

    test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    assert test.publisher.lookups == [[fid(p, f"{TD_ARN}billing-worker:4") for p in TD_POLICIES]]


@pytest.mark.parametrize(
    "name", ["ecs-register-task-definition-plaintext-secret.json", "ecs-deregister-task-definition.json"]
)
def test_scanner_dry_run_publishes_nothing_but_outcome_holds_everything(name: str) -> None:
    test = rig(dry_run=True)

    outcome = test.handle(load(name))

    assert (test.publisher.imports, test.notifier.attempts) == ([], [])
    assert len(outcome.findings) == 3
    assert (outcome.findings_imported, outcome.notifications_sent) == (0, 0)
    expected_notifications = 1 if outcome.action == "evaluated" else 0
    assert len(outcome.notifications) == expected_notifications


@pytest.mark.parametrize(("minimum", "sent"), [(Severity.HIGH, 1), (Severity.CRITICAL, 0)])
def test_scanner_notify_min_severity_filters_alerts(minimum: Severity, sent: int) -> None:
    test = rig(notify_min_severity=minimum)

    outcome = test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    assert (len(test.notifier.attempts), outcome.notifications_sent, len(outcome.notifications)) == (sent, sent, sent)
    assert len(test.publisher.imports) == 1


def test_scanner_without_publisher_or_notifier_only_evaluates() -> None:
    resolvers = ResolverFactory()
    scanner = Scanner(policy_set(), resolvers, None, None, Options(), clock=lambda: NOW)

    outcome = scanner.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    assert statuses(outcome)["ecs-secrets-managed"] is Status.FAIL
    assert (len(outcome.findings), len(outcome.notifications)) == (3, 1)
    assert (outcome.findings_imported, outcome.notifications_sent) == (0, 0)


# --- resolver lifetime and secrets -----------------------------------------------------------------


def test_scanner_makes_a_fresh_resolver_for_each_evaluated_event() -> None:
    # GIVEN one scanner handling three events in turn
    payments = registered(plain_task_definition(), 1, REGISTERED_THEN)
    resolver = FakeResolver(task_definitions={EFS_TD: efs_task_definition(), "payments-api": payments})
    test = rig(resolver)
    names = [
        "ecs-create-service-fargate-efs-1.3.0.json",
        "ecs-register-task-definition-truncated.json",
        "ecs-update-service.json",
    ]

    # WHEN each is handled
    for name in names:
        test.handle(load(name))

    # THEN each event had its own resolver (so its own cache), used only for its own lookups
    made = test.resolvers.made
    assert len({id(resolver) for resolver in made}) == len(made) == 3
    # (UpdateService's response leaves out the tags, so that service is described first.)
    assert [resolver.calls for resolver in made] == [
        [("task_definition", EFS_TD)],
        [("task_definition", "payments-api")],
        [
            ("service", "arn:aws:ecs:us-east-1:123456789012:cluster/prod", f"{SERVICE_ARN}reports"),
            ("task_definition", EFS_TD),
        ],
    ]


def test_scanner_factory_is_called_once_per_handle() -> None:
    test = rig(efs_resolver())

    test.handle(load("ecs-create-service-fargate-efs-1.3.0.json"))
    test.handle(load("ecs-create-service-fargate-efs-1.3.0.json"))

    assert len(test.resolvers.made) == 2


def test_scanner_outcome_never_holds_planted_secret() -> None:
    test = rig()

    outcome = test.handle(load("ecs-register-task-definition-plaintext-secret.json"))

    sent = json.dumps(test.publisher.imports) + "".join(n.message + n.subject for n in test.notifier.attempts)
    kept = json.dumps(outcome.summary()) + json.dumps([result_document(r, None) for r in outcome.results])
    assert statuses(outcome)["ecs-secrets-managed"] is Status.FAIL
    assert [value for value in PLANTED if value in sent + kept] == []


# --- clusters ------------------------------------------------------------------------------------

ANALYTICS = "arn:aws:ecs:us-east-1:123456789012:cluster/analytics"


def test_scanner_cluster_event_describes_the_cluster_by_arn_rather_than_trust_the_response() -> None:
    # GIVEN a cluster whose description (with its settings) differs from the event's copy
    described_now = {**described("ecs-create-cluster.json", "cluster"), "settings": []}
    test = rig(FakeResolver(clusters={ANALYTICS: described_now}))

    # WHEN
    outcome = test.handle(load("ecs-create-cluster.json"))

    # THEN the cluster was described once, by ARN, and it is the resource evaluated
    assert test.resolvers.calls == [("cluster", ANALYTICS)]
    assert (outcome.action, outcome.resource) == ("evaluated", ANALYTICS)


@pytest.mark.parametrize("status", [None, "INACTIVE"])
def test_scanner_cluster_event_for_a_cluster_that_is_gone_archives_its_findings(status: str | None) -> None:
    clusters = (
        {} if status is None else {ANALYTICS: {**described("ecs-create-cluster.json", "cluster"), "status": status}}
    )
    test = rig(FakeResolver(clusters=clusters))

    outcome = test.handle(load("ecs-update-cluster-settings.json"))

    assert (outcome.action, outcome.resource, outcome.reason) == ("archived", ANALYTICS, "the cluster no longer exists")
    assert {f["RecordState"] for f in outcome.findings} <= {"ARCHIVED"}


def test_scanner_cluster_event_whose_describe_is_denied_fails_naming_the_call() -> None:
    denied = AwsCallFailed("ecs:DescribeClusters", ANALYTICS, "AccessDeniedException", "not authorized")
    test = rig(FakeResolver(failures={"cluster": denied}))

    with pytest.raises(EventFailed) as caught:
        test.handle(load("ecs-update-cluster.json"))

    assert str(caught.value) == f"event 00000000-0000-0000-0000-000000000023 (UpdateCluster): {denied}"
    assert test.publisher.imports == []
