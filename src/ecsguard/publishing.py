"""What to publish, decided apart from sending it: a pure plan (import, archive, notify), then its delivery.

The event path and the sweep both turn their results, and what Security Hub is known to hold, into a Plan
here, and both deliver it through the same ports. Nothing here calls AWS itself: ``deliver`` sends through the
publisher and notifier it is given, and everything else only builds documents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.findings import (
    COMPLIANCE,
    FindingContext,
    Notification,
    NotificationContext,
    asff_finding,
    finding_id,
    notification_for,
    parse_finding_id,
)
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Result, Status
from ecsguard.errors import PublishFailed

# The event path alerts on every failure and error it sees; a sweep passes its own.
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

    def compliance_of(self, finding_ids: Sequence[str]) -> dict[str, str]: ...


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


def now() -> str:
    """The current time as ASFF wants it (ISO 8601, UTC, milliseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def findings_of(results: Sequence[Result], context: Context) -> list[dict[str, Any]]:
    """One finding per result on a resource with an ARN (nothing else can be a Security Hub resource)."""
    return [
        asff_finding(context.policies[r.policy_id], r.resource.type, r.resource.id, r, context.findings)
        for r in results
        if r.resource.id.startswith("arn:")
    ]


def _policies_for(resource_type: ResourceType, context: Context) -> list[CompiledPolicy]:
    return [policy for policy in context.policies.values() if policy.resource_type is resource_type]


def _quiet(results: Sequence[Result]) -> list[str]:
    return [finding_id(r.policy_id, r.resource.id) for r in results if r.status in _QUIET]


def lookups(results: Sequence[Result], gone: Sequence[tuple[ResourceType, str]], context: Context) -> list[str]:
    """The finding ids whose existence the plan turns on without ``import_passed``: those of PASS and
    NOT_APPLICABLE results, and those of resources that are gone."""
    archived = [finding_id(p.id, arn) for resource_type, arn in gone for p in _policies_for(resource_type, context)]
    return _quiet(results) + archived


def _resource_type(arn: str) -> ResourceType | None:
    if ":task-definition/" in arn:
        return ResourceType.TASK_DEFINITION
    if ":service/" in arn:
        return ResourceType.SERVICE
    return None


def _compliance(finding: Mapping[str, Any] | None) -> object:
    return ((finding or {}).get("Compliance") or {}).get("Status")


def _stale(
    existing: Mapping[str, Mapping[str, Any]], current: set[str], census: Census, context: Context
) -> list[dict[str, Any]]:
    """Archived copies of the existing findings that no result reproduces and whose resource or policy is gone."""
    archived: list[dict[str, Any]] = []
    for identifier, finding in existing.items():
        parsed = parse_finding_id(identifier)
        if identifier in current or parsed is None:
            continue
        policy_id, arn = parsed
        resource_type = _resource_type(arn)
        policy = context.policies.get(policy_id)
        if resource_type is None or (policy is not None and arn in census.alive) or census.uncertain(arn):
            continue
        if policy is not None:
            archived.append(asff_finding(policy, resource_type, arn, None, context.findings))
        else:  # a policy removed from the set: archive its finding as it stands
            copy = {key: finding[key] for key in _REQUIRED_FINDING_FIELDS if key in finding}
            archived.append({**copy, "RecordState": "ARCHIVED", "UpdatedAt": context.findings.now})
    return archived


def plan(
    results: Sequence[Result],
    existing: Mapping[str, Mapping[str, Any]] | None,
    options: Options,
    context: Context,
    *,
    gone: Sequence[tuple[ResourceType, str]] = (),
    census: Census | None = None,
    alerting: Collection[Status] = ALERTING,
) -> Plan:
    """What to import, archive and notify for ``results`` and the resources that are ``gone``.

    ``existing`` holds the findings Security Hub has, by id, as far as they were looked up (for the event path,
    only their Compliance); None when nothing was looked up. Without ``import_passed`` and with ``existing``
    known, a PASS or NOT_APPLICABLE finding, or a gone resource's, is sent only when it exists. With a
    ``census`` (a sweep), every existing finding that no result reproduces is archived unless its resource may
    still exist. A result whose status is in ``alerting`` is notified, one message per resource, unless Security
    Hub already holds its finding in that state: a daily sweep repeats nothing, and the event path, which never
    looks failures up, notifies each one.
    """

    def wanted(identifier: str) -> bool:
        """Whether a PASS, NOT_APPLICABLE or archived finding is sent: without import_passed, if it exists."""
        return options.import_passed or existing is None or identifier in existing

    findings = findings_of(results, context)
    quiet = set(_quiet(results))
    findings = [f for f in findings if f["Id"] not in quiet or wanted(f["Id"])]
    archived = [
        asff_finding(policy, resource_type, arn, None, context.findings)
        for resource_type, arn in gone
        for policy in _policies_for(resource_type, context)
        if wanted(finding_id(policy.id, arn))
    ]
    if census is not None and existing is not None:
        archived += _stale(existing, {f["Id"] for f in findings}, census, context)
    by_resource: dict[str, list[Result]] = {}
    for result in results:
        known = None if existing is None else existing.get(finding_id(result.policy_id, result.resource.id))
        if result.status in alerting and _compliance(known) != COMPLIANCE.get(result.status):
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
    return Plan(findings + archived, [f["Id"] for f in archived], notifications)


@dataclass
class Delivery:
    imported: int = 0
    sent: int = 0
    failures: list[str] = field(default_factory=list)  # one line per call that failed after its retries


def deliver(
    planned: Plan, publisher: FindingsPublisher | None, notifier: Notifier | None, *, dry_run: bool = False
) -> Delivery:
    """Import the plan's findings, then send its notifications; a failure of one does not stop the others."""
    delivery = Delivery()
    if dry_run:
        return delivery
    if publisher is not None and planned.findings:
        try:
            delivery.imported = publisher.import_findings(planned.findings)
        except PublishFailed as error:
            delivery.failures.append(str(error))
    for notification in planned.notifications:
        if notifier is None:
            break
        try:
            notifier.publish(notification)
            delivery.sent += 1
        except PublishFailed as error:
            delivery.failures.append(str(error))
    return delivery
