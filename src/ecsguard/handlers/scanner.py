"""Lambda entry point: one EventBridge "AWS API Call via CloudTrail" event from ECS per invocation.

Thin on purpose: set the log context, delegate to the Scanner once, record metrics, return a summary.
An event that could not be fully processed raises, so Lambda's asynchronous retries and the
dead-letter queue keep it. The raw event is never logged: it can hold plaintext secrets.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecsguard.errors import AwsCallFailed, EventFailed, PolicyLoadError, PublishFailed
from ecsguard.events import MalformedEvent
from ecsguard.observability import logger, metrics, record, record_failure, traced
from ecsguard.publishing import Options
from ecsguard.service import Scanner
from ecsguard.settings import Settings

if TYPE_CHECKING:  # the adapters import boto3: the handler's import leaves it to the first event
    from ecsguard.adapters.aws import AccountAccess
    from ecsguard.adapters.ecs import EcsResolver
    from ecsguard.adapters.securityhub import SecurityHubPublisher
    from ecsguard.adapters.sns import SnsNotifier

# Validated once per container, at cold start: a bad setting fails every invocation with a clear message.
SETTINGS = Settings.from_environment(os.environ)


@dataclass(frozen=True)
class Ports:
    """The AWS side of a scan or a sweep, per account and Region (a member's goes through its role)."""

    access: AccountAccess
    resolver: Callable[[str, str], EcsResolver]
    findings: Callable[[str, str], SecurityHubPublisher] | None
    notifier: SnsNotifier | None


def build_ports(settings: Settings, retry_mode: str = "standard") -> Ports:
    from ecsguard.adapters import aws
    from ecsguard.adapters.ecs import EcsResolver
    from ecsguard.adapters.securityhub import SecurityHubPublisher
    from ecsguard.adapters.sns import SnsNotifier
    from ecsguard.events import partition_of

    attempts = settings.aws_max_attempts
    access = aws.AccountAccess(own_account, settings.member_role_name, attempts, retry_mode=retry_mode)

    def resolver(account: str, region: str) -> EcsResolver:
        return EcsResolver(lambda: access.client("ecs", account, region, partition_of(region)))

    def findings(account: str, region: str) -> SecurityHubPublisher:
        return SecurityHubPublisher(access.client("securityhub", account, region, partition_of(region)))

    # Notifications go to the one central topic, whatever account the event came from.
    notifier = SnsNotifier(aws.client("sns", max_attempts=attempts), settings.topic_arn) if settings.topic_arn else None
    return Ports(access, resolver, findings if settings.security_hub else None, notifier)


def build_scanner(settings: Settings) -> Scanner:
    """Policies, clients and resolver for these settings (AWS clients are shared per process)."""
    from ecsguard.catalog import load_policy_set

    ports = build_ports(settings)
    options = Options(
        import_passed=settings.import_passed,
        notify_min_severity=settings.notify_min_severity,
        dry_run=settings.dry_run,
    )
    policy_set = load_policy_set(settings.policy_dir, settings.parameters)
    return Scanner(policy_set, ports.resolver, ports.findings, ports.notifier, options)


_own_account: list[str] = []


def remember_account(context: Any) -> None:
    """Learn the scanner's account from the Lambda context (free), rather than from STS."""
    function_arn = getattr(context, "invoked_function_arn", None)
    if not _own_account and isinstance(function_arn, str) and function_arn.count(":") >= 5:
        _own_account.append(function_arn.split(":")[4])


def own_account() -> str:
    """The scanner's account: from the Lambda context's function ARN, else STS (needs no permission)."""
    if not _own_account:
        from ecsguard.adapters import aws

        identity = aws.client("sts", max_attempts=SETTINGS.aws_max_attempts).get_caller_identity()
        _own_account.append(str(identity["Account"]))
    return _own_account[0]


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
