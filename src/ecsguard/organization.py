"""The organization sweep's steps around the sweep itself, which the state machine (statemachine/) runs.

- ``accounts``: which accounts and Regions to sweep, and how many accounts at once: a fixed list
  (ECSGUARD_SWEEP_ACCOUNTS), else every ACTIVE account of the organization (organizations:ListAccounts, from the
  management account or a delegated administrator); an execution started by hand may name its own.
- ``failed``: a sweep task that still failed after its retries becomes a NOT_AVAILABLE finding on that account, in
  this (the central) account's Security Hub, so the dashboards show where ecsguard is blind.
- ``swept``: a sweep task that succeeded archives that finding, if there is one.

The sweep task itself is ``handlers/sweep.py`` with a ``SweepTask`` as its event. Nothing here echoes its input: a
problem names the field, never the text that was there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ecsguard.core.findings import (
    ACCOUNT_COVERAGE,
    FindingContext,
    account_coverage_finding,
    account_resource_id,
    finding_id,
)
from ecsguard.errors import EventFailed
from ecsguard.publishing import FindingsPublisher

ACCOUNT = r"^[0-9]{12}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:ecs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):cluster/[A-Za-z0-9_-]+")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Errors whose message ecsguard or AWS wrote, naming calls and kinds of problem: shown in the finding. Any other
# error (a bug's exception) is named by its type only, since its message may quote what it was given.
_TOLD_ERRORS = re.compile(
    r"(EventFailed|AwsCallFailed|PublishFailed|SettingsError|States\.[A-Za-z]+|Sandbox\.[A-Za-z]+|Lambda\.[A-Za-z]+)"
)
_MESSAGE_LIMIT = 400


def _problems(error: ValidationError, what: str) -> str:
    """A pydantic error as field names and kinds of problem, without the input."""
    parts = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        if item["type"] == "extra_forbidden":  # the key is the sender's text: not repeated
            parts.append(f"a field that is not one of the {what}'s")
            continue
        where = ".".join(str(part) for part in item["loc"]) or what
        parts.append(f"{where}: {item['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


class SweepTask(BaseModel):
    """What one task of the organization sweep covers: an account and a Region, and, when it continues a sweep that
    stopped between clusters, the clusters it has left (ARNs of that account and Region, or names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str = Field(pattern=ACCOUNT)
    region: str = Field(pattern=REGION)
    clusters: list[str] | None = Field(default=None, min_length=1)

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, value: list[str] | None) -> list[str] | None:
        for position, cluster in enumerate(value or []):
            if not (_CLUSTER_ARN.fullmatch(cluster) or _CLUSTER_NAME.fullmatch(cluster)):
                raise ValueError(f"cluster {position} is neither a cluster ARN nor a cluster name")
        return value

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> SweepTask:
        """The task an event names; EventFailed naming the field when it is not one."""
        try:
            task = cls.model_validate(dict(event))
        except ValidationError as error:
            raise EventFailed(_problems(error, "sweep task")) from None
        for position, cluster in enumerate(task.clusters or []):
            found = _CLUSTER_ARN.fullmatch(cluster)
            if found and (found["account"], found["region"]) != (task.account, task.region):
                raise EventFailed(
                    f"invalid sweep task: clusters.{position}: not a cluster of the task's account and Region"
                )
        return task

    def cluster_arns(self, partition: str) -> list[str] | None:
        if self.clusters is None:
            return None
        return [
            cluster
            if cluster.startswith("arn:")
            else f"arn:{partition}:ecs:{self.region}:{self.account}:cluster/{cluster}"
            for cluster in self.clusters
        ]


