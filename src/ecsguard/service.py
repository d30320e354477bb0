"""Resolve -> evaluate -> publish, for one event, written against ports so it can run on fakes.

The Lambda handler, ``ecsguard invoke`` and the tests drive this same code. An event that could not
be fully processed raises EventFailed after everything that could be done was done, so the
invocation fails, AWS retries it, and the dead-letter queue keeps it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ecsguard import events
from ecsguard.core.engine import PolicySet
from ecsguard.core.findings import FindingContext, Notification, NotificationContext
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import TASK_DEFINITION_ARN, Resource, Unresolved, build_cluster, build_task_definition
from ecsguard.core.results import Result, Status
from ecsguard.core.times import asff_time, parse_time
from ecsguard.errors import AwsCallFailed, EventFailed, PublishFailed
from ecsguard.publishing import Context, FindingsPublisher, Notifier, Options, deliver, lookups, now, plan
from ecsguard.resolution import Resolver, registered_revision, service_resource, task_resource, task_set_resource

if TYPE_CHECKING:
    from ecsguard.core.exemptions import ExemptionSet

log = logging.getLogger("ecsguard.service")
DEFAULT_OPTIONS = Options()


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
    older: list[str] = field(default_factory=list)  # findings left alone: Security Hub holds a later observation

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "api_call": self.api_call,
            "action": self.action,
            "resource": self.resource,
            "results": dict(Counter(result.status.value for result in self.results)),
            "failed_policies": sorted(r.policy_id for r in self.results if r.status is Status.FAIL),
            "error_policies": sorted(r.policy_id for r in self.results if r.status is Status.ERROR),
            "exempt_policies": sorted(r.policy_id for r in self.results if r.status is Status.EXEMPT),
            # who accepted each exempted failure, why and until when (the security team's own file, not input)
            "exemptions": _exemptions_of(self.results),
            "findings_imported": self.findings_imported,
            "notifications_sent": self.notifications_sent,
            "older_than_known": len(self.older),
            "reason": self.reason,
        }


def _exemptions_of(results: list[Result]) -> list[dict[str, str]]:
    """Who accepted each exempted failure, why and until when (the security team's own file, not input)."""
    exempted = sorted((r for r in results if r.status is Status.EXEMPT and r.exemption is not None), key=_policy)
    if not exempted:
        return []
    from ecsguard.core.exemptions import exemption_document  # only events with exemptions need it

    return [{"policy_id": r.policy_id, **exemption_document(r.exemption)} for r in exempted if r.exemption]


def _policy(result: Result) -> str:
    return result.policy_id


# Revisions kept for tasks; a full cache starts over, so memory stays bounded in a long-lived container.
REMEMBERED_REVISIONS = 256


class _RememberingRevisions:
    """A resolver that asks for a task definition revision named by ARN once per container: its content is immutable
    (its status and tags are not, and no policy judging a task reads them)."""

    def __init__(self, resolver: Resolver, revisions: dict[str, dict[str, Any]]) -> None:
        self.resolver = resolver
        self.revisions = revisions

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        immutable = TASK_DEFINITION_ARN.fullmatch(reference) is not None
        if immutable and reference in self.revisions:
            return self.revisions[reference]
        found = self.resolver.task_definition(reference)
        if immutable and not isinstance(found, Unresolved):
            if len(self.revisions) >= REMEMBERED_REVISIONS:
                self.revisions.clear()
            self.revisions[reference] = found
        return found

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        return self.resolver.service(cluster, service)

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        return self.resolver.cluster(cluster)

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        return self.resolver.task_set(cluster, service, task_set)


@dataclass(frozen=True)
class _Gone:
    """What an event names no longer exists: its findings are archived."""

    type: ResourceType
    arn: str
    reason: str


class Scanner:
    def __init__(
        self,
        policy_set: PolicySet,
        new_resolver: Callable[[str, str], Resolver],
        findings_for: Callable[[str, str], FindingsPublisher] | None,
        notifier: Notifier | None,
        options: Options = DEFAULT_OPTIONS,
        clock: Callable[[], str] = now,
        exemptions: ExemptionSet | None = None,  # None: no exemptions file
    ) -> None:
        self.policy_set = policy_set
        self.exemptions = exemptions
        # Per event and per account (a member account's calls go through its role): a fresh resolver, and so a
        # fresh cache, since "latest revision" and clusters change; and the publisher for that account's findings.
        self.new_resolver = new_resolver
        self.findings_for = findings_for
        self.notifier = notifier
        self.options = options
        self.clock = clock
        self.policies = {policy.id: policy for policy in policy_set.policies}
        # Task definition revisions described for tasks, kept for the container's life: a revision's content never
        # changes, so the next task of it costs no DescribeTaskDefinition.
        self.revisions: dict[str, dict[str, Any]] = {}

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
        context = action.context
        account, region = context.account, context.region
        try:
            publisher = self.findings_for(account, region) if self.findings_for is not None else None
            if isinstance(action, events.ArchiveResource):
                outcome = Outcome(context.event_id, context.api_call, "archived", action.arn)
                return self._publish(outcome, context, publisher, (action.resource_type, action.arn))
            if isinstance(action, events.EvaluateTasks):
                resolver = _RememberingRevisions(self.new_resolver(account, region), self.revisions)
                tasks = [task_resource(task, str(task["taskArn"]), action.cluster, resolver) for task in action.tasks]
                return self._evaluate(tasks, context, publisher)
            resource = self._resolve(action, self.new_resolver(account, region))
        except AwsCallFailed as error:
            raise EventFailed(f"event {context.event_id} ({context.api_call}): {error}") from None
        if isinstance(resource, _Gone):
            gone = Outcome(context.event_id, context.api_call, "archived", resource.arn, reason=resource.reason)
            return self._publish(gone, context, publisher, (resource.type, resource.arn))
        return self._evaluate([resource], context, publisher)

    def _evaluate(
        self, resources: list[Resource], context: events.EventContext, publisher: FindingsPublisher | None
    ) -> Outcome:
        for resource in resources:
            if not resource.id.startswith("arn:"):
                raise EventFailed(
                    f"event {context.event_id} ({context.api_call}): the resource has no ARN to report findings on "
                    f"({resource.problem or 'the description carries none'})"
                )
        named = ", ".join(resource.id for resource in resources)
        outcome = Outcome(context.event_id, context.api_call, "evaluated", named)
        outcome.results = self.policy_set.evaluate(resources)
        if self.exemptions is not None:
            from ecsguard.core.exemptions import today_of  # imported only where an exemptions file exists

            outcome.results = self.exemptions.apply(outcome.results, today_of(self.clock()))
        return self._publish(outcome, context, publisher)

    # --- resolve -------------------------------------------------------------------------

    def _resolve(
        self,
        action: events.EvaluateTaskDefinition
        | events.EvaluateService
        | events.EvaluateCluster
        | events.EvaluateTaskSet,
        resolver: Resolver,
    ) -> Resource | _Gone:
        if isinstance(action, events.EvaluateCluster):
            described = resolver.cluster(action.cluster)
            if isinstance(described, Unresolved) or described.get("status") == "INACTIVE":
                # DescribeClusters answers for a deleted cluster (INACTIVE) or names it among its failures.
                return _Gone(ResourceType.CLUSTER, action.cluster, "the cluster no longer exists")
            return build_cluster(described, action.cluster)
        if isinstance(action, events.EvaluateTaskSet):
            task_set = action.data or resolver.task_set(action.cluster, action.service, action.task_set)
            if isinstance(task_set, Unresolved):
                return _Gone(ResourceType.TASK_SET, action.task_set, "the task set no longer exists")
            return task_set_resource(task_set, action.task_set, action.cluster, resolver)
        if isinstance(action, events.EvaluateTaskDefinition):
            data = action.data
            if data is None:
                # The revision the event registered, proven by registeredAt, never merely the family's latest.
                found = registered_revision(action.reference, action.call_time, resolver)
                names_revision = ":" in action.reference.rsplit("/", 1)[-1]
                if isinstance(found, Unresolved) and names_revision:
                    # A revision named outright (TagResource's ARN) that ECS does not find has been deleted since.
                    return _Gone(ResourceType.TASK_DEFINITION, action.reference, "the task definition no longer exists")
                if isinstance(found, Unresolved):
                    # Not finding it just after it was registered is transient (or a permission problem); a revision
                    # that cannot be proven to be the event's is kept for a person, in the dead-letter queue.
                    context = action.context
                    raise EventFailed(f"event {context.event_id} ({context.api_call}): {found.reason}")
                if found.get("status", "ACTIVE") != "ACTIVE":
                    # Deregistered (or being deleted) since: its DeregisterTaskDefinition archived its findings.
                    return _Gone(
                        ResourceType.TASK_DEFINITION,
                        str(found.get("taskDefinitionArn") or action.reference),
                        "the task definition revision is no longer ACTIVE",
                    )
                data = found
            return build_task_definition(data, action.reference)
        data = action.data
        fallback = events.service_arn(action.context, action.cluster, action.service)
        gone = _Gone(ResourceType.SERVICE, fallback, "the service no longer exists")
        if data is None or not action.complete:
            found = resolver.service(action.cluster, action.service)
            if not isinstance(found, Unresolved):
                data = found
            elif data is None:
                log.info("service is gone", extra={"service": action.service, "reason": found.reason})
                return gone
            else:
                # The event's response proves the service existed after the call; its own DeleteService event
                # archives it. Judged on the response, its tags are unknown (a tagging policy says so).
                log.info("service not described; judging the event's copy", extra={"reason": found.reason})
        if data.get("status") == "INACTIVE":
            return gone
        return service_resource(data, fallback, action.cluster, resolver)

    # --- publish ---------------------------------------------------------------------------

    def _publish(
        self,
        outcome: Outcome,
        context: events.EventContext,
        publisher: FindingsPublisher | None,
        gone: tuple[ResourceType, str] | None = None,
    ) -> Outcome:
        """Plan what the results (or a resource that is gone) mean for Security Hub and SNS, then send it.

        What Security Hub holds of the findings concerned is read first: it decides what is news (notified),
        and which findings reflect a later observation than this event (left as they are).
        """
        imported_at = self.clock()
        observed = parse_time(context.event_time)
        where = Context(
            self.policies,
            FindingContext(
                product_account=context.account,
                product_region=context.region,
                partition=context.partition,
                now=imported_at,
                event_id=context.event_id,
                observed_at=asff_time(observed) if observed is not None else None,
            ),
            NotificationContext(
                context.account, context.region, context.event_id, context.api_call, context.event_time, context.actor
            ),
        )
        removed = [gone] if gone is not None else []
        problems: list[str] = []
        existing = self._existing(lookups(outcome.results, removed, where), publisher, problems)
        planned = plan(outcome.results, existing, self.options, where, gone=removed)
        if problems:
            # Unknown what Security Hub holds: importing could go back in time or reset a finding's age. Every
            # failure is news, as without Security Hub; the findings wait for the retry.
            planned = replace(planned, findings=[], archived=[])
        outcome.findings, outcome.notifications = planned.findings, planned.notifications
        outcome.older = planned.older
        delivery = deliver(planned, publisher, self.notifier, dry_run=self.options.dry_run)
        outcome.findings_imported, outcome.notifications_sent = delivery.imported, delivery.sent
        problems += delivery.failures
        if problems:
            raise EventFailed(
                f"event {context.event_id} ({context.api_call}) on {outcome.resource}: " + "; ".join(problems)
            )
        return outcome

    def _existing(
        self, finding_ids: list[str], publisher: FindingsPublisher | None, problems: list[str]
    ) -> dict[str, dict[str, Any]] | None:
        """What Security Hub holds of ``finding_ids``; None without Security Hub, or when it cannot be read (the
        reason is added to ``problems``)."""
        if publisher is None:
            return None
        try:
            return publisher.findings_by_id(finding_ids) if finding_ids else {}
        except PublishFailed as error:
            problems.append(str(error))
            return None
