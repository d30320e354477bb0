"""Comparison operators of the policy language, in one registry.

Each operator is pure. ``prepare`` checks and pre-compiles the operator's argument
once, when the policy loads (a bad regex or a version string that is not one is a
load-time error); ``apply`` compares a field value with the prepared argument and
returns a truthy result (a string names what matched, for messages).

An operand that cannot be compared raises ``OperandError``: the engine turns it into
an ERROR result. Messages here never include the field's value, which may be secret;
the caller adds it when the field is not sensitive.

A policy may name an operator registered by Python code with ``register`` when the
language cannot express its logic; such operators follow the same contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class OperandError(ValueError):
    """A value that the operator cannot compare (wrong type or unparseable)."""


class ArgumentError(ValueError):
    """An operator argument that is invalid in the policy file."""


@dataclass(frozen=True)
class Operator:
    name: str
    doc: str
    apply: Callable[[Any, Any], object]
    prepare: Callable[[Any], Any]
    takes_argument: bool = True
    handles_missing: bool = False


OPERATORS: dict[str, Operator] = {}


def register(operator: Operator) -> Operator:
    if operator.name in OPERATORS:
        raise ValueError(f"operator {operator.name!r} is already registered")
    OPERATORS[operator.name] = operator
    return operator


def _type_name(value: object) -> str:
    return type(value).__name__


def _no_argument(argument: Any) -> None:
    if argument is not None:
        raise ArgumentError("takes no value")


def _prepare_scalar(argument: Any) -> Any:
    if argument is None or isinstance(argument, list | dict):
        raise ArgumentError("needs a single value (string, number or boolean)")
    return argument


def _prepare_list(argument: Any) -> frozenset[Any]:
    if not isinstance(argument, list):
        raise ArgumentError("needs a list of values")
    for item in argument:
        if isinstance(item, list | dict) or item is None:
            raise ArgumentError("needs a list of strings, numbers or booleans")
    return frozenset(argument)


def _compile_regex(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ArgumentError("needs a regular expression string")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ArgumentError(f"invalid regular expression: {error}") from None


_BACKREFERENCE = re.compile(r"\\[1-9]")
_LEADING_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


@dataclass(frozen=True)
class NamedPatterns:
    combined: re.Pattern[str]
    names: tuple[str, ...]


def _prepare_named_patterns(argument: Any) -> NamedPatterns:
    if not isinstance(argument, dict) or not argument:
        raise ArgumentError("needs a mapping of names to regular expressions")
    parts = []
    for name, pattern in argument.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ArgumentError(f"pattern name {name!r} must be an identifier")
        if _compile_regex(pattern).groupindex:
            raise ArgumentError(f"pattern {name!r} must not use named groups")
        if _BACKREFERENCE.search(pattern):
            # Group numbers shift once the patterns are joined, so \1 would point elsewhere.
            raise ArgumentError(f"pattern {name!r} must not use numbered backreferences")
        leading_flags = _LEADING_FLAGS.match(pattern)
        # Global flags are only allowed at the very start, so scope them to this alternative.
        scoped = f"(?{leading_flags.group(1)}:{pattern[leading_flags.end() :]})" if leading_flags else pattern
        parts.append(f"(?P<{name}>{scoped})")
    # One alternation scans the value once instead of once per pattern.
    return NamedPatterns(_compile_regex("|".join(parts)), tuple(argument))


def _require_string(value: object) -> str:
    if not isinstance(value, str):
        raise OperandError(f"expected a string, found {_type_name(value)}")
    return value


def _same_kind(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return True
    return type(left) is type(right)


def _equals(value: object, argument: object) -> bool:
    if not _same_kind(value, argument):
        raise OperandError(f"cannot compare {_type_name(value)} with {_type_name(argument)}")
    return value == argument


def _in(value: object, argument: frozenset[Any]) -> bool:
    if isinstance(value, list | dict):
        raise OperandError(f"expected a single value, found {_type_name(value)}")
    if argument and not any(_same_kind(value, member) for member in argument):
        raise OperandError(f"cannot look up {_type_name(value)} in a list of other types")
    return value in argument


def _matches(value: object, argument: re.Pattern[str]) -> bool:
    return argument.search(_require_string(value)) is not None


def _matches_any(value: object, argument: NamedPatterns) -> str | None:
    match = argument.combined.search(_require_string(value))
    if match is None:
        return None
    return next(name for name in argument.names if match.group(name) is not None)


def _exists(value: object, argument: None) -> bool:
    return value is not None


def _empty(value: object, argument: None) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | dict):
        return len(value) == 0
    if isinstance(value, bool | int | float):
        raise OperandError(f"a {_type_name(value)} cannot be empty")
    return False  # an object (such as repositoryCredentials) that is present


def _contains(value: object, argument: object) -> bool:
    if not isinstance(value, list):
        raise OperandError(f"expected a list, found {_type_name(value)}")
    return argument in value


_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def parse_version(text: object) -> tuple[int, ...]:
    """Parse a dotted numeric version ("1.4.0", "v1.10") into a tuple compared numerically."""
    if not isinstance(text, str):
        raise OperandError(f"expected a version string, found {_type_name(text)}")
    candidate = text[1:] if text[:1] in ("v", "V") else text
    if not _VERSION.fullmatch(candidate):
        raise OperandError("is not a dotted numeric version")
    parts = tuple(int(part) for part in candidate.split("."))
    # 1.4 and 1.4.0 are the same version.
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]
    return parts


def _prepare_version(argument: Any) -> tuple[int, ...]:
    try:
        return parse_version(argument)
    except OperandError as error:
        raise ArgumentError(f"needs a version such as '1.4.0': {error}") from None


def _prepare_number(argument: Any) -> float:
    if isinstance(argument, bool) or not isinstance(argument, int | float):
        raise ArgumentError("needs a number")
    return float(argument)


def _require_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OperandError(f"expected a number, found {_type_name(value)}")
    return float(value)


def _version_op(compare: Callable[[tuple[int, ...], tuple[int, ...]], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, argument: compare(parse_version(value), argument)


def _number_op(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, argument: compare(_require_number(value), argument)


for _operator in (
    Operator("equals", "The field equals the value (same type; 1 and 1.0 are equal).", _equals, _prepare_scalar),
    Operator("in", "The field is one of the listed values.", _in, _prepare_list),
    Operator(
        "matches",
        "A regular expression finds a match in the string field (anchor it with ^ and $).",
        _matches,
        _compile_regex,
    ),
    Operator(
        "matches_any",
        "The string field matches one of several named regular expressions; "
        "the name of the first that matches is available to messages as {match}.",
        _matches_any,
        _prepare_named_patterns,
    ),
    Operator(
        "exists",
        "The field is present (not missing and not null).",
        _exists,
        _no_argument,
        takes_argument=False,
        handles_missing=True,
    ),
    Operator(
        "empty",
        "The field is missing, null, or an empty string, list or map (an object is not empty).",
        _empty,
        _no_argument,
        takes_argument=False,
        handles_missing=True,
    ),
    Operator("contains", "The list field contains the value.", _contains, _prepare_scalar),
    Operator(
        "version_gte",
        "The field is a dotted version at least the value; 1.10.0 is later than 1.4.0.",
        _version_op(lambda a, b: a >= b),
        _prepare_version,
    ),
    Operator(
        "version_gt",
        "The field is a dotted version later than the value.",
        _version_op(lambda a, b: a > b),
        _prepare_version,
    ),
    Operator(
        "version_lte",
        "The field is a dotted version at most the value.",
        _version_op(lambda a, b: a <= b),
        _prepare_version,
    ),
    Operator(
        "version_lt",
        "The field is a dotted version earlier than the value.",
        _version_op(lambda a, b: a < b),
        _prepare_version,
    ),
    Operator("gte", "The numeric field is at least the value.", _number_op(lambda a, b: a >= b), _prepare_number),
    Operator("gt", "The numeric field is greater than the value.", _number_op(lambda a, b: a > b), _prepare_number),
    Operator("lte", "The numeric field is at most the value.", _number_op(lambda a, b: a <= b), _prepare_number),
    Operator("lt", "The numeric field is less than the value.", _number_op(lambda a, b: a < b), _prepare_number),
):
    register(_operator)


def describe_operators() -> Mapping[str, str]:
    return {name: operator.doc for name, operator in sorted(OPERATORS.items())}
