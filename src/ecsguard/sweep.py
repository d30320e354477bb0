"""Account-wide sweep: evaluate every ACTIVE task definition and every service, as the event path does.

Reuses the event path's pieces: the same resolution (``resolution.service_resource``, over a resolver that
describes each revision once per sweep, however many services use it), the same engine and the same
publishing plan and finding ids, so a sweep and an event never duplicate a finding. Findings of resources
that no longer exist are archived. A failure on one resource is an ERROR result for it and a line in the
report; a sweep that cannot list fails loudly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecsguard.core.engine import PolicySet
from ecsguard.core.exemptions import NO_EXEMPTIONS, ExemptionSet, today_of
from ecsguard.core.findings import FindingContext, Notification, NotificationContext, coverage_finding
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import Resource, Unresolved, build_cluster, build_task_definition
from ecsguard.core.results import Result, Status
from ecsguard.errors import AwsCallFailed, PublishFailed
from ecsguard.events import partition_of
from ecsguard.publishing import (
    Census,
    Context,
    FindingsPublisher,
    Notifier,
    Options,
    deliver,
    findings_of,
    now,
    plan,
)
from ecsguard.resolution import Resolver, service_resource, task_set_resource

_REVISION = re.compile(r"task-definition/(?P<family>[^:/]+):(?P<revision>\d+)$")
DESCRIBE_SERVICES_BATCH = 10
DESCRIBE_CLUSTERS_BATCH = 100
# A sweep notifies new FAILs only; its ERRORs are in its report (and in Security Hub, NOT_AVAILABLE).
SWEEP_ALERTING = frozenset({Status.FAIL})


class Inventory(Protocol):
    def active_task_definitions(self) -> list[str]: ...

    def clusters(self) -> list[str]: ...

    def services(self, cluster: str) -> list[str]: ...

    def describe_services(self, cluster: str, services: list[str]) -> tuple[list[dict[str, Any]], list[str]]: ...

    def describe_clusters(self, clusters: list[str]) -> tuple[list[dict[str, Any]], list[str]]: ...

    def running_tasks(self, cluster: str) -> list[str]: ...


class SweepPublisher(FindingsPublisher, Protocol):
    def known_findings(self, account: str, region: str, since: str) -> list[dict[str, Any]]:
        """Every ACTIVE ecsguard finding of the account and Region, and those archived since ``since``."""
        ...


@dataclass(frozen=True)
class SweepOptions:
    """What a sweep covers and whether it publishes; how it publishes is the event path's Options."""

    all_revisions: bool = False  # every ACTIVE revision, not only each family's latest
    publish: bool = False  # False: read-only, Security Hub and SNS are not even asked
    concurrency: int = 8
    publishing: Options = field(default_factory=Options)


@dataclass
class RegionReport:
    account: str
    region: str
    results: list[Result] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    older: list[str] = field(default_factory=list)  # left alone: an event observed them after the sweep started
    blind: dict[str, str] = field(default_factory=dict)  # clusters whose services could not be listed: why
    problems: list[str] = field(default_factory=list)
    publish_failures: list[str] = field(default_factory=list)  # these fail the run: findings were lost
    findings_imported: int = 0
    notifications_sent: int = 0
    unused_exemptions: list[str] = field(default_factory=list)  # in effect, and selecting nothing this sweep judged
    exemption_states: dict[str, int] = field(default_factory=dict)  # how many are active, expiring, expired

    def summary(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "resources": len({(r.resource.type, r.resource.id) for r in self.results}),
            "results": dict(Counter(result.status.value for result in self.results)),
            "archived": len(self.archived),
            "older_than_known": len(self.older),
            "clusters_not_listed": sorted(self.blind),
            "unused_exemptions": self.unused_exemptions,
            "findings_imported": self.findings_imported,
            "notifications_sent": self.notifications_sent,
            "problems": self.problems,
        }


def latest_revisions(arns: Sequence[str]) -> list[str]:
    """The highest revision of each family among ``arns``."""
    best: dict[str, tuple[int, str]] = {}
    for arn in arns:
        match = _REVISION.search(arn)
        if match is None:
            continue
        revision = int(match.group("revision"))
        family = match.group("family")
        if family not in best or revision > best[family][0]:
            best[family] = (revision, arn)
    return sorted(arn for _, arn in best.values())


