"""The Sweeper on in-memory fakes of its ports (inventory, resolver, Security Hub, SNS): no network, no moto.

Covers the pure logic: which revisions are evaluated, how often each thing is described, which services and
clusters are looked at, what is archived and what is kept, who is notified, and what the report says.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ecsguard.core.engine import PolicySet
from ecsguard.core.findings import COVERAGE, Notification
from ecsguard.core.models import Severity
from ecsguard.core.resources import Unresolved
from ecsguard.core.results import Status
from ecsguard.errors import AwsCallFailed, PublishFailed
from ecsguard.publishing import Options
from ecsguard.sweep import RegionReport, Sweeper, SweepOptions, latest_revisions, sweep_regions
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed

NOW = "2026-11-22T00:00:00.000Z"
EARLIER = "2026-11-21T00:00:00.000Z"
ACCOUNT, REGION = "123456789012", "us-east-1"
PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1"
TD_POLICIES = ("ecs-images-ecr-only", "ecs-network-awsvpc", "ecs-secrets-managed")
EFS_POLICY = "ecs-efs-fargate-platform"
SECRETS_POLICY = "ecs-secrets-managed"
DENIED = "User: arn:aws:sts::123456789012:assumed-role/ecsguard/sweep is not authorized"


def policy_set() -> PolicySet:
    """The policies the sweeps below are about (the sample events' set): the sweeper's behaviour is tested over
    them, so another policy in policies/ changes no verdict, count or finding here."""
    return narrowed(SAMPLE_EVENT_POLICIES)


def td_arn(name: str) -> str:
    return f"{PREFIX}task-definition/{name}"


def service_arn(cluster: str, name: str) -> str:
    return f"{PREFIX}service/{cluster}/{name}"


def cluster_arn(name: str) -> str:
    return f"{PREFIX}cluster/{name}"


def fid(policy_id: str, arn: str) -> str:
    return f"ecsguard/{policy_id}/{arn}"


def task_definition(name: str, *, network: str = "awsvpc", image: str = ECR_IMAGE, efs: bool = False) -> dict[str, Any]:
    """What DescribeTaskDefinition answers for ``family:revision``."""
    family, revision = name.split(":")
    described: dict[str, Any] = {
        "taskDefinitionArn": td_arn(name),
        "family": family,
        "revision": int(revision),
        "status": "ACTIVE",
        "networkMode": network,
        "containerDefinitions": [{"name": "app", "image": image, "memory": 256}],
    }
    if efs:
        described["volumes"] = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]
    return described


def service(cluster: str, name: str, revision: str, **fields: Any) -> dict[str, Any]:
    """What DescribeServices answers for one service."""
    return {
        "serviceArn": service_arn(cluster, name),
        "serviceName": name,
        "clusterArn": cluster_arn(cluster),
        "status": "ACTIVE",
        "taskDefinition": td_arn(revision),
        **fields,
    }


def fargate(cluster: str, name: str, revision: str, platform: str = "1.3.0") -> dict[str, Any]:
    return service(cluster, name, revision, launchType="FARGATE", platformVersion=platform)


def denied(call: str, target: str) -> AwsCallFailed:
    return AwsCallFailed(call, target, "AccessDeniedException", DENIED)


def existing(policy_id: str, arn: str, compliance: str = "FAILED", **fields: Any) -> dict[str, Any]:
    """An ACTIVE ecsguard finding as Security Hub's GetFindings returns it."""
    resource_type = "AwsEcsTaskDefinition" if ":task-definition/" in arn else "AwsEcsService"
    return {
        "SchemaVersion": "2018-10-08",
        "Id": fid(policy_id, arn),
        "ProductArn": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
        "ProductName": "ecsguard",
        "GeneratorId": f"ecsguard/{policy_id}",
        "AwsAccountId": ACCOUNT,
        "Region": REGION,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": EARLIER,
        "UpdatedAt": EARLIER,
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": f"the title of {policy_id}",
        "Description": f"the description of {policy_id}",
        "Resources": [{"Type": resource_type, "Id": arn, "Partition": "aws", "Region": REGION}],
        "Compliance": {"Status": compliance},
        "RecordState": "ACTIVE",
        "WorkflowState": "NEW",
        **fields,
    }


# --- fakes ---------------------------------------------------------------------------------------


@dataclass
class FakeInventory:
    """ECS's list and DescribeServices calls from a table of described services per cluster ARN.

    ``missing`` are ARNs ListServices returns but DescribeServices reports as failures (MISSING);
    ``failures`` maps "ListTaskDefinitions", "ListClusters", "ListServices <cluster>" or
    "DescribeServices <cluster>" to what that call raises.
    """

    task_definitions: list[str] = field(default_factory=list)
    services_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # What DescribeClusters answers per cluster ARN; a cluster not here is described with its ARN and name only.
    cluster_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    tasks_of: dict[str, list[str]] = field(default_factory=dict)  # the tasks each cluster runs
    failures: dict[str, AwsCallFailed] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def _record(self, key: str, *call: str) -> None:
        self.calls.append(call)
        if key in self.failures:
            raise self.failures[key]

    def active_task_definitions(self) -> list[str]:
        self._record("ListTaskDefinitions", "ListTaskDefinitions")
        return list(self.task_definitions)

    def clusters(self) -> list[str]:
        self._record("ListClusters", "ListClusters")
        return list(self.services_of)

    def services(self, cluster: str) -> list[str]:
        self._record(f"ListServices {cluster}", "ListServices", cluster)
        return [s["serviceArn"] for s in self.services_of[cluster]] + self.missing.get(cluster, [])

    def running_tasks(self, cluster: str) -> list[str]:
        self._record(f"ListTasks {cluster}", "ListTasks", cluster)
        return list(self.tasks_of.get(cluster, []))

    def describe_clusters(self, clusters: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        self._record("DescribeClusters", "DescribeClusters", *clusters)
        plain = {
            arn: {"clusterArn": arn, "clusterName": arn.rsplit("/", 1)[-1], "status": "ACTIVE"} for arn in clusters
        }
        return [copy.deepcopy(self.cluster_details.get(arn, plain[arn])) for arn in clusters], []

    def describe_services(self, cluster: str, services: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        self._record(f"DescribeServices {cluster}", "DescribeServices", cluster, *services)
        known = {s["serviceArn"]: s for s in self.services_of[cluster]}
        found = [copy.deepcopy(known[arn]) for arn in services if arn in known]
        return found, [f"{arn}: MISSING" for arn in services if arn not in known]


@dataclass
class FakeResolver:
    """DescribeTaskDefinition and DescribeClusters from tables; records calls (the sweep calls it from threads)."""

    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, AwsCallFailed] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, call: str, table: dict[str, dict[str, Any]], key: str) -> dict[str, Any] | Unresolved:
        with self._lock:
            self.calls.append((call, key))
        if key in self.failures:
            raise self.failures[key]
        found = table.get(key)
        return copy.deepcopy(found) if found is not None else Unresolved(f"{call} found no '{key}'")

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        return self._answer("task_definition", self.task_definitions, reference)

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        raise AssertionError("a sweep describes services through its inventory, in batches")

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        return self._answer("cluster", self.clusters, cluster)

    def task_definition_calls(self) -> list[str]:
        return sorted(key for call, key in self.calls if call == "task_definition")


@dataclass
class FakePublisher:
    """Security Hub in memory: ``active`` is what GetFindings returns; imports are recorded."""

    active: list[dict[str, Any]] = field(default_factory=list)
    lookup_failure: PublishFailed | None = None
    import_failure: PublishFailed | None = None
    lookups: list[tuple[str, str]] = field(default_factory=list)
    imports: list[list[dict[str, Any]]] = field(default_factory=list)

    def known_findings(
        self, account: str, region: str, since: str, resources: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        self.lookups.append((account, region))
        if self.lookup_failure is not None:
            raise self.lookup_failure
        return copy.deepcopy(self.active)

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        self.imports.append(copy.deepcopy(list(findings)))
        if self.import_failure is not None:
            raise self.import_failure
        return len(findings)

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        raise AssertionError("a sweep reads every active finding once, not by id")

    def imported(self) -> dict[str, dict[str, Any]]:
        return {finding["Id"]: finding for batch in self.imports for finding in batch}


@dataclass
class FakeNotifier:
    failure: PublishFailed | None = None
    sent: list[Notification] = field(default_factory=list)

    def publish(self, notification: Notification) -> None:
        self.sent.append(notification)
        if self.failure is not None:
            raise self.failure


@dataclass
class Rig:
    """A Sweeper on fakes; ``made`` records which port was asked for, for which account and Region."""

    inventory: FakeInventory = field(default_factory=FakeInventory)
    resolver: FakeResolver = field(default_factory=FakeResolver)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    made: list[tuple[str, str, str]] = field(default_factory=list)

    def sweeper(self, *, notify_min_severity: Severity = Severity.LOW, **options: Any) -> Sweeper:
        def inventory_for(account: str, region: str) -> FakeInventory:
            self.made.append(("inventory", account, region))
            return self.inventory

        def resolver_for(account: str, region: str) -> FakeResolver:
            self.made.append(("resolver", account, region))
            return self.resolver

        def publisher_for(account: str, region: str) -> FakePublisher:
            self.made.append(("publisher", account, region))
            return self.publisher

        return Sweeper(
            policy_set(),
            inventory_for,
            resolver_for,
            publisher_for,
            self.notifier,
            SweepOptions(**options, publishing=Options(notify_min_severity=notify_min_severity)),
            clock=lambda: NOW,
        )

    def sweep(self, **options: Any) -> RegionReport:
        return self.sweeper(**options).sweep(ACCOUNT, REGION)


def rig(
    revisions: Sequence[str] = (),
    services: Sequence[dict[str, Any]] = (),
    *,
    listed: Sequence[str] | None = None,
    clusters: Sequence[str] = (),
    efs: Sequence[str] = (),
    **overrides: dict[str, Any],
) -> Rig:
    """Described task definitions ``revisions`` (``efs`` ones mount EFS), ``listed`` as ACTIVE (default: all),
    the clusters of ``services`` plus ``clusters`` (which may be empty)."""
    services_of: dict[str, list[dict[str, Any]]] = {cluster_arn(name): [] for name in clusters}
    for described in services:
        services_of.setdefault(described["clusterArn"], []).append(described)
    inventory = FakeInventory(
        task_definitions=[td_arn(name) for name in (revisions if listed is None else listed)],
        services_of=services_of,
    )
    resolver = FakeResolver({td_arn(name): task_definition(name, efs=name in efs) for name in revisions})
    made = Rig(inventory, resolver)
    for name, value in overrides.items():
        for key, item in value.items():
            setattr(getattr(made, name), key, item)
    return made


def verdicts(report: RegionReport) -> set[tuple[str, str, Status]]:
    return {(r.policy_id, r.resource.id, r.status) for r in report.results}


def td_verdicts(name: str, status: Status) -> set[tuple[str, str, Status]]:
    return {(policy, td_arn(name), status) for policy in TD_POLICIES}


def evaluated_task_definitions(report: RegionReport) -> list[str]:
    return sorted({r.resource.id for r in report.results if ":task-definition/" in r.resource.id})


# --- latest_revisions ----------------------------------------------------------------------------


def test_latest_revisions_several_families_keeps_numerically_highest_of_each_sorted() -> None:
    arns = [td_arn("web:9"), td_arn("api:2"), td_arn("web:10"), td_arn("web:2"), td_arn("api:11"), td_arn("db:1")]

    assert latest_revisions(arns) == [td_arn("api:11"), td_arn("db:1"), td_arn("web:10")]


def test_latest_revisions_arns_of_other_shapes_are_ignored() -> None:
    arns = [
        td_arn("web:3"),
        service_arn("prod", "web"),
        cluster_arn("web:99"),
        "web:7",  # family:revision, not an ARN of a task definition
        td_arn("web"),  # no revision
        td_arn("web:latest"),
        td_arn("web:8/extra"),
        "",
    ]

    assert latest_revisions(arns) == [td_arn("web:3")]


def test_latest_revisions_no_arns_gives_empty_list() -> None:
    assert latest_revisions([]) == []


# --- what is evaluated ---------------------------------------------------------------------------


def test_sweep_default_evaluates_latest_revision_of_each_family_and_revisions_services_use() -> None:
    # GIVEN web:1, web:2, web:10 and api:9 ACTIVE, and a service still running web:1
    sweep = rig(["web:1", "web:2", "web:10", "api:9"], [fargate("prod", "front", "web:1")])

    # WHEN
    report = sweep.sweep()

    # THEN web:10 (10 > 2 numerically), api:9 and the service's web:1 are evaluated; web:2 is neither
    assert evaluated_task_definitions(report) == [td_arn("api:9"), td_arn("web:1"), td_arn("web:10")]
    assert sweep.resolver.task_definition_calls() == [td_arn("api:9"), td_arn("web:1"), td_arn("web:10")]
    assert verdicts(report) == {
        *td_verdicts("api:9", Status.PASS),
        *td_verdicts("web:1", Status.PASS),
        *td_verdicts("web:10", Status.PASS),
        (EFS_POLICY, service_arn("prod", "front"), Status.NOT_APPLICABLE),
    }


def test_sweep_all_revisions_evaluates_every_listed_revision() -> None:
    sweep = rig(["web:1", "web:2", "web:10", "api:9"])

    report = sweep.sweep(all_revisions=True)

    assert evaluated_task_definitions(report) == [td_arn(n) for n in ("api:9", "web:1", "web:10", "web:2")]
    assert sweep.resolver.task_definition_calls() == [td_arn(n) for n in ("api:9", "web:1", "web:10", "web:2")]


def test_sweep_revision_shared_by_many_services_is_resolved_once() -> None:
    # GIVEN efs-app:3 (latest, so also evaluated on its own) used by five services in two clusters
    services = [fargate("alpha", f"svc-{i}", "efs-app:3") for i in range(3)]
    services += [fargate("beta", f"svc-{i}", "efs-app:3", platform="1.4.0") for i in range(2)]
    sweep = rig(["efs-app:3"], services, efs=["efs-app:3"])

    # WHEN
    report = sweep.sweep()

    # THEN it was described exactly once, and every service was evaluated with it
    assert sweep.resolver.calls == [("task_definition", td_arn("efs-app:3"))]
    assert {(r.resource.id, r.status) for r in report.results if r.policy_id == EFS_POLICY} == {
        *((service_arn("alpha", f"svc-{i}"), Status.FAIL) for i in range(3)),
        *((service_arn("beta", f"svc-{i}"), Status.PASS) for i in range(2)),
    }


def test_sweep_inactive_service_is_skipped_and_its_revision_not_described() -> None:
    # GIVEN DescribeServices still returns a deleted service (INACTIVE) running the otherwise unused old:1
    gone = fargate("prod", "gone", "old:1") | {"status": "INACTIVE"}
    sweep = rig(["web:1", "old:1"], [fargate("prod", "live", "web:1"), gone], listed=["web:1"])

    # WHEN
    report = sweep.sweep()

    # THEN it has no results, and old:1 was not described for it
    assert {r.resource.id for r in report.results if ":service/" in r.resource.id} == {service_arn("prod", "live")}
    assert sweep.resolver.task_definition_calls() == [td_arn("web:1")]


def test_sweep_cluster_default_strategy_looked_up_only_for_services_with_neither_launch_type_nor_strategy() -> None:
    # GIVEN four services on an EFS revision at platform 1.3.0: launch type FARGATE, launch type EC2,
    # a FARGATE_SPOT capacity provider strategy, and neither (so the cluster's default strategy, FARGATE, applies)
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    services = [
        fargate("prod", "by-launch-type", "efs-app:1"),
        service("prod", "on-ec2", "efs-app:1", launchType="EC2"),
        service("prod", "by-strategy", "efs-app:1", capacityProviderStrategy=spot, platformVersion="1.3.0"),
        service("prod", "by-default", "efs-app:1", platformVersion="1.3.0"),
    ]
    default = {
        "clusterArn": cluster_arn("prod"),
        "clusterName": "prod",
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
    }
    sweep = rig(
        ["efs-app:1"], services, efs=["efs-app:1"], inventory={"cluster_details": {cluster_arn("prod"): default}}
    )

    # WHEN
    report = sweep.sweep()

    # THEN the cluster was described once, with the sweep's clusters, and its default counts as Fargate for the
    # service that relies on it; no service described it again
    assert [call for call in sweep.inventory.calls if call[0] == "DescribeClusters"] == [
        ("DescribeClusters", cluster_arn("prod"))
    ]
    assert [call for call in sweep.resolver.calls if call[0] == "cluster"] == []
    assert {(r.resource.id, r.status) for r in report.results if r.policy_id == EFS_POLICY} == {
        (service_arn("prod", "by-launch-type"), Status.FAIL),
        (service_arn("prod", "on-ec2"), Status.NOT_APPLICABLE),
        (service_arn("prod", "by-strategy"), Status.FAIL),
        (service_arn("prod", "by-default"), Status.FAIL),
    }


def test_sweep_services_described_in_batches_of_ten_per_cluster() -> None:
    # GIVEN 23 services in one cluster and 1 in another
    services = [fargate("big", f"svc-{i:02d}", "web:1") for i in range(23)] + [fargate("small", "one", "web:1")]
    sweep = rig(["web:1"], services)

    # WHEN
    report = sweep.sweep()

    # THEN DescribeServices got 10, 10 and 3 ARNs of the first cluster, and 1 of the second
    batches = sorted((call[1], len(call) - 2) for call in sweep.inventory.calls if call[0] == "DescribeServices")
    assert batches == [
        (cluster_arn("big"), 3),
        (cluster_arn("big"), 10),
        (cluster_arn("big"), 10),
        (cluster_arn("small"), 1),
    ]
    assert len({r.resource.id for r in report.results if r.policy_id == EFS_POLICY}) == 24


# --- failures on one resource --------------------------------------------------------------------


def test_sweep_task_definition_describe_failure_gives_error_results_for_it_and_the_fargate_services_using_it() -> None:
    # GIVEN DescribeTaskDefinition of efs-app:2 fails (throttled past retries); web:1 is fine
    throttled = AwsCallFailed("ecs:DescribeTaskDefinition", td_arn("efs-app:2"), "ThrottlingException", "Rate exceeded")
    services = [
        fargate("prod", "on-fargate", "efs-app:2"),
        service("prod", "on-ec2", "efs-app:2", launchType="EC2"),
        fargate("prod", "other", "web:1"),
    ]
    sweep = rig(
        ["efs-app:2", "web:1"], services, efs=["efs-app:2"], resolver={"failures": {td_arn("efs-app:2"): throttled}}
    )

    # WHEN
    report = sweep.sweep()

    # THEN the revision has ERROR results (never PASS), the Fargate service using it ERROR for the EFS policy,
    # the EC2 service is not applicable whatever its revision holds, and the rest is evaluated as usual
    assert verdicts(report) == {
        *td_verdicts("efs-app:2", Status.ERROR),
        *td_verdicts("web:1", Status.PASS),
        (EFS_POLICY, service_arn("prod", "on-fargate"), Status.ERROR),
        (EFS_POLICY, service_arn("prod", "on-ec2"), Status.NOT_APPLICABLE),
        (EFS_POLICY, service_arn("prod", "other"), Status.NOT_APPLICABLE),
    }
    reason = f"ecs:DescribeTaskDefinition for {td_arn('efs-app:2')} failed: ThrottlingException: Rate exceeded"
    assert {r.reason for r in report.results if r.status is Status.ERROR} == {reason}
    assert report.problems == [reason]


def test_sweep_cluster_describe_failure_gives_error_for_service_relying_on_cluster_default() -> None:
    failure = denied("ecs:DescribeClusters", cluster_arn("prod"))
    services = [service("prod", "by-default", "efs-app:1", platformVersion="1.3.0")]
    sweep = rig(["efs-app:1"], services, efs=["efs-app:1"], inventory={"failures": {"DescribeClusters": failure}})

    report = sweep.sweep()

    # THEN the service that relies on the cluster's default is ERROR with the same reason, without a second call
    assert [call for call in sweep.resolver.calls if call[0] == "cluster"] == []

    assert [(r.policy_id, r.status, r.reason) for r in report.results if ":service/" in r.resource.id] == [
        (EFS_POLICY, Status.ERROR, str(failure))
    ]
    assert report.problems == [str(failure)]


def test_sweep_list_services_failure_reports_problem_and_sweeps_other_clusters() -> None:
    # GIVEN ListServices is denied for cluster beta only
    failure = denied("ecs:ListServices", f"cluster {cluster_arn('beta')}")
    services = [fargate("alpha", "front", "efs-app:1"), fargate("beta", "back", "efs-app:1")]
    sweep = rig(
        ["efs-app:1"],
        services,
        efs=["efs-app:1"],
        inventory={"failures": {f"ListServices {cluster_arn('beta')}": failure}},
    )

    # WHEN
    report = sweep.sweep()

    # THEN alpha's service is evaluated, beta's is not, and the report names the call and the cluster
    assert {r.resource.id for r in report.results if ":service/" in r.resource.id} == {service_arn("alpha", "front")}
    assert report.problems == [
        f"ecs:ListServices for cluster {cluster_arn('beta')} failed: AccessDeniedException: {DENIED}"
    ]


def test_sweep_describe_services_failure_gives_error_results_for_the_listed_services() -> None:
    # GIVEN ListServices answered for beta, but DescribeServices of beta's services is denied
    failure = denied("ecs:DescribeServices", f"2 service(s) of {cluster_arn('beta')}")
    services = [
        fargate("alpha", "front", "efs-app:1"),
        fargate("beta", "back", "efs-app:1"),
        fargate("beta", "db", "efs-app:1"),
    ]
    sweep = rig(
        ["efs-app:1"],
        services,
        efs=["efs-app:1"],
        inventory={"failures": {f"DescribeServices {cluster_arn('beta')}": failure}},
    )

    # WHEN
    report = sweep.sweep()

    # THEN beta's services, whose ARNs are known, get ERROR results naming the call (a failure on a resource is an
    # ERROR result for it), alpha's is evaluated, and the problem is reported
    assert {(r.resource.id, r.status) for r in report.results if r.policy_id == EFS_POLICY} == {
        (service_arn("alpha", "front"), Status.FAIL),
        (service_arn("beta", "back"), Status.ERROR),
        (service_arn("beta", "db"), Status.ERROR),
    }
    assert report.problems == [str(failure)]


def test_sweep_service_listed_but_not_described_is_reported_as_problem() -> None:
    ghost = service_arn("prod", "ghost")
    sweep = rig(["web:1"], [fargate("prod", "live", "web:1")], inventory={"missing": {cluster_arn("prod"): [ghost]}})

    report = sweep.sweep()

    assert report.problems == [f"ecs:DescribeServices: {ghost}: MISSING"]
    assert {r.resource.id for r in report.results if ":service/" in r.resource.id} == {service_arn("prod", "live")}


@pytest.mark.parametrize(
    ("call", "failure"),
    [
        ("ListTaskDefinitions", denied("ecs:ListTaskDefinitions", "ACTIVE task definitions")),
        ("ListClusters", denied("ecs:ListClusters", "clusters")),
    ],
)
def test_sweep_listing_failure_raises_and_publishes_nothing(call: str, failure: AwsCallFailed) -> None:
    sweep = rig(["web:1"], [fargate("prod", "live", "web:1")], inventory={"failures": {call: failure}})

    with pytest.raises(AwsCallFailed) as raised:
        sweep.sweep(publish=True)

    assert raised.value is failure
    assert (sweep.publisher.lookups, sweep.publisher.imports, sweep.notifier.sent) == ([], [], [])


def test_sweep_regions_region_that_cannot_be_listed_is_a_failure_and_other_regions_still_run() -> None:
    # GIVEN ListClusters is denied in eu-west-1 only
    failure = denied("ecs:ListClusters", "clusters")
    good, bad = FakeInventory([td_arn("web:1")]), FakeInventory([td_arn("web:1")], failures={"ListClusters": failure})
    sweeper = Sweeper(
        policy_set(),
        lambda account, region: bad if region == "eu-west-1" else good,
        lambda account, region: FakeResolver({td_arn("web:1"): task_definition("web:1")}),
        None,
        None,
        SweepOptions(),
        clock=lambda: NOW,
    )

    # WHEN
    reports, failures = sweep_regions(sweeper, ACCOUNT, ["eu-west-1", "us-east-1"])

    # THEN
    assert failures == [f"eu-west-1: {failure}"]
    assert [(r.region, len(r.results)) for r in reports] == [("us-east-1", 3)]


# --- archival ------------------------------------------------------------------------------------


def test_sweep_publish_archives_stale_finding_of_resource_no_longer_listed_with_same_id() -> None:
    # GIVEN active findings on web:1 (still listed), on gone:4 and on a deleted service
    stale_td, stale_service = fid("ecs-network-awsvpc", td_arn("gone:4")), fid(EFS_POLICY, service_arn("prod", "old"))
    active = [
        existing("ecs-network-awsvpc", td_arn("web:1"), "PASSED"),
        existing("ecs-network-awsvpc", td_arn("gone:4")),
        existing(EFS_POLICY, service_arn("prod", "old")),
    ]
    sweep = rig(["web:1"], [fargate("prod", "live", "web:1")], publisher={"active": active})

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN the two stale ones are archived, under the same Id, as findings of deleted resources
    assert sorted(report.archived) == sorted([stale_td, stale_service])
    imported = sweep.publisher.imported()
    assert {i: (imported[i]["RecordState"], imported[i]["Compliance"]["Status"]) for i in report.archived} == {
        stale_td: ("ARCHIVED", "NOT_AVAILABLE"),
        stale_service: ("ARCHIVED", "NOT_AVAILABLE"),
    }
    assert {imported[i]["ProductFields"]["ecsguard/Status"] for i in report.archived} == {"RESOURCE_DELETED"}
    assert imported[stale_td]["Resources"][0]["Id"] == td_arn("gone:4")
    assert imported[stale_service]["Resources"][0]["Type"] == "AwsEcsService"
    # AND web:1's finding is updated, not archived
    assert imported[fid("ecs-network-awsvpc", td_arn("web:1"))]["RecordState"] == "ACTIVE"
    assert report.findings_imported == len(report.findings) == 3 + 1 + 2


def test_sweep_publish_archives_finding_of_policy_removed_from_set_as_it_stands() -> None:
    # GIVEN an active finding of a policy that is no longer in the set, on a task definition that still exists
    removed = existing("ecs-retired-policy", td_arn("web:1"), ProductFields={"ecsguard/PolicyId": "ecs-retired-policy"})
    sweep = rig(["web:1"], publisher={"active": [removed]})

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN it is archived with its own required fields, only its state and update time changed
    assert report.archived == [removed["Id"]]
    required = (
        "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
        "CreatedAt", "Severity", "Title", "Description", "Resources",
    )  # fmt: skip
    expected = {key: removed[key] for key in required} | {"RecordState": "ARCHIVED", "UpdatedAt": NOW}
    assert sweep.publisher.imported()[removed["Id"]] == expected


def test_sweep_publish_finding_of_unknown_resource_type_is_kept() -> None:
    odd = existing("ecs-network-awsvpc", cluster_arn("prod"))
    sweep = rig(["web:1"], publisher={"active": [odd]})

    report = sweep.sweep(publish=True)

    assert report.archived == []
    assert odd["Id"] not in sweep.publisher.imported()


def task_arn(cluster: str, name: str) -> str:
    return f"{PREFIX}task/{cluster}/{name}"


def test_sweep_publish_keeps_findings_of_running_tasks_and_archives_those_of_stopped_ones() -> None:
    # GIVEN findings on two standalone tasks of prod, of which one still runs
    running, stopped = task_arn("prod", "a" * 32), task_arn("prod", "b" * 32)
    active = [existing(SECRETS_POLICY, running), existing(SECRETS_POLICY, stopped)]
    sweep = rig(
        ["web:1"],
        [fargate("prod", "live", "web:1")],
        inventory={"tasks_of": {cluster_arn("prod"): [running]}},
        publisher={"active": active},
    )

    # WHEN the account is swept
    report = sweep.sweep(publish=True)

    # THEN the stopped task's finding is archived; the running one's stays as its RunTask event left it
    assert report.archived == [fid(SECRETS_POLICY, stopped)]
    assert fid(SECRETS_POLICY, running) not in sweep.publisher.imported()
    assert ("ListTasks", cluster_arn("prod")) in sweep.inventory.calls


def test_sweep_publish_keeps_findings_of_tasks_in_a_cluster_whose_tasks_could_not_be_listed() -> None:
    # GIVEN a finding on a task of prod, whose tasks cannot be listed
    task = task_arn("prod", "c" * 32)
    failures = {f"ListTasks {cluster_arn('prod')}": denied("ecs:ListTasks", cluster_arn("prod"))}
    sweep = rig(
        ["web:1"],
        [fargate("prod", "live", "web:1")],
        inventory={"failures": failures},
        publisher={"active": [existing(SECRETS_POLICY, task)]},
    )

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN the task may still run: its finding stays, and the call that failed is reported
    assert report.archived == []
    assert any("ecs:ListTasks" in problem for problem in report.problems)


@pytest.mark.parametrize("call", ["ListServices", "DescribeServices"])
def test_sweep_publish_keeps_findings_of_services_in_cluster_that_could_not_be_read(call: str) -> None:
    # GIVEN findings on services of alpha and of beta, which may be alpha-2's prefix but is another cluster,
    # and alpha's services cannot be listed (or described)
    failures = {f"{call} {cluster_arn('alpha')}": denied(f"ecs:{call}", cluster_arn("alpha"))}
    active = [
        existing(EFS_POLICY, service_arn("alpha", "maybe-there")),
        existing(EFS_POLICY, service_arn("alpha-2", "gone")),
    ]
    services = [fargate("alpha", "listed", "web:1"), fargate("alpha-2", "live", "web:1")]
    sweep = rig(["web:1"], services, inventory={"failures": failures}, publisher={"active": active})

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN only the finding under the readable cluster is archived
    assert report.archived == [fid(EFS_POLICY, service_arn("alpha-2", "gone"))]
    assert fid(EFS_POLICY, service_arn("alpha", "maybe-there")) not in sweep.publisher.imported()


def test_sweep_publish_cluster_that_cannot_be_listed_gets_a_not_available_finding_naming_the_call() -> None:
    # GIVEN alpha's services cannot be listed, beta's can
    problem = denied("ecs:ListServices", cluster_arn("alpha"))
    sweep = rig(
        ["web:1"], clusters=["alpha", "beta"], inventory={"failures": {f"ListServices {cluster_arn('alpha')}": problem}}
    )

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN alpha, and only alpha, has a blind-spot finding naming the failed call, imported with the results
    coverage = fid(COVERAGE, cluster_arn("alpha"))
    assert report.blind == {cluster_arn("alpha"): str(problem)}
    assert report.summary()["clusters_not_listed"] == [cluster_arn("alpha")]
    assert [f["Id"] for f in sweep.publisher.imported().values() if f["GeneratorId"] == f"ecsguard/{COVERAGE}"] == [
        coverage
    ]
    finding = sweep.publisher.imported()[coverage]
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("NOT_AVAILABLE", "ACTIVE")
    assert str(problem) in finding["Description"]


def test_sweep_publish_keeps_old_format_service_findings_when_a_cluster_could_not_be_listed() -> None:
    # GIVEN a service created before the long ARN format (arn:...:service/<name>, no cluster in it), so its
    # cluster cannot be told from its ARN, and one cluster whose services cannot be listed
    old_format = f"{PREFIX}service/legacy-api"
    failures = {f"ListServices {cluster_arn('alpha')}": denied("ecs:ListServices", cluster_arn("alpha"))}
    sweep = rig(
        ["web:1"],
        clusters=["alpha"],
        inventory={"failures": failures},
        publisher={"active": [existing(EFS_POLICY, old_format)]},
    )

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN its finding is kept: the service may well run in the cluster that could not be listed
    assert report.archived == []
    assert fid(EFS_POLICY, old_format) not in sweep.publisher.imported()


def test_sweep_publish_active_findings_unreadable_archives_and_imports_nothing_and_reports_problem() -> None:
    failure = PublishFailed("securityhub:GetFindings failed: AccessDeniedException: not authorized")
    active = [existing(EFS_POLICY, service_arn("prod", "old"))]
    sweep = rig(["web:1"], publisher={"active": active, "lookup_failure": failure})

    report = sweep.sweep(publish=True)

    assert report.archived == []
    assert report.problems == [str(failure)]
    assert (sweep.publisher.imports, sweep.notifier.sent, report.findings_imported) == ([], [], 0)


def test_sweep_publish_import_failure_is_reported_and_notifications_still_sent() -> None:
    failure = PublishFailed("securityhub:BatchImportFindings failed for 3 finding(s): InternalException: boom")
    sweep = rig(["web:1"], listed=["web:1"], publisher={"import_failure": failure})
    sweep.resolver.task_definitions[td_arn("web:1")]["networkMode"] = "bridge"

    report = sweep.sweep(publish=True)

    assert report.problems == [str(failure)]
    assert report.findings_imported == 0
    assert [n.attributes["policy_ids"]["StringValue"] for n in sweep.notifier.sent] == ['["ecs-network-awsvpc"]']
    assert report.notifications_sent == 1


# --- notifications and publishing ----------------------------------------------------------------


def test_sweep_publish_notifies_only_failures_whose_finding_was_not_already_failed() -> None:
    # GIVEN four failing revisions: old:1 already FAILED (no repeat), errored:1 whose finding was NOT_AVAILABLE,
    # new:1 with no finding yet, and mixed:1 whose network failure is known but whose image failure is new
    revisions = {
        "old:1": task_definition("old:1", network="bridge"),
        "errored:1": task_definition("errored:1", network="bridge"),
        "new:1": task_definition("new:1", network="bridge"),
        "mixed:1": task_definition("mixed:1", network="bridge", image="docker.io/library/nginx:1"),
    }
    active = [
        existing("ecs-network-awsvpc", td_arn("old:1"), "FAILED"),
        existing("ecs-network-awsvpc", td_arn("errored:1"), "NOT_AVAILABLE"),
        existing("ecs-network-awsvpc", td_arn("mixed:1"), "FAILED"),
    ]
    sweep = rig(publisher={"active": active})
    sweep.inventory.task_definitions = [td_arn(name) for name in revisions]
    sweep.resolver.task_definitions = {td_arn(name): described for name, described in revisions.items()}

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN one message per resource with a new failure, listing only the new failures
    sent = {json.loads(n.message)["resource"]["id"]: n for n in sweep.notifier.sent}
    assert {arn: [f["policy_id"] for f in json.loads(n.message)["failures"]] for arn, n in sent.items()} == {
        td_arn("errored:1"): ["ecs-network-awsvpc"],
        td_arn("new:1"): ["ecs-network-awsvpc"],
        td_arn("mixed:1"): ["ecs-images-ecr-only"],
    }
    assert report.notifications == sweep.notifier.sent
    assert report.notifications_sent == 3


def test_sweep_publish_notifications_below_minimum_severity_are_not_sent() -> None:
    # ecs-network-awsvpc is MEDIUM
    sweep = rig(["web:1"])
    sweep.resolver.task_definitions[td_arn("web:1")]["networkMode"] = "bridge"

    report = sweep.sweep(publish=True, notify_min_severity=Severity.HIGH)

    assert (report.notifications, sweep.notifier.sent) == ([], [])
    assert [r.policy_id for r in report.results if r.status is Status.FAIL] == ["ecs-network-awsvpc"]


def test_sweep_without_publish_sends_nothing_but_reports_findings() -> None:
    # GIVEN a failing revision, and a stale finding that a publishing sweep would archive
    sweep = rig(["web:1"], publisher={"active": [existing(EFS_POLICY, service_arn("prod", "old"))]})
    sweep.resolver.task_definitions[td_arn("web:1")]["networkMode"] = "bridge"

    # WHEN
    report = sweep.sweep(publish=False)

    # THEN Security Hub and SNS were never asked for, nothing was archived or notified, the findings are reported
    assert [port for port, _, _ in sweep.made] == ["inventory", "resolver"]
    assert (sweep.publisher.lookups, sweep.publisher.imports, sweep.notifier.sent) == ([], [], [])
    assert (report.archived, report.notifications, report.findings_imported, report.notifications_sent) == (
        [],
        [],
        0,
        0,
    )
    assert sorted(f["Id"] for f in report.findings) == sorted(fid(p, td_arn("web:1")) for p in TD_POLICIES)


def test_sweep_ports_are_made_for_the_swept_account_and_region() -> None:
    sweep = rig(["web:1"])

    sweep.sweep(publish=True)

    assert sweep.made == [("inventory", ACCOUNT, REGION), ("resolver", ACCOUNT, REGION), ("publisher", ACCOUNT, REGION)]
    assert sweep.publisher.lookups == [(ACCOUNT, REGION)]


# --- report --------------------------------------------------------------------------------------


def test_region_report_summary_counts_resources_results_archived_imports_notifications_and_problems() -> None:
    # GIVEN a failing revision, an EFS revision that cannot be described, a service on it, a stale finding
    throttled = AwsCallFailed("ecs:DescribeTaskDefinition", td_arn("efs-app:1"), "ThrottlingException", "Rate exceeded")
    sweep = rig(
        ["web:1", "efs-app:1"],
        [fargate("prod", "front", "efs-app:1")],
        resolver={"failures": {td_arn("efs-app:1"): throttled}},
        publisher={"active": [existing(EFS_POLICY, service_arn("prod", "old"))]},
    )
    sweep.resolver.task_definitions[td_arn("web:1")]["networkMode"] = "bridge"

    # WHEN
    report = sweep.sweep(publish=True)

    # THEN
    assert report.summary() == {
        "account": ACCOUNT,
        "region": REGION,
        "resources": 3,
        "results": {"PASS": 2, "FAIL": 1, "ERROR": 4},
        "archived": 1,
        "older_than_known": 0,
        "clusters_not_listed": [],
        "unused_exemptions": [],
        "findings_imported": 3 + 3 + 1 + 1,
        "notifications_sent": 1,
        "problems": [str(throttled)],
    }


def test_region_report_summary_empty_region_has_zero_counts() -> None:
    assert RegionReport(ACCOUNT, REGION).summary() == {
        "account": ACCOUNT,
        "region": REGION,
        "resources": 0,
        "results": {},
        "archived": 0,
        "older_than_known": 0,
        "clusters_not_listed": [],
        "unused_exemptions": [],
        "findings_imported": 0,
        "notifications_sent": 0,
        "problems": [],
    }


# --- batches, memory and splitting -----------------------------------------------------------------


def busy_account() -> Rig:
    """Six families, three clusters of services, findings of gone resources and of a policy no longer in the set."""
    revisions = [f"app{n}:1" for n in range(6)]
    services = [fargate(cluster, f"svc{n}", f"app{n}:1") for n, cluster in enumerate(["a", "a", "b", "b", "c", "c"])]
    active = [
        existing("ecs-network-awsvpc", td_arn("app0:1"), "PASSED"),
        existing("ecs-network-awsvpc", td_arn("gone:3")),
        existing(EFS_POLICY, service_arn("b", "deleted")),
        existing("ecs-retired-policy", td_arn("app1:1")),
    ]
    return rig(revisions, services, efs=["app2:1"], publisher={"active": active})


def outcome(report: RegionReport, sweep: Rig) -> tuple[Any, ...]:
    imported = sweep.publisher.imported()
    return (
        report.tally,
        report.resources,
        sorted(report.archived),
        {i: (f["RecordState"], f.get("Compliance")) for i, f in imported.items()},
        report.findings_imported,
        report.notifications_sent,
    )


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_sweep_in_small_batches_publishes_what_one_batch_would(batch: int) -> None:
    # GIVEN the same account swept in one batch and in batches of ``batch`` resources
    whole, batched = busy_account(), busy_account()

    # WHEN each is swept and published
    one = whole.sweep(publish=True)
    many = batched.sweep(publish=True, batch=batch)

    # THEN they judge, import and archive exactly the same, and describe each revision once
    assert outcome(many, batched) == outcome(one, whole)
    assert sorted(many.archived) == sorted(
        [
            fid("ecs-network-awsvpc", td_arn("gone:3")),
            fid(EFS_POLICY, service_arn("b", "deleted")),
            fid("ecs-retired-policy", td_arn("app1:1")),
        ]
    )
    assert batched.resolver.task_definition_calls() == sorted(td_arn(f"app{n}:1") for n in range(6))
    assert len(batched.publisher.imports) > len(whole.publisher.imports) or batch >= 6


def test_sweep_that_keeps_nothing_counts_what_one_that_keeps_would() -> None:
    kept, counted = busy_account(), busy_account()

    full = kept.sweep(publish=True)
    lean = counted.sweep(publish=True, keep=False)

    assert outcome(lean, counted) == outcome(full, kept)
    assert (lean.results, lean.findings, lean.notifications) == ([], [], [])
    assert lean.summary() == full.summary()
    assert sum(full.tally.values()) == len(full.results)


def test_sweep_short_of_time_stops_before_the_clusters_and_archives_nothing_of_theirs() -> None:
    # GIVEN an invocation with less time left than a sweep keeps in hand
    sweep = busy_account()

    # WHEN the whole Region is swept
    report = sweep.sweeper(publish=True).sweep(ACCOUNT, REGION, time_left=lambda: 30.0)

    # THEN the task definitions are swept, every cluster is left for the next invocation, and the findings of a
    # service of those clusters stay, though it is gone
    assert report.remaining == [cluster_arn(c) for c in ("a", "b", "c")]
    assert {r.resource.id for r in report.results} == {td_arn(f"app{n}:1") for n in range(6)}
    assert sorted(report.archived) == sorted(
        [fid("ecs-network-awsvpc", td_arn("gone:3")), fid("ecs-retired-policy", td_arn("app1:1"))]
    )
    assert not any(call[0] == "ListServices" for call in sweep.inventory.calls)
    assert report.summary()["clusters_remaining"] == report.remaining


def test_sweep_of_given_clusters_short_of_time_sweeps_one_and_hands_on_the_rest() -> None:
    # GIVEN the continuation of a split sweep, with little time
    sweep = busy_account()
    clusters = [cluster_arn(c) for c in ("b", "c")]

    # WHEN it sweeps the clusters it was given
    report = sweep.sweeper(publish=True).sweep(ACCOUNT, REGION, clusters, time_left=lambda: 30.0)

    # THEN it swept the first (its services, and the revisions they run), archived that cluster's gone service,
    # and left the other; no task definition was listed
    assert report.remaining == [cluster_arn("c")]
    assert {r.resource.id for r in report.results} == {
        service_arn("b", "svc2"),
        service_arn("b", "svc3"),
        td_arn("app2:1"),
        td_arn("app3:1"),
    }
    assert report.archived == [fid(EFS_POLICY, service_arn("b", "deleted"))]
    assert ("ListTaskDefinitions",) not in sweep.inventory.calls
    # AND it read only the findings of the clusters it was given
    assert report.summary()["clusters_swept"] == clusters


def test_sweep_with_time_enough_sweeps_every_cluster() -> None:
    sweep = busy_account()

    report = sweep.sweeper(publish=True).sweep(ACCOUNT, REGION, time_left=lambda: 600.0)

    assert report.remaining == []
    assert "clusters_remaining" not in report.summary()
