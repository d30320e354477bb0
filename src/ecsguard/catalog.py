"""Load ``policies/*.yaml`` into a frozen, fully validated policy set.

Every problem in every file is collected and reported together, each naming the
file, the line and the key; a set with any problem does not load at all.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ecsguard.core.compiler import CompiledPolicy, PolicyCompileError, compile_policy
from ecsguard.core.engine import PolicySet
from ecsguard.core.packs import BUILT_IN_PACKS, EVERY_PACK
from ecsguard.core.policy import (
    AllOf,
    AnyOf,
    Compare,
    ForAny,
    ForEach,
    Not,
    Parameter,
    PolicyDocument,
    References,
    Remediation,
    is_condition_tag,
)
from ecsguard.errors import PolicyLoadError, Problem

__all__ = [  # PolicyLoadError is re-exported: callers catch it from here
    "PolicyLoadError",
    "Problem",
    "default_policy_dir",
    "load_overrides",
    "load_policy_file",
    "load_policy_set",
]

POLICY_SUFFIXES = (".yaml", ".yml")
EXEMPTIONS_FILE = "exemptions.yaml"  # the policy folder's exemptions (exemptions_file.py), not a policy
Overrides = Mapping[str, Mapping[str, Any]]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_KEYED_MODELS = (PolicyDocument, Parameter, Remediation, References, Compare, AllOf, AnyOf, ForEach, ForAny, Not)
_KNOWN_KEYS = sorted({info.alias or name for model in _KEYED_MODELS for name, info in model.model_fields.items()})


def default_policy_dir() -> Path:
    """The policies shipped with ecsguard: inside the installed package, else the repository's ``policies/``."""
    packaged = Path(__file__).parent / "policies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "policies"


def _line_map(
    node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], problems: list[tuple[int, str]]
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append((key_node.start_mark.line + 1, f"duplicate key '{key}'"))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, index), lines, problems)


def _raw_location(data: Any, location: tuple[Any, ...]) -> tuple[Any, ...]:
    """Map a pydantic error location onto the YAML document, dropping union tags."""
    raw: list[Any] = []
    current = data
    for part in location:
        if is_condition_tag(part):
            continue
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
            raw.append(part)
        elif isinstance(current, dict) and isinstance(part, str):
            # A key that is absent (missing or unknown) ends the walk.
            raw.append(part)
            break
    return tuple(raw)


