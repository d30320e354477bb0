"""Run every lettered scenario of every policy case file (``tests/policy_cases/*.yaml``) through the engine.

A case file names one policy and lists scenarios ``a``, ``b``, ``c``, ... (then ``aa``, ``ab``, ...). Each
scenario gives a resource in the ECS API's camelCase shape (for a service, optionally its resolved task
definition and cluster: an omitted one is unresolved), optional parameter overrides, and the expected result:

- ``expect``: PASS, FAIL, NOT_APPLICABLE or ERROR, compared exactly;
- ``evidence_paths``: for FAIL, the exact set of evidence paths (every other status has no evidence);
- ``reason_contains``: for ERROR, a substring of the reason (every other status has no reason);
- ``absent_from_output``: strings that must not appear anywhere in the result, such as planted secrets.

The file format is checked when the scenarios are collected, so a typo in a case file is a collection error
and never a scenario that silently checks nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecsguard.catalog import load_policy_set
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import MODEL_BY_RESOURCE_TYPE, Cluster, ResourceType, Sensitive, TaskDefinition
from ecsguard.core.resources import (
    RELATED_TYPES,
    Resource,
    Unresolved,
    build_cluster,
    build_service,
    build_task,
    build_task_definition,
    build_task_set,
    normalise,
)
from ecsguard.core.results import Result, Status
from ecsguard.report import result_document
from policy_catalog import CASE_DIR, POLICY_DIR


class Scenario(BaseModel):
    """One lettered scenario of a case file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    expect: Status
    # The resource's type, when it is one the policy also judges (also_judges) rather than its own.
    type: ResourceType | None = None
    resource: dict[str, Any]
    task_definition: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None
    parameters: dict[str, Any] = {}
    evidence_paths: list[str] | None = None
    reason_contains: str | None = Field(default=None, min_length=1)
    absent_from_output: list[Annotated[str, Field(min_length=1)]] = []

    @model_validator(mode="after")
    def _expectations_match_status(self) -> Scenario:
        if (self.expect is Status.FAIL) != bool(self.evidence_paths):
            raise ValueError("evidence_paths is required (non-empty) for FAIL and allowed only for FAIL")
        if self.evidence_paths is not None and len(set(self.evidence_paths)) != len(self.evidence_paths):
            raise ValueError("evidence_paths lists a path twice")
        if (self.expect is Status.ERROR) != (self.reason_contains is not None):
            raise ValueError("reason_contains is required for ERROR and allowed only for ERROR")
        inputs = "\n".join(_strings([self.resource, self.task_definition, self.cluster, self.parameters]))
        for planted in self.absent_from_output:
            # Otherwise the absence check would pass whatever the engine does.
            if planted not in inputs:
                raise ValueError(f"absent_from_output string {planted!r} does not occur in the scenario's input")
        return self


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str
    scenarios: dict[str, Scenario] = Field(min_length=1)


def _strings(value: Any) -> Iterator[str]:
    """Every string (keys and values) inside nested dicts and lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def scenario_letters(count: int) -> list[str]:
    """``a`` .. ``z``, then ``aa``, ``ab``, ... (spreadsheet column names in lower case)."""
    letters = []
    for position in range(1, count + 1):
        name, rest = "", position
        while rest:
            rest, remainder = divmod(rest - 1, 26)
            name = chr(ord("a") + remainder) + name
        letters.append(name)
    return letters


def _duplicate_keys(node: yaml.Node, seen: set[int]) -> list[str]:
    """Duplicate mapping keys (PyYAML keeps the last one silently), ignoring merge keys (<<)."""
    if id(node) in seen:
        return []
    seen.add(id(node))
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in keys:
                    found.append(f"line {key_node.start_mark.line + 1}: duplicate key {key_node.value!r}")
                keys.add(key_node.value)
            found.extend(_duplicate_keys(value_node, seen))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found.extend(_duplicate_keys(item, seen))
    return found


def load_case_file(path: Path) -> CaseFile:
    """Read and check one case file; raise ValueError naming the file and the problem."""
    text = path.read_text(encoding="utf-8")
    duplicates = _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), set())
    if duplicates:
        raise ValueError(f"{path.name}: {'; '.join(duplicates)}")
    case_file = CaseFile.model_validate(yaml.safe_load(text))
    if path.stem != case_file.policy:
        raise ValueError(f"{path.name}: names policy {case_file.policy!r}; the file must be named after its policy")
    expected = scenario_letters(len(case_file.scenarios))
    if list(case_file.scenarios) != expected:
        raise ValueError(f"{path.name}: scenarios must be lettered {', '.join(expected)} in order")
    return case_file


def case_files() -> list[CaseFile]:
    return [load_case_file(path) for path in sorted(CASE_DIR.glob("*.yaml"))]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _scenario_params() -> list[Any]:
    params = []
    for case_file in case_files():
        for letter, scenario in case_file.scenarios.items():
            test_id = f"{case_file.policy}/{letter}-{_slug(scenario.expect.value)}-{_slug(scenario.description)}"
            params.append(pytest.param(case_file.policy, letter, scenario, id=test_id))
    return params


@cache
def _policy_set(policy_id: str, parameters_json: str) -> PolicySet:
    return load_policy_set(POLICY_DIR, overrides={policy_id: json.loads(parameters_json)})


def policy_set_for(policy_id: str, parameters: Mapping[str, Any]) -> PolicySet:
    return _policy_set(policy_id, json.dumps(parameters, sort_keys=True))


def build_resource(resource_type: ResourceType, scenario: Scenario, fallback_id: str) -> Resource:
    """The scenario's resource, of its own ``type`` when it names one (a type the policy also judges), else of
    ``resource_type``, the policy's."""
    resource_type = scenario.type or resource_type
    if resource_type is ResourceType.TASK_DEFINITION:
        assert scenario.task_definition is None, "task_definition is only for policies on services"
        assert scenario.cluster is None, "cluster is only for policies on services"
        return build_task_definition(scenario.resource, fallback_id)
    if resource_type is ResourceType.CLUSTER:
        assert scenario.task_definition is None, "task_definition is only for policies on services"
        assert scenario.cluster is None, "cluster is only for policies on services: a cluster policy's is the resource"
        return build_cluster(scenario.resource, fallback_id)
    # A service, a task set or a task: with the task definition it runs and its cluster (an omitted one unresolved).
    reference_field = "taskDefinitionArn" if resource_type is ResourceType.TASK else "taskDefinition"
    task_definition_ref = scenario.resource.get(reference_field, "(none)")
    cluster_ref = scenario.resource.get("clusterArn") or scenario.resource.get("cluster", "(none)")
    task_definition = (
        normalise(TaskDefinition, scenario.task_definition)
        if scenario.task_definition is not None
        else Unresolved(f"task definition {task_definition_ref} was not found")
    )
    cluster = (
        normalise(Cluster, scenario.cluster)
        if scenario.cluster is not None
        else Unresolved(f"cluster {cluster_ref} was not found")
    )
    builders = {
        ResourceType.SERVICE: build_service,
        ResourceType.TASK_SET: build_task_set,
        ResourceType.TASK: build_task,
    }
    return builders[resource_type](scenario.resource, fallback_id, task_definition, cluster)


