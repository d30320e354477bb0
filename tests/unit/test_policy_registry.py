"""Meta-tests over the policy catalog (``policies/``) and its case files (``tests/policy_cases/``).

These read the YAML files as written, independently of the loader, so a loader that stopped checking
something would not hide it here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsguard.catalog import load_policy_set
from ecsguard.policy_docs import Control, judging, load_controls
from policy_catalog import CASE_DIR, POLICY_DIR

ASFF_SEVERITY_LABELS = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
POLICY_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SECURITY_HUB_CONTROL = re.compile(r"[A-Z][A-Za-z0-9]*\.[1-9]\d*")  # ECS.8, EC2.19
MESSAGE_PARAMETER = re.compile(r"\{param\.([A-Za-z_][A-Za-z0-9_]*)\}")


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


POLICY_PATHS = sorted(path for path in POLICY_DIR.iterdir() if path.suffix in (".yaml", ".yml"))
CASE_PATHS = sorted(CASE_DIR.iterdir())
POLICIES = {path: _read(path) for path in POLICY_PATHS}
CASES = {path: _read(path) for path in CASE_PATHS if path.suffix == ".yaml"}
# The catalog is whatever policies/ holds (STYLE habit 17): one policy per file, named by its id.
CATALOG_IDS = {path.stem for path in POLICY_PATHS}


def _policy_params() -> list[Any]:
    return [pytest.param(path, document, id=path.stem) for path, document in POLICIES.items()]


def _declared_parameters() -> list[Any]:
    return [
        pytest.param(document, name, id=f"{path.stem}/{name}")
        for path, document in POLICIES.items()
        for name in document.get("parameters") or {}
    ]


def _parameter_uses(node: Any) -> Iterator[str]:
    """Parameter names a condition tree refers to: ``param: <name>`` anywhere and ``{param.<name>}`` in text."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "param" and isinstance(value, str):
                yield value
            else:
                yield from _parameter_uses(value)
    elif isinstance(node, list):
        for item in node:
            yield from _parameter_uses(item)
    elif isinstance(node, str):
        yield from MESSAGE_PARAMETER.findall(node)


def test_policy_catalog_ids_are_exactly_the_file_stems() -> None:
    assert set() != CATALOG_IDS
    assert {document.get("id") for document in POLICIES.values()} == CATALOG_IDS


def test_policy_catalog_loads_every_file() -> None:
    policy_set = load_policy_set(POLICY_DIR)
    assert {policy.id for policy in policy_set.policies} == CATALOG_IDS


def test_policy_ids_unique() -> None:
    counts = Counter(document.get("id") for document in POLICIES.values())
    assert {policy_id for policy_id, count in counts.items() if count > 1} == set()


@pytest.mark.parametrize(("path", "document"), _policy_params())
def test_policy_id_slug_shaped_and_equal_to_file_stem(path: Path, document: dict[str, Any]) -> None:
    policy_id = document.get("id")
    assert isinstance(policy_id, str)
    assert POLICY_SLUG.fullmatch(policy_id), f"{policy_id!r} is not a lower-case slug"
    assert policy_id == path.stem


@pytest.mark.parametrize(("path", "document"), _policy_params())
def test_policy_severity_is_asff_label(path: Path, document: dict[str, Any]) -> None:
    assert document.get("severity") in ASFF_SEVERITY_LABELS


def test_policy_security_hub_controls_are_control_ids() -> None:
    controls = {
        (path.stem, control)
        for path, document in POLICIES.items()
        for control in (document.get("references") or {}).get("security_hub_controls") or []
    }
    malformed = {(stem, control) for stem, control in controls if not SECURITY_HUB_CONTROL.fullmatch(str(control))}
    assert malformed == set()


@pytest.mark.parametrize(("document", "name"), _declared_parameters())
def test_policy_parameter_used_in_condition_tree_or_message(document: dict[str, Any], name: str) -> None:
    # Only applies_when and check count (which hold every message): a mention in a comment or in the
    # parameter's own description does not.
    used = set(_parameter_uses([document.get("applies_when"), document.get("check")]))
    assert name in used


def test_policy_cases_exist_for_exactly_the_catalog_policies() -> None:
    assert {document.get("policy") for document in CASES.values()} == {
        document.get("id") for document in POLICIES.values()
    }


def test_policy_case_files_are_yaml_named_after_their_policy() -> None:
    policy_ids = {document.get("id") for document in POLICIES.values()}
    misnamed = {path.name for path in CASE_PATHS if path.suffix != ".yaml" or path.stem not in policy_ids}
    assert misnamed == set()
    assert {path.stem for path in CASES} == {document.get("policy") for document in CASES.values()}


def _case_params() -> list[Any]:
    by_id = {document.get("id"): document for document in POLICIES.values()}
    return [pytest.param(cases, by_id.get(cases.get("policy")), id=path.stem) for path, cases in CASES.items()]


@pytest.mark.parametrize(("cases", "document"), _case_params())
def test_policy_case_file_covers_required_outcomes(cases: dict[str, Any], document: dict[str, Any] | None) -> None:
    # GIVEN the outcomes the policy can produce: NOT_APPLICABLE only when it has applies_when
    assert document is not None, f"case file names unknown policy {cases.get('policy')!r}"
    has_applies_when = document.get("applies_when") is not None
    required = {"PASS", "FAIL"} | ({"NOT_APPLICABLE"} if has_applies_when else set())

    # WHEN the case file's expectations are collected
    covered = {scenario.get("expect") for scenario in (cases.get("scenarios") or {}).values()}

    # THEN each required outcome has a scenario, and none expects an outcome the policy cannot produce
    assert required - covered == set()
    if not has_applies_when:
        assert "NOT_APPLICABLE" not in covered


# --- audited controls (src/ecsguard/controls.yaml) --------------------------------------------------

CONTROLS = load_controls()


@pytest.mark.parametrize("control", CONTROLS, ids=[control.id for control in CONTROLS])
def test_audited_control_is_judged_by_exactly_one_policy_or_says_why_none(control: Control) -> None:
    exact, _ = judging(load_policy_set(POLICY_DIR), control.id)

    if control.unjudged is None:
        assert len(exact) == 1, f"{control.id}: judged by {exact or 'no policy'} and no reason given"
    else:
        assert exact == [], f"{control.id} is judged by {exact} but controls.yaml says why none does"


def test_policies_reference_only_audited_controls() -> None:
    known = {control.id for control in CONTROLS}
    referenced = {
        (policy.id, control)
        for policy in load_policy_set(POLICY_DIR).policies
        for control in (
            *policy.document.references.security_hub_controls,
            *policy.document.references.control_tower_controls,
            *policy.document.references.related_controls,
        )
    }

    assert {(policy_id, control) for policy_id, control in referenced if control not in known} == set()


def test_controls_belong_to_the_packs_of_their_standards() -> None:
    packs = {(control.id, control.pack) for control in CONTROLS}
    assert {("ECS.2", "fsbp"), ("ECS.13", "tagging"), ("ECS.15", "tagging"), ("CT.ECS.PR.1", "control-tower")} <= packs


def test_policy_judging_a_control_is_in_that_framework_s_pack() -> None:
    misplaced = set()
    for control in CONTROLS:
        exact, _ = judging(load_policy_set(POLICY_DIR), control.id)
        for policy_id in exact:
            if control.pack not in load_policy_set(POLICY_DIR).by_id[policy_id].document.packs:
                misplaced.add((policy_id, control.id))

    assert misplaced == set()
