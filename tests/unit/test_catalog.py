"""Loading policy files: every problem named by file, line and key; a set with any problem loads nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ecsguard.catalog import (
    PolicyLoadError,
    Problem,
    default_policy_dir,
    load_overrides,
    load_policy_file,
    load_policy_set,
)
from ecsguard.core.operators import OPERATORS
from ecsguard.core.resources import build_task_definition
from ecsguard.core.results import Status

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"
# The ids the shipped files declare, read as plain YAML (not by the loader under test).
SHIPPED_IDS = {yaml.safe_load(path.read_text(encoding="utf-8"))["id"] for path in SHIPPED_POLICIES.glob("*.yaml")}

# A valid policy; tests change one line of it. Its id must equal the file stem, "network".
VALID = """\
id: network
title: Task definitions use an allowed network mode
description: Only listed network modes are allowed.
severity: MEDIUM
resource: AWS::ECS::TaskDefinition
parameters:
  modes:
    type: string_list
    default: [awsvpc]
    description: Allowed network modes.
remediation:
  text: Register a revision with networkMode awsvpc.
  url: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-networking-awsvpc.html
check:
  field: networkMode
  op: in
  value: {param: modes}
packs: [mission]
"""

# A valid policy whose check is a for_each, to place mistakes inside a quantifier.
VALID_LOOP = """\
id: images
title: Every container names an image
description: Each container has an image.
severity: LOW
resource: AWS::ECS::TaskDefinition
remediation:
  text: Set the image.
  url: https://example.com/images
check:
  for_each: containerDefinitions[]
  as: container
  require:
    field: image
    op: exists
packs: [hardening]
"""


def write(directory: Path, stem: str, text: str, suffix: str = ".yaml") -> Path:
    path = directory / f"{stem}{suffix}"
    path.write_text(text, encoding="utf-8")
    return path


def change(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of the only line containing ``fragment``."""
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} must occur on one line"
    return lines[0]


def load_error(path: Path) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as raised:
        load_policy_file(path)
    return raised.value


def set_error(directory: Path, overrides: dict[str, dict[str, object]] | None = None) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as raised:
        load_policy_set(directory, overrides)
    return raised.value


# --- one file ------------------------------------------------------------------------------


def test_load_policy_file_valid_policy_compiles(tmp_path: Path) -> None:
    path = write(tmp_path, "network", VALID)
    compiled = load_policy_file(path)
    assert (compiled.id, compiled.severity.value, compiled.source, dict(compiled.parameters)) == (
        "network",
        "MEDIUM",
        str(path),
        {"modes": ["awsvpc"]},
    )


def test_load_policy_file_typo_in_condition_key_names_file_line_and_key(tmp_path: Path) -> None:
    text = change(VALID, "  field: networkMode", "  fild: networkMode")
    path = write(tmp_path, "network", text)
    error = load_error(path)
    assert error.problems == [
        Problem(str(path), line_of(text, "fild:"), "check.fild", "unknown key 'fild' (did you mean 'field'?)")
    ]
    assert f"{path}:{line_of(text, 'fild:')}: check.fild: unknown key 'fild'" in str(error)


@pytest.mark.parametrize("quantifier", ["for_each", "for_any"])
def test_load_policy_file_typo_in_key_inside_quantifier_names_its_line(tmp_path: Path, quantifier: str) -> None:
    text = change(change(VALID_LOOP, "for_each:", f"{quantifier}:"), "    field: image", "    fild: image")
    path = write(tmp_path, "images", text)
    error = load_error(path)
    assert error.problems == [
        Problem(str(path), line_of(text, "fild:"), "check.require.fild", "unknown key 'fild' (did you mean 'field'?)")
    ]
    assert f"{path}:13: check.require.fild: unknown key 'fild'" in str(error)


def test_load_policy_file_condition_without_known_key_inside_for_each_names_its_line(tmp_path: Path) -> None:
    text = change(VALID_LOOP, "    field: image\n    op: exists\n", "    nothing: 1\n")
    path = write(tmp_path, "images", text)
    assert load_error(path).problems == [
        Problem(
            str(path),
            line_of(text, "require:"),
            "check.require",
            "a condition needs one of the keys all, any, not, for_each, for_any, or op (a comparison)",
        )
    ]


def test_load_policy_file_typo_in_top_level_key_names_file_line_and_key(tmp_path: Path) -> None:
    text = change(VALID, "severity: MEDIUM", "severty: MEDIUM")
    path = write(tmp_path, "network", text)
    error = load_error(path)
    assert set(error.problems) == {
        Problem(str(path), 4, "severty", "unknown key 'severty' (did you mean 'severity'?)"),
        Problem(str(path), 1, "severity", "missing required key 'severity'"),
    }
    assert f"{path}:4: severty: unknown key 'severty'" in str(error)


