"""Account-wide sweep: evaluate every ACTIVE task definition and every service, as the event path does.

Reuses the event path's pieces: the same resolution (``resolution.service_resource``), the same engine and the same
publishing plan and finding ids, so a sweep and an event never duplicate a finding. Findings of resources that no
longer exist are archived. A failure on one resource is an ERROR result for it and a line in the report; a sweep
that cannot list fails loudly.

Memory does not grow with the account: what Security Hub holds is read first into a compact index
(``publishing.KnownFindings``), then resources are evaluated and published in batches (a page of task
definitions, a cluster's services a page at a time) and dropped. Only ARNs and counts stay for the whole Region,
and the results themselves when the caller keeps them (the CLI prints them; the Lambda does not).

A sweep may cover only some clusters of a Region (``clusters``): the continuation of one that stopped, between
two clusters, because its invocation was running out of time (``time_left``). It then names the clusters it left
in ``RegionReport.remaining``, and nothing of theirs is archived.
"""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
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
    KnownFindings,
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
# Resources evaluated and published together: a page of task definitions, or of one cluster's services.
BATCH = 100
# Task definitions a sweep remembers for the services that share them (a bounded cache, most recent kept).
REMEMBERED_TASK_DEFINITIONS = 256
# The least time a sweep keeps in hand when it starts a cluster: what is left is for the findings of gone resources.
RESERVE_SECONDS = 60.0
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
    def known_findings(
        self, account: str, region: str, since: str, resources: Sequence[str] = ()
    ) -> Iterable[dict[str, Any]]:
        """Every ACTIVE ecsguard finding of the account and Region, and those archived since ``since``; with
        ``resources`` (ARN prefixes), only the findings of those."""
        ...


@dataclass(frozen=True)
class SweepOptions:
    """What a sweep covers and whether it publishes; how it publishes is the event path's Options."""

    all_revisions: bool = False  # every ACTIVE revision, not only each family's latest
    publish: bool = False  # False: read-only, Security Hub and SNS are not even asked
    concurrency: int = 8
    publishing: Options = field(default_factory=Options)
    # Keep every result, finding and notification in the report (the CLI prints them). False: counts only, so a
    # sweep's memory does not grow with the account (the Lambda function).
    keep: bool = True
    batch: int = BATCH


@dataclass
class RegionReport:
    account: str
    region: str
    results: list[Result] = field(default_factory=list)  # with SweepOptions.keep
    findings: list[dict[str, Any]] = field(default_factory=list)  # with SweepOptions.keep
    notifications: list[Notification] = field(default_factory=list)  # with SweepOptions.keep
    archived: list[str] = field(default_factory=list)
    older: list[str] = field(default_factory=list)  # left alone: an event observed them after the sweep started
    blind: dict[str, str] = field(default_factory=dict)  # clusters whose services could not be listed: why
    problems: list[str] = field(default_factory=list)
    publish_failures: list[str] = field(default_factory=list)  # these fail the run: findings were lost
    findings_imported: int = 0
    notifications_sent: int = 0
    unused_exemptions: list[str] = field(default_factory=list)  # in effect, and selecting nothing this sweep judged
    exemption_states: dict[str, int] = field(default_factory=dict)  # how many are active, expiring, expired
    # Results by (status, policy id, severity), kept whether or not the results are.
    tally: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    resources: int = 0  # resources evaluated
    clusters: list[str] | None = None  # the clusters this sweep was asked to cover; None: the whole Region
    remaining: list[str] = field(default_factory=list)  # clusters left for the next invocation (time ran short)
    seconds: float = 0.0

    def count(self, results: Sequence[Result]) -> None:
        self.tally.update((r.status.value, r.policy_id, r.severity.value) for r in results)

    def statuses(self) -> dict[str, int]:
        counted: Counter[str] = Counter()
        for (status, _, _), number in self.tally.items():
            counted[status] += number
        return dict(counted)

    def summary(self) -> dict[str, Any]:
        summary = {
            "account": self.account,
            "region": self.region,
            "resources": self.resources,
            "results": self.statuses(),
            "archived": len(self.archived),
            "older_than_known": len(self.older),
            "clusters_not_listed": sorted(self.blind),
            "unused_exemptions": self.unused_exemptions,
            "findings_imported": self.findings_imported,
            "notifications_sent": self.notifications_sent,
            "problems": self.problems,
        }
        if self.clusters is not None or self.remaining:
            summary["clusters_swept"] = self.clusters
            summary["clusters_remaining"] = self.remaining
        return summary


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


