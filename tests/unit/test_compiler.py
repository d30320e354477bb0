"""The policy language: compile-time checks with their locations, then evaluation semantics through the engine."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from ecsguard.core.compiler import (
    CompileProblem,
    PolicyCompileError,
    check_parameter_value,
    compile_policy,
)
from ecsguard.core.engine import PolicySet, evaluate_policy
from ecsguard.core.operators import OPERATORS, Operator, register
from ecsguard.core.policy import PolicyDocument
from ecsguard.core.resources import Resource, Unresolved, build_service, build_task_definition
from ecsguard.core.results import Evidence, Result, Status
from ecsguard.report import result_document

TASK = "AWS::ECS::TaskDefinition"
SERVICE = "AWS::ECS::Service"
KNOWN_OPERATORS = ", ".join(sorted(OPERATORS))

# A value planted in sensitive fields: it must never reach a result.
PLANTED = "PLANTED-s3cr3t-7f3a"


def policy(
    check: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any] | None = None,
    applies_when: Mapping[str, Any] | None = None,
    resource: str = TASK,
    policy_id: str = "test-policy",
) -> PolicyDocument:
    data: dict[str, Any] = {
        "id": policy_id,
        "title": "Test policy",
        "description": "A policy written by a test.",
        "severity": "HIGH",
        "resource": resource,
        "packs": ["mission"],
        "remediation": {"text": "Fix it.", "url": "https://example.com/fix"},
        "check": check,
    }
    if parameters is not None:
        data["parameters"] = parameters
    if applies_when is not None:
        data["applies_when"] = applies_when
    return PolicyDocument.model_validate(data)


def param(kind: str, default: Any) -> dict[str, Any]:
    return {"type": kind, "default": default, "description": "A test parameter."}


def problems(document: PolicyDocument, overrides: Mapping[str, Any] | None = None) -> set[tuple[tuple[Any, ...], str]]:
    with pytest.raises(PolicyCompileError) as raised:
        compile_policy(document, overrides or {}, "test")
    return {(problem.location, problem.message) for problem in raised.value.problems}


def evaluate(document: PolicyDocument, resource: Resource, overrides: Mapping[str, Any] | None = None) -> Result:
    (result,) = PolicySet((compile_policy(document, overrides or {}, "test"),)).evaluate([resource])
    return result


def evaluate_task(check: Mapping[str, Any], data: Mapping[str, Any], **kwargs: Any) -> Result:
    return evaluate(policy(check, **kwargs), build_task_definition(data, "td-1"))


def evidence(result: Result) -> set[tuple[str, str]]:
    return {(item.path, item.message) for item in result.evidence}


def containers(*definitions: Mapping[str, Any]) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": list(definitions)}


# --- compile-time problems -------------------------------------------------------------


def test_compile_unknown_field_path_reports_suggestion_at_field() -> None:
    document = policy({"field": "netwrkMode", "op": "equals", "value": "awsvpc"})
    assert problems(document) == {
        (
            ("check", "field"),
            "unknown field 'netwrkMode' in the resource (did you mean 'networkMode'?) in path 'netwrkMode'",
        )
    }


def test_compile_unknown_field_inside_for_each_names_loop_item_not_resource() -> None:
    document = policy(
        {"for_each": "containerDefinitions[]", "as": "container", "require": {"field": "imag", "op": "exists"}}
    )
    assert problems(document) == {
        (
            ("check", "require", "field"),
            "unknown field 'imag' in '$container' (did you mean 'image'?) in path 'imag'",
        )
    }


def test_compile_unknown_operator_reports_known_operators_at_op() -> None:
    document = policy({"field": "networkMode", "op": "equal", "value": "awsvpc"})
    assert problems(document) == {(("check", "op"), f"unknown operator 'equal' (known: {KNOWN_OPERATORS})")}


def test_compile_unknown_parameter_in_value_reports_declared_parameters() -> None:
    document = policy(
        {"field": "networkMode", "op": "in", "value": {"param": "mode"}},
        parameters={"modes": param("string_list", ["awsvpc"])},
    )
    assert problems(document) == {(("check", "value"), "unknown parameter 'mode' (declared: modes)")}


def test_compile_unknown_parameter_as_subject_reports_at_param() -> None:
    document = policy({"param": "allow_public", "op": "equals", "value": True})
    assert problems(document) == {(("check", "param"), "unknown parameter 'allow_public'")}


def test_compile_bad_regex_literal_reports_at_value() -> None:
    document = policy({"field": "networkMode", "op": "matches", "value": "(awsvpc"})
    assert problems(document) == {
        (
            ("check", "value"),
            "operator 'matches' invalid regular expression: missing ), unterminated subpattern at position 0",
        )
    }


def test_compile_bad_regex_in_parameter_reports_at_value() -> None:
    document = policy(
        {"field": "networkMode", "op": "matches", "value": {"param": "pattern"}},
        parameters={"pattern": param("string", "[a-")},
    )
    assert problems(document) == {
        (("check", "value"), "operator 'matches' invalid regular expression: unterminated character set at position 0")
    }


def test_compile_bad_capture_regex_reports_at_capture() -> None:
    document = policy({"field": "family", "op": "equals", "value": "web", "capture": "(web"})
    assert problems(document) == {
        (("check", "capture"), "invalid regular expression: missing ), unterminated subpattern at position 0")
    }


@pytest.mark.parametrize("capture", ["web", "(w)(e)b"])
def test_compile_capture_without_exactly_one_group_is_rejected(capture: str) -> None:
    document = policy({"field": "family", "op": "equals", "value": "web", "capture": capture})
    assert problems(document) == {(("check", "capture"), "a capture pattern needs exactly one group")}


def test_compile_parameter_default_of_wrong_type_reports_at_default() -> None:
    # GIVEN a string_list parameter whose default is a single string
    document = policy(
        {"field": "networkMode", "op": "in", "value": {"param": "modes"}},
        parameters={"modes": param("string_list", "awsvpc")},
    )
    # THEN the default is reported, and so is the operator that cannot use it
    assert problems(document) == {
        (("parameters", "modes", "default"), "must be a list of strings, found str"),
        (("check", "value"), "operator 'in' needs a list of values"),
    }


def test_compile_parameter_override_of_wrong_type_reports_at_parameter() -> None:
    document = policy(
        {"field": "networkMode", "op": "in", "value": {"param": "modes"}},
        parameters={"modes": param("string_list", ["awsvpc"])},
    )
    assert problems(document, {"modes": 5}) == {
        (("parameters", "modes"), "override must be a list of strings, found int"),
        (("check", "value"), "operator 'in' needs a list of values"),
    }


def test_compile_version_override_not_a_version_is_rejected() -> None:
    document = policy(
        {"field": "family", "op": "version_gte", "value": {"param": "minimum"}},
        parameters={"minimum": param("version", "1.4.0")},
    )
    assert problems(document, {"minimum": "1.x"}) == {
        (("parameters", "minimum"), "override must be a version string such as '1.4.0', found str"),
        (("check", "value"), "operator 'version_gte' needs a version such as '1.4.0': is not a dotted numeric version"),
    }


def test_compile_override_of_unknown_parameter_is_rejected() -> None:
    document = policy(
        {"field": "networkMode", "op": "in", "value": {"param": "modes"}},
        parameters={"modes": param("string_list", ["awsvpc"])},
    )
    assert problems(document, {"mode": ["bridge"]}) == {
        (("parameters", "mode"), "override of unknown parameter (declared: modes)")
    }


@pytest.mark.parametrize(
    ("kind", "good", "bad", "why"),
    [
        ("string", "x", 1, "must be a string, found int"),
        ("boolean", False, "false", "must be true or false, found str"),
        ("integer", 3, True, "must be an integer, found bool"),
        ("integer", 3, 3.5, "must be an integer, found float"),
        ("number", 3.5, None, "must be a number, found NoneType"),
        ("version", "1.4.0", "1.x", "must be a version string such as '1.4.0', found str"),
        ("string_list", ["a"], ["a", 1], "must be a list of strings, found list"),
        ("pattern_map", {"name": "x"}, {"name": 1}, "must be a mapping of names to regular expressions, found dict"),
    ],
)
def test_check_parameter_value_each_kind_accepts_good_and_explains_bad(
    kind: str, good: Any, bad: Any, why: str
) -> None:
    assert check_parameter_value(kind, good) is None
    assert check_parameter_value(kind, bad) == why


def test_compile_placeholder_naming_sensitive_field_is_rejected() -> None:
    document = policy(
        {
            "for_each": "containerDefinitions[]",
            "as": "container",
            "require": {
                "for_each": "environment[]",
                "as": "variable",
                "require": {"field": "name", "op": "exists"},
                "message": "variable {variable.name} is {variable.value}",
            },
        }
    )
    assert problems(document) == {
        (
            ("check", "require", "message"),
            "placeholder '{variable.value}' would show a sensitive value; name it by location",
        )
    }


def test_compile_value_placeholder_over_sensitive_field_only_is_rejected() -> None:
    document = policy(
        {
            "for_each": "containerDefinitions[]",
            "as": "container",
            "require": {
                "for_each": "environment[]",
                "as": "variable",
                "require": {"field": "value", "op": "equals", "value": "ok"},
                "message": "the value is {value}",
            },
        }
    )
    assert problems(document) == {
        (
            ("check", "require", "message"),
            "'{value}' needs a comparison of a non-sensitive field inside this condition",
        )
    }


def test_compile_match_placeholder_without_matches_any_is_rejected() -> None:
    document = policy(
        {
            "for_each": "containerDefinitions[]",
            "as": "container",
            "require": {"field": "image", "op": "matches", "value": "^[0-9]{12}\\."},
            "message": "image looks like {match}",
        }
    )
    assert problems(document) == {
        (("check", "message"), "'{match}' needs a 'matches_any' comparison inside this condition")
    }


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("{param.nope}", "placeholder '{param.nope}' names an unknown parameter"),
        ("{value!r}", "placeholder '{value}' cannot have a format or conversion"),
        ("{value:>10}", "placeholder '{value}' cannot have a format or conversion"),
        ("{value", "malformed message: expected '}' before end of string"),
        (
            "{resource.containerDefinitions}",
            "placeholder '{resource.containerDefinitions}' must name a single value, not a list",
        ),
        (
            "{resource.netwrkMode}",
            "unknown field 'netwrkMode' in '$resource' (did you mean 'networkMode'?) in path '$resource.netwrkMode'",
        ),
        ("{nothing.here}", "unknown variable '$nothing' (known here: $resource) in path '$nothing.here'"),
    ],
)
def test_compile_bad_message_placeholder_is_rejected(message: str, problem: str) -> None:
    document = policy({"field": "networkMode", "op": "equals", "value": "awsvpc", "message": message})
    assert problems(document) == {(("check", "message"), problem)}


def test_compile_unknown_variable_reports_known_variables() -> None:
    document = policy({"field": "$foo.networkMode", "op": "exists"})
    assert problems(document) == {
        (("check", "field"), "unknown variable '$foo' (known here: $resource) in path '$foo.networkMode'")
    }


def test_compile_unknown_variable_inside_for_each_lists_loop_variable() -> None:
    document = policy(
        {
            "for_each": "containerDefinitions[]",
            "as": "container",
            "require": {"field": "$containr.image", "op": "exists"},
        }
    )
    assert problems(document) == {
        (
            ("check", "require", "field"),
            "unknown variable '$containr' (known here: $resource, $container) in path '$containr.image'",
        )
    }


def test_compile_service_policy_knows_related_variables() -> None:
    document = policy({"field": "$task.networkMode", "op": "exists"}, resource=SERVICE)
    assert problems(document) == {
        (
            ("check", "field"),
            "unknown variable '$task' (known here: $resource, $taskDefinition, $cluster) in path '$task.networkMode'",
        )
    }


@pytest.mark.parametrize("key", ["for_each", "for_any"])
def test_compile_quantifier_over_non_list_is_rejected(key: str) -> None:
    document = policy({key: "networkMode", "as": "mode", "require": {"field": "$mode", "op": "exists"}})
    assert problems(document) == {(("check", key), "'networkMode' is not a list")}


def test_compile_loop_variable_already_bound_is_rejected() -> None:
    document = policy(
        {"for_each": "containerDefinitions[]", "as": "resource", "require": {"field": "image", "op": "exists"}}
    )
    assert problems(document) == {(("check", "as"), "variable '$resource' is already bound here; choose another name")}


def test_compile_brackets_in_plain_comparison_are_rejected() -> None:
    document = policy({"field": "containerDefinitions[].image", "op": "equals", "value": "nginx"})
    assert problems(document) == {
        (("check", "field"), "path 'containerDefinitions[].image' has '[]': compare list items inside a for_each")
    }


def test_compile_brackets_with_exists_are_allowed() -> None:
    compiled = compile_policy(policy({"field": "volumes[].efsVolumeConfiguration", "op": "exists"}), {}, "test")
    assert compiled.id == "test-policy"


@pytest.mark.parametrize(
    ("check", "location", "message"),
    [
        (
            {"field": "containerDefinitions", "op": "equals", "value": "x"},
            ("check", "field"),
            "'containerDefinitions' is a list; 'equals' compares a value",
        ),
        (
            {"field": "runtimePlatform", "op": "matches", "value": "x"},
            ("check", "field"),
            "'runtimePlatform' is a object; 'matches' compares a value",
        ),
        (
            {"field": "networkMode", "op": "contains", "value": "x"},
            ("check", "field"),
            "'networkMode' is not a list; 'contains' needs one",
        ),
        ({"field": "networkMode", "op": "equals"}, ("check", "value"), "operator 'equals' needs a 'value'"),
        (
            {"field": "networkMode", "op": "exists", "value": "x"},
            ("check", "value"),
            "operator 'exists' takes no value",
        ),
        (
            {"param": "name", "op": "equals", "value": 1},
            ("check", "param"),
            "parameter 'name' cannot be compared with 'equals': cannot compare str with int",
        ),
    ],
)
def test_compile_comparison_of_wrong_shape_is_rejected(
    check: dict[str, Any], location: tuple[Any, ...], message: str
) -> None:
    document = policy(check, parameters={"name": param("string", "x")})
    assert problems(document) == {(location, message)}


def test_compile_several_mistakes_are_all_reported_with_their_locations() -> None:
    # GIVEN one policy with a mistake in applies_when and three in its check
    document = policy(
        {
            "all": [
                {"field": "netwrkMode", "op": "equals", "value": "awsvpc"},
                {
                    "for_each": "containerDefinitions[]",
                    "as": "container",
                    "require": {
                        "any": [{"field": "image", "op": "equal", "value": "x"}, {"field": "imag", "op": "exists"}]
                    },
                },
            ]
        },
        applies_when={"field": "famly", "op": "exists"},
    )
    # WHEN it compiles, THEN every problem is reported at once
    assert {location for location, _ in problems(document)} == {
        ("applies_when", "field"),
        ("check", "all", 0, "field"),
        ("check", "all", 1, "require", "any", 0, "op"),
        ("check", "all", 1, "require", "any", 1, "field"),
    }


def test_policy_compile_error_str_joins_locations_and_messages() -> None:
    error = PolicyCompileError(
        [CompileProblem(("check", "all", 0, "field"), "first"), CompileProblem(("parameters", "x"), "second")]
    )
    assert str(error) == "check.all.0.field: first; parameters.x: second"


# --- the document's structure (pydantic) -----------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        {"field": "networkMode", "param": "x", "op": "exists"},
        {"op": "exists"},
        {"param": "x", "op": "exists", "default": "y"},
        {"fild": "networkMode", "op": "exists"},
        {"nothing": 1},
        {"all": []},
        {"for_each": "containerDefinitions[]", "as": "1bad", "require": {"field": "image", "op": "exists"}},
    ],
)
def test_policy_document_malformed_condition_raises_validation_error(check: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        policy(check)


def test_policy_document_parameter_name_not_identifier_raises_validation_error() -> None:
    with pytest.raises(ValidationError, match="parameter name 'bad-name' must be an identifier"):
        policy({"field": "networkMode", "op": "exists"}, parameters={"bad-name": param("string", "x")})


# --- evaluation: missing values and defaults -------------------------------------------


def test_evaluate_missing_field_comparison_is_false() -> None:
    result = evaluate_task({"field": "networkMode", "op": "equals", "value": "awsvpc"}, {"family": "web"})
    assert result.status is Status.FAIL
    assert evidence(result) == {("networkMode", "networkMode is not set and does not satisfy equals 'awsvpc'")}


def test_evaluate_missing_field_negated_comparison_passes() -> None:
    result = evaluate_task({"not": {"field": "networkMode", "op": "equals", "value": "host"}}, {"family": "web"})
    assert result.status is Status.PASS


@pytest.mark.parametrize(("data", "status"), [({}, Status.PASS), ({"networkMode": "awsvpc"}, Status.FAIL)])
def test_evaluate_default_substitutes_only_for_missing_field(data: dict[str, Any], status: Status) -> None:
    check = {"field": "networkMode", "op": "equals", "value": "bridge", "default": "bridge"}
    assert evaluate_task(check, data).status is status


def test_evaluate_default_value_is_shown_in_evidence() -> None:
    check = {"field": "networkMode", "op": "in", "value": ["awsvpc"], "default": "bridge"}
    result = evaluate_task(check, {"family": "web"})
    assert evidence(result) == {("networkMode", "networkMode is 'bridge' and does not satisfy in ['awsvpc']")}


def test_evaluate_capture_compares_extracted_group() -> None:
    # GIVEN images from an allowed account, another account, and Docker Hub
    check = {
        "for_each": "containerDefinitions[]",
        "as": "container",
        "require": {"field": "image", "capture": r"^(\d{12})\.", "op": "in", "value": ["123456789012"]},
    }
    data = containers(
        {"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"},
        {"name": "sidecar", "image": "999999999999.dkr.ecr.us-east-1.amazonaws.com/proxy:1"},
        {"name": "hub", "image": "nginx:latest"},
    )
    # WHEN evaluated, THEN only the other account and the capture that found nothing fail
    result = evaluate_task(check, data)
    assert {item.path for item in result.evidence} == {"containerDefinitions[1].image", "containerDefinitions[2].image"}


def test_evaluate_capture_from_non_string_is_error() -> None:
    result = evaluate_task({"field": "cpu", "capture": "^(\\d)", "op": "equals", "value": "2"}, {"cpu": 256})
    assert (result.status, result.reason) == (Status.ERROR, "cpu: cannot capture from a int")


# --- evaluation: quantifiers -----------------------------------------------------------

IMAGE_EXISTS = {"field": "image", "op": "exists"}


@pytest.mark.parametrize("data", [{"family": "web"}, {"family": "web", "containerDefinitions": []}])
def test_evaluate_for_each_over_empty_or_missing_list_holds_vacuously(data: dict[str, Any]) -> None:
    check = {"for_each": "containerDefinitions[]", "as": "container", "require": IMAGE_EXISTS}
    assert evaluate_task(check, data).status is Status.PASS


@pytest.mark.parametrize("data", [{"family": "web"}, {"family": "web", "containerDefinitions": []}])
def test_evaluate_for_any_over_empty_or_missing_list_fails(data: dict[str, Any]) -> None:
    check = {"for_any": "containerDefinitions[]", "as": "container", "require": IMAGE_EXISTS}
    result = evaluate_task(check, data)
    assert result.status is Status.FAIL
    assert evidence(result) == {("containerDefinitions", "no item of containerDefinitions[] satisfies the condition")}


def test_evaluate_for_any_one_satisfying_item_passes() -> None:
    check = {
        "for_any": "containerDefinitions[]",
        "as": "container",
        "require": {"field": "essential", "op": "equals", "value": True},
    }
    data = containers({"name": "a", "essential": False}, {"name": "b", "essential": True})
    assert evaluate_task(check, data).status is Status.PASS


def test_evaluate_for_any_no_satisfying_item_fails_with_each_item() -> None:
    check = {
        "for_any": "containerDefinitions[]",
        "as": "container",
        "require": {"field": "essential", "op": "equals", "value": True},
    }
    result = evaluate_task(check, containers({"name": "a", "essential": False}, {"name": "b"}))
    assert result.status is Status.FAIL
    assert evidence(result) == {
        (
            "containerDefinitions[0].essential",
            "containerDefinitions[0].essential is False and does not satisfy equals True",
        ),
        (
            "containerDefinitions[1].essential",
            "containerDefinitions[1].essential is not set and does not satisfy equals True",
        ),
    }


@pytest.mark.parametrize(
    ("definitions", "status", "failing"),
    [
        # the privileged container is not essential, so where skips it
        ([{"name": "a", "essential": False, "privileged": True}, {"name": "b", "essential": True}], Status.PASS, set()),
        (
            [
                {"name": "a", "essential": False, "privileged": True},
                {"name": "b", "essential": True, "privileged": True},
            ],
            Status.FAIL,
            {"containerDefinitions[1].privileged"},
        ),
    ],
)
def test_evaluate_for_each_where_skips_filtered_items(
    definitions: list[dict[str, Any]], status: Status, failing: set[str]
) -> None:
    check = {
        "for_each": "containerDefinitions[]",
        "as": "container",
        "where": {"field": "essential", "op": "equals", "value": True},
        "require": {"field": "privileged", "op": "equals", "value": False, "default": False},
    }
    result = evaluate_task(check, containers(*definitions))
    assert (result.status, {item.path for item in result.evidence}) == (status, failing)


def test_evaluate_for_any_where_ignores_satisfying_item_that_is_filtered_out() -> None:
    check = {
        "for_any": "containerDefinitions[]",
        "as": "container",
        "where": {"field": "essential", "op": "equals", "value": True},
        "require": {"field": "privileged", "op": "equals", "value": True},
    }
    result = evaluate_task(
        check, containers({"name": "a", "essential": False, "privileged": True}, {"name": "b", "essential": True})
    )
    assert result.status is Status.FAIL
    assert {item.path for item in result.evidence} == {"containerDefinitions[1].privileged"}


def test_evaluate_nested_for_each_reaches_outer_variable() -> None:
    # GIVEN a rule that every mount point of a container names one of its task's volumes by the container's name
    check = {
        "for_each": "containerDefinitions[]",
        "as": "container",
        "require": {
            "for_each": "mountPoints[]",
            "as": "mount",
            "require": {"field": "sourceVolume", "op": "equals", "value": "data"},
            "message": "container {container.name} mounts {mount.sourceVolume}",
        },
    }
    data = containers(
        {"name": "app", "mountPoints": [{"sourceVolume": "data"}]},
        {"name": "worker", "mountPoints": [{"sourceVolume": "data"}, {"sourceVolume": "scratch"}]},
    )
    result = evaluate_task(check, data)
    assert evidence(result) == {
        ("containerDefinitions[1].mountPoints[1].sourceVolume", "container worker mounts scratch"),
    }


# --- evaluation: boolean combinations ------------------------------------------------------

COMBINED = {
    "any": [
        {"field": "networkMode", "op": "equals", "value": "awsvpc"},
        {"all": [{"field": "family", "op": "equals", "value": "legacy"}, {"not": {"field": "cpu", "op": "exists"}}]},
    ]
}


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"networkMode": "awsvpc", "family": "web", "cpu": "256"}, Status.PASS),
        ({"networkMode": "bridge", "family": "legacy"}, Status.PASS),
        ({"networkMode": "bridge", "family": "legacy", "cpu": "256"}, Status.FAIL),
        ({"networkMode": "bridge", "family": "web"}, Status.FAIL),
        ({}, Status.FAIL),
    ],
)
def test_evaluate_any_all_not_combination_truth_table(data: dict[str, Any], status: Status) -> None:
    assert evaluate_task(COMBINED, data).status is status


def test_evaluate_any_all_not_failure_explains_each_failing_branch() -> None:
    result = evaluate_task(COMBINED, {"networkMode": "host", "family": "legacy", "cpu": "256"})
    assert {item.path for item in result.evidence} == {"networkMode", "cpu"}


def test_evaluate_double_negation_equals_original() -> None:
    check = {"not": {"not": {"field": "networkMode", "op": "equals", "value": "awsvpc"}}}
    statuses = [evaluate_task(check, {"networkMode": mode}).status for mode in ("awsvpc", "host")]
    assert statuses == [Status.PASS, Status.FAIL]


def test_evaluate_parameter_condition_uses_override() -> None:
    check = {
        "any": [
            {"param": "enforce", "op": "equals", "value": False},
            {"field": "networkMode", "op": "equals", "value": "awsvpc"},
        ]
    }
    document = policy(check, parameters={"enforce": param("boolean", True)})
    resource = build_task_definition({"networkMode": "host"}, "td-1")
    assert [evaluate(document, resource, overrides).status for overrides in ({}, {"enforce": False})] == [
        Status.FAIL,
        Status.PASS,
    ]


# --- evaluation: errors -----------------------------------------------------------------


def test_evaluate_version_compare_on_unparseable_version_is_error_naming_path() -> None:
    document = policy(
        {"field": "platformVersion", "op": "version_gte", "value": {"param": "minimum"}},
        parameters={"minimum": param("version", "1.4.0")},
        resource=SERVICE,
    )
    resource = build_service({"serviceName": "api", "platformVersion": "1.x"}, "svc-1", {}, {})
    result = evaluate(document, resource)
    assert (result.status, result.reason) == (
        Status.ERROR,
        "platformVersion version_gte parameter minimum: is not a dotted numeric version (value '1.x')",
    )


def test_evaluate_regex_compare_on_int_is_error() -> None:
    result = evaluate_task({"field": "cpu", "op": "matches", "value": "^2"}, {"cpu": 256})
    assert (result.status, result.reason) == (
        Status.ERROR,
        "cpu matches '^2': expected a string, found int (value 256)",
    )


def test_evaluate_error_in_applies_when_is_error_not_not_applicable() -> None:
    result = evaluate_task(
        {"field": "networkMode", "op": "exists"},
        {"cpu": 5},
        applies_when={"field": "cpu", "op": "matches", "value": "x"},
    )
    assert (result.status, result.reason) == (Status.ERROR, "cpu matches 'x': expected a string, found int (value 5)")


def test_evaluate_unresolved_related_resource_is_error_with_its_reason() -> None:
    document = policy({"field": "$taskDefinition.networkMode", "op": "equals", "value": "awsvpc"}, resource=SERVICE)
    resource = build_service({"serviceName": "api"}, "svc-1", Unresolved("task definition web:3 was not found"), {})
    result = evaluate(document, resource)
    assert (result.status, result.reason) == (Status.ERROR, "task definition web:3 was not found")


def test_evaluate_unreadable_resource_is_error_for_every_policy_without_input_values() -> None:
    # GIVEN two policies and a task definition whose networkMode and an environment value have the wrong type
    policies = PolicySet(
        (
            compile_policy(policy({"field": "networkMode", "op": "exists"}, policy_id="first"), {}, "test"),
            compile_policy(policy({"field": "family", "op": "exists"}, policy_id="second"), {}, "test"),
        )
    )
    data = {"networkMode": 8675309, "containerDefinitions": [{"environment": [{"name": "TOKEN", "value": 31337}]}]}
    # WHEN evaluated
    results = policies.evaluate([build_task_definition(data, "td-broken")])
    # THEN every policy reports ERROR with a reason naming locations, not values
    reason = (
        "not a readable task definition: containerDefinitions.0.environment.0.value: Input should be a valid string; "
        "networkMode: Input should be a valid string"
    )
    assert {(r.policy_id, r.resource.id, r.status, r.reason) for r in results} == {
        ("first", "td-broken", Status.ERROR, reason),
        ("second", "td-broken", Status.ERROR, reason),
    }
    documents = [json.dumps(result_document(r, None)) for r in results]
    assert all("8675309" not in d and "31337" not in d for d in documents)


def test_evaluate_comparison_of_iterated_field_that_cannot_be_empty_is_error_naming_path() -> None:
    result = evaluate_task({"field": "containerDefinitions[].cpu", "op": "empty"}, containers({"name": "a", "cpu": 5}))
    assert result.status is Status.ERROR
    assert result.reason is not None
    assert result.reason.startswith("containerDefinitions[].cpu")
    assert "a int cannot be empty" in result.reason


# --- evaluation: sensitive values never leave the engine ---------------------------------

SECRET_ENVIRONMENT = containers(
    {"name": "web", "environment": [{"name": "LOG_LEVEL", "value": "info"}]},
    {"name": "worker", "environment": [{"name": "DB_PASSWORD", "value": PLANTED}, {"name": "MODE", "value": "batch"}]},
)


def environment_rule(require: Mapping[str, Any], message: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"for_each": "environment[]", "as": "variable", "require": require}
    if message is not None:
        inner["message"] = message
    return {"for_each": "containerDefinitions[]", "as": "container", "require": inner}


def assert_not_leaked(result: Result) -> None:
    assert PLANTED not in json.dumps(result_document(result, None))


def test_evaluate_sensitive_value_failing_auto_message_hides_value() -> None:
    result = evaluate_task(
        environment_rule({"field": "value", "op": "matches", "value": "^[a-z]+$"}), SECRET_ENVIRONMENT
    )
    assert result.status is Status.FAIL
    assert evidence(result) == {
        (
            "containerDefinitions[1].environment[0].value",
            "containerDefinitions[1].environment[0].value has a value that does not satisfy matches '^[a-z]+$'",
        )
    }
    assert_not_leaked(result)


def test_evaluate_sensitive_value_error_reason_hides_value() -> None:
    result = evaluate_task(
        environment_rule({"field": "value", "op": "version_gte", "value": "1.0"}), SECRET_ENVIRONMENT
    )
    assert (result.status, result.reason) == (
        Status.ERROR,
        "containerDefinitions[0].environment[0].value version_gte '1.0': is not a dotted numeric version",
    )
    assert_not_leaked(result)


def test_evaluate_sensitive_value_negated_matches_any_names_pattern_not_value() -> None:
    rule = environment_rule(
        {"not": {"field": "value", "op": "matches_any", "value": {"suffix_shape": "-[0-9a-f]{4}$"}}},
        message="{variable.name} looks like a {match}",
    )
    result = evaluate_task(rule, SECRET_ENVIRONMENT)
    assert evidence(result) == {
        ("containerDefinitions[1].environment[0].value", "DB_PASSWORD looks like a suffix_shape")
    }
    assert_not_leaked(result)


@pytest.mark.parametrize(
    ("definition", "require", "status"),
    [
        ({"dockerLabels": {"team": PLANTED}}, {"field": "dockerLabels.team", "op": "gte", "value": 1}, Status.ERROR),
        (
            {"dockerLabels": {"team": PLANTED}},
            {"field": "dockerLabels.team", "op": "equals", "value": "x"},
            Status.FAIL,
        ),
        (
            {"logConfiguration": {"options": {"key": PLANTED}}},
            {"field": "logConfiguration.options.key", "op": "in", "value": [1]},
            Status.ERROR,
        ),
        ({"secrets": [{"name": "DB", "valueFrom": PLANTED}]}, {"field": "secrets", "op": "empty"}, Status.FAIL),
        (
            {"repositoryCredentials": {"credentialsParameter": PLANTED}},
            {"field": "repositoryCredentials.credentialsParameter", "op": "matches", "value": "^arn:"},
            Status.FAIL,
        ),
        (
            {"repositoryCredentials": {"credentialsParameter": PLANTED}},
            {"field": "repositoryCredentials", "op": "empty"},
            Status.FAIL,
        ),
        ({"environment": [{"name": "A", "value": PLANTED}]}, {"field": "environment", "op": "empty"}, Status.FAIL),
    ],
)
def test_evaluate_sensitive_or_object_value_never_in_result(
    definition: dict[str, Any], require: dict[str, Any], status: Status
) -> None:
    check = {"for_each": "containerDefinitions[]", "as": "container", "require": require}
    result = evaluate_task(check, containers({"name": "app", **definition}))
    assert result.status is status
    assert_not_leaked(result)


def test_evaluate_non_sensitive_value_is_shown_in_evidence() -> None:
    # The control for the tests above: an ordinary value does appear.
    result = evaluate_task(
        environment_rule({"field": "name", "op": "matches", "value": "^[A-Z_]{1,9}$"}), SECRET_ENVIRONMENT
    )
    assert evidence(result) == {
        (
            "containerDefinitions[1].environment[0].name",
            "containerDefinitions[1].environment[0].name is 'DB_PASSWORD' and does not satisfy matches '^[A-Z_]{1,9}$'",
        )
    }


def test_evaluate_operator_exception_quoting_value_is_reported_by_type_only(failing_operator: Operator) -> None:
    result = evaluate_task({"field": "family", "op": failing_operator.name}, {"family": PLANTED})
    assert (result.status, result.reason) == (
        Status.ERROR,
        "internal error (RuntimeError) while evaluating; please report this policy and input",
    )
    assert_not_leaked(result)


# --- evaluation: evidence paths and messages ----------------------------------------------


def test_evaluate_evidence_path_is_concrete_item_path() -> None:
    rule = environment_rule(
        {
            "not": {
                "all": [
                    {"field": "name", "op": "matches", "value": "PASSWORD"},
                    {"field": "value", "op": "matches", "value": "\\S"},
                ]
            }
        },
        message="container {container.name}: variable {variable.name} holds a plaintext secret",
    )
    result = evaluate_task(rule, SECRET_ENVIRONMENT)
    assert result.evidence == (
        Evidence(
            path="containerDefinitions[1].environment[0]",
            message="container worker: variable DB_PASSWORD holds a plaintext secret",
        ),
    )


def test_evaluate_message_placeholders_render_value_parameter_and_path() -> None:
    document = policy(
        {
            "field": "networkMode",
            "op": "in",
            "value": {"param": "modes"},
            "message": "networkMode is {value} at {path}; allowed: {param.modes}",
        },
        parameters={"modes": param("string_list", ["awsvpc", "bridge"])},
    )
    result = evaluate(document, build_task_definition({"networkMode": "host"}, "td-1"))
    assert evidence(result) == {("networkMode", "networkMode is host at networkMode; allowed: awsvpc, bridge")}


def test_evaluate_auto_message_of_operator_without_argument_does_not_print_none() -> None:
    result = evaluate_task({"not": {"field": "cpu", "op": "exists"}}, {"cpu": "256"})
    ((path, message),) = evidence(result)
    assert path == "cpu"
    assert message.startswith("cpu is '256' and satisfies exists")
    assert not message.endswith(" None")


def test_evaluate_empty_over_brackets_does_not_depend_on_item_order() -> None:
    # GIVEN two task definitions with the same images in opposite order, one of them empty
    check = {"field": "containerDefinitions[].image", "op": "empty"}
    forward = containers({"name": "a", "image": ""}, {"name": "b", "image": "nginx"})
    backward = containers({"name": "b", "image": "nginx"}, {"name": "a", "image": ""})
    # WHEN evaluated, THEN the order of the containers does not change the outcome
    assert evaluate_task(check, forward).status is evaluate_task(check, backward).status


def test_evaluate_exists_over_brackets_holds_when_any_item_has_value() -> None:
    check = {"field": "volumes[].efsVolumeConfiguration", "op": "exists"}
    with_efs = {"volumes": [{"name": "tmp"}, {"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]}
    without_efs = {"volumes": [{"name": "tmp"}]}
    assert [evaluate_task(check, data).status for data in (with_efs, without_efs, {})] == [
        Status.PASS,
        Status.FAIL,
        Status.FAIL,
    ]


# --- evaluation: applicability, result identity ----------------------------------------------


@pytest.mark.parametrize(
    ("family", "network_mode", "status"),
    [("web", "host", Status.NOT_APPLICABLE), ("batch", "host", Status.FAIL), ("batch", "awsvpc", Status.PASS)],
)
def test_evaluate_applies_when_decides_applicability(family: str, network_mode: str, status: Status) -> None:
    result = evaluate_task(
        {"field": "networkMode", "op": "equals", "value": "awsvpc"},
        {"family": family, "networkMode": network_mode},
        applies_when={"field": "family", "op": "equals", "value": "batch"},
    )
    assert (result.status, result.reason) == (status, None)
    assert bool(result.evidence) is (status is Status.FAIL)


def test_evaluate_result_carries_policy_and_resource_identity() -> None:
    data = {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", "networkMode": "awsvpc"}
    result = evaluate(policy({"field": "networkMode", "op": "exists"}), build_task_definition(data, "fallback"))
    assert result_document(result, None) == {
        "policy_id": "test-policy",
        "resource": {"type": TASK, "id": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"},
        "status": "PASS",
        "severity": "HIGH",
        "title": "Test policy",
        "evidence": [],
    }


def test_policy_set_evaluates_only_policies_of_the_resource_type() -> None:
    policies = PolicySet(
        (
            compile_policy(policy({"field": "networkMode", "op": "exists"}, policy_id="task-rule"), {}, "test"),
            compile_policy(
                policy({"field": "launchType", "op": "exists"}, policy_id="service-rule", resource=SERVICE), {}, "test"
            ),
        )
    )
    results = policies.evaluate([build_task_definition({"networkMode": "awsvpc"}, "td-1")])
    assert [(r.policy_id, r.status) for r in results] == [("task-rule", Status.PASS)]


def test_evaluate_policy_of_other_resource_type_raises_value_error() -> None:
    compiled = compile_policy(policy({"field": "launchType", "op": "exists"}, resource=SERVICE), {}, "test")
    with pytest.raises(
        ValueError, match="policy test-policy applies to AWS::ECS::Service, not AWS::ECS::TaskDefinition"
    ):
        evaluate_policy(compiled, build_task_definition({}, "td-1"))


# --- custom operators ------------------------------------------------------------------------


def _no_argument(argument: Any) -> None:
    return None


def _raise_with_value(value: Any, argument: Any) -> bool:
    raise RuntimeError(f"could not handle {value}")


@pytest.fixture
def upper_case_operator() -> Iterator[Operator]:
    operator = register(
        Operator(
            "test_upper_case", "The string is upper case.", lambda v, a: v.isupper(), _no_argument, takes_argument=False
        )
    )
    yield operator
    del OPERATORS[operator.name]


@pytest.fixture
def failing_operator() -> Iterator[Operator]:
    operator = register(
        Operator("test_failing", "Always raises.", _raise_with_value, _no_argument, takes_argument=False)
    )
    yield operator
    del OPERATORS[operator.name]


def test_custom_operator_registered_is_usable_by_name(upper_case_operator: Operator) -> None:
    check = {"field": "family", "op": "test_upper_case"}
    statuses = [evaluate_task(check, {"family": family}).status for family in ("WEB", "web")]
    assert statuses == [Status.PASS, Status.FAIL]


def test_custom_operator_unregistered_is_unknown() -> None:
    document = policy({"field": "family", "op": "test_upper_case"})
    assert problems(document) == {(("check", "op"), f"unknown operator 'test_upper_case' (known: {KNOWN_OPERATORS})")}


@pytest.mark.parametrize(
    "name",
    [
        f"postgres://admin:{PLANTED}@db.internal/app",
        f"deploy:{PLANTED}@123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1",
        f"{PLANTED} pasted here",
        f"{PLANTED}+base64/token==",
    ],
)
def test_message_placeholder_of_text_not_shaped_like_a_name_is_not_shown(name: str) -> None:
    # GIVEN a message naming a container by a non-sensitive field whose value is not a plain name
    check = {
        "for_each": "containerDefinitions[]",
        "as": "container",
        "require": {"field": "privileged", "op": "exists"},
        "message": "container {container.name} is not privileged-checked",
    }

    # WHEN the policy fails on it
    result = evaluate_task(check, {"containerDefinitions": [{"name": name}]})

    # THEN the evidence says a value is not shown, and neither it nor any part of it appears anywhere
    assert result.status is Status.FAIL
    assert PLANTED not in json.dumps(result_document(result, None))
    assert evidence(result) == {
        (
            "containerDefinitions[0].privileged",
            "container (a value that is not a plain name, not shown) is not privileged-checked",
        )
    }


def test_message_placeholder_of_plain_names_and_images_is_shown() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1@sha256:" + "a" * 64
    check = {
        "for_each": "containerDefinitions[]",
        "as": "container",
        "require": {"field": "privileged", "op": "exists"},
        "message": "container {container.name} runs {container.image}",
    }

    result = evaluate_task(check, {"containerDefinitions": [{"name": "web_1.a-b", "image": image}]})

    assert evidence(result) == {("containerDefinitions[0].privileged", f"container web_1.a-b runs {image}")}


MAP_CHECK = {
    "for_each": "containerDefinitions[]",
    "as": "container",
    "require": {
        "for_each": "dockerLabels",
        "as": "label",
        "where": {"field": "key", "op": "matches", "value": "(?i)token|password"},
        "require": {"field": "value", "op": "empty"},
        "message": "container {container.name}: label {label.key} holds a plaintext value",
    },
}


def test_for_each_over_a_map_checks_each_entry_and_names_it_by_position() -> None:
    # GIVEN labels, two of them secret-like by key, one with a plaintext value, and a key that is not a plain name
    labels = {"team": "payments", "deploy-token": PLANTED, "password_hint": "", f"token {PLANTED}": PLANTED}

    # WHEN the policy iterates the map's entries
    result = evaluate_task(MAP_CHECK, {"containerDefinitions": [{"name": "app", "dockerLabels": labels}]})

    # THEN each failing entry is named by its position, its key only when it is a plain name, never its value
    assert result.status is Status.FAIL
    assert evidence(result) == {
        ("containerDefinitions[0].dockerLabels[1].value", "container app: label deploy-token holds a plaintext value"),
        (
            "containerDefinitions[0].dockerLabels[3].value",
            "container app: label (a value that is not a plain name, not shown) holds a plaintext value",
        ),
    }
    assert PLANTED not in json.dumps(result_document(result, None))


@pytest.mark.parametrize("labels", [None, {}, {"team": "payments", "deploy-token": ""}])
def test_for_each_over_an_empty_or_clean_map_passes(labels: dict[str, str] | None) -> None:
    result = evaluate_task(MAP_CHECK, {"containerDefinitions": [{"name": "app", "dockerLabels": labels}]})
    assert result.status is Status.PASS


def test_for_any_over_a_map_and_a_map_placeholder_of_its_value_is_rejected() -> None:
    # A message may not show a map's (sensitive) values, only their keys.
    document = policy(
        {
            "for_any": "containerDefinitions[].dockerLabels",
            "as": "label",
            "require": {"field": "key", "op": "equals", "value": "owner"},
            "message": "label {label.value}",
        }
    )
    assert problems(document) == {
        (("check", "message"), "placeholder '{label.value}' would show a sensitive value; name it by location")
    }
