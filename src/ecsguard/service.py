"""Resolve -> evaluate -> publish, for one event, written against ports so it can run on fakes.

The Lambda handler, ``ecsguard invoke`` and the tests drive this same code. An event that could not
be fully processed raises EventFailed after everything that could be done was done, so the
invocation fails, AWS retries it, and the dead-letter queue keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ecsguard import events
from ecsguard.core.engine import PolicySet
from ecsguard.core.findings import (
    FindingContext,
    Notification,
    NotificationContext,
    asff_finding,
    notification_for,
)
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.resources import Resource, Unresolved, build_task_definition
from ecsguard.core.results import Result, Status
from ecsguard.errors import AwsCallFailed, EventFailed, PublishFailed
from ecsguard.resolution import Resolver, service_resource

log = logging.getLogger("ecsguard.service")


class FindingsPublisher(Protocol):
    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int: ...

    def compliance_of(self, finding_ids: Sequence[str]) -> dict[str, str]: ...


class Notifier(Protocol):
    def publish(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class Options:
    import_passed: bool = True
    notify_min_severity: Severity = Severity.LOW
    dry_run: bool = False


@dataclass
class Outcome:
    """What one event led to; the handler logs it, turns it into metrics and returns it."""

    event_id: str | None
    api_call: str | None
    action: str
    resource: str | None = None
    results: list[Result] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    findings_imported: int = 0
    notifications_sent: int = 0
    reason: str | None = None

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for result in self.results:
            statuses[result.status.value] = statuses.get(result.status.value, 0) + 1
        return {
            "event_id": self.event_id,
            "api_call": self.api_call,
            "action": self.action,
            "resource": self.resource,
            "results": statuses,
            "failed_policies": sorted(r.policy_id for r in self.results if r.status is Status.FAIL),
            "error_policies": sorted(r.policy_id for r in self.results if r.status is Status.ERROR),
            "findings_imported": self.findings_imported,
            "notifications_sent": self.notifications_sent,
            "reason": self.reason,
        }


def now() -> str:
    """The current time as ASFF wants it (ISO 8601, UTC, milliseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Scanner:
    def __init__(
        self,
        policy_set: PolicySet,
        new_resolver: Callable[[str, str], Resolver],
        findings_for: Callable[[str, str], FindingsPublisher] | None,
        notifier: Notifier | None,
        options: Options = Options(),
        clock: Callable[[], str] = now,
    ) -> None:
        self.policy_set = policy_set
        # Per event and per account (a member account's calls go through its role): a fresh resolver, and so a
        # fresh cache, since "latest revision" and clusters change; and the publisher for that account's findings.
        self.new_resolver = new_resolver
        self.findings_for = findings_for
        self.notifier = notifier
        self.options = options
        self.clock = clock
        self.policies = {policy.id: policy for policy in policy_set.policies}

    def handle(self, event: object) -> Outcome:
        """Process one event; raise MalformedEvent for an unreadable one, EventFailed for a partial failure."""
        action = events.interpret(event)
        if isinstance(action, events.Skip):
            context = action.context
            return Outcome(
                context.event_id if context else None,
                context.api_call if context else None,
                "skipped",
                reason=action.reason,
            )
        account, region = action.context.account, action.context.region
        try:
            publisher = self.findings_for(account, region) if self.findings_for is not None else None
            if isinstance(action, events.ArchiveResource):
                return self._archive(action, publisher)
            resource = self._resolve(action, self.new_resolver(account, region))
        except AwsCallFailed as error:
            raise EventFailed(f"event {action.context.event_id} ({action.context.api_call}): {error}") from None
        if resource is None:
            assert isinstance(action, events.EvaluateService)
            arn = events.service_arn(action.context, action.cluster, action.service)
            gone = events.ArchiveResource(action.context, ResourceType.SERVICE, arn)
            return self._archive(gone, publisher, reason="the service no longer exists")
        if not resource.id.startswith("arn:"):
            context = action.context
            raise EventFailed(
                f"event {context.event_id} ({context.api_call}): the resource has no ARN to report findings on "
                f"({resource.problem or 'the description carries none'})"
            )
        results = self.policy_set.evaluate([resource])
        return self._publish(action.context, resource, results, publisher)

    # --- resolve -------------------------------------------------------------------------

    def _resolve(
        self, action: events.EvaluateTaskDefinition | events.EvaluateService, resolver: Resolver
    ) -> Resource | None:
        if isinstance(action, events.EvaluateTaskDefinition):
            data = action.data
            if data is None:
                found = resolver.task_definition(action.reference)
                if isinstance(found, Unresolved):
                    # It was just registered, so not finding it is transient (or a permission problem).
                    context = action.context
                    raise EventFailed(f"event {context.event_id} ({context.api_call}): {found.reason}")
                data = found
            return build_task_definition(data, action.reference)
        data = action.data
        if data is None:
            found = resolver.service(action.cluster, action.service)
            if isinstance(found, Unresolved):
                log.info("service is gone", extra={"service": action.service, "reason": found.reason})
                return None
            data = found
        if data.get("status") == "INACTIVE":
            return None
        fallback = events.service_arn(action.context, action.cluster, action.service)
        return service_resource(data, fallback, action.cluster, resolver)

    # --- publish ---------------------------------------------------------------------------

    def _finding_context(self, context: events.EventContext) -> FindingContext:
        return FindingContext(
            product_account=context.account,
            product_region=context.region,
            partition=context.partition,
            now=self.clock(),
            event_id=context.event_id,
            event_time=context.event_time,
        )

    def _publish(
        self,
        context: events.EventContext,
        resource: Resource,
        results: list[Result],
        publisher: FindingsPublisher | None,
    ) -> Outcome:
        outcome = Outcome(context.event_id, context.api_call, "evaluated", resource.id, results)
        finding_context = self._finding_context(context)
        candidates = [
            asff_finding(self.policies[r.policy_id], resource.type, resource.id, r, finding_context) for r in results
        ]
        problems: list[str] = []
        try:
            outcome.findings = self._worth_importing(candidates, results, publisher)
        except PublishFailed as error:
            problems.append(str(error))
            # Unknown what exists: import what must be reported (FAIL, ERROR), not what the setting leaves out.
            outcome.findings = [
                f for f, r in zip(candidates, results, strict=True) if r.status in (Status.FAIL, Status.ERROR)
            ]
        notification = notification_for(
            results,
            self.policies,
            NotificationContext(
                context.account, context.region, context.event_id, context.api_call, context.event_time, context.actor
            ),
            self.options.notify_min_severity,
        )
        if notification is not None:
            outcome.notifications.append(notification)
        if not self.options.dry_run:
            problems.extend(self._send(outcome, publisher))
        if problems:
            raise EventFailed(f"event {context.event_id} ({context.api_call}) on {resource.id}: " + "; ".join(problems))
        return outcome

    def _worth_importing(
        self, findings: list[dict[str, Any]], results: list[Result], publisher: FindingsPublisher | None
    ) -> list[dict[str, Any]]:
        """All findings, or without the import_passed setting, only FAILED/ERROR ones and those that resolve one."""
        if self.options.import_passed or publisher is None:
            return findings
        quiet = [f for f, r in zip(findings, results, strict=True) if r.status in (Status.PASS, Status.NOT_APPLICABLE)]
        existing = publisher.compliance_of([f["Id"] for f in quiet]) if quiet else {}
        return [f for f in findings if f not in quiet or f["Id"] in existing]

    def _send(self, outcome: Outcome, publisher: FindingsPublisher | None) -> list[str]:
        problems: list[str] = []
        if publisher is not None and outcome.findings:
            try:
                outcome.findings_imported = publisher.import_findings(outcome.findings)
            except PublishFailed as error:
                problems.append(str(error))
        if self.notifier is not None:
            for notification in outcome.notifications:
                try:
                    self.notifier.publish(notification)
                    outcome.notifications_sent += 1
                except PublishFailed as error:
                    problems.append(str(error))
        return problems

    def _archive(
        self, action: events.ArchiveResource, publisher: FindingsPublisher | None, reason: str | None = None
    ) -> Outcome:
        context = action.context
        finding_context = self._finding_context(context)
        outcome = Outcome(context.event_id, context.api_call, "archived", action.arn, reason=reason)
        findings = [
            asff_finding(policy, action.resource_type, action.arn, None, finding_context)
            for policy in self.policy_set.for_type(action.resource_type)
        ]
        problems: list[str] = []
        if not self.options.import_passed and publisher is not None:
            # Archive only what exists, rather than create archived findings for resources never reported.
            try:
                existing = publisher.compliance_of([finding["Id"] for finding in findings])
                findings = [finding for finding in findings if finding["Id"] in existing]
            except PublishFailed as error:
                problems.append(str(error))
        outcome.findings = findings
        if not self.options.dry_run and not problems:
            problems = self._send(outcome, publisher)
        if problems:
            raise EventFailed(f"event {context.event_id} ({context.api_call}) on {action.arn}: {'; '.join(problems)}")
        return outcome
