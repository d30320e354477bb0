"""Lambda entry point for the scheduled sweep of the scanner's own account, in each configured Region."""

from __future__ import annotations

from typing import Any

from ecsguard.errors import EventFailed
from ecsguard.observability import logger, metrics, record_sweep, traced
from ecsguard.sweep import sweep_regions
from ecsguard.wiring import build_sweeper, environment_settings, own_account, regions_to_sweep, remember_account

# Validated once per container, at cold start, as the scanner's are.
SETTINGS = environment_settings()


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remember_account(context)
    # A schedule may name its own Regions ({"regions": [...]}): several schedules split a large estate.
    requested = event.get("regions") if isinstance(event, dict) else None
    regions = regions_to_sweep(SETTINGS, [str(r) for r in requested] if isinstance(requested, list) else None)
    sweeper = build_sweeper(SETTINGS, publish=not SETTINGS.dry_run)
    reports, failures = sweep_regions(sweeper, own_account(SETTINGS), regions)
    for report in reports:
        record_sweep(report)
        logger.info("sweep done", extra=report.summary())
    failures += [f"{report.region}: {problem}" for report in reports for problem in report.publish_failures]
    if failures:
        logger.error("sweep not completed", extra={"problems": failures})
        raise EventFailed("sweep failed: " + "; ".join(failures))
    return {"regions": [report.summary() for report in reports]}
