"""Regular expression answers remembered by text: the same verdicts as searching anew, within fixed bounds."""

from __future__ import annotations

import dataclasses
import re

import pytest
from test_policy_cases import Scenario, build_resource, case_files

from ecsguard.catalog import load_policy_set
from ecsguard.core import operators
from ecsguard.core.operators import OPERATORS, Memo, forget_answers, memo
from policy_catalog import POLICY_DIR


def _searches(pattern: str) -> tuple[Memo, list[str]]:
    """A memo over a pattern's search, and the texts the test was actually called with."""
    compiled = re.compile(pattern)
    asked: list[str] = []

    def test(text: str) -> object:
        asked.append(text)
        return compiled.search(text)

    return Memo(test, entries=3), asked


def test_memo_answers_from_memory_after_the_first_search() -> None:
    # GIVEN a memo over a search
    remembered, asked = _searches("secret")

    # WHEN the same texts are answered twice, looking in the answers first as generated code does
    def lookup(text: str) -> object:
        found = remembered.answers.get(text)
        return remembered.answer(text) if found is None else found

    answers = [lookup(text) for text in ("my-secret", "plain") * 2]

    # THEN each text was searched once, and the answers are booleans equal to the search's
    assert asked == ["my-secret", "plain"]
    assert [remembered.answers.get("my-secret"), remembered.answers.get("plain")] == [True, False]
    assert answers == [True, False, True, False]


def test_memo_keeps_no_long_text_and_starts_over_when_full() -> None:
    remembered, _ = _searches("x")

    # GIVEN a text longer than the bound: answered, never kept
    long_text = "x" * (operators.MEMO_TEXT_LENGTH + 1)
    assert remembered.answer(long_text) is True
    assert long_text not in remembered.answers

    # WHEN more texts than the memo's entries arrive
    for text in ("a", "b", "c", "d"):
        remembered.answer(text)

    # THEN it never holds more than its entries: the fourth started it over
    assert list(remembered.answers) == ["d"]


def test_memo_without_entries_keeps_nothing() -> None:
    remembered = Memo(re.compile("x").search, entries=0)
    assert remembered.answer("x") is True
    assert remembered.answers == {}


def test_memo_keeps_the_name_a_named_test_gives() -> None:
    matches_any = OPERATORS["matches_any"]
    patterns = matches_any.prepare({"first": "^a", "second": "b"})
    assert matches_any.on_strings is not None
    remembered = Memo(matches_any.on_strings(patterns), entries=8)
    assert [remembered.answer(text) for text in ("ab", "xb", "xx")] == ["first", "second", False]
    assert remembered.answers == {"ab": "first", "xb": "second", "xx": False}


def test_equal_tests_share_one_memo_and_forget_answers_empties_it() -> None:
    matches = OPERATORS["matches"]
    pattern = "(?i)unique-to-this-test"
    first = memo(matches, matches.prepare(pattern), re.compile(pattern).search)
    second = memo(matches, matches.prepare(pattern), re.compile(pattern).search)
    assert first is second
    answers = first.answers
    first.answer("Unique-To-This-Test")
    assert answers

    forget_answers()

    # emptied in place: generated code holds the dictionary itself
    assert first.answers is answers
    assert answers == {}


def _default_scenarios() -> list[tuple[str, str, Scenario]]:
    return [
        (case_file.policy, letter, scenario)
        for case_file in case_files()
        for letter, scenario in case_file.scenarios.items()
        if not scenario.parameters
    ]


def test_remembered_verdicts_equal_searching_anew_over_every_case(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the catalog compiled twice: remembering answers, and with operators that search every time
    remembering = load_policy_set(POLICY_DIR)
    for name, operator in list(OPERATORS.items()):
        monkeypatch.setitem(OPERATORS, name, dataclasses.replace(operator, remembers=False))
    forgetful = load_policy_set(POLICY_DIR)
    monkeypatch.undo()
    scenarios = _default_scenarios()
    assert len(scenarios) > 100
    resources = []
    for policy_id, letter, scenario in scenarios:
        policy = remembering.get(policy_id)
        assert policy is not None
        resources.append(build_resource(policy.resource_type, scenario, f"{policy_id}/{letter}"))

    # WHEN every case resource is judged by every policy: twice remembering (the second time from memory)
    forget_answers()
    first = remembering.evaluate(resources)
    again = remembering.evaluate(resources)
    fresh = forgetful.evaluate(resources)

    # THEN every result is the same, evidence and {match} names included
    assert first == fresh
    assert again == fresh
