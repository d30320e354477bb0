"""Lambda entry point of the organization sweep's own steps (statemachine/organization-sweep.asl.json): ``accounts``
plans the sweep, ``failed`` and ``swept`` keep each account's coverage finding in this account's Security Hub.

The event names its step: ``{"step": "accounts", "input": {...}}``, ``{"step": "failed", "account": ...,
"region": ..., "error": {...}}``, ``{"step": "swept", "account": ..., "region": ...}``. An event that names no known
step fails naming the field, so the state machine's retries and its execution history show it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from ecsguard.errors import EventFailed
from ecsguard.observability import logger, metrics, record_sweep_task, traced
from ecsguard.organization import OrganizationSweep, SweepTask
from ecsguard.wiring import build_organization_sweep, environment_settings, remember_account

SETTINGS = environment_settings()


@cache
def organization() -> OrganizationSweep:
    return build_organization_sweep(SETTINGS)


def _accounts(event: Mapping[str, Any]) -> dict[str, Any]:
    planned = organization().plan(event.get("input"))
    logger.info(
        "organization sweep planned", extra={"accounts": len(planned["accounts"]), "regions": planned["regions"]}
    )
    return planned


def _task(event: Mapping[str, Any]) -> SweepTask:
    return SweepTask.of({key: event[key] for key in ("account", "region") if key in event})


def _failed(event: Mapping[str, Any]) -> dict[str, Any]:
    answer = organization().failed(_task(event), event.get("error"))
    record_sweep_task(swept=False)
    logger.error("account not swept", extra=answer)
    return answer


def _swept(event: Mapping[str, Any]) -> dict[str, Any]:
    answer = organization().swept(_task(event))
    record_sweep_task(swept=True)
    return answer


STEPS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "accounts": _accounts,
    "failed": _failed,
    "swept": _swept,
}


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remember_account(context)
    step = event.get("step") if isinstance(event, dict) else None
    if not isinstance(step, str) or step not in STEPS:
        raise EventFailed(f"invalid organization sweep step: 'step' must be one of {', '.join(sorted(STEPS))}")
    return STEPS[step](event)
