"""Load an exemptions file (``exemptions.yaml`` in the policy folder, or the one ``--exemptions`` or
``ECSGUARD_EXEMPTIONS`` names) into an ExemptionSet, as strictly as policies are loaded: every problem names
the file, the line and the key, and a file with any problem does not load at all.

An expired exemption is still a valid one: it loads, and no longer applies. What cannot load is one whose
expiry lies beyond the longest lifetime allowed from today, one naming a policy the policy folder does not
have, and anything the file's format does not know.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ecsguard.catalog import EXEMPTIONS_FILE, line_for, policy_ids_in, read_yaml_mapping, validation_problems
from ecsguard.core.exemption_model import ExemptionDocument, ExemptionsFile, ResourceSelector, compile_exemption
from ecsguard.core.exemptions import ExemptionSet
from ecsguard.errors import PolicyLoadError, Problem

DEFAULT_MAX_LIFETIME_DAYS = 365
_KNOWN_KEYS = sorted(
    {name for model in (ExemptionsFile, ExemptionDocument, ResourceSelector) for name in model.model_fields}
)


class ExemptionsLoadError(PolicyLoadError):
    """The exemptions file has problems; nothing of it was loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        self.args = (f"{len(problems)} problem(s) in the exemptions file:\n{lines}",)


def exemptions_path(explicit: Path | None, policy_dir: Path) -> Path | None:
    """The exemptions file in effect: the one named (which must exist), else the policy folder's if it has one."""
    if explicit is not None:
        return explicit
    candidate = policy_dir / EXEMPTIONS_FILE
    return candidate if candidate.is_file() else None


def load_exemptions(
    path: Path,
    policy_ids: Collection[str],
    today: date,
    max_lifetime_days: int = DEFAULT_MAX_LIFETIME_DAYS,
) -> ExemptionSet:
    """The exemptions of ``path``, checked against the policies that exist (``policy_ids``, every pack's) and the
    longest lifetime from ``today``; raise ExemptionsLoadError naming every problem."""
    source = str(path)
    try:
        data, lines, problems = read_yaml_mapping(path, "an exemptions file")
    except PolicyLoadError as error:
        raise ExemptionsLoadError(error.problems) from None
    try:
        document = ExemptionsFile.model_validate(data)
    except ValidationError as error:
        raise ExemptionsLoadError([*problems, *validation_problems(error, data, lines, source, _KNOWN_KEYS)]) from None
    latest = today + timedelta(days=max_lifetime_days)
    first_line: dict[str, int | None] = {}

    def problem(index: int, location: tuple[Any, ...], message: str) -> None:
        where = ("exemptions", index, *location)
        shown = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)
        problems.append(Problem(source, line_for(lines, where), f"exemptions[{index}]{shown}", message))

    for index, exemption in enumerate(document.exemptions):
        if exemption.id in first_line:
            problem(index, ("id",), f"exemption id '{exemption.id}' is also used at line {first_line[exemption.id]}")
        first_line.setdefault(exemption.id, line_for(lines, ("exemptions", index, "id")))
        for position, policy_id in enumerate(exemption.policies):
            if policy_id not in policy_ids:
                problem(index, ("policies", position), f"names unknown policy '{policy_id}'")
        if not exemption.resources.given():
            problem(index, ("resources",), "selects every resource: give at least one selector (accounts, arns, ...)")
        if exemption.expires > latest:
            problem(
                index,
                ("expires",),
                f"expires {exemption.expires.isoformat()}, more than {max_lifetime_days} days after today "
                f"({today.isoformat()}); an exemption must be renewed at least that often",
            )
    if problems:
        raise ExemptionsLoadError(problems)
    return ExemptionSet(tuple(compile_exemption(exemption) for exemption in document.exemptions))


def exemptions_in_effect(
    explicit: Path | None, policy_dir: Path, today: date, max_lifetime_days: int = DEFAULT_MAX_LIFETIME_DAYS
) -> tuple[Path | None, ExemptionSet]:
    """The exemptions file in effect (the one named, else the policy folder's) and its exemptions, checked against
    every policy of the folder; (None, no exemptions) when there is no file. The one way scan, the Lambda and the
    sweep find and load it."""
    path = exemptions_path(explicit, policy_dir)
    if path is None:
        return None, ExemptionSet()
    return path, load_exemptions(path, policy_ids_in(policy_dir), today, max_lifetime_days)
