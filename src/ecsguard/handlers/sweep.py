"""Lambda entry point for the scheduled sweep of the scanner's own account, in each configured Region."""

from __future__ import annotations

from typing import Any

from ecsguard.errors import EventFailed
from ecsguard.handlers.scanner import SETTINGS, build_ports, own_account, remember_account
from ecsguard.observability import logger, metrics, record_sweep, traced
from ecsguard.settings import Settings
from ecsguard.sweep import Sweeper, SweepOptions, sweep_regions


def build_sweeper(settings: Settings, publish: bool, all_revisions: bool = False) -> Sweeper:
    from ecsguard.adapters.ecs import EcsInventory
    from ecsguard.catalog import load_policy_set
    from ecsguard.events import partition_of
    from ecsguard.publishing import Options, now

    # Adaptive retries: a sweep makes thousands of calls and should slow down, not fail, when throttled.
    ports = build_ports(settings, retry_mode="adaptive")

    def inventory(account: str, region: str) -> EcsInventory:
        return EcsInventory(ports.access.client("ecs", account, region, partition_of(region)))

    options = SweepOptions(
        all_revisions=all_revisions,
        publish=publish,
        publishing=Options(import_passed=settings.import_passed, notify_min_severity=settings.notify_min_severity),
    )
    policy_set = load_policy_set(settings.policy_dir, settings.parameters)
    return Sweeper(policy_set, inventory, ports.resolver, ports.findings, ports.notifier, options, now)


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remember_account(context)
    # A schedule may name its own Regions ({"regions": [...]}): several schedules split a large estate.
    requested = event.get("regions") if isinstance(event, dict) else None
    regions = [str(r) for r in requested] if isinstance(requested, list) and requested else None
    regions = regions or SETTINGS.sweep_regions or [region_of_environment()]
    sweeper = build_sweeper(SETTINGS, publish=not SETTINGS.dry_run)
    reports, failures = sweep_regions(sweeper, own_account(), regions)
    for report in reports:
        record_sweep(report)
        logger.info("sweep done", extra=report.summary())
    failures += [f"{report.region}: {problem}" for report in reports for problem in report.publish_failures]
    if failures:
        logger.error("sweep not completed", extra={"problems": failures})
        raise EventFailed("sweep failed: " + "; ".join(failures))
    return {"regions": [report.summary() for report in reports]}


def region_of_environment() -> str:
    import os

    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