def _task_definition_resource(reference: str, found: dict[str, Any] | Unresolved) -> Resource:
    if isinstance(found, Unresolved):
        return Resource(type=ResourceType.TASK_DEFINITION, id=reference, model=None, problem=found.reason)
    return build_task_definition(found, reference)


def _may_be_in(arn: str, clusters: set[str]) -> bool:
    """Whether a service, task set or task may belong to one of ``clusters``; an old-format ARN (no cluster in it)
    to any."""
    if not clusters:
        return False
    if ":task-set/" in arn:
        return any(arn.startswith(cluster.replace(":cluster/", ":task-set/") + "/") for cluster in clusters)
    if ":task/" in arn:  # a task's old-format ARN (no cluster in it) may be in any
        path = arn.split(":task/", 1)[1]
        return "/" not in path or any(
            arn.startswith(cluster.replace(":cluster/", ":task/") + "/") for cluster in clusters
        )
    if ":service/" not in arn:
        return False
    path = arn.split(":service/", 1)[1]
    if "/" not in path:
        return True
    return any(arn.startswith(cluster.replace(":cluster/", ":service/") + "/") for cluster in clusters)


class PrefetchedResolver:
    """A sweep's resolver: task definitions described up front, in parallel, then served from memory.

    Anything else (a cluster, a task definition not prefetched) goes to the live resolver. A call that fails
    (AwsCallFailed) becomes Unresolved, so an ERROR result for what needed it, and a line in ``problems``.
    """

    def __init__(self, live: Resolver, problems: list[str]) -> None:
        self._live = live
        self._problems = problems
        self._task_definitions: dict[str, dict[str, Any] | Unresolved] = {}
        self._clusters: dict[str, dict[str, Any] | Unresolved] = {}

    def _recorded(self, lookup: Callable[[], dict[str, Any] | Unresolved]) -> dict[str, Any] | Unresolved:
        try:
            return lookup()
        except AwsCallFailed as error:
            self._problems.append(str(error))
            return Unresolved(str(error))

    def prefetch(self, references: Sequence[str], concurrency: int) -> None:
        """Describe each of ``references`` once, ``concurrency`` at a time."""

        def describe(reference: str) -> dict[str, Any] | Unresolved:
            return self._recorded(lambda: self._live.task_definition(reference))

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            self._task_definitions.update(zip(references, pool.map(describe, references), strict=True))

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        if reference not in self._task_definitions:
            self._task_definitions[reference] = self._recorded(lambda: self._live.task_definition(reference))
        return self._task_definitions[reference]

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        return self._recorded(lambda: self._live.service(cluster, service))

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        return self._recorded(lambda: self._live.task_set(cluster, service, task_set))

    def remember_cluster(self, arn: str, described: dict[str, Any] | Unresolved) -> None:
        """A cluster the sweep described already: the services that take its default strategy ask for it."""
        self._clusters[arn] = described

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        if cluster in self._clusters:
            return self._clusters[cluster]
        return self._recorded(lambda: self._live.cluster(cluster))


