"""Lambda entry point of the sweep: the scheduled sweep of the scanner's own account, in each configured Region; or
one task of the organization sweep (statemachine/): ``{"account": ..., "region": ..., "clusters": [...]}``, swept
through the member role.

A task that would not finish in this invocation stops between two clusters and answers with the clusters it left
(``"clusters"``), which the state machine sweeps in the next one. A sweep that could not list, or whose findings
or messages were not delivered, raises: Lambda or the state machine retries it.
"""

from __future__ import annotations

from typing import Any

from ecsguard.errors import EventFailed
from ecsguard.observability import logger, metrics, record_sweep, traced
from ecsguard.organization import SweepTask
from ecsguard.sweep import RegionReport, sweep_regions
from ecsguard.wiring import build_sweeper, environment_settings, own_account, regions_to_sweep, remember_account

# Validated once per container, at cold start, as the scanner's are.
SETTINGS = environment_settings()
# Milliseconds a task keeps in hand at the end of its invocation (see Sweeper.sweep's time_left).
_TIMER_MARGIN_MS = 10_000


def _recorded(report: RegionReport) -> None:
    record_sweep(report)
    logger.info("sweep done", extra={**report.summary(), "duration_ms": round(report.seconds * 1000)})


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remember_account(context)
    if isinstance(event, dict) and "account" in event:
        return _task(SweepTask.of(event), context)
    # A schedule may name its own Regions ({"regions": [...]}): several schedules split a large estate.
    requested = event.get("regions") if isinstance(event, dict) else None
    regions = regions_to_sweep(SETTINGS, [str(r) for r in requested] if isinstance(requested, list) else None)
    sweeper = build_sweeper(SETTINGS, publish=not SETTINGS.dry_run, keep=False)
    reports, failures = sweep_regions(sweeper, own_account(SETTINGS), regions)
    for report in reports:
        _recorded(report)
    failures += [f"{report.region}: {problem}" for report in reports for problem in report.publish_failures]
    if failures:
        logger.error("sweep not completed", extra={"problems": failures})
        raise EventFailed("sweep failed: " + "; ".join(failures))
    return {"regions": [report.summary() for report in reports]}


def _task(task: SweepTask, context: Any) -> dict[str, Any]:
    """One account and Region of the organization sweep; the answer is small, as the state machine keeps it."""
    from ecsguard.errors import AwsCallFailed
    from ecsguard.events import partition_of

    def time_left() -> float:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return (remaining() - _TIMER_MARGIN_MS) / 1000 if callable(remaining) else float("inf")

    sweeper = build_sweeper(SETTINGS, publish=not SETTINGS.dry_run, keep=False)
    try:
        report = sweeper.sweep(task.account, task.region, task.cluster_arns(partition_of(task.region)), time_left)
    except AwsCallFailed as error:
        logger.error("sweep not completed", extra={"problems": [str(error)]})
        raise EventFailed(f"sweep of {task.account} in {task.region} failed: {error}") from None
    _recorded(report)
    if report.publish_failures:
        logger.error("sweep not completed", extra={"problems": report.publish_failures})
        raise EventFailed(f"sweep of {task.account} in {task.region} failed: " + "; ".join(report.publish_failures))
    answer: dict[str, Any] = {"account": task.account, "region": task.region}
    if report.remaining:  # the next task's input, as it is
        return {**answer, "clusters": report.remaining}
    swept = {"resources": report.resources, "results": report.statuses(), "archived": len(report.archived)}
    return {**answer, "swept": swept}
