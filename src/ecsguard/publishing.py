"""What to publish, decided apart from sending it: a pure plan (import, archive, notify), then its delivery.

The event path and the sweep both turn their results, and what Security Hub is known to hold, into a Plan
here, and both deliver it through the same ports. Nothing here calls AWS itself: ``deliver`` sends through the
publisher and notifier it is given, and everything else only builds documents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.findings import (
    ACCOUNT_COVERAGE,
    COMPLIANCE,
    COVERAGE,
    NOTE_AUTHOR,
    FindingContext,
    Notification,
    NotificationContext,
    WorkflowUpdate,
    asff_finding,
    coverage_finding,
    finding_id,
    notification_for,
    parse_finding_id,
)
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Exempted, Result, Status
from ecsguard.core.tasks import TASK_DEFINITION_VIEW
from ecsguard.core.times import asff_time, parse_time
from ecsguard.errors import PublishFailed

# The event path alerts on failures and errors that are news; a sweep passes its own.
ALERTING = frozenset({Status.FAIL, Status.ERROR})
_QUIET = (Status.PASS, Status.NOT_APPLICABLE)
# What a finding of a policy no longer in the set keeps when it is archived as it stands.
_REQUIRED_FINDING_FIELDS = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
)


class FindingsPublisher(Protocol):
    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int: ...

    def update_workflows(self, updates: Sequence[WorkflowUpdate]) -> int: ...

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Those of ``finding_ids`` that Security Hub holds, ACTIVE or ARCHIVED, with at least their RecordState,
        Compliance, Severity, FindingProviderFields, CreatedAt, FirstObservedAt and LastObservedAt."""
        ...