def test_load_policy_file_unknown_operator_names_file_line_and_operator(tmp_path: Path) -> None:
    text = change(VALID, "op: in", "op: equal")
    path = write(tmp_path, "network", text)
    error = load_error(path)
    assert error.problems == [
        Problem(
            str(path),
            line_of(text, "op: equal"),
            "check.op",
            f"unknown operator 'equal' (known: {', '.join(sorted(OPERATORS))})",
        )
    ]
    assert f"{path}:16: check.op: unknown operator 'equal'" in str(error)


def test_load_policy_file_field_path_typo_names_line_and_suggests_field(tmp_path: Path) -> None:
    text = change(VALID, "field: networkMode", "field: netwrkMode")
    path = write(tmp_path, "network", text)
    error = load_error(path)
    assert error.problems == [
        Problem(
            str(path),
            15,
            "check.field",
            "unknown field 'netwrkMode' in the resource (did you mean 'networkMode'?) in path 'netwrkMode'",
        )
    ]
    assert f"{path}:15: check.field: unknown field 'netwrkMode'" in str(error)
    assert "did you mean 'networkMode'?" in str(error)


def test_load_policy_file_field_path_typo_inside_for_each_names_its_line(tmp_path: Path) -> None:
    text = change(VALID_LOOP, "field: image", "field: imag")
    path = write(tmp_path, "images", text)
    ((problem,),) = [load_error(path).problems]
    assert (problem.source, problem.line, problem.location) == (
        str(path),
        line_of(text, "field: imag"),
        "check.require.field",
    )
    assert "unknown field 'imag'" in problem.message
    assert "(did you mean 'image'?)" in problem.message


def test_load_policy_file_unknown_severity_names_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "network", change(VALID, "severity: MEDIUM", "severity: SEVERE"))
    assert load_error(path).problems == [
        Problem(str(path), 4, "severity", "Input should be 'INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'")
    ]


def test_load_policy_file_parameter_default_of_wrong_type_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "network", change(VALID, "default: [awsvpc]", "default: awsvpc"))
    assert load_error(path).problems == [
        Problem(str(path), 9, "parameters.modes.default", "must be a list of strings, found str"),
        Problem(str(path), 17, "check.value", "operator 'in' needs a list of values"),
    ]


def test_load_policy_file_id_not_equal_to_file_stem_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "network-mode", VALID)
    assert load_error(path).problems == [
        Problem(str(path), 1, "id", "policy id 'network' must equal the file name 'network-mode'")
    ]


def test_load_policy_file_duplicate_key_names_its_line(tmp_path: Path) -> None:
    text = change(VALID, "severity: MEDIUM\n", "severity: MEDIUM\ntitle: A second title\n")
    path = write(tmp_path, "network", text)
    error = load_error(path)
    assert [(problem.line, problem.message) for problem in error.problems] == [
        (line_of(text, "A second title"), "duplicate key 'title'")
    ]


def test_load_policy_file_duplicate_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "network", change(VALID, "severity: MEDIUM\n", "severity: MEDIUM\ntitle: A second title\n"))
    error = load_error(path)
    assert len(error.problems) == 1
    assert str(error.problems[0]).startswith(f"{path}:")
    assert str(error.problems[0]).endswith("duplicate key 'title'")


def test_load_policy_file_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "network", change(VALID, "  value: {param: modes}", "  value: [unclosed"))
    assert load_error(path).problems == [Problem(str(path), 18, "", "invalid YAML: did not find expected ',' or ']'")]


@pytest.mark.parametrize("text", ["", "- a list\n- not a mapping\n", "just a string\n"])
def test_load_policy_file_not_a_mapping_is_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "network", text)
    assert load_error(path).problems == [Problem(str(path), 1, "", "a policy file must be a mapping of keys")]


def test_load_policy_file_missing_file_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path / "absent.yaml")
    assert [(problem.source, problem.line) for problem in error.problems] == [(str(tmp_path / "absent.yaml"), None)]
    assert error.problems[0].message.startswith("cannot read: ")


def test_problem_str_without_line_or_location_names_source_only() -> None:
    assert str(Problem("a.yaml", None, "", "broken")) == "a.yaml: broken"
    assert str(Problem("a.yaml", 3, "check.op", "broken")) == "a.yaml:3: check.op: broken"


# --- a folder --------------------------------------------------------------------------------


def test_load_policy_set_shipped_policies_load() -> None:
    assert set() != SHIPPED_IDS
    policies = load_policy_set(SHIPPED_POLICIES)
    assert {policy.id for policy in policies.policies} == SHIPPED_IDS


def test_load_policy_set_default_directory_is_the_shipped_catalog() -> None:
    assert {policy.id for policy in load_policy_set().policies} == SHIPPED_IDS
    assert {path.stem for path in default_policy_dir().glob("*.yaml")} == SHIPPED_IDS


def test_load_policy_set_reads_yaml_and_yml_and_ignores_other_files(tmp_path: Path) -> None:
    write(tmp_path, "network", VALID)
    write(tmp_path, "images", VALID_LOOP, suffix=".yml")
    (tmp_path / "README.md").write_text("not a policy", encoding="utf-8")
    assert {policy.id for policy in load_policy_set(tmp_path).policies} == {"network", "images"}