def _may_be_in(arn: str, clusters: Iterable[str]) -> bool:
    """Whether a service, task set or task may belong to one of ``clusters``; an old-format ARN (no cluster in it)
    to any."""
    clusters = list(clusters)
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


def cluster_scope(cluster_arn: str) -> list[str]:
    """The ARN prefixes of what belongs to a cluster: itself, and its services, task sets and tasks."""
    return [
        cluster_arn,
        *(cluster_arn.replace(":cluster/", f":{kind}/") + "/" for kind in ("service", "task-set", "task")),
    ]


class PrefetchedResolver:
    """A sweep's resolver: a batch's task definitions described up front, in parallel, then served from memory.

    Anything else (a cluster, a task definition not prefetched) goes to the live resolver. A call that fails
    (AwsCallFailed) becomes Unresolved, so an ERROR result for what needed it, and a line in ``problems``. It
    remembers the most recent task definitions only, so that services sharing one describe it once, and a large
    account does not fill the memory.
    """

    def __init__(self, live: Resolver, problems: list[str], remembered: int = REMEMBERED_TASK_DEFINITIONS) -> None:
        self._live = live
        self._problems = problems
        self._remembered = remembered
        self._task_definitions: OrderedDict[str, dict[str, Any] | Unresolved] = OrderedDict()
        self._clusters: dict[str, dict[str, Any] | Unresolved] = {}

    def _recorded(self, lookup: Callable[[], dict[str, Any] | Unresolved]) -> dict[str, Any] | Unresolved:
        try:
            return lookup()
        except AwsCallFailed as error:
            self._problems.append(str(error))
            return Unresolved(str(error))

    def _remember(self, reference: str, found: dict[str, Any] | Unresolved) -> None:
        self._task_definitions[reference] = found
        self._task_definitions.move_to_end(reference)
        while len(self._task_definitions) > self._remembered:
            self._task_definitions.popitem(last=False)

    def prefetch(self, references: Sequence[str], concurrency: int) -> None:
        """Describe each of ``references`` not remembered already, ``concurrency`` at a time."""
        wanted = [reference for reference in dict.fromkeys(references) if reference not in self._task_definitions]

        def describe(reference: str) -> dict[str, Any] | Unresolved:
            return self._recorded(lambda: self._live.task_definition(reference))

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for reference, found in zip(wanted, pool.map(describe, wanted), strict=True):
                self._remember(reference, found)

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        if reference in self._task_definitions:
            self._task_definitions.move_to_end(reference)
            return self._task_definitions[reference]
        found = self._recorded(lambda: self._live.task_definition(reference))
        self._remember(reference, found)
        return found

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        return self._recorded(lambda: self._live.service(cluster, service))

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        return self._recorded(lambda: self._live.task_set(cluster, service, task_set))

    def remember_cluster(self, arn: str, described: dict[str, Any] | Unresolved) -> None:
        """A cluster the sweep described already: the services that take its default strategy ask for it."""
        self._clusters[arn] = described

    def forget_clusters(self) -> None:
        self._clusters.clear()

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        if cluster in self._clusters:
            return self._clusters[cluster]
        return self._recorded(lambda: self._live.cluster(cluster))


