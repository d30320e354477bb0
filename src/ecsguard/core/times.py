"""Instants as ECS, CloudTrail and Security Hub write them, read and written in one place."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime | None:
    """An aware instant from ISO 8601 text (CloudTrail's ``2026-11-20T09:15:02Z``, ASFF's with milliseconds),
    epoch seconds or a datetime (what boto3 makes of ECS's registeredAt); UTC when it names no zone, as
    CloudTrail and ASFF mean it. None for anything else."""
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str) and value:
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def asff_time(moment: datetime) -> str:
    """``moment`` as ASFF wants it: ISO 8601, UTC, milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
