"""Failures that must reach the caller: the event is retried and, in the end, kept in the dead-letter queue."""

from __future__ import annotations


class AwsCallFailed(RuntimeError):
    """An AWS call failed for a reason other than "not found" (throttled past retries, denied, unreachable)."""

    def __init__(self, call: str, target: str, code: str, message: str) -> None:
        super().__init__(f"{call} for {target} failed: {code}: {message}")
        self.call = call
        self.target = target
        self.code = code


class PublishFailed(RuntimeError):
    """Findings or notifications that could not be delivered after retries."""


class EventFailed(RuntimeError):
    """An event that could not be fully processed; the message says which parts failed and why."""