class Sweeper:
    def __init__(
        self,
        policy_set: PolicySet,
        inventory_for: Callable[[str, str], Inventory],
        new_resolver: Callable[[str, str], Resolver],
        findings_for: Callable[[str, str], SweepPublisher] | None,
        notifier: Notifier | None,
        options: SweepOptions,
        clock: Callable[[], str] = now,
        exemptions: ExemptionSet = NO_EXEMPTIONS,
    ) -> None:
        self.policy_set = policy_set
        self.exemptions = exemptions
        self.inventory_for = inventory_for
        self.new_resolver = new_resolver
        self.findings_for = findings_for
        self.notifier = notifier
        self.options = options
        self.clock = clock
        self.policies = {policy.id: policy for policy in policy_set.policies}

    def sweep(self, account: str, region: str) -> RegionReport:
        """Sweep one account and Region; raise AwsCallFailed when the inventory cannot be listed at all."""
        report = RegionReport(account, region)
        # What the sweep observes, it observes from now on: a finding an event updates later is newer.
        started = self.clock()
        inventory = self.inventory_for(account, region)
        live = self.new_resolver(account, region)
        listed = inventory.active_task_definitions()
        task_definitions = listed if self.options.all_revisions else latest_revisions(listed)
        cluster_arns = inventory.clusters()
        services, unknown_clusters, unreadable = self._services(inventory, cluster_arns, report)
        task_sets = [
            task_set for service in services for task_set in service.get("taskSets") or [] if isinstance(task_set, dict)
        ]
        references = sorted(
            set(task_definitions)
            | {str(s["taskDefinition"]) for s in [*services, *task_sets] if s.get("taskDefinition")}
        )
        resolver = PrefetchedResolver(live, report.problems)
        clusters = self._clusters(inventory, cluster_arns, resolver, report)
        resolver.prefetch(references, self.options.concurrency)
        resources = [_task_definition_resource(ref, resolver.task_definition(ref)) for ref in references]
        resources += [
            service_resource(service, str(service.get("serviceArn")), str(service.get("clusterArn")), resolver)
            for service in services
        ]
        # A service with the EXTERNAL or CODE_DEPLOY controller runs its tasks from its task sets, which
        # DescribeServices gives whole.
        resources += [
            task_set_resource(
                task_set, str(task_set.get("taskSetArn") or ""), str(task_set.get("clusterArn")), resolver
            )
            for task_set in task_sets
        ]
        resources += unreadable + clusters
        # An exemption in effect when the sweep started covers its failures; one that expired since, no longer.
        today = today_of(started)
        report.results = self.exemptions.apply(self.policy_set.evaluate(resources), today)
        report.unused_exemptions = self.exemptions.unused(report.results, today)
        report.exemption_states = self.exemptions.states(today)
        # An older ACTIVE revision that was not evaluated still exists (and can still run): its findings stay;
        # so do those of services under a cluster that could not be read.
        # A standalone task's findings stay while it runs (the RunTask event judged it) and go when it has stopped.
        running, untold = self._running_tasks(inventory, cluster_arns, report)
        unknown = unknown_clusters | untold
        census = Census(alive=set(listed) | set(cluster_arns) | running, uncertain=lambda arn: _may_be_in(arn, unknown))
        self._publish(report, census, started)
        return report

    # --- inventory ---------------------------------------------------------------------------

    def _running_tasks(
        self, inventory: Inventory, clusters: list[str], report: RegionReport
    ) -> tuple[set[str], set[str]]:
        """The tasks each cluster runs (or is starting), and the clusters whose tasks could not be listed."""
        running: set[str] = set()
        untold: set[str] = set()
        for cluster in clusters:
            try:
                running.update(inventory.running_tasks(cluster))
            except AwsCallFailed as error:
                report.problems.append(str(error))
                untold.add(cluster)
        return running, untold

    def _clusters(
        self, inventory: Inventory, arns: list[str], resolver: PrefetchedResolver, report: RegionReport
    ) -> list[Resource]:
        """Every cluster, described with its settings in batches of 100 and kept for the services that take its
        default strategy; a batch that cannot be described is an unreadable resource (ERROR) per cluster."""
        resources: list[Resource] = []
        for start in range(0, len(arns), DESCRIBE_CLUSTERS_BATCH):
            batch = arns[start : start + DESCRIBE_CLUSTERS_BATCH]
            try:
                found, failures = inventory.describe_clusters(batch)
            except AwsCallFailed as error:
                report.problems.append(str(error))
                for arn in batch:  # the services that take its default strategy get the same answer, unasked
                    resolver.remember_cluster(arn, Unresolved(str(error)))
                    resources.append(Resource(type=ResourceType.CLUSTER, id=arn, model=None, problem=str(error)))
                continue
            report.problems.extend(f"ecs:DescribeClusters: {failure}" for failure in failures)
            for cluster in found:
                if cluster.get("status") == "INACTIVE":
                    continue
                arn = str(cluster.get("clusterArn") or "")
                resolver.remember_cluster(arn, cluster)
                resources.append(build_cluster(cluster, arn))
        return resources

    def _services(
        self, inventory: Inventory, clusters: list[str], report: RegionReport
    ) -> tuple[list[dict[str, Any]], set[str], list[Resource]]:
        """Every ACTIVE service, described in batches of 10; also the clusters that could not be listed or
        described, and an unreadable resource (ERROR for every service policy) per service ECS did not describe."""
        unknown: set[str] = set()
        batches: list[tuple[str, list[str]]] = []
        for cluster in clusters:
            try:
                arns = inventory.services(cluster)
            except AwsCallFailed as error:
                report.problems.append(str(error))
                report.blind[cluster] = str(error)
                unknown.add(cluster)
                continue
            batches += [
                (cluster, arns[i : i + DESCRIBE_SERVICES_BATCH]) for i in range(0, len(arns), DESCRIBE_SERVICES_BATCH)
            ]

        def describe(
            batch: tuple[str, list[str]],
        ) -> tuple[str, list[str], list[dict[str, Any]], list[str], str | None]:
            cluster, arns = batch
            try:
                found, failures = inventory.describe_services(cluster, arns)
            except AwsCallFailed as error:
                return cluster, arns, [], [], str(error)
            return cluster, arns, found, failures, None

        services: list[dict[str, Any]] = []
        unreadable: list[Resource] = []
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for cluster, arns, found, failures, problem in pool.map(describe, batches):
                if problem is not None:
                    report.problems.append(problem)
                    unknown.add(cluster)
                    unreadable += [
                        Resource(type=ResourceType.SERVICE, id=arn, model=None, problem=problem) for arn in arns
                    ]
                report.problems.extend(f"ecs:DescribeServices: {failure}" for failure in failures)
                services += [s for s in found if s.get("status") != "INACTIVE"]
        return services, unknown, unreadable

    # --- publish -----------------------------------------------------------------------------

    def _publish(self, report: RegionReport, census: Census, started: str) -> None:
        """Findings of every result; with publish, also archive what is gone, notify, and import."""
        context = Context(
            self.policies,
            FindingContext(
                report.account, report.region, partition_of(report.region), self.clock(), observed_at=started
            ),
            NotificationContext(report.account, report.region, None, "Sweep", None, None),
        )
        blind = {arn: problem for arn, problem in report.blind.items() if arn.startswith("arn:")}
        if not self.options.publish:
            report.findings = findings_of(report.results, context)
            report.findings += [coverage_finding(arn, problem, context.findings) for arn, problem in blind.items()]
            return
        publisher = self.findings_for(report.account, report.region) if self.findings_for is not None else None
        existing = None  # no Security Hub, so no earlier state to compare with: every failure is news
        if publisher is not None:
            try:
                existing = {f["Id"]: f for f in publisher.known_findings(report.account, report.region, started)}
            except PublishFailed as error:
                report.problems.append(str(error))
                report.publish_failures.append(str(error))
                # Without knowing what exists, archiving could hide a real finding: publish nothing.
                report.findings = findings_of(report.results, context)
                return
        options = self.options.publishing
        # One message per resource with a failure the account did not already have (no daily repeats).
        planned = plan(report.results, existing, options, context, census=census, alerting=SWEEP_ALERTING, blind=blind)
        report.findings = planned.findings
        report.archived = planned.archived
        report.notifications = planned.notifications
        report.older = planned.older
        delivery = deliver(planned, publisher, self.notifier, dry_run=options.dry_run)
        report.findings_imported, report.notifications_sent = delivery.imported, delivery.sent
        report.problems.extend(delivery.failures)
        report.publish_failures.extend(delivery.failures)  # these fail the run: findings or messages were lost


def sweep_regions(sweeper: Sweeper, account: str, regions: list[str]) -> tuple[list[RegionReport], list[str]]:
    """Sweep each Region; a Region whose inventory cannot be listed is reported, and the others still run."""
    reports: list[RegionReport] = []
    failures: list[str] = []
    for region in regions:
        try:
            reports.append(sweeper.sweep(account, region))
        except AwsCallFailed as error:
            failures.append(f"{region}: {error}")
    return reports, failures
