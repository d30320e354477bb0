"""What an evaluation produces: one result per (policy, resource) pair.

Results are built by the engine alone, from values it has already validated, once per (policy, resource)
pair: thousands per second in a scan. Named tuples make them immutable and cost a third of a validating model;
the edges (events, policies, settings, findings) stay pydantic models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from ecsguard.core.models import ResourceType, Severity


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    ERROR = "ERROR"
    EXEMPT = "EXEMPT"  # a FAIL that an exemption in effect covers (core.exemptions)


class Evidence(NamedTuple):
    """Where a policy failed and what to do about it. Never holds a field's secret value."""

    path: str
    message: str
    line: int | None = None  # the line of a scanned file (a template) the path is at, when known


class Exempted(NamedTuple):
    """The exemption an EXEMPT result carries: who accepted the risk, why, and until when (ISO date)."""

    id: str
    owner: str
    reason: str
    expires: str
    ticket: str | None = None


class ResourceRef(NamedTuple):
    type: ResourceType
    id: str


class Result(NamedTuple):
    policy_id: str
    resource: ResourceRef
    status: Status
    severity: Severity
    title: str
    evidence: tuple[Evidence, ...] = ()
    reason: str | None = None  # why an ERROR could not be evaluated
    exemption: Exempted | None = None  # for EXEMPT: the exemption that covers the failure
