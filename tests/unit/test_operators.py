"""The comparison operators of the policy language: outcomes, operand errors, argument errors, versions."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsguard.core.models import KeyValuePair
from ecsguard.core.operators import (
    OPERATORS,
    ArgumentError,
    Members,
    OperandError,
    Operator,
    describe_operators,
    parse_version,
    register,
)

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
ALPHABET = string.ascii_letters + string.digits + "-_.:/=+@ "

# A value planted in operands: an OperandError message must never repeat it (it may be a secret).
PLANTED = "PLANTED-s3cr3t-7f3a"
PLANTED_NUMBER = 8675309

BUILT_IN_OPERATORS = frozenset(
    {
        "equals",
        "in",
        "matches",
        "matches_any",
        "exists",
        "empty",
        "contains",
        "includes_all",
        "version_gte",
        "version_gt",
        "version_lte",
        "version_lt",
        "gte",
        "gt",
        "lte",
        "lt",
    }
)


def run(name: str, value: Any, argument: Any = None) -> object:
    """Prepare ``argument`` as the policy loader does, then apply the operator to ``value``."""
    operator = OPERATORS[name]
    return operator.apply(value, operator.prepare(argument))


# --- outcomes -------------------------------------------------------------------------

TRUE_CASES = [
    ("equals", "awsvpc", "awsvpc"),
    ("equals", 1, 1.0),
    ("equals", True, True),
    ("in", "awsvpc", ["awsvpc", "bridge"]),
    ("in", 2, [1, 2]),
    ("matches", "nginx:latest", "^nginx"),
    ("matches", "docker.io/library/nginx", "nginx"),  # search, not fullmatch
    ("exists", "", None),
    ("exists", False, None),
    ("exists", [], None),
    ("empty", None, None),
    ("empty", "", None),
    ("empty", [], None),
    ("empty", {}, None),
    ("contains", ["SYS_ADMIN", "NET_ADMIN"], "NET_ADMIN"),
    ("includes_all", ["team", "env", "cost-center"], ["team", "cost-center"]),
    ("includes_all", ["team"], []),  # nothing required
    ("includes_all", [], []),
    ("includes_all", ["team", None], ["team"]),  # an item without the field is passed over
    ("version_gte", "1.10.0", "1.4.0"),
    ("version_gte", "1.4", "1.4.0"),
    ("version_gt", "1.4.1", "1.4"),
    ("version_lte", "1.4.0", "1.4"),
    ("version_lte", "1.9", "1.10"),
    ("version_lt", "1.9.9", "1.10"),
    ("gte", 5, 5),
    ("gte", 5, 4.5),
    ("gt", 6, 5),
    ("lte", 5.0, 5),
    ("lt", 4, 5),
]

FALSE_CASES = [
    ("equals", "bridge", "awsvpc"),
    ("equals", False, True),
    ("equals", 2, 1),
    ("in", "host", ["awsvpc", "bridge"]),
    ("in", "awsvpc", []),
    ("matches", "my-nginx", "^nginx"),
    ("exists", None, None),
    ("empty", "x", None),
    ("empty", ["a"], None),
    ("empty", {"k": "v"}, None),
    ("empty", KeyValuePair(), None),  # an object that is present is not empty
    ("contains", ["SYS_ADMIN"], "NET_ADMIN"),
    ("contains", [], "NET_ADMIN"),
    ("includes_all", ["team"], ["team", "cost-center"]),
    ("includes_all", [], ["team"]),
    ("includes_all", ["Team"], ["team"]),  # case sensitive
    ("includes_all", ["1"], [1]),  # compared by kind, as `in` compares
    ("includes_all", [1], [True]),
    ("version_gte", "1.3.9", "1.4.0"),
    ("version_gte", "1.4.0", "1.10"),
    ("version_gt", "1.4.0", "1.4"),
    ("version_lte", "1.10", "1.9"),
    ("version_lt", "1.4", "1.4.0"),
    ("gte", 4.5, 5),
    ("gt", 5, 5),
    ("lte", 6, 5),
    ("lt", 5, 5),
]


@pytest.mark.parametrize(("name", "value", "argument"), TRUE_CASES)
def test_operator_satisfied_operand_returns_true(name: str, value: Any, argument: Any) -> None:
    assert run(name, value, argument) is True


@pytest.mark.parametrize(("name", "value", "argument"), FALSE_CASES)
def test_operator_unsatisfied_operand_returns_false(name: str, value: Any, argument: Any) -> None:
    assert run(name, value, argument) is False


def test_operator_tables_cover_every_registered_operator() -> None:
    # matches_any returns a name rather than a bool and has its own tests below.
    covered_true = {case[0] for case in TRUE_CASES} | {"matches_any"}
    covered_false = {case[0] for case in FALSE_CASES} | {"matches_any"}
    assert covered_true == set(OPERATORS) == BUILT_IN_OPERATORS
    assert covered_false == set(OPERATORS)


# --- matches_any ---------------------------------------------------------------------


def test_matches_any_matching_value_returns_pattern_name() -> None:
    patterns = {"aws_key": "AKIA[A-Z0-9]{16}", "private_key": "-----BEGIN [A-Z ]*PRIVATE KEY-----"}
    assert run("matches_any", "-----BEGIN RSA PRIVATE KEY-----", patterns) == "private_key"
    assert run("matches_any", "key AKIAIOSFODNN7EXAMPLE", patterns) == "aws_key"


def test_matches_any_no_match_returns_none() -> None:
    assert run("matches_any", "plain value", {"aws_key": "AKIA[A-Z0-9]{16}"}) is None


def test_matches_any_two_patterns_match_first_declared_names_result() -> None:
    # Both match; the first pattern in declaration order names the result, wherever it matches.
    assert run("matches_any", "ab", {"first": "b", "second": "a"}) == "first"


def test_matches_any_two_patterns_match_same_offset_first_listed_wins() -> None:
    assert run("matches_any", "ab", {"longer": "ab", "shorter": "a"}) == "longer"
    assert run("matches_any", "ab", {"shorter": "a", "longer": "ab"}) == "shorter"


def test_matches_any_pattern_with_unnamed_group_returns_its_name() -> None:
    assert run("matches_any", "token=abc", {"grouped": "(?:token|key)=(abc)", "other": "zzz"}) == "grouped"


def test_matches_any_pattern_with_numbered_backreference_matches_or_is_rejected() -> None:
    # GIVEN a valid pattern that uses a numbered backreference, listed after another pattern
    patterns = {"first": "foo", "doubled": r"(\w)\1"}
    # WHEN the patterns are prepared
    try:
        prepared = OPERATORS["matches_any"].prepare(patterns)
    except ArgumentError:
        return  # rejecting it at load time is acceptable: the policy author learns of it
    # THEN it must still find "aa" (combining the patterns must not renumber its groups silently)
    assert OPERATORS["matches_any"].apply("xaay", prepared) == "doubled"


# --- operand errors ------------------------------------------------------------------

OPERAND_ERRORS = [
    ("equals", PLANTED, 5, "cannot compare str with int"),
    ("equals", True, 1, "cannot compare bool with int"),
    ("equals", PLANTED_NUMBER, PLANTED, "cannot compare int with str"),
    ("in", PLANTED, [1, 2], "cannot look up a str in a list of number"),
    ("in", True, [1, 2], "cannot look up a bool in a list of number"),
    ("in", [PLANTED], ["a"], "expected a single value, found list"),
    ("matches", PLANTED_NUMBER, "x", "expected a string, found int"),
    ("matches", [PLANTED], "x", "expected a string, found list"),
    ("matches_any", PLANTED_NUMBER, {"name": "x"}, "expected a string, found int"),
    ("matches_any", {"k": PLANTED}, {"name": "x"}, "expected a string, found dict"),
    ("empty", PLANTED_NUMBER, None, "a int cannot be empty"),
    ("empty", True, None, "a bool cannot be empty"),
    ("contains", PLANTED, "P", "expected a list, found str"),
    ("includes_all", PLANTED, ["team"], "expected the values of a path through '[]', found str"),
    ("version_gte", PLANTED, "1.4.0", "is not a dotted numeric version"),
    ("version_gt", "1.x", "1.4.0", "is not a dotted numeric version"),
    ("version_lte", PLANTED_NUMBER, "1.4.0", "expected a version string, found int"),
    ("version_lt", None, "1.4.0", "expected a version string, found NoneType"),
    ("gte", PLANTED, 1, "expected a number, found str"),
    ("gt", True, 1, "expected a number, found bool"),
    ("lte", [PLANTED_NUMBER], 1, "expected a number, found list"),
    ("lt", None, 1, "expected a number, found NoneType"),
]


@pytest.mark.parametrize(("name", "value", "argument", "message"), OPERAND_ERRORS)
def test_operator_mismatched_operand_raises_operand_error(name: str, value: Any, argument: Any, message: str) -> None:
    with pytest.raises(OperandError) as raised:
        run(name, value, argument)
    assert str(raised.value) == message


@pytest.mark.parametrize(("name", "value", "argument", "message"), OPERAND_ERRORS)
def test_operand_error_message_never_contains_compared_value(
    name: str, value: Any, argument: Any, message: str
) -> None:
    with pytest.raises(OperandError) as raised:
        run(name, value, argument)
    assert PLANTED not in str(raised.value)
    assert str(PLANTED_NUMBER) not in str(raised.value)


def test_operand_error_tables_cover_every_operator_that_can_raise() -> None:
    # exists accepts any value, so it is the only operator without an operand error.
    assert {case[0] for case in OPERAND_ERRORS} == set(OPERATORS) - {"exists"}


def test_exists_any_present_value_returns_true_without_error() -> None:
    assert [run("exists", value) for value in (0, KeyValuePair(), {"k": 1}, PLANTED)] == [True, True, True, True]


# --- argument errors -----------------------------------------------------------------

ARGUMENT_ERRORS = [
    ("equals", None, "needs a single value (string, number or boolean)"),
    ("equals", ["awsvpc"], "needs a single value (string, number or boolean)"),
    ("equals", {"a": 1}, "needs a single value (string, number or boolean)"),
    ("in", "awsvpc", "needs a list of values"),
    ("in", [None], "needs a list of strings, numbers or booleans"),
    ("in", [["a"]], "needs a list of strings, numbers or booleans"),
    ("in", [{"a": 1}], "needs a list of strings, numbers or booleans"),
    ("matches", "(", "invalid regular expression: missing ), unterminated subpattern at position 0"),
    ("matches", 5, "needs a regular expression string"),
    ("matches", None, "needs a regular expression string"),
    ("matches_any", {}, "needs a mapping of names to regular expressions"),
    ("matches_any", ["x"], "needs a mapping of names to regular expressions"),
    ("matches_any", {"1bad": "x"}, "pattern name '1bad' must be an identifier"),
    ("matches_any", {"bad-name": "x"}, "pattern name 'bad-name' must be an identifier"),
    ("matches_any", {"name": 5}, "needs a regular expression string"),
    ("matches_any", {"name": "("}, "invalid regular expression: missing ), unterminated subpattern at position 0"),
    ("in", [True, 1], "cannot mix booleans and numbers in one list"),
    ("exists", "x", "takes no value"),
    ("exists", False, "takes no value"),
    ("empty", [], "takes no value"),
    ("contains", None, "needs a single value (string, number or boolean)"),
    ("contains", ["a"], "needs a single value (string, number or boolean)"),
    ("includes_all", "team", "needs a list of values"),
    ("includes_all", [None], "needs a list of strings, numbers or booleans"),
    ("version_gte", "1.x", "needs a version such as '1.4.0': is not a dotted numeric version"),
    ("version_gt", "", "needs a version such as '1.4.0': is not a dotted numeric version"),
    ("version_lte", 1.4, "needs a version such as '1.4.0': expected a version string, found float"),
    ("version_lt", None, "needs a version such as '1.4.0': expected a version string, found NoneType"),
    ("gte", "5", "needs a number"),
    ("gt", True, "needs a number"),
    ("lte", None, "needs a number"),
    ("lt", [1], "needs a number"),
]


@pytest.mark.parametrize(("name", "argument", "message"), ARGUMENT_ERRORS)
def test_operator_prepare_invalid_argument_raises_argument_error(name: str, argument: Any, message: str) -> None:
    with pytest.raises(ArgumentError) as raised:
        OPERATORS[name].prepare(argument)
    assert str(raised.value) == message


def test_argument_error_tables_cover_every_registered_operator() -> None:
    assert {case[0] for case in ARGUMENT_ERRORS} == set(OPERATORS)


def test_operator_prepare_valid_arguments_returns_compiled_forms() -> None:
    assert OPERATORS["in"].prepare(["awsvpc", "bridge"]) == Members(frozenset({"awsvpc", "bridge"}), frozenset({"str"}))
    patterns = OPERATORS["matches_any"].prepare({"a": "x", "b": "(?i)y"})
    assert [(name, pattern.pattern, shortest) for name, pattern, shortest in patterns.patterns] == [
        ("a", "x", 1),
        ("b", "(?i)y", 1),
    ]
    assert OPERATORS["matches"].prepare("^a$").pattern == "^a$"
    assert OPERATORS["version_gte"].prepare("v1.4.0") == (1, 4)
    assert OPERATORS["gte"].prepare(5) == 5.0
    assert OPERATORS["exists"].prepare(None) is None


def test_operator_flags_only_exists_and_empty_handle_missing_without_argument() -> None:
    assert {name for name, operator in OPERATORS.items() if operator.handles_missing} == {"exists", "empty"}
    assert {name for name, operator in OPERATORS.items() if not operator.takes_argument} == {"exists", "empty"}


# --- parse_version -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.4.0", (1, 4)),
        ("1.4", (1, 4)),
        ("1.10.0", (1, 10)),
        ("v1.4.0", (1, 4)),
        ("V2", (2,)),
        ("0", (0,)),
        ("0.0.0", (0,)),
        ("1.0.10", (1, 0, 10)),
        ("2023.10.01", (2023, 10, 1)),
    ],
)
def test_parse_version_dotted_numeric_text_returns_tuple(text: str, parsed: tuple[int, ...]) -> None:
    assert parse_version(text) == parsed


def test_parse_version_numeric_ordering_puts_1_10_after_1_4() -> None:
    assert parse_version("1.10.0") > parse_version("1.4.0")
    assert parse_version("1.4.0") < parse_version("1.10.0")


def test_parse_version_trailing_zeros_are_equal() -> None:
    assert parse_version("1.4") == parse_version("1.4.0") == parse_version("v1.4.0.0")


@pytest.mark.parametrize(
    "text", ["1.x", "", "1.", ".1", "1..2", " 1.4", "1.4 ", "1.4.0-rc1", "LATEST", "v", "vv1.4", "1,4"]
)
def test_parse_version_malformed_text_raises_operand_error(text: str) -> None:
    with pytest.raises(OperandError) as raised:
        parse_version(text)
    assert str(raised.value) == "is not a dotted numeric version"


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(None, "NoneType"), (1.4, "float"), (14, "int"), (["1", "4"], "list"), (b"1.4", "bytes"), (True, "bool")],
)
def test_parse_version_non_string_raises_operand_error(value: object, type_name: str) -> None:
    with pytest.raises(OperandError) as raised:
        parse_version(value)
    assert str(raised.value) == f"expected a version string, found {type_name}"


# --- registry ------------------------------------------------------------------------


@pytest.fixture
def scratch_operator() -> Iterator[Operator]:
    operator = register(Operator("scratch_is_upper", "The string is upper case.", lambda v, a: v.isupper(), _none))
    yield operator
    del OPERATORS[operator.name]


def _none(argument: Any) -> None:
    return None


def test_register_new_operator_is_listed_by_name(scratch_operator: Operator) -> None:
    assert OPERATORS["scratch_is_upper"] is scratch_operator
    assert describe_operators()["scratch_is_upper"] == "The string is upper case."


def test_register_duplicate_name_raises_value_error(scratch_operator: Operator) -> None:
    with pytest.raises(ValueError, match="operator 'scratch_is_upper' is already registered"):
        register(Operator("scratch_is_upper", "again", lambda v, a: True, _none))
    assert OPERATORS["scratch_is_upper"] is scratch_operator


def test_register_built_in_name_raises_value_error() -> None:
    with pytest.raises(ValueError, match="operator 'equals' is already registered"):
        register(Operator("equals", "shadow", lambda v, a: True, _none))


def test_describe_operators_lists_every_operator_sorted_with_its_doc() -> None:
    described = describe_operators()
    assert list(described) == sorted(BUILT_IN_OPERATORS)
    assert all(described[name] == OPERATORS[name].doc and described[name] for name in described)


def test_matches_any_pattern_with_leading_inline_flag_applies_it_to_that_pattern_only() -> None:
    patterns = {"strict": "abc", "loose": "(?i)xyz"}

    assert run("matches_any", "XYZ", patterns) == "loose"
    assert run("matches_any", "ABC", patterns) is None


@pytest.mark.parametrize(
    ("pattern", "shortest"),
    [("(?<![A-Z0-9])AKIA[A-Z0-9]{16}", 20), ("a|bcd", 1), ("x?", 0), ("-----BEGIN (?:[A-Z]+ )*KEY", 14)],
)
def test_matches_any_shortest_match_counts_no_lookaround(pattern: str, shortest: int) -> None:
    (entry,) = OPERATORS["matches_any"].prepare({"p": pattern}).patterns

    assert entry[2] == shortest


def test_matches_any_value_shorter_than_a_pattern_skips_only_that_pattern() -> None:
    patterns = {"long": "[a-z]{10}", "short": "ab"}

    assert run("matches_any", "abc", patterns) == "short"
    assert run("matches_any", "abcdefghij", patterns) == "long"


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("AKIA[A-Z0-9]{16}", "AKIA"),
        ("(?:AKIA|ASIA)[A-Z0-9]{16}", "A"),  # the parser takes the branches' common first letter out
        ("glpat-(?<![A-Za-z0-9_]glpat-)[A-Za-z0-9_-]{20,}", "glpat-"),
        ("(?i)token=\\S", ""),  # a case-folded literal can match other text
        ("(?m)^bearer", ""),
        ("[;?&]pwd=", ""),
        ("x?y", ""),
    ],
)
def test_matches_any_knows_the_literal_every_match_begins_with(pattern: str, prefix: str) -> None:
    prepared = OPERATORS["matches_any"].prepare({"p": pattern})

    assert {entry[2] for entries in prepared.by_length for entry in entries} <= {prefix}


def test_matches_any_names_the_first_matching_pattern_as_searching_each_in_turn_does() -> None:
    # GIVEN the catalog's credential patterns and texts of every length around theirs, with and without prefixes
    document = yaml.safe_load((POLICY_DIR / "ecs-secrets-managed.yaml").read_text(encoding="utf-8"))
    shapes = document["parameters"]["credential_patterns"]["default"]
    prepared = OPERATORS["matches_any"].prepare(shapes)
    compiled = [(name, re.compile(pattern)) for name, pattern in shapes.items()]
    fragments = ["AKIA", "ghp_", "xoxb-", "://u:p@", "eyJ", "NRAL", "-Dpass=", "api-key=", "Bearer ", ";pwd=", "="]
    rng = random.Random(7)
    texts = [
        "",
        "AKIAABCDEFGHIJKLMNOP",
        "ghp_" + "a" * 36,
        "postgres://app:pw@db/app",
        "eyJ" + "a" * 10 + ".eyJ" + "b" * 10 + "." + "c" * 10,
        "Bearer " + "x" * 20,
        "jdbc:sqlserver://db;password=y",
        "-Djavax.net.ssl.keyStorePassword=abc",
        "key=" + "k" * 12,
        "x" * 36 + "NRAL",
    ]
    for _ in range(3000):
        parts = [rng.choice(fragments) if rng.random() < 0.3 else "".join(rng.choices(ALPHABET, k=rng.randint(0, 40)))]
        texts.append("".join(parts * rng.randint(1, 3)))

    # THEN the prepared operator answers what a plain search of each pattern in order answers
    named = set()
    for text in texts:
        expected = next((name for name, pattern in compiled if pattern.search(text)), None)
        assert OPERATORS["matches_any"].apply(text, prepared) == expected, text
        named.add(expected)
    # (and the texts were such that many patterns, not none, matched some of them)
    assert len(named - {None}) >= 8
