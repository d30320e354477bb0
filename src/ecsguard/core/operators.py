"""Comparison operators of the policy language, in one registry.

Each operator is pure. ``prepare`` checks and pre-compiles the operator's argument
once, when the policy loads (a bad regex or a version string that is not one is a
load-time error); ``apply`` compares a field value with the prepared argument and
returns a truthy result (a string names what matched, for messages).

An operand that cannot be compared raises ``OperandError``: the engine turns it into
an ERROR result. Messages here never include the field's value, which may be secret;
the caller adds it when the field is not sensitive.

Each operator declares what it needs on itself, so the compiler has no special cases and a new
operator is one entry here: whether it takes an argument, whether an unset field reaches it
(``handles_missing``), what kind of field it compares (``operand``: a single value, a list, or
anything, collections included), how it reads a path through ``[]`` (``over_items``: some or every
reached value), and whether it names what matched (``names_match``, for ``{match}`` in messages).

A policy may name an operator registered by Python code with ``register`` when the
language cannot express its logic; such operators follow the same contract.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

# What kind of field an operator compares: one value, a list field, or any field (collections included).
OperandKind = Literal["scalar", "list", "any"]
# How an operator reads a path through '[]': it holds when some, or every, reached value satisfies it, or it
# judges the reached values together ("collect": the operator receives them as one list).
OverItems = Literal["some", "every", "collect"]


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
    handles_missing: bool = False  # apply() also receives an unset field (None) instead of failing the comparison
    operand: OperandKind = "scalar"
    over_items: OverItems | None = None  # None: a path with '[]' must be compared item by item inside a for_each
    names_match: bool = False  # apply() returns the name of what matched, shown by {match}
    # Optional shortcut for a string value: given the prepared argument, a one-argument function giving
    # the same truthiness as apply (or None where it cannot); evaluation calls it instead of apply.
    on_strings: Callable[[Any], Callable[[str], object] | None] | None = None
    # Whether on_strings's answer depends on the text alone and costs more than a lookup (a regular
    # expression's search), so that evaluation remembers it by text (see Memo).
    remembers: bool = False


OPERATORS: dict[str, Operator] = {}

# Bounds of each memo: texts longer than this are never kept, and a memo holding this many starts over.
MEMO_TEXT_LENGTH = 128
MEMO_ENTRIES = 2048


class Memo:
    """The answers of one pure string test, remembered by text.

    Environment values, names and option keys repeat across the containers and revisions of an account
    (``LOG_LEVEL=INFO`` in nearly every one), and a regular expression's answer depends on the text alone:
    one dictionary lookup replaces the search. An answer is the name the test gave or a boolean. Memory is
    bounded (``MEMO_TEXT_LENGTH``, ``MEMO_ENTRIES``); the texts kept never leave the process."""

    __slots__ = ("answers", "entries", "test")

    def __init__(self, test: Callable[[str], object], entries: int) -> None:
        self.answers: dict[str, object] = {}
        self.test = test
        self.entries = entries

    def answer(self, text: str) -> object:
        """The test's answer for a text not remembered yet (evaluation looks in ``answers`` first)."""
        found = self.test(text)
        answer = found if type(found) is str else bool(found)
        if self.entries and len(text) <= MEMO_TEXT_LENGTH:
            answers = self.answers
            if len(answers) >= self.entries:
                answers.clear()
            answers[text] = answer
        return answer


# One memo per operator and prepared argument, shared by every comparison making the same test (the
# credential patterns are searched in eight places of one policy). Prepared arguments compare by content.
_MEMOS: dict[tuple[str, object, int], Memo] = {}


def forget_answers() -> None:
    """Empty every memo (in place: generated code holds their dictionaries)."""
    for remembered in _MEMOS.values():
        remembered.answers.clear()


def memo(operator: Operator, argument: Any, test: Callable[[str], object]) -> Memo:
    key = (operator.name, argument, MEMO_ENTRIES)
    found = _MEMOS.get(key)
    if found is None:
        found = _MEMOS[key] = Memo(test, MEMO_ENTRIES)
    return found


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