class Notifier(Protocol):
    def publish(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class Options:
    """How results are published, on the event path and in a sweep alike."""

    import_passed: bool = True  # False: a PASS or NOT_APPLICABLE only updates (or archives) a finding that exists
    notify_min_severity: Severity = Severity.LOW
    dry_run: bool = False  # plan everything, send nothing


@dataclass(frozen=True)
class Context:
    """The policies the results come from, and the account, Region and time findings and messages are made for."""

    policies: Mapping[str, CompiledPolicy]
    findings: FindingContext
    notifications: NotificationContext


def _never(arn: str) -> bool:
    return False


@dataclass(frozen=True)
class Census:
    """A sweep's knowledge beyond its results, which makes its ``existing`` findings every ACTIVE one there is.

    ``alive``: resources that exist though they were not evaluated (older ACTIVE revisions); their findings stay,
    but those of a policy no longer in the set are archived. ``uncertain``: whether a resource may exist unseen
    (a service of a cluster that could not be read); its findings all stay.
    """

    alive: Collection[str] = frozenset()
    uncertain: Callable[[str], bool] = _never


@dataclass(frozen=True)
class Plan:
    findings: list[dict[str, Any]]  # to import: the results' findings first, then the archived ones
    archived: list[str]  # the ids of the archived findings
    notifications: list[Notification]
    older: list[str] = field(default_factory=list)  # ids not imported: Security Hub holds a newer observation
    # workflows to set once the findings are imported: exempted failures SUPPRESSED, ended exemptions NEW
    workflows: list[WorkflowUpdate] = field(default_factory=list)


# What a plan reads of a finding Security Hub holds (is_news, is_older, workflow_update, _carry_first_observation):
# the rest of a stored finding is not kept while a sweep runs.
_KEPT = ("RecordState", "CreatedAt", "FirstObservedAt", "LastObservedAt")


class KnownFindings:
    """What Security Hub holds of a Region's ecsguard findings, grouped by resource, in little memory.

    A sweep reads every finding of its Region before it evaluates anything, then plans one batch of resources at a
    time: ``take`` hands over a batch's findings and forgets them. Each finding keeps only what a plan compares
    with, as one shared tuple: findings imported by the same sweep are alike, so a Region of 100,000 findings
    costs little more than its resources' ARNs. Findings that a plan may archive as they stand (a policy no
    longer in the set, a coverage finding) are kept whole; there are few.
    """

    def __init__(self, policies: Collection[str]) -> None:
        self._policies = policies
        self._by_resource: dict[str, dict[str, tuple[Any, ...] | dict[str, Any]]] = {}
        self._shared: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.count = 0

    def add(self, finding: Mapping[str, Any]) -> None:
        parsed = parse_finding_id(str(finding.get("Id", "")))
        if parsed is None:
            return
        policy_id, arn = parsed
        if policy_id == ACCOUNT_COVERAGE:
            return  # the organization sweep's, about another account: no sweep of this Region archives it
        kept: tuple[Any, ...] | dict[str, Any]
        if policy_id == COVERAGE or policy_id not in self._policies:
            kept = {key: finding[key] for key in (*_REQUIRED_FINDING_FIELDS, *_KEPT) if key in finding}
        else:
            workflow = finding.get("Workflow") or {}
            note = finding.get("Note") or {}
            provided = (finding.get("FindingProviderFields") or {}).get("Severity") or finding.get("Severity") or {}
            compact = (
                *(finding.get(key) for key in _KEPT),
                _compliance(finding),
                provided.get("Label"),
                workflow.get("Status"),
                note.get("UpdatedBy"),
                note.get("Text"),
            )
            kept = self._shared.setdefault(compact, compact)
        policies = self._by_resource.setdefault(arn, {})
        if policy_id not in policies:
            self.count += 1
        policies[policy_id] = kept

    def resources(self) -> list[str]:
        return list(self._by_resource)

    def take(self, arns: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The findings of ``arns`` by id, finding-shaped, as a plan reads them; they are no longer kept here."""
        taken: dict[str, dict[str, Any]] = {}
        for arn in arns:
            for policy_id, kept in self._by_resource.pop(arn, {}).items():
                identifier = finding_id(policy_id, arn)
                taken[identifier] = (
                    {"Id": identifier, **kept} if isinstance(kept, dict) else _finding_of(identifier, kept)
                )
                self.count -= 1
        return taken


def _finding_of(identifier: str, kept: tuple[Any, ...]) -> dict[str, Any]:
    record_state, created, first, last, compliance, severity, workflow, note_by, note_text = kept
    finding: dict[str, Any] = {"Id": identifier}
    for key, value in (("RecordState", record_state), ("CreatedAt", created), ("FirstObservedAt", first)):
        if value is not None:
            finding[key] = value
    if last is not None:
        finding["LastObservedAt"] = last
    if compliance is not None:
        finding["Compliance"] = {"Status": compliance}
    if severity is not None:
        finding["FindingProviderFields"] = {"Severity": {"Label": severity}}
    if workflow is not None:
        finding["Workflow"] = {"Status": workflow}
    if note_by is not None or note_text is not None:
        finding["Note"] = {"UpdatedBy": note_by, "Text": note_text}
    return finding


def now() -> str:
    """The current time as ASFF wants it (ISO 8601, UTC, milliseconds)."""
    return asff_time(datetime.now(UTC))


def findings_of(results: Sequence[Result], context: Context) -> list[dict[str, Any]]:
    """One finding per result on a resource with an ARN (nothing else can be a Security Hub resource)."""
    return [
        asff_finding(context.policies[r.policy_id], r.resource.type, r.resource.id, r, context.findings)
        for r in results
        if r.resource.id.startswith("arn:")
    ]


def _policies_for(resource_type: ResourceType, context: Context) -> list[CompiledPolicy]:
    return [policy for policy in context.policies.values() if resource_type in policy.judges]


def _quiet(results: Sequence[Result]) -> list[str]:
    return [finding_id(r.policy_id, r.resource.id) for r in results if r.status in _QUIET]


def lookups(results: Sequence[Result], gone: Sequence[tuple[ResourceType, str]], context: Context) -> list[str]:
    """The ids of every finding the plan may import for ``results`` and the resources that are ``gone``: what
    Security Hub holds of them decides what is news, what is older than it knows, and what exists."""
    identifiers = [finding_id(r.policy_id, r.resource.id) for r in results if r.resource.id.startswith("arn:")]
    archived = [finding_id(p.id, arn) for resource_type, arn in gone for p in _policies_for(resource_type, context)]
    return list(dict.fromkeys(identifiers + archived))


def _resource_type(arn: str) -> ResourceType | None:
    if ":task-set/" in arn:
        return ResourceType.TASK_SET
    if ":task/" in arn:
        return ResourceType.TASK
    if ":task-definition/" in arn:
        return ResourceType.TASK_DEFINITION
    if ":service/" in arn:
        return ResourceType.SERVICE
    if ":cluster/" in arn:
        return ResourceType.CLUSTER
    return None


def _active(finding: Mapping[str, Any]) -> bool:
    return bool(finding.get("RecordState", "ACTIVE") == "ACTIVE")


def _compliance(finding: Mapping[str, Any] | None) -> object:
    return ((finding or {}).get("Compliance") or {}).get("Status")


def _severity_rank(finding: Mapping[str, Any]) -> int:
    """The rank of the severity a finding was imported with (its provider's, which customers cannot change)."""
    provided = (finding.get("FindingProviderFields") or {}).get("Severity") or finding.get("Severity") or {}
    label = str(provided.get("Label"))
    return Severity(label).rank if label in Severity.__members__ else -1


def suppressed_by_a_person(finding: Mapping[str, Any]) -> bool:
    """Whether someone set the finding's workflow to SUPPRESSED (in the console, or an automation rule of theirs):
    ecsguard notifies nothing about it while it stays so."""
    workflow = finding.get("Workflow") or {}
    note = finding.get("Note") or {}
    return workflow.get("Status") == "SUPPRESSED" and note.get("UpdatedBy") != NOTE_AUTHOR


def suppressed_by_ecsguard(finding: Mapping[str, Any]) -> bool:
    """Whether the finding's workflow is SUPPRESSED under ecsguard's own note: an exemption's."""
    workflow = finding.get("Workflow") or {}
    note = finding.get("Note") or {}
    return workflow.get("Status") == "SUPPRESSED" and note.get("UpdatedBy") == NOTE_AUTHOR


def exemption_note(exempted: Exempted) -> str:
    """The workflow note of an exempted failure (Security Hub keeps at most 512 characters)."""
    ticket = f", {exempted.ticket}" if exempted.ticket else ""
    text = f"Exempted by {exempted.id} ({exempted.owner}{ticket}) until {exempted.expires}: {exempted.reason}"
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 3] + "..."


NOTE_LIMIT = 512
REOPENED_NOTE = "The exemption that suppressed this finding no longer applies (it expired or was removed)."


def workflow_update(result: Result, previous: Mapping[str, Any] | None, product_arn: str) -> WorkflowUpdate | None:
    """The workflow change a result's finding needs: an exempted failure is SUPPRESSED under its exemption's note
    (unless a person suppressed it already); a finding ecsguard suppressed whose exemption no longer covers it
    is NEW again. None when the finding's workflow is as it should be."""
    identifier = finding_id(result.policy_id, result.resource.id)
    if result.status is Status.EXEMPT and result.exemption is not None:
        note = exemption_note(result.exemption)
        if previous is not None and _active(previous) and suppressed_by_a_person(previous):
            return None
        if (
            previous is not None
            and suppressed_by_ecsguard(previous)
            and (previous.get("Note") or {}).get("Text") == note
        ):
            return None
        return WorkflowUpdate(identifier, product_arn, "SUPPRESSED", note)
    if previous is not None and suppressed_by_ecsguard(previous):
        return WorkflowUpdate(identifier, product_arn, "NEW", REOPENED_NOTE)
    return None


def _inherited(result: Result, policies: Mapping[str, CompiledPolicy]) -> bool:
    """A task's failure, under a task definition policy, that lies wholly in the task definition it runs, overrides
    aside: the task definition's own finding tells of it, so the task's finding (on every dashboard) is not
    notified again for each task started."""
    return (
        result.resource.type is ResourceType.TASK
        and result.status is Status.FAIL
        and policies[result.policy_id].resource_type is ResourceType.TASK_DEFINITION
        and bool(result.evidence)
        and all(item.path.startswith(TASK_DEFINITION_VIEW) for item in result.evidence)
    )


def is_news(result: Result, previous: Mapping[str, Any] | None) -> bool:
    """Whether a failing result changes what Security Hub holds: its finding was not ACTIVE in that state, or
    it fails now at a higher severity than it was imported with, or an exemption suppressed it until now; never
    for an ACTIVE finding a person suppressed."""
    if previous is not None and _active(previous) and suppressed_by_a_person(previous):
        return False
    if previous is not None and _active(previous) and suppressed_by_ecsguard(previous):
        return True
    if previous is None or not _active(previous) or _compliance(previous) != COMPLIANCE.get(result.status):
        return True
    return _severity_rank(previous) < result.severity.rank


def is_older(finding: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
    """Whether ``finding`` reflects an earlier observation than the one Security Hub holds (a late or retried
    event after a newer one): importing it would go back in time."""
    if previous is None:
        return False
    observed, known = parse_time(finding.get("LastObservedAt")), parse_time(previous.get("LastObservedAt"))
    return observed is not None and known is not None and observed < known


def _carry_first_observation(finding: dict[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """``finding`` with CreatedAt and FirstObservedAt of the ACTIVE finding it updates, so a finding's age and
    time to fix count from when it was first seen; an archived finding that returns starts anew."""
    if previous is None or not _active(previous):
        return finding
    first = previous.get("FirstObservedAt") or previous.get("CreatedAt")
    created = previous.get("CreatedAt") or first
    if first and created:
        return {**finding, "CreatedAt": created, "FirstObservedAt": first}
    return finding


def _stale(
    active: Mapping[str, Mapping[str, Any]],
    current: set[str],
    census: Census,
    context: Context,
    blind: Collection[str],
) -> list[dict[str, Any]]:
    """Archived copies of the ACTIVE findings that no result reproduces and whose resource or policy is gone."""
    archived: list[dict[str, Any]] = []
    for identifier, finding in active.items():
        parsed = parse_finding_id(identifier)
        if identifier in current or parsed is None:
            continue
        policy_id, arn = parsed
        if policy_id == ACCOUNT_COVERAGE:
            continue  # the organization sweep's, about another account: it archives it itself
        if policy_id == COVERAGE:  # a blind spot: gone once the cluster can be listed, or is gone itself
            if arn not in blind:
                archived.append(_archived_as_it_stands(finding, context))
            continue
        resource_type = _resource_type(arn)
        policy = context.policies.get(policy_id)
        if resource_type is None or (policy is not None and arn in census.alive) or census.uncertain(arn):
            continue
        if policy is not None and resource_type not in policy.judges:
            continue  # no finding ecsguard makes: a policy of another resource type
        if policy is not None:
            archived.append(asff_finding(policy, resource_type, arn, None, context.findings))
        else:  # a policy removed from the set: archive its finding as it stands
            archived.append(_archived_as_it_stands(finding, context))
    return archived


def _archived_as_it_stands(finding: Mapping[str, Any], context: Context) -> dict[str, Any]:
    copy = {key: finding[key] for key in _REQUIRED_FINDING_FIELDS if key in finding}
    return {**copy, "RecordState": "ARCHIVED", "UpdatedAt": context.findings.now}


def plan(
    results: Sequence[Result],
    existing: Mapping[str, Mapping[str, Any]] | None,
    options: Options,
    context: Context,
    *,
    gone: Sequence[tuple[ResourceType, str]] = (),
    census: Census | None = None,
    alerting: Collection[Status] = ALERTING,
    blind: Mapping[str, str] | None = None,
) -> Plan:
    """What to import, archive and notify for ``results``, the resources that are ``gone`` and the clusters a
    sweep could not list (``blind``: cluster ARN to the failed call).

    ``existing`` holds what Security Hub has of the findings concerned, by id (ACTIVE ones and, where known,
    archived ones); None when Security Hub is not used. Then:

    - order: a finding older than the one Security Hub holds (by LastObservedAt) is neither imported nor
      notified, and is listed in ``Plan.older``; the finding it would update keeps CreatedAt and FirstObservedAt;
    - without ``import_passed``, a PASS or NOT_APPLICABLE finding, or a gone resource's, is sent only when an
      ACTIVE one exists;
    - with a ``census`` (a sweep), every ACTIVE finding that no result reproduces is archived unless its resource
      may still exist;
    - a result whose status is in ``alerting`` is notified, one message per resource, only when it is news
      (``is_news``): repeats, retries and redeliveries of what Security Hub already shows send nothing. With
      ``existing`` None every failure is news.
    """
    known: Mapping[str, Mapping[str, Any]] = existing or {}
    active = {identifier: finding for identifier, finding in known.items() if _active(finding)}

    def wanted(identifier: str) -> bool:
        """Whether a PASS, NOT_APPLICABLE or archived finding is sent: without import_passed, if it exists."""
        return options.import_passed or existing is None or identifier in active

    findings = findings_of(results, context)
    quiet = set(_quiet(results))
    findings = [f for f in findings if f["Id"] not in quiet or wanted(f["Id"])]
    findings += [coverage_finding(arn, problem, context.findings) for arn, problem in (blind or {}).items()]
    archived = [
        asff_finding(policy, resource_type, arn, None, context.findings)
        for resource_type, arn in gone
        for policy in _policies_for(resource_type, context)
        if wanted(finding_id(policy.id, arn))
    ]
    if census is not None and existing is not None:
        archived += _stale(active, {f["Id"] for f in findings}, census, context, blind or {})
    older = {f["Id"] for f in findings + archived if is_older(f, known.get(f["Id"]))}
    findings = [_carry_first_observation(f, known.get(f["Id"])) for f in findings if f["Id"] not in older]
    archived = [f for f in archived if f["Id"] not in older]
    imported = {f["Id"] for f in findings}
    workflows = [
        update
        for result in results
        if (identifier := finding_id(result.policy_id, result.resource.id)) in imported
        and (update := workflow_update(result, known.get(identifier), context.findings.product_arn)) is not None
    ]
    by_resource: dict[str, list[Result]] = {}
    for result in results:
        identifier = finding_id(result.policy_id, result.resource.id)
        if result.status not in alerting or identifier in older or _inherited(result, context.policies):
            continue
        if existing is None or is_news(result, known.get(identifier)):
            by_resource.setdefault(result.resource.id, []).append(result)
    notifications = [
        notification
        for alerts in by_resource.values()
        if (
            notification := notification_for(
                alerts, context.policies, context.notifications, options.notify_min_severity
            )
        )
        is not None
    ]
    return Plan(findings + archived, [f["Id"] for f in archived], notifications, sorted(older), workflows)


@dataclass
class Delivery:
    imported: int = 0
    sent: int = 0
    workflows: int = 0  # findings whose workflow was set (suppressed or reopened)
    failures: list[str] = field(default_factory=list)  # one line per call that failed after its retries


def deliver(
    planned: Plan, publisher: FindingsPublisher | None, notifier: Notifier | None, *, dry_run: bool = False
) -> Delivery:
    """Send the plan's notifications, then import its findings; a failure of one does not stop the others.

    Messages go first: a finding whose change a message announces is imported only once that message was sent,
    so when sending fails the finding still shows the old state and the retried event announces it again.
    """
    delivery = Delivery()
    if dry_run:
        return delivery
    unannounced: set[str] = set()
    for notification in planned.notifications:
        if notifier is None:
            break
        try:
            notifier.publish(notification)
            delivery.sent += 1
        except PublishFailed as error:
            delivery.failures.append(str(error))
            unannounced.update(notification.finding_ids)
    findings = [finding for finding in planned.findings if finding["Id"] not in unannounced]
    if publisher is None:
        return delivery
    try:
        delivery.imported = publisher.import_findings(findings) if findings else 0
    except PublishFailed as error:
        delivery.failures.append(str(error))
        return delivery  # a workflow is set on a finding that is imported; the retry plans them again
    workflows = [update for update in planned.workflows if update.finding_id not in unannounced]
    if workflows:
        try:
            delivery.workflows = publisher.update_workflows(workflows)
        except PublishFailed as error:
            delivery.failures.append(str(error))
    return delivery
