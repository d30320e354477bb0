"""What an evaluation produces: one result per (policy, resource) pair."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from ecsguard.core.models import ResourceType, Severity


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    ERROR = "ERROR"


class Evidence(BaseModel):
    """Where a policy failed and what to do about it. Never holds a field's secret value."""

    model_config = ConfigDict(frozen=True)
    path: str
    message: str


class ResourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: ResourceType
    id: str


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)
    policy_id: str
    resource: ResourceRef
    status: Status
    severity: Severity
    title: str
    evidence: tuple[Evidence, ...] = ()
    reason: str | None = None  # why an ERROR could not be evaluated
