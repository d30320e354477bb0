"""Powertools logger, metrics and tracer: the one place they are configured (besides handlers)."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache, wraps
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ecsguard.core.results import Result, Status
from ecsguard.service import Outcome

SERVICE = "ecsguard"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ecsguard")

# stderr keeps stdout free for `ecsguard invoke`'s result; Lambda sends both streams to CloudWatch Logs.
logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@cache
def tracer() -> Any:
    """The X-Ray tracer, built at the first invocation rather than at import.

    Building it imports the X-Ray SDK and patches botocore (~60 ms); doing so on the first event
    keeps the handler's import within its cold-start budget. Calls made afterwards are traced.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def traced(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``Tracer.capture_lambda_handler`` for a tracer made on first use."""
    captured: list[Callable[[Any, Any], Any]] = []

    @wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        if not captured:
            captured.append(tracer().capture_lambda_handler(handler, capture_response=False))
        return captured[0](event, context)

    return wrapper


def record(outcome: Outcome) -> None:
    """Metrics for one event: evaluations, findings by severity and by policy, and what was sent."""
    metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
    if outcome.action == "skipped":
        metrics.add_metric(name="SkippedEvents", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Evaluations", unit=MetricUnit.Count, value=len(outcome.results))
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=outcome.findings_imported)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=outcome.notifications_sent)
    # Findings a late or retried event did not overwrite: Security Hub held a later observation.
    metrics.add_metric(name="OlderThanKnown", unit=MetricUnit.Count, value=len(outcome.older))
    _record_results(outcome.results)


def record_sweep(report: Any) -> None:
    """Metrics for one Region's sweep; ``report`` is an ecsguard.sweep.RegionReport."""
    metrics.add_metric(name="SweptResources", unit=MetricUnit.Count, value=report.resources)
    metrics.add_metric(name="Evaluations", unit=MetricUnit.Count, value=sum(report.tally.values()))
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=report.findings_imported)
    metrics.add_metric(name="FindingsArchived", unit=MetricUnit.Count, value=len(report.archived))
    metrics.add_metric(name="SweepProblems", unit=MetricUnit.Count, value=len(report.problems))
    metrics.add_metric(name="OlderThanKnown", unit=MetricUnit.Count, value=len(report.older))
    metrics.add_metric(name="ClustersNotListed", unit=MetricUnit.Count, value=len(report.blind))
    metrics.add_metric(name="ExemptionsUnused", unit=MetricUnit.Count, value=len(report.unused_exemptions))
    for state, count in report.exemption_states.items():  # ExemptionsActive, ExemptionsExpiring, ExemptionsExpired
        metrics.add_metric(name=f"Exemptions{state.title()}", unit=MetricUnit.Count, value=count)
    _record_tally(report.tally)


_COUNTED = {
    Status.FAIL.value: "Failures",
    Status.EXEMPT.value: "ExemptFailures",
    Status.ERROR.value: "EvaluationErrors",
}


def _record_results(results: Sequence[Result]) -> None:
    _record_tally(Counter((r.status.value, r.policy_id, r.severity.value) for r in results))


def _record_tally(tally: Counter[tuple[str, str, str]]) -> None:
    """Failures, exempted failures and evaluation errors, one metric line per policy and severity (not one per
    result), from results counted by (status, policy id, severity)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for (status, policy_id, severity), count in tally.items():
        if status in _COUNTED:
            counts[(_COUNTED[status], policy_id, severity)] += count
    for (name, policy_id, severity), count in sorted(counts.items()):
        with single_metric(name=name, unit=MetricUnit.Count, value=count, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name="policy_id", value=policy_id)
            metric.add_dimension(name="severity", value=severity)


def record_failure(kind: str) -> None:
    metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="FailedEvents", unit=MetricUnit.Count, value=1)
    with single_metric(name="FailedEvents", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="reason", value=kind)


def record_sweep_task(swept: bool) -> None:
    """One account and Region of the organization sweep: swept, or not swept after its retries."""
    metrics.add_metric(
        name="AccountRegionsSwept" if swept else "AccountRegionsNotSwept", unit=MetricUnit.Count, value=1
    )
