r"""No policy's regular expression uses ``\d`` or ``\w`` where ASCII is meant (STYLE: "Things we do not repeat").

In Python, ``\d`` matches any Unicode digit and ``\w`` any Unicode letter or digit, so ``^\d{12}$`` accepts an
account id in full-width (U+FF10..U+FF19) or Arabic-Indic (U+0660..U+0669) digits. Policies write ``[0-9]`` and
``[A-Za-z0-9_]`` instead (or set the ASCII flag, ``(?a)``).

Every policy file in ``policies/`` is read as written (YAML anchors resolved). Its regular expressions are
the values of ``matches`` and ``matches_any`` comparisons (a pattern, a map of named patterns, or a
``{param: name}`` naming a parameter whose default is one), every ``capture``, and the default of every
``pattern_map`` parameter. Each is scanned for ``\d``, ``\D``, ``\w`` and ``\W``, inside a character class
or outside one; an escaped backslash (``\\d``, a backslash then "d") is not one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_catalog import POLICY_DIR

REGEX_OPERATORS = frozenset({"matches", "matches_any"})
UNICODE_CLASSES = frozenset("dDwW")
# Policies whose fix is on another branch: expected to fail here until it is merged, then strict xfail
# fails the run, so the mark is removed with the merge.
FIXED_ELSEWHERE: dict[str, str] = {}  # policy id -> why its unicode classes are expected (none now)


def unicode_classes(pattern: str) -> list[str]:
    r"""The ``\d``/``\D``/``\w``/``\W`` escapes in ``pattern``, in order; none when it sets the ASCII flag."""
    if re.compile(pattern).flags & re.ASCII:
        return []
    found, position = [], 0
    while position < len(pattern):
        if pattern[position] == "\\" and position + 1 < len(pattern):
            if pattern[position + 1] in UNICODE_CLASSES:
                found.append(pattern[position : position + 2])
            position += 2  # an escape is two characters: "\\" then "d" is a literal backslash and a "d"
        else:
            position += 1
    return found


def _patterns(value: Any, parameters: dict[str, Any]) -> Iterator[str]:
    """The regular expressions a comparison's value stands for."""
    if isinstance(value, dict) and set(value) == {"param"}:
        yield from _patterns((parameters.get(value["param"]) or {}).get("default"), {})
    elif isinstance(value, dict):
        yield from (pattern for pattern in value.values() if isinstance(pattern, str))
    elif isinstance(value, str):
        yield value


def regexes(node: Any, parameters: dict[str, Any], where: str = "check") -> Iterator[tuple[str, str]]:
    """(location, pattern) for every regular expression in a condition tree."""
    if isinstance(node, dict):
        if node.get("op") in REGEX_OPERATORS:
            yield from ((f"{where}.value", pattern) for pattern in _patterns(node.get("value"), parameters))
        if isinstance(node.get("capture"), str):
            yield f"{where}.capture", node["capture"]
        for key, child in node.items():
            yield from regexes(child, parameters, f"{where}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from regexes(child, parameters, f"{where}[{index}]")


def policy_regexes(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    parameters: dict[str, Any] = document.get("parameters") or {}
    for name, declared in parameters.items():
        if declared.get("type") == "pattern_map":
            for key, pattern in (declared.get("default") or {}).items():
                yield f"parameters.{name}.default.{key}", pattern
    for part in ("applies_when", "check"):
        yield from regexes(document.get(part), parameters, part)


POLICY_PATHS = sorted(path for path in POLICY_DIR.iterdir() if path.suffix in (".yaml", ".yml"))


def _policy_files() -> list[Any]:
    return [
        pytest.param(path, id=path.stem, marks=pytest.mark.xfail(strict=True, reason=FIXED_ELSEWHERE[path.stem]))
        if path.stem in FIXED_ELSEWHERE
        else pytest.param(path, id=path.stem)
        for path in POLICY_PATHS
    ]


@pytest.mark.parametrize("path", _policy_files())
def test_policy_regexes_use_no_unicode_digit_or_word_classes(path: Path) -> None:
    # GIVEN the policy file as written
    document = yaml.safe_load(path.read_text(encoding="utf-8"))

    # WHEN its regular expressions are scanned
    found = {
        location: escapes for location, pattern in policy_regexes(document) if (escapes := unicode_classes(pattern))
    }

    # THEN none uses \d or \w (or their complements)
    assert found == {}


def test_policy_regex_scan_finds_regexes_in_the_catalog() -> None:
    # A scan that found no regex anywhere would pass every policy: the catalog has comparisons with patterns.
    documents = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in POLICY_PATHS]
    assert sum(1 for document in documents for _ in policy_regexes(document)) > 0


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^\d{12}$", [r"\d"]),
        (r"[\d.]+", [r"\d"]),
        (r"\w+\W", [r"\w", r"\W"]),
        (r"[^\D]", [r"\D"]),
        (r"^[0-9]{12}$", []),
        (r"[A-Za-z0-9_]+", []),
        (r"\\d", []),  # an escaped backslash followed by "d"
        (r"\\\d", [r"\d"]),  # an escaped backslash, then \d
        (r"\S+\s", []),
        (r"(?a)\d{12}", []),  # the ASCII flag makes \d mean [0-9]
    ],
)
def test_unicode_classes_finds_each_escape(pattern: str, expected: list[str]) -> None:
    assert unicode_classes(pattern) == expected


def test_policy_regexes_reads_values_captures_parameters_and_pattern_maps() -> None:
    # GIVEN a policy with a regex in each place one can be
    document = {
        "parameters": {
            "name_pattern": {"type": "string", "default": r"\w+"},
            "shapes": {"type": "pattern_map", "default": {"key": r"\d"}},
            "label": {"type": "string", "default": r"not a regex \d"},
        },
        "applies_when": {"field": "family", "op": "matches", "value": "a"},
        "check": {
            "all": [
                {"field": "name", "op": "matches", "value": {"param": "name_pattern"}},
                {"field": "image", "capture": "^(b)", "op": "in", "value": ["c"]},
                {"field": "value", "op": "matches_any", "value": {"one": "d", "two": "e"}},
                {"field": "value", "op": "equals", "value": "not a regex"},
            ]
        },
    }

    # WHEN its regexes are collected
    found = sorted(pattern for _, pattern in policy_regexes(document))

    # THEN every regex is found, and strings that are not regexes are not
    assert found == sorted([r"\w+", r"\d", "a", "^(b)", "d", "e"])