@dataclass
class _Run:
    """One sweep in progress: its report, ports and what it knows of the whole Region so far."""

    report: RegionReport
    inventory: Inventory
    resolver: PrefetchedResolver
    context: Context
    publisher: SweepPublisher | None
    known: KnownFindings | None  # None: nothing to compare with (no Security Hub, or it could not be read)
    census_alive: set[str]  # resources that exist though no batch evaluated them (older revisions, running tasks)
    unknown_clusters: set[str]  # clusters whose services or tasks could not be listed, or were not reached
    judged: set[str]  # the task definitions evaluated so far
    today: date
    unused: set[str]
    publishing: bool  # False: read-only, or Security Hub could not be read (then nothing is archived or imported)


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

    def sweep(
        self,
        account: str,
        region: str,
        clusters: Sequence[str] | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> RegionReport:
        """Sweep one account and Region, or only ``clusters`` of it; raise AwsCallFailed when the inventory cannot
        be listed at all. With ``time_left`` (seconds), stop between two clusters when little time is left and name
        the rest in ``RegionReport.remaining``."""
        began = time.monotonic()
        report = RegionReport(account, region, clusters=list(clusters) if clusters is not None else None)
        # What the sweep observes, it observes from now on: a finding an event updates later is newer.
        started = self.clock()
        inventory = self.inventory_for(account, region)
        live = self.new_resolver(account, region)
        whole = clusters is None
        listed = inventory.active_task_definitions() if whole else []
        cluster_arns = inventory.clusters() if whole else list(clusters or [])
        today = today_of(started)
        run = _Run(
            report=report,
            inventory=inventory,
            resolver=PrefetchedResolver(live, report.problems),
            context=self._context(account, region, started),
            publisher=None,
            known=None,
            census_alive=set(listed) | set(cluster_arns),
            unknown_clusters=set(),
            judged=set(),
            today=today,
            unused=set(self.exemptions.unused([], today)),  # in effect: each batch keeps those it did not use
            publishing=self.options.publish,
        )
        if self.options.publish:
            scope = [] if whole else [prefix for arn in cluster_arns for prefix in cluster_scope(arn)]
            self._read_known(run, started, scope)
        # An exemption in effect when the sweep started covers its failures; one that expired since, no longer.
        report.exemption_states = self.exemptions.states(today)
        evaluated = listed if self.options.all_revisions else latest_revisions(listed)
        run.judged.update(evaluated)
        for start in range(0, len(evaluated), self.options.batch):
            page = evaluated[start : start + self.options.batch]
            run.resolver.prefetch(page, self.options.concurrency)
            self._judge(run, [_task_definition_resource(ref, run.resolver.task_definition(ref)) for ref in page])
        self._sweep_clusters(run, cluster_arns, time_left)
        self._archive_the_rest(run)
        report.unused_exemptions = [identifier for identifier in self.exemptions.ids() if identifier in run.unused]
        report.seconds = time.monotonic() - began
        return report

    # --- reading -----------------------------------------------------------------------------

    def _context(self, account: str, region: str, started: str) -> Context:
        return Context(
            self.policies,
            FindingContext(account, region, partition_of(region), self.clock(), observed_at=started),
            NotificationContext(account, region, None, "Sweep", None, None),
        )

    def _read_known(self, run: _Run, started: str, scope: Sequence[str]) -> None:
        """Every finding Security Hub holds for the Region (or ``scope``), into the compact index."""
        report = run.report
        run.publisher = self.findings_for(report.account, report.region) if self.findings_for is not None else None
        if run.publisher is None:
            return  # no Security Hub, so no earlier state to compare with: every failure is news
        known = KnownFindings(self.policies)
        prefixes = tuple(scope)
        try:
            for finding in run.publisher.known_findings(report.account, report.region, started, scope):
                # Security Hub filters by the scope already; what lies outside it is not this sweep's to archive.
                if not prefixes or any(
                    str(resource.get("Id", "")).startswith(prefixes) for resource in finding.get("Resources") or []
                ):
                    known.add(finding)
        except PublishFailed as error:
            report.problems.append(str(error))
            report.publish_failures.append(str(error))
            # Without knowing what exists, archiving could hide a real finding: publish nothing.
            run.publishing = False
            return
        run.known = known

    def _sweep_clusters(self, run: _Run, cluster_arns: list[str], time_left: Callable[[], float] | None) -> None:
        """Each cluster in turn, described a hundred at a time, with its services a page at a time."""
        slowest = 0.0
        # A whole Region's sweep may stop before its first cluster; a continuation sweeps at least one.
        may_stop = run.report.clusters is None
        for start in range(0, len(cluster_arns), DESCRIBE_CLUSTERS_BATCH):
            group = cluster_arns[start : start + DESCRIBE_CLUSTERS_BATCH]
            described = self._describe_clusters(run, group)
            for position, arn in enumerate(group):
                if may_stop and time_left is not None and time_left() < max(RESERVE_SECONDS, 2 * slowest):
                    run.report.remaining = group[position:] + cluster_arns[start + len(group) :]
                    run.unknown_clusters.update(run.report.remaining)
                    return
                began = time.monotonic()
                self._sweep_cluster(run, arn, described.get(arn))
                slowest = max(slowest, time.monotonic() - began)
                may_stop = True
            run.resolver.forget_clusters()

    def _describe_clusters(self, run: _Run, arns: list[str]) -> dict[str, Resource | None]:
        """The clusters' resources (None for an INACTIVE one), described with their settings in one call and kept
        for the services that take their default strategy; a call that fails is an ERROR resource per cluster."""
        try:
            found, failures = run.inventory.describe_clusters(arns)
        except AwsCallFailed as error:
            run.report.problems.append(str(error))
            for arn in arns:  # the services that take its default strategy get the same answer, unasked
                run.resolver.remember_cluster(arn, Unresolved(str(error)))
            return {arn: Resource(type=ResourceType.CLUSTER, id=arn, model=None, problem=str(error)) for arn in arns}
        run.report.problems.extend(f"ecs:DescribeClusters: {failure}" for failure in failures)
        resources: dict[str, Resource | None] = {}
        for cluster in found:
            arn = str(cluster.get("clusterArn") or "")
            if cluster.get("status") == "INACTIVE":
                resources[arn] = None
                continue
            run.resolver.remember_cluster(arn, cluster)
            resources[arn] = build_cluster(cluster, arn)
        return resources

    def _sweep_cluster(self, run: _Run, arn: str, cluster: Resource | None) -> None:
        """A cluster, its services (and their task sets) a page at a time, and the tasks it runs."""
        report = run.report
        try:
            run.census_alive.update(run.inventory.running_tasks(arn))
        except AwsCallFailed as error:
            report.problems.append(str(error))
            run.unknown_clusters.add(arn)  # a standalone task's findings stay while it may run
        try:
            service_arns = run.inventory.services(arn)
        except AwsCallFailed as error:
            report.problems.append(str(error))
            report.blind[arn] = str(error)
            run.unknown_clusters.add(arn)
            service_arns = []
        first: list[Resource] = [cluster] if cluster is not None else []
        blind = {arn: report.blind[arn]} if arn in report.blind and arn.startswith("arn:") else {}
        if not service_arns:
            self._judge(run, first, blind=blind, scope=[arn])
            return
        for start in range(0, len(service_arns), self.options.batch):
            page = service_arns[start : start + self.options.batch]
            services, unreadable, inactive = self._describe_services(run, arn, page)
            task_sets = [s for service in services for s in service.get("taskSets") or [] if isinstance(s, dict)]
            run.resolver.prefetch(
                [str(s["taskDefinition"]) for s in [*services, *task_sets] if s.get("taskDefinition")],
                self.options.concurrency,
            )
            # A revision a service runs is evaluated too, once, though it is not its family's latest.
            used = [str(s["taskDefinition"]) for s in [*services, *task_sets] if s.get("taskDefinition")]
            unjudged = [reference for reference in dict.fromkeys(used) if reference not in run.judged]
            run.judged.update(unjudged)
            resources = first + [
                _task_definition_resource(reference, run.resolver.task_definition(reference)) for reference in unjudged
            ]
            resources += [
                service_resource(service, str(service.get("serviceArn")), str(service.get("clusterArn")), run.resolver)
                for service in services
            ]
            # A service with the EXTERNAL or CODE_DEPLOY controller runs its tasks from its task sets, which
            # DescribeServices gives whole.
            resources += [
                task_set_resource(s, str(s.get("taskSetArn") or ""), str(s.get("clusterArn")), run.resolver)
                for s in task_sets
            ]
            scope = [arn] if first else []
            self._judge(run, resources + unreadable, blind=blind, scope=[*scope, *inactive])
            first, blind = [], {}

    def _describe_services(
        self, run: _Run, cluster: str, arns: list[str]
    ) -> tuple[list[dict[str, Any]], list[Resource], list[str]]:
        """A page of a cluster's services, described ten at a time in parallel: the ACTIVE ones, an unreadable
        resource (ERROR for every service policy) per service ECS did not describe, and the INACTIVE ones' ARNs."""
        batches = [arns[i : i + DESCRIBE_SERVICES_BATCH] for i in range(0, len(arns), DESCRIBE_SERVICES_BATCH)]

        def describe(batch: list[str]) -> tuple[list[str], list[dict[str, Any]], list[str], str | None]:
            try:
                found, failures = run.inventory.describe_services(cluster, batch)
            except AwsCallFailed as error:
                return batch, [], [], str(error)
            return batch, found, failures, None

        services: list[dict[str, Any]] = []
        unreadable: list[Resource] = []
        inactive: list[str] = []
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            for batch, found, failures, problem in pool.map(describe, batches):
                if problem is not None:
                    run.report.problems.append(problem)
                    run.unknown_clusters.add(cluster)
                    unreadable += [
                        Resource(type=ResourceType.SERVICE, id=arn, model=None, problem=problem) for arn in batch
                    ]
                run.report.problems.extend(f"ecs:DescribeServices: {failure}" for failure in failures)
                for service in found:
                    if service.get("status") == "INACTIVE":
                        inactive.append(str(service.get("serviceArn") or ""))
                    else:
                        services.append(service)
        return services, unreadable, inactive

    # --- judging and publishing -----------------------------------------------------------------

    def _judge(
        self,
        run: _Run,
        resources: list[Resource],
        *,
        blind: dict[str, str] | None = None,
        scope: Sequence[str] = (),
    ) -> None:
        """Evaluate a batch of resources and publish its findings; what Security Hub holds of them (and of
        ``scope``: resources of the batch that are gone) is compared with, archived where they are gone."""
        results = self.exemptions.apply(self.policy_set.evaluate(resources), run.today)
        report = run.report
        report.resources += len({(r.resource.type, r.resource.id) for r in results})
        report.count(results)
        if run.unused:
            run.unused &= set(self.exemptions.unused(results, run.today))
        if self.options.keep:
            report.results += results
        arns = [resource.id for resource in resources] + list(scope)
        self._publish(run, results, run.known.take(arns) if run.known is not None else None, blind or {})

    def _archive_the_rest(self, run: _Run) -> None:
        """Archive the findings of resources no batch evaluated that no longer exist: deregistered task
        definitions, deleted services and clusters, stopped tasks. A resource that may exist unseen (of a
        cluster that could not be listed, or was not reached) keeps its findings."""
        if run.known is None:
            return
        rest = run.known.resources()
        for start in range(0, len(rest), self.options.batch):
            existing = run.known.take(rest[start : start + self.options.batch])
            self._publish(run, [], existing, {}, census=True)

    def _publish(
        self,
        run: _Run,
        results: list[Result],
        existing: dict[str, dict[str, Any]] | None,
        blind: dict[str, str],
        census: bool = False,
    ) -> None:
        """Findings of ``results``; with publish, also archive what is gone, notify, and import."""
        report = run.report
        if not run.publishing:
            if self.options.keep:
                report.findings += findings_of(results, run.context)
                report.findings += [coverage_finding(a, p, run.context.findings) for a, p in blind.items()]
            return
        unknown = run.unknown_clusters
        alive = run.census_alive if census else set()
        planned = plan(
            results,
            existing,
            self.options.publishing,
            run.context,
            census=Census(alive=alive, uncertain=lambda arn: _may_be_in(arn, unknown)),
            alerting=SWEEP_ALERTING,
            blind=blind,
        )
        report.archived += planned.archived
        report.older += planned.older
        if self.options.keep:
            report.findings += planned.findings
            report.notifications += planned.notifications
        delivery = deliver(planned, run.publisher, self.notifier, dry_run=self.options.publishing.dry_run)
        report.findings_imported += delivery.imported
        report.notifications_sent += delivery.sent
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