class AccountsRequest(BaseModel):
    """What an execution started by hand may name instead of the configured accounts and Regions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[str] | None = Field(default=None, min_length=1)
    regions: list[str] | None = Field(default=None, min_length=1)

    @field_validator("accounts", "regions")
    @classmethod
    def _named(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        pattern, kind, shape = _NAMES[str(info.field_name)]
        for position, name in enumerate(value or []):
            if not re.fullmatch(pattern, name):
                raise ValueError(f"{kind} {position} is not {shape}")
        return value


# What each list of AccountsRequest holds: its pattern, and how a problem names an item and what it should be.
_NAMES = {
    "accounts": (ACCOUNT[1:-1], "account", "a 12-digit account id"),
    "regions": (REGION[1:-1], "region", "a Region name"),
}


@dataclass(frozen=True)
class SweepFailure:
    """How a sweep task failed, as Step Functions' Catch gives it ({"Error": ..., "Cause": ...})."""

    error: str
    message: str | None

    @classmethod
    def of(cls, caught: object) -> SweepFailure:
        if not isinstance(caught, Mapping):
            return cls("Unknown", None)
        error = str(caught.get("Error") or "Unknown")
        cause = caught.get("Cause")
        message: str | None = None
        if isinstance(cause, str):
            try:
                told = json.loads(cause)
            except ValueError:
                told = {"errorMessage": cause}
            if isinstance(told, Mapping):
                error = str(told.get("errorType") or error)
                text = told.get("errorMessage")
                message = " ".join(str(text).split()) if text is not None else None
        if not _TOLD_ERRORS.fullmatch(error):
            return cls(error[:100], None)
        if message is not None and len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 1] + "…"
        return cls(error, message)

    def __str__(self) -> str:
        return f"{self.error}: {self.message}" if self.message else self.error


class OrganizationSweep:
    """The steps of the state machine that are not the sweep: planning it, and keeping account coverage findings in
    this account's Security Hub (``findings`` None when Security Hub is off)."""

    def __init__(
        self,
        accounts: Sequence[str],
        regions: Sequence[str],
        concurrency: int,
        organization_accounts: Callable[[], list[str]],
        findings: FindingsPublisher | None,
        context: Callable[[], FindingContext],
    ) -> None:
        self.accounts = list(accounts)
        self.regions = list(regions)
        self.concurrency = concurrency
        self.organization_accounts = organization_accounts
        self.findings = findings
        self.context = context

    def plan(self, given: object) -> dict[str, Any]:
        """The accounts and Regions to sweep and how many accounts at once: the execution's own, else the settings',
        else the organization's ACTIVE accounts."""
        try:
            request = AccountsRequest.model_validate(given if isinstance(given, Mapping) else {})
        except ValidationError as error:
            raise EventFailed(_problems(error, "organization sweep input")) from None
        accounts = request.accounts or self.accounts or self.organization_accounts()
        return {
            "accounts": sorted(dict.fromkeys(accounts)),
            "regions": list(dict.fromkeys(request.regions or self.regions)),
            "concurrency": self.concurrency,
        }

    def failed(self, task: SweepTask, caught: object) -> dict[str, Any]:
        """A NOT_AVAILABLE finding on the account that could not be swept in the Region."""
        failure = SweepFailure.of(caught)
        if self.findings is not None:
            self.findings.import_findings(
                [account_coverage_finding(task.account, task.region, str(failure), self.context())]
            )
        return {"account": task.account, "region": task.region, "failure": failure.error}

    def swept(self, task: SweepTask) -> dict[str, Any]:
        """The account's coverage finding of that Region archived, if it is ACTIVE."""
        archived = False
        if self.findings is not None:
            identifier = finding_id(ACCOUNT_COVERAGE, account_resource_id(task.account, task.region))
            held = self.findings.findings_by_id([identifier]).get(identifier)
            if held is not None and held.get("RecordState", "ACTIVE") == "ACTIVE":
                context = self.context()
                resolved = account_coverage_finding(task.account, task.region, "swept since", context)
                resolved.update(
                    {
                        "CreatedAt": held.get("CreatedAt") or resolved["CreatedAt"],
                        "FirstObservedAt": held.get("FirstObservedAt") or resolved["FirstObservedAt"],
                        "Description": held.get("Description") or resolved["Description"],
                        "RecordState": "ARCHIVED",
                    }
                )
                resolved["ProductFields"]["ecsguard/Status"] = "SWEPT"
                self.findings.import_findings([resolved])
                archived = True
        return {"account": task.account, "region": task.region, "archived": archived}
