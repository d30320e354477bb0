"""Policy parameters: the kinds a parameter may have, and the values a policy runs with.

A policy declares each parameter with a kind and a default; overrides (environment, files,
``--set``) replace defaults. Both are checked here, before the policy compiles, so a wrong type
is reported with the parameter's location and never reaches an evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ecsguard.core.operators import OperandError, parse_version
from ecsguard.core.policy import PolicyDocument

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class CompileProblem:
    """One mistake in a policy, at its location in the policy document."""

    location: Location
    message: str


def _is_version(text: str) -> bool:
    try:
        parse_version(text)
    except OperandError:
        return False
    return True


_PARAMETER_CHECKS: Mapping[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "version": ("a version string such as '1.4.0'", lambda v: isinstance(v, str) and _is_version(v)),
    "string_list": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)),
    "pattern_map": (
        "a mapping of names to regular expressions",
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(i, str) for k, i in v.items()),
    ),
}


def check_parameter_value(kind: str, value: Any) -> str | None:
    """Return why ``value`` is not a valid parameter of ``kind``, or None when it is."""
    expected, accepts = _PARAMETER_CHECKS[kind]
    return None if accepts(value) else f"must be {expected}, found {type(value).__name__}"


def effective_parameters(
    document: PolicyDocument, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[CompileProblem]]:
    """The values a policy runs with (defaults, then overrides), and what is wrong with them."""
    values: dict[str, Any] = {}
    problems: list[CompileProblem] = []
    for name, declared in document.parameters.items():
        why = check_parameter_value(declared.type, declared.default)
        if why:
            problems.append(CompileProblem(("parameters", name, "default"), why))
        values[name] = declared.default
    for name, value in overrides.items():
        if name not in document.parameters:
            known = ", ".join(document.parameters) or "none"
            problems.append(CompileProblem(("parameters", name), f"override of unknown parameter (declared: {known})"))
            continue
        why = check_parameter_value(document.parameters[name].type, value)
        if why:
            problems.append(CompileProblem(("parameters", name), f"override {why}"))
        values[name] = value
    return values, problems