def format_location(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_for(lines: Mapping[tuple[Any, ...], int], location: tuple[Any, ...]) -> int | None:
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None


def _friendly(error_type: str, message: str, location: tuple[Any, ...], known_keys: Sequence[str] = _KNOWN_KEYS) -> str:
    key = location[-1] if location else ""
    if error_type == "extra_forbidden":
        hint = difflib.get_close_matches(str(key), known_keys, n=1)
        return f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
    if error_type == "missing":
        return f"missing required key '{key}'"
    if error_type == "value_error":  # a validator's own message: pydantic's prefix says nothing more
        return message.removeprefix("Value error, ")
    return message


Lines = dict[tuple[Any, ...], int]


def read_yaml_mapping(path: Path, what: str) -> tuple[dict[str, Any], Lines, list[Problem]]:
    """The mapping a YAML file holds, the line of each key and item (by location), and its duplicate keys as
    problems; raise PolicyLoadError when the file cannot be read, is not YAML, or holds no mapping."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyLoadError([Problem(source, None, "", f"cannot read: {error}")]) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PolicyLoadError(
            [Problem(source, line, "", f"invalid YAML: {getattr(error, 'problem', error)}")]
        ) from None
    lines: Lines = {}
    duplicates: list[tuple[int, str]] = []
    if root is not None:
        _line_map(root, (), lines, duplicates)
    problems = [Problem(source, line, "", message) for line, message in duplicates]
    if not isinstance(data, dict):
        raise PolicyLoadError([*problems, Problem(source, 1, "", f"{what} must be a mapping of keys")])
    return data, lines, problems


def validation_problems(
    error: ValidationError, data: Any, lines: Lines, source: str, known_keys: Sequence[str] = _KNOWN_KEYS
) -> list[Problem]:
    """Each of a model's validation errors as a problem naming the line and key (never the value)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        location = _raw_location(data, tuple(item["loc"]))
        message = _friendly(item["type"], item["msg"], location, known_keys)
        problems.append(Problem(source, _line_for(lines, location), format_location(location), message))
    return problems


def line_for(lines: Lines, location: tuple[Any, ...]) -> int | None:
    """The line of ``location`` in a file read by read_yaml_mapping, or of its nearest enclosing key."""
    return _line_for(lines, location)


def load_policy_file(path: Path, overrides: Mapping[str, Any] | None = None) -> CompiledPolicy:
    """Load and compile one policy file, or raise PolicyLoadError naming every problem in it."""
    source = str(path)
    data, lines, problems = read_yaml_mapping(path, "a policy file")
    try:
        document = PolicyDocument.model_validate(data)
    except ValidationError as error:
        raise PolicyLoadError([*problems, *validation_problems(error, data, lines, source)]) from None
    if document.id != path.stem:
        problems.append(
            Problem(
                source, lines.get(("id",)), "id", f"policy id '{document.id}' must equal the file name '{path.stem}'"
            )
        )
    try:
        compiled = compile_policy(document, overrides or {}, source)
    except PolicyCompileError as error:
        for problem in error.problems:
            problems.append(
                Problem(source, _line_for(lines, problem.location), format_location(problem.location), problem.message)
            )
        raise PolicyLoadError(problems) from None
    if problems:
        raise PolicyLoadError(problems)
    return compiled


def policy_ids_in(directory: Path) -> set[str]:
    """The ids of the policies in ``directory``, every pack's (a policy's id is its file name)."""
    if not directory.is_dir():
        return set()
    return {p.stem for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.name != EXEMPTIONS_FILE}


def load_policy_set(
    directory: Path | None = None, overrides: Overrides | None = None, packs: Collection[str] | None = None
) -> PolicySet:
    """Load the policies in ``directory`` that belong to one of ``packs`` (None, or "all" among them: every
    policy); raise PolicyLoadError if any file has a problem, or a pack is in no policy (a typo must not quietly
    load nothing). Every file is checked, whatever its packs."""
    directory = directory or default_policy_dir()
    overrides = overrides or {}
    if not directory.is_dir():
        raise PolicyLoadError([Problem(str(directory), None, "", "policy directory does not exist")])
    files = sorted(
        p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file() and p.name != EXEMPTIONS_FILE
    )
    problems: list[Problem] = []
    policies: list[CompiledPolicy] = []
    if not files:
        problems.append(Problem(str(directory), None, "", "no policy files (*.yaml) found"))
    for path in files:
        try:
            policies.append(load_policy_file(path, overrides.get(path.stem, {})))
        except PolicyLoadError as error:
            problems.extend(error.problems)
    first_source: dict[str, str] = {}
    for policy in policies:
        if policy.id in first_source:
            problems.append(
                Problem(
                    policy.source, None, "id", f"policy id '{policy.id}' is also defined in {first_source[policy.id]}"
                )
            )
        first_source.setdefault(policy.id, policy.source)
    stems = {path.stem for path in files}
    for policy_id in overrides:
        if policy_id not in stems:
            problems.append(
                Problem(
                    "parameters",
                    None,
                    policy_id,
                    f"overrides parameters of unknown policy '{policy_id}' (known: {', '.join(sorted(stems))})",
                )
            )
    selected = None if packs is None or EVERY_PACK in packs else set(packs)
    known = {pack for policy in policies for pack in policy.document.packs}
    # A built-in pack may be empty in a folder of one's own; any other name must be some policy's pack.
    for pack in sorted((selected or set()) - known - set(BUILT_IN_PACKS)):
        listed = ", ".join(sorted(known))
        problems.append(Problem(str(directory), None, "packs", f"no policy belongs to pack '{pack}' (packs: {listed})"))
    if selected is not None and not problems:
        policies = [policy for policy in policies if selected.intersection(policy.document.packs)]
        if not policies and files:
            wanted = ", ".join(sorted(selected))
            problems.append(
                Problem(str(directory), None, "packs", f"no policy belongs to the packs selected ({wanted})")
            )
    if problems:
        raise PolicyLoadError(problems)
    return PolicySet(tuple(policies))


def load_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file: ``{parameters: {<policy-id>: {<name>: <value>}}}`` in YAML or JSON."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_Loader)  # noqa: S506
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        raise PolicyLoadError([Problem(source, None, "", f"cannot read parameter file: {error}")]) from None
    if not isinstance(data, dict) or set(data) - {"parameters"}:
        raise PolicyLoadError([Problem(source, None, "", "expected a mapping with the single key 'parameters'")])
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict) or not all(isinstance(v, dict) for v in parameters.values()):
        raise PolicyLoadError([Problem(source, None, "parameters", "expected {<policy-id>: {<parameter>: <value>}}")])
    return {str(policy_id): dict(values) for policy_id, values in parameters.items()}
