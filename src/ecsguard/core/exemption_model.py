"""The exemptions file's format (pydantic models), and how one entry becomes an Exemption.

Apart from ``core.exemptions`` so that the event path's cold start does not build these models unless a file is
read.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ecsguard.core.exemptions import Exemption, glob_pattern
from ecsguard.core.packs import POLICY_ID

# The wildcards a selector may use: * (any run of characters) and ? (one character). fnmatch's [...] sets are
# refused rather than read: "[prod]" in a cluster list is far more likely a typo than a character class.
_GLOB = re.compile(r"[^\[\]\s]{1,2048}")
Glob = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]


class ResourceSelector(BaseModel):
    """Which resources an exemption covers: every selector given must match (and at least one is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    accounts: list[Glob] | None = None
    regions: list[Glob] | None = None
    arns: list[Glob] | None = None
    families: list[Glob] | None = None  # task definition families
    clusters: list[Glob] | None = None  # cluster names: a cluster's own, or a service's or task set's
    services: list[Glob] | None = None  # service names: a service's own, or a task set's

    @field_validator("accounts", "regions", "arns", "families", "clusters", "services")
    @classmethod
    def _globs(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("lists no value; leave the selector out to select any")
        for glob in value:
            if not _GLOB.fullmatch(glob):
                raise ValueError("a glob may hold any character but blanks, '[' and ']'; its wildcards are * and ?")
        return value

    def given(self) -> dict[str, list[str]]:
        return {name: list(globs) for name, globs in self.model_dump().items() if globs is not None}


class ExemptionDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, StringConstraints(pattern=POLICY_ID.pattern, max_length=128)]
    policies: Annotated[list[Annotated[str, StringConstraints(pattern=POLICY_ID.pattern)]], Field(min_length=1)]
    resources: ResourceSelector
    reason: Text
    owner: Text
    ticket: Text | None = None
    expires: date


class ExemptionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    exemptions: list[ExemptionDocument]

    @field_validator("exemptions", mode="before")
    @classmethod
    def _none_is_no_exemption(cls, value: object) -> object:
        return [] if value is None else value  # "exemptions:" with every entry removed


_FACT_OF_SELECTOR = {
    "accounts": "account",
    "regions": "region",
    "arns": "arn",
    "families": "family",
    "clusters": "cluster",
    "services": "service",
}


def compile_exemption(document: ExemptionDocument) -> Exemption:
    selectors = tuple(
        (_FACT_OF_SELECTOR[name], tuple(glob_pattern(glob) for glob in globs))
        for name, globs in document.resources.given().items()
    )
    return Exemption(document, selectors)
