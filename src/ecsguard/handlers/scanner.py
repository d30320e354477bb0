"""Lambda entry point: one EventBridge "AWS API Call via CloudTrail" event from ECS per invocation.

Thin on purpose: set the log context, delegate to the Scanner once, record metrics, return a summary.
An event that could not be fully processed raises, so Lambda's asynchronous retries and the
dead-letter queue keep it. The raw event is never logged: it can hold plaintext secrets.
"""

from __future__ import annotations

import traceback
from functools import cache
from pathlib import Path
from typing import Any

from ecsguard.errors import AwsCallFailed, EventFailed, PolicyLoadError, PublishFailed
from ecsguard.events import MalformedEvent
from ecsguard.observability import logger, metrics, record, record_failure, traced
from ecsguard.service import Scanner
from ecsguard.wiring import build_scanner, environment_settings, remember_account

# Validated once per container, at cold start: a bad setting fails every invocation with a clear message.
SETTINGS = environment_settings()


@cache
def scanner() -> Scanner:
    """Built on first use and kept for the container's life."""
    from botocore.exceptions import BotoCoreError

    try:
        return build_scanner(SETTINGS)
    except BotoCoreError as error:
        # Client set-up errors (no Region, no credentials) concern the environment, not the event.
        raise EventFailed(f"cannot set up AWS clients: {error}") from None


def _event_id(event: object) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return str(event["id"])
    return None


# Errors whose messages ecsguard writes itself: they name fields and calls, never values from the event.
_OWN_ERRORS = (EventFailed, MalformedEvent, AwsCallFailed, PublishFailed, PolicyLoadError)


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event_id = _event_id(event)
    logger.set_correlation_id(event_id)
    remember_account(context)
    try:
        outcome = scanner().handle(event)
    except _OWN_ERRORS as error:
        record_failure(type(error).__name__)
        logger.error("event not fully processed", extra={"problem": str(error), "error_type": type(error).__name__})
        raise
    except Exception as error:  # noqa: BLE001 - re-raised, with a message that cannot leak
        # An unexpected exception's message may quote the event (and so a secret): report where, not what.
        record_failure(type(error).__name__)
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
        logger.error("unexpected error", extra={"error_type": type(error).__name__, "where": where})
        raise EventFailed(
            f"unexpected {type(error).__name__} at {where} while processing event {event_id}; "
            "its message is withheld because it may quote the event"
        ) from None
    record(outcome)
    summary = outcome.summary()
    if SETTINGS.dry_run:
        summary["dry_run"] = {"findings": len(outcome.findings), "notifications": len(outcome.notifications)}
    logger.info("event processed", extra=summary)
    return summary