@pytest.mark.parametrize("files", [{}, {"README.md": "not a policy"}])
def test_load_policy_set_folder_without_policies_is_rejected(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert set_error(tmp_path).problems == [Problem(str(tmp_path), None, "", "no policy files (*.yaml) found")]


def test_load_policy_set_missing_folder_is_rejected(tmp_path: Path) -> None:
    assert set_error(tmp_path / "absent").problems == [
        Problem(str(tmp_path / "absent"), None, "", "policy directory does not exist")
    ]


def test_load_policy_set_several_broken_files_report_every_problem(tmp_path: Path) -> None:
    # GIVEN one good file and three files with a different mistake each
    write(tmp_path, "network", VALID)
    field_typo = write(tmp_path, "images", change(VALID_LOOP, "field: image", "field: imag"))
    bad_operator = write(tmp_path, "mode", change(change(VALID, "id: network", "id: mode"), "op: in", "op: equal"))
    bad_severity = write(tmp_path, "severe", change(change(VALID, "id: network", "id: severe"), "MEDIUM", "SEVERE"))
    # WHEN the folder loads, THEN one error lists every file's problem and no policy set is returned
    error = set_error(tmp_path)
    assert {(problem.source, problem.line, problem.location) for problem in error.problems} == {
        (str(field_typo), 13, "check.require.field"),
        (str(bad_operator), 16, "check.op"),
        (str(bad_severity), 4, "severity"),
    }
    assert str(error).startswith("3 problem(s) in the policy set:\n")


def test_load_policy_set_two_files_with_same_id_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "network", VALID)
    write(tmp_path, "network", VALID, suffix=".yml")
    error = set_error(tmp_path)
    assert len(error.problems) == 1
    assert "network" in str(error.problems[0])


# --- parameter overrides ---------------------------------------------------------------------


def test_load_policy_set_override_changes_parameter(tmp_path: Path) -> None:
    write(tmp_path, "network", VALID)
    policies = load_policy_set(tmp_path, {"network": {"modes": ["awsvpc", "bridge"]}})
    (result,) = policies.evaluate([build_task_definition({"networkMode": "bridge"}, "td-1")])
    assert (policies.policies[0].parameters["modes"], result.status) == (["awsvpc", "bridge"], Status.PASS)


def test_load_policy_set_override_for_unknown_policy_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "network", VALID)
    assert set_error(tmp_path, {"netwrk": {"modes": ["bridge"]}}).problems == [
        Problem("parameters", None, "netwrk", "overrides parameters of unknown policy 'netwrk' (known: network)")
    ]


def test_load_policy_set_override_of_unknown_parameter_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "network", VALID)
    assert set_error(tmp_path, {"network": {"mode": ["bridge"]}}).problems == [
        Problem(str(path), 6, "parameters.mode", "override of unknown parameter (declared: modes)")
    ]


def test_load_policy_set_override_of_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "network", VALID)
    assert set_error(tmp_path, {"network": {"modes": "bridge"}}).problems == [
        Problem(str(path), 7, "parameters.modes", "override must be a list of strings, found str"),
        Problem(str(path), 17, "check.value", "operator 'in' needs a list of values"),
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("overrides.yaml", "parameters:\n  network:\n    modes: [awsvpc, bridge]\n"),
        ("overrides.json", json.dumps({"parameters": {"network": {"modes": ["awsvpc", "bridge"]}}})),
    ],
)
def test_load_overrides_yaml_or_json_returns_mapping(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert load_overrides(path) == {"network": {"modes": ["awsvpc", "bridge"]}}


def test_load_overrides_empty_parameters_returns_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text("parameters:\n", encoding="utf-8")
    assert load_overrides(path) == {}


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("params:\n  network: {}\n", "", "expected a mapping with the single key 'parameters'"),
        ("parameters: {}\nextra: 1\n", "", "expected a mapping with the single key 'parameters'"),
        ("- parameters\n", "", "expected a mapping with the single key 'parameters'"),
        ("parameters:\n  network: 5\n", "parameters", "expected {<policy-id>: {<parameter>: <value>}}"),
        ("parameters: [network]\n", "parameters", "expected {<policy-id>: {<parameter>: <value>}}"),
    ],
)
def test_load_overrides_wrong_shape_is_rejected(tmp_path: Path, text: str, location: str, message: str) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyLoadError) as raised:
        load_overrides(path)
    assert raised.value.problems == [Problem(str(path), None, location, message)]


@pytest.mark.parametrize(("name", "text"), [("overrides.json", "{not json"), ("overrides.yaml", "parameters: [\n")])
def test_load_overrides_unparseable_file_is_rejected(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyLoadError) as raised:
        load_overrides(path)
    ((problem,),) = [raised.value.problems]
    assert (problem.source, problem.line, problem.location) == (str(path), None, "")
    assert problem.message.startswith("cannot read parameter file: ")


def test_load_overrides_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="cannot read parameter file"):
        load_overrides(tmp_path / "absent.yaml")
