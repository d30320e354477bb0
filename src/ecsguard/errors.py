"""Failures that must reach the caller: the event is retried and, in the end, kept in the dead-letter queue."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


class PolicyLoadError(Exception):
    """The policy set has problems; nothing was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the policy set:\n{lines}")
