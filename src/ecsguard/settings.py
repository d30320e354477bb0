"""The scanner's settings, read from environment variables once at cold start."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecsguard.core.models import Severity
from ecsguard.core.packs import DEFAULT_PACKS, EVERY_PACK, POLICY_ID

PREFIX = "ECSGUARD_"
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class SettingsError(ValueError):
    """A setting that is missing or invalid; the message names the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_dir: Path | None = None
    topic_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$")
    security_hub: bool = True
    notify_min_severity: Severity = Severity.LOW
    import_passed: bool = True
    dry_run: bool = False
    parameters: dict[str, dict[str, Any]] = {}
    aws_max_attempts: int = Field(default=5, ge=1, le=20)
    sweep_regions: list[str] = []
    # The organization sweep (Step Functions): a fixed list of accounts, else every ACTIVE account of the
    # organization; and how many accounts are swept at once.
    sweep_accounts: list[str] = []
    sweep_concurrency: int = Field(default=20, ge=1, le=1000)
    member_role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    packs: list[str] = list(DEFAULT_PACKS)  # the policy packs to load; "all" loads every pack
    exemptions: Path | None = None  # the exemptions file; None: the policy folder's exemptions.yaml, if any
    exemptions_max_lifetime_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("security_hub", "import_passed", "dry_run", mode="before")
    @classmethod
    def _boolean(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() not in _BOOLEANS:
                raise ValueError("must be true or false")
            return _BOOLEANS[value.strip().lower()]
        return value

    @field_validator("notify_min_severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as error:
                raise ValueError(f"must be JSON: {error}") from None
        return value

    @field_validator("sweep_regions", mode="before")
    @classmethod
    def _regions(cls, value: object) -> object:
        if isinstance(value, str):
            regions = [part.strip() for part in value.split(",") if part.strip()]
            for region in regions:
                if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
                    raise ValueError(f"'{region}' is not a Region name")
            return regions
        return value

    @field_validator("sweep_accounts", mode="before")
    @classmethod
    def _accounts(cls, value: object) -> object:
        if isinstance(value, str):
            accounts = [part.strip() for part in value.split(",") if part.strip()]
            for position, account in enumerate(accounts, start=1):
                if not re.fullmatch(r"[0-9]{12}", account):
                    raise ValueError(f"account {position} is not a 12-digit account id")
            return accounts
        return value

    @field_validator("packs", mode="before")
    @classmethod
    def _packs(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for pack in value:
                if not isinstance(pack, str) or not POLICY_ID.match(pack):
                    raise ValueError("each pack is a name of lowercase letters, digits and hyphens, such as fsbp")
            if not value:
                raise ValueError(f"names at least one pack (or {EVERY_PACK})")
        return value

    def selected_packs(self) -> list[str] | None:
        """The packs to load, or None for every pack."""
        return None if EVERY_PACK in self.packs else list(self.packs)

    @field_validator("policy_dir", mode="after")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"'{value}' is not a folder")
        return value

    @field_validator("exemptions", mode="after")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"'{value}' is not a file")
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """Read ECSGUARD_* variables; unknown ECSGUARD_ variables are errors (a typo must not go unnoticed)."""
        values = {
            name[len(PREFIX) :].lower(): value
            for name, value in environ.items()
            if name.startswith(PREFIX) and value != ""
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = []
            for item in error.errors(include_input=False, include_url=False, include_context=False):
                variable, *inner = item["loc"] or ("",)
                where = ".".join(str(part) for part in inner)
                name = f"{PREFIX}{str(variable).upper()}" + (f" ({where})" if where else "")
                problems.append(f"{name}: {item['msg']}")
            raise SettingsError(f"invalid ecsguard settings: {'; '.join(problems)}") from None