def _kind(value: object) -> str:
    """Comparable kinds: booleans are not numbers here, and 1 and 1.0 are the same number."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@dataclass(frozen=True)
class Members:
    values: frozenset[Any]
    kinds: frozenset[str]


def _prepare_list(argument: Any) -> Members:
    if not isinstance(argument, list):
        raise ArgumentError("needs a list of values")
    for item in argument:
        if isinstance(item, list | dict) or item is None:
            raise ArgumentError("needs a list of strings, numbers or booleans")
    # Booleans and numbers hash alike (True == 1), so a list mixing them cannot be a set.
    if len({_kind(item) for item in argument} & {"bool", "number"}) > 1:
        raise ArgumentError("cannot mix booleans and numbers in one list")
    return Members(frozenset(argument), frozenset(_kind(item) for item in argument))


def _compile_regex(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise ArgumentError("needs a regular expression string")
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ArgumentError(f"invalid regular expression: {error}") from None


# (name, pattern, the literal every match begins with, "" when none is known)
NamedPattern = tuple[str, re.Pattern[str], str]


@dataclass(frozen=True)
class NamedPatterns:
    patterns: tuple[tuple[str, re.Pattern[str], int], ...]  # name, pattern, shortest text it can match
    # by_length[n]: the patterns, in order, that a text of n characters (the last entry: of at least that many)
    # can match, with their literal prefix. Most environment values ("INFO", "8080") are shorter than any
    # credential and contain none of the prefixes, so most searches are never made.
    by_length: tuple[tuple[NamedPattern, ...], ...]


def _shape(pattern: re.Pattern[str]) -> tuple[int, str]:
    """The fewest characters any match of ``pattern`` spans (lookarounds count none), and the literal text every
    match begins with; (0, "") when unknown."""
    try:
        parser: Any = importlib.import_module("re._parser")
        constants: Any = importlib.import_module("re._constants")
        parsed = parser.parse(pattern.pattern, pattern.flags)
        prefix = ""
        if not pattern.flags & re.IGNORECASE:  # a case-folded literal could match other text
            for op, value in parsed.data:
                if op is not constants.LITERAL:
                    break
                prefix += chr(value)
        return int(parsed.getwidth()[0]), prefix
    except Exception:  # noqa: BLE001 - an optimisation only: without it every pattern is tried
        return 0, ""


def _by_length(shaped: list[tuple[str, re.Pattern[str], int, str]]) -> tuple[tuple[NamedPattern, ...], ...]:
    longest = max(shortest for _, _, shortest, _ in shaped)
    return tuple(
        tuple((name, pattern, prefix) for name, pattern, shortest, prefix in shaped if shortest <= length)
        for length in range(longest + 1)
    )


def _prepare_named_patterns(argument: Any) -> NamedPatterns:
    if not isinstance(argument, dict) or not argument:
        raise ArgumentError("needs a mapping of names to regular expressions")
    patterns = []
    for name, pattern in argument.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise ArgumentError(f"pattern name {name!r} must be an identifier")
        compiled = _compile_regex(pattern)
        patterns.append((name, compiled, *_shape(compiled)))
    # Searched one by one: separate patterns keep the regex engine's literal-prefix scan, which one
    # alternation of them all defeats, and each keeps its own flags and group numbers.
    return NamedPatterns(tuple(entry[:3] for entry in patterns), _by_length(patterns))


def _require_string(value: object) -> str:
    if not isinstance(value, str):
        raise OperandError(f"expected a string, found {_type_name(value)}")
    return value


def _same_kind(left: object, right: object) -> bool:
    return _kind(left) == _kind(right)


def _equals(value: object, argument: object) -> bool:
    if not _same_kind(value, argument):
        raise OperandError(f"cannot compare {_type_name(value)} with {_type_name(argument)}")
    return value == argument


def _in(value: object, argument: Members) -> bool:
    if type(value) is str and (not argument.kinds or "str" in argument.kinds):
        return value in argument.values  # the common case, without the general checks below
    if isinstance(value, list | dict):
        raise OperandError(f"expected a single value, found {_type_name(value)}")
    if argument.kinds and _kind(value) not in argument.kinds:
        raise OperandError(f"cannot look up a {_type_name(value)} in a list of {', '.join(sorted(argument.kinds))}")
    return value in argument.values


def _in_strings(argument: Members) -> Callable[[str], object] | None:
    return argument.values.__contains__ if not argument.kinds or "str" in argument.kinds else None


def _matches(value: object, argument: re.Pattern[str]) -> bool:
    if type(value) is str:
        return argument.search(value) is not None
    return argument.search(_require_string(value)) is not None


def _matches_any(value: object, argument: NamedPatterns) -> str | None:
    text = value if type(value) is str else _require_string(value)
    by_length = argument.by_length
    for name, pattern, prefix in by_length[min(len(text), len(by_length) - 1)]:
        if prefix in text and pattern.search(text) is not None:
            return name
    return None


def _matches_any_strings(argument: NamedPatterns) -> Callable[[str], object]:
    return lambda text: _matches_any(text, argument)


def _includes_all(value: object, argument: Members) -> bool:
    if not isinstance(value, list):
        raise OperandError(f"expected the values of a path through '[]', found {_type_name(value)}")
    # Compared by kind as well as value, as `in` and `equals` compare: the key "1" is not the number 1.
    present = {(_kind(item), item) for item in value if item is not None and not isinstance(item, list | dict)}
    return all((_kind(member), member) in present for member in argument.values)


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
    kind = _kind(argument)
    return any(_kind(item) == kind and item == argument for item in value)


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
    Operator("in", "The field is one of the listed values.", _in, _prepare_list, on_strings=_in_strings),
    Operator(
        "matches",
        "A regular expression finds a match in the string field (anchor it with ^ and $).",
        _matches,
        _compile_regex,
        on_strings=lambda pattern: pattern.search,
        remembers=True,
    ),
    Operator(
        "matches_any",
        "The string field matches one of several named regular expressions; "
        "the name of the first that matches is available to messages as {match}.",
        _matches_any,
        _prepare_named_patterns,
        names_match=True,
        on_strings=_matches_any_strings,
        remembers=True,
    ),
    Operator(
        "exists",
        "The field is present (not missing and not null).",
        _exists,
        _no_argument,
        takes_argument=False,
        handles_missing=True,
        operand="any",
        over_items="some",
    ),
    Operator(
        "empty",
        "The field is missing, null, or an empty string, list or map (an object is not empty).",
        _empty,
        _no_argument,
        takes_argument=False,
        handles_missing=True,
        operand="any",
        over_items="every",
    ),
    Operator("contains", "The list field contains the value.", _contains, _prepare_scalar, operand="list"),
    # A new operator because no condition can iterate a parameter's list: "every required tag key is present"
    # needs the reached values taken together.
    Operator(
        "includes_all",
        "Every listed value is among the values a path through '[]' reaches (tags[].key); an empty list holds.",
        _includes_all,
        _prepare_list,
        operand="any",
        over_items="collect",
    ),
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