def sensitive_values(model: BaseModel) -> Iterator[str]:
    """The non-empty strings held in fields the resource model marks sensitive (values of maps, not keys)."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if any(isinstance(meta, Sensitive) for meta in info.metadata):
            held = value.values() if isinstance(value, Mapping) else [value]
            yield from (text for text in _strings(list(held)) if text)
        elif isinstance(value, BaseModel):
            yield from sensitive_values(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    yield from sensitive_values(item)


def _output_strings(result: Result) -> str:
    """The result as JSON, and every string in it unescaped (a multi-line secret is escaped in JSON)."""
    return "\n".join([json.dumps(result_document(result, None)), *_strings(result_document(result, None))])


@pytest.mark.parametrize(("policy_id", "letter", "scenario"), _scenario_params())
def test_policy_scenario_evaluates_to_expected_result(policy_id: str, letter: str, scenario: Scenario) -> None:
    # GIVEN the policy with the scenario's parameters and the scenario's resource
    policy_set = policy_set_for(policy_id, scenario.parameters)
    policy = policy_set.get(policy_id)
    assert policy is not None, f"no policy {policy_id} in {POLICY_DIR}"
    resource = build_resource(policy.resource_type, scenario, fallback_id=f"{policy_id}/{letter}")
    assert resource.model is not None, f"the scenario's resource does not load: {resource.problem}"

    # WHEN the policy set evaluates it
    results = [result for result in policy_set.evaluate([resource]) if result.policy_id == policy_id]

    # THEN the one result has exactly the expected status, evidence paths and reason, and leaks nothing
    assert [(result.policy_id, result.resource.id) for result in results] == [(policy_id, resource.id)]
    result = results[0]
    observed = (result.status, {evidence.path for evidence in result.evidence})
    shown = json.dumps(result_document(result, None), indent=2)
    assert observed == (scenario.expect, set(scenario.evidence_paths or ())), shown
    if scenario.expect is Status.NOT_APPLICABLE:
        # A NOT_APPLICABLE result carries the policy's own reason for leaving such resources out, when it gives one.
        assert result.reason == policy_set.by_id[policy_id].document.not_applicable_reason
    elif scenario.reason_contains is None:
        assert result.reason is None
    else:
        assert result.reason is not None
        assert scenario.reason_contains in result.reason
    output = _output_strings(result)
    leaked = {planted for planted in scenario.absent_from_output if planted in output}
    assert leaked == set(), "the result shows values it must never show"


@pytest.mark.parametrize(("policy_id", "letter", "scenario"), _scenario_params())
def test_policy_scenario_sensitive_inputs_listed_in_absent_from_output(
    policy_id: str, letter: str, scenario: Scenario
) -> None:
    # GIVEN the scenario's resource and its related resources, as the engine sees them
    policy = policy_set_for(policy_id, {}).get(policy_id)
    assert policy is not None
    resource = build_resource(policy.resource_type, scenario, fallback_id=f"{policy_id}/{letter}")
    # (read back into the pydantic models, whose fields say which are sensitive)
    assert resource.model is not None
    models = [MODEL_BY_RESOURCE_TYPE[resource.type].model_validate(resource.model)]
    for name, related in resource.related.items():
        if not isinstance(related, Unresolved):
            models.append(RELATED_TYPES[resource.type][name].model_validate(related))

    # WHEN the values of its sensitive fields are collected
    planted = {text for model in models for text in sensitive_values(model)}

    # THEN the scenario checks that every one of them stays out of the result
    assert planted - set(scenario.absent_from_output) == set()
