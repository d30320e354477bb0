"""Every scenario of every policy case file, run through `ecsguard scan --format json` as files on disk.

The unit runner checks the engine; this checks that the command line gives the same verdicts and
evidence for the same corpus, resolving services' task definitions and clusters from other files,
and that no planted secret reaches its output.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsguard.cli import main

REPO = Path(__file__).resolve().parents[2]
CASES = sorted((REPO / "tests" / "policy_cases").glob("*.yaml"))
ARN = "arn:aws:ecs:us-east-1:123456789012"


# Resources that run a task definition, in a cluster: their own ARN field, the field naming the task definition,
# and the describe output they are written as.
_LAUNCHES = {
    "AWS::ECS::Service": ("serviceArn", "service", "taskDefinition", "services"),
    "AWS::ECS::TaskSet": ("taskSetArn", "task-set", "taskDefinition", "taskSets"),
    "AWS::ECS::Task": ("taskArn", "task", "taskDefinitionArn", "tasks"),
}


def _write_scenario(folder: Path, policy_id: str, letter: str, scenario: dict[str, Any]) -> Path:
    """Write one scenario as the files a user would scan; return the file whose results are expected."""
    name = f"{policy_id}-{letter}"
    resource = dict(scenario["resource"])
    kind = scenario.get("type") or _kind(policy_id)
    if kind not in _LAUNCHES:
        target = folder / f"{name}.json"
        target.write_text(json.dumps(resource), encoding="utf-8")
        return target
    arn_field, arn_kind, reference_field, listed = _LAUNCHES[kind]
    suffix = f"cases/cases/{'0' * 31}{letter[-1]}" if kind == "AWS::ECS::TaskSet" else f"cases/{name}"
    if kind == "AWS::ECS::Task":
        suffix = f"cases/{letter.encode().hex():0>32}"
    resource[arn_field] = f"{ARN}:{arn_kind}/{suffix}"
    resource.pop("cluster", None)
    resource["clusterArn"] = f"{ARN}:cluster/{name}"
    task_definition = scenario.get("task_definition")
    if task_definition is None:
        resource[reference_field] = f"{ARN}:task-definition/{name}-absent:1"
    else:
        task_definition = {**task_definition, "taskDefinitionArn": f"{ARN}:task-definition/{name}:1"}
        resource[reference_field] = task_definition["taskDefinitionArn"]
        (folder / f"{name}-td.json").write_text(json.dumps({"taskDefinition": task_definition}), encoding="utf-8")
    cluster = scenario.get("cluster")
    if cluster is not None:
        cluster = {**cluster, "clusterArn": resource["clusterArn"], "clusterName": name}
        (folder / f"{name}-cluster.json").write_text(json.dumps({"clusters": [cluster]}), encoding="utf-8")
    target = folder / f"{name}-{arn_kind}.json"
    target.write_text(json.dumps({listed: [resource], "failures": []}), encoding="utf-8")
    return target


def _strings(value: Any) -> Iterator[str]:
    """Every string (keys and values) inside a JSON document; numbers and booleans are not text it prints."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_RESOURCE_TYPES: dict[str, str] = {}


def _kind(policy_id: str) -> str:
    if not _RESOURCE_TYPES:
        for path in (REPO / "policies").glob("*.yaml"):
            _RESOURCE_TYPES[path.stem] = yaml.safe_load(path.read_text())["resource"]
    return _RESOURCE_TYPES[policy_id]


def _groups() -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """Scenarios grouped by their parameter overrides, so each group is one scan."""
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for path in CASES:
        cases = yaml.safe_load(path.read_text())
        for letter, scenario in cases["scenarios"].items():
            parameters = {cases["policy"]: scenario["parameters"]} if scenario.get("parameters") else {}
            groups[json.dumps(parameters, sort_keys=True)].append((cases["policy"], str(letter), scenario))
    return groups


GROUPS = _groups()


@pytest.mark.parametrize("parameters", sorted(GROUPS), ids=lambda p: p if p != "{}" else "defaults")
def test_scan_of_case_corpus_matches_every_scenario(
    parameters: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN every scenario that shares these parameters, written out as files
    expected: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for policy_id, letter, scenario in GROUPS[parameters]:
        target = _write_scenario(tmp_path, policy_id, letter, scenario)
        expected[str(target)] = (policy_id, letter, scenario)
    parameter_file = tmp_path / "parameters.json"
    parameter_file.write_text(json.dumps({"parameters": json.loads(parameters)}), encoding="utf-8")

    # WHEN the folder is scanned as a user would
    # Every pack: the case files cover every policy of the catalog, whichever packs a deployment loads.
    main(["scan", "--format", "json", "--pack", "all", "--parameters", str(parameter_file), str(tmp_path)])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    # Planted values are looked for in the text the scan printed (the document's strings, unescaped, and
    # stderr) with the scanned folder's path taken out: a short planted value ("14") may occur in the
    # summary's counts or in a temporary path (/tmp/pytest-of-root/pytest-114/), which are not input.
    printed = "\n".join([*_strings(document), captured.err]).replace(str(tmp_path), "<scanned folder>")

    # THEN each scenario's file gets the expected verdict and evidence for its policy
    mismatches = []
    for source, (policy_id, letter, scenario) in expected.items():
        results = [r for r in document["results"] if r.get("source") == source and r["policy_id"] == policy_id]
        if len(results) != 1:
            mismatches.append(f"{policy_id}/{letter}: {len(results)} results")
            continue
        (result,) = results
        if result["status"] != scenario["expect"]:
            mismatches.append(f"{policy_id}/{letter}: {result['status']} != {scenario['expect']}")
        if scenario["expect"] == "FAIL" and "evidence_paths" in scenario:
            paths = {e["path"] for e in result["evidence"]}
            if paths != set(scenario["evidence_paths"]):
                mismatches.append(f"{policy_id}/{letter}: evidence {sorted(paths)}")
        for planted in scenario.get("absent_from_output", []):
            if planted in printed:
                mismatches.append(f"{policy_id}/{letter}: planted value printed")
    assert mismatches == []


def test_case_corpus_is_not_empty() -> None:
    assert {path.stem for path in CASES} == {path.stem for path in (REPO / "policies").glob("*.yaml")}
    assert sum(len(group) for group in GROUPS.values()) >= 40
