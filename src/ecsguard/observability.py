"""Powertools logger, metrics and tracer: the one place they are configured (besides handlers)."""

from __future__ import annotations

import os
import sys

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ecsguard.core.results import Status
from ecsguard.service import Outcome

SERVICE = "ecsguard"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ecsguard")

# stderr keeps stdout free for `ecsguard invoke`'s result; Lambda sends both streams to CloudWatch Logs.
logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def record(outcome: Outcome) -> None:
    """Metrics for one event: evaluations, findings by severity and by policy, and what was sent."""
    metrics.add_metric(name="Events", unit=MetricUnit.Count, value=1)
    if outcome.action == "skipped":
        metrics.add_metric(name="SkippedEvents", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Evaluations", unit=MetricUnit.Count, value=len(outcome.results))
    metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=outcome.findings_imported)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=outcome.notifications_sent)
    for result in outcome.results:
        if result.status not in (Status.FAIL, Status.ERROR):
            continue
        name = "Failures" if result.status is Status.FAIL else "EvaluationErrors"
        with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
            metric.add_dimension(name="service", value=SERVICE)
            metric.add_dimension(name="policy_id", value=result.policy_id)
            metric.add_dimension(name="severity", value=result.severity.value)


def record_failure(kind: str) -> None:
    metrics.add_metric(name="FailedEvents", unit=MetricUnit.Count, value=1)
    with single_metric(name="FailedEvents", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="reason", value=kind)
