"""Values known only at deploy (a template's !Ref, !Sub, !ImportValue): judged in three values, never a silent PASS.

The semantics: a FAIL is reported when the policy fails whatever the unknown values turn out to be, a PASS when it
holds whatever they are, and otherwise the policy's ``when_unknown`` (NOT_APPLICABLE by default) with a reason naming
each property it needed. The sweep over every case scenario checks exactly that against the scenario's own verdict:
each scenario is a deployment of the same resource with one value made unknown.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_policy_cases import Scenario, build_resource, case_files, policy_set_for

from ecsguard.catalog import load_policy_file, load_policy_set
from ecsguard.core.cloudformation import Intrinsics
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import Resource, build_service, build_task_definition, normalise
from ecsguard.core.results import Result, Status
from ecsguard.core.unknowns import WORLDS, Unknown
from policy_catalog import POLICY_DIR

UNKNOWN = "known only at deploy"
NETWORK_MODE = Unknown("!Ref NetworkMode, a parameter given at deploy")


@pytest.fixture(scope="module")
def catalog() -> PolicySet:
    return load_policy_set(POLICY_DIR)


def judged(catalog: PolicySet, resource: Resource) -> dict[str, Result]:
    return {result.policy_id: result for result in catalog.evaluate([replace(resource, uncertain=True)])}


def task_definition(**fields: Any) -> dict[str, Any]:
    container = {"name": "api", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1", "essential": True}
    return {"family": "api", "containerDefinitions": [container], "tags": [], **fields}


def test_a_definite_failure_elsewhere_stands_beside_an_unknown(catalog: PolicySet) -> None:
    # GIVEN a task definition whose network mode is a parameter and whose container runs privileged
    data = task_definition(networkMode=NETWORK_MODE)
    data["containerDefinitions"][0]["privileged"] = True

    # WHEN it is judged
    results = judged(catalog, build_task_definition(data, "template.yaml#TaskDefinition"))

    # THEN the privileged container fails, and the awsvpc policy, which needs the network mode, says what it needed
    assert results["ecs-containers-nonprivileged"].status is Status.FAIL
    awsvpc = results["ecs-network-awsvpc"]
    assert awsvpc.status is Status.NOT_APPLICABLE
    assert awsvpc.reason == "known only at deploy: networkMode is !Ref NetworkMode, a parameter given at deploy"


def test_an_unknown_never_turns_a_definite_failure_into_not_applicable(catalog: PolicySet) -> None:
    # GIVEN two containers: one runs privileged, the other's privileged flag is known only at deploy
    data = task_definition()
    data["containerDefinitions"].append({**data["containerDefinitions"][0], "name": "sidecar"})
    data["containerDefinitions"][0]["privileged"] = True
    data["containerDefinitions"][1]["privileged"] = Unknown("!Ref Privileged")

    result = judged(catalog, build_task_definition(data, "t#TD"))["ecs-containers-nonprivileged"]

    # THEN it fails, with the evidence of the definite failure alone
    assert result.status is Status.FAIL
    assert [e.path for e in result.evidence] == ["containerDefinitions[0].privileged"]


def test_an_unknown_that_cannot_break_the_policy_leaves_it_passing(catalog: PolicySet) -> None:
    # GIVEN an unknown value in a field that no task definition policy compares (the container's working directory)
    data = task_definition(networkMode="awsvpc")
    data["containerDefinitions"][0]["workingDirectory"] = Unknown("!Ref WorkDir")

    results = judged(catalog, build_task_definition(data, "t#TD"))

    # THEN every policy has a definite answer (none is unknown)
    assert all("known only at deploy" not in (result.reason or "") for result in results.values())
    assert results["ecs-network-awsvpc"].status is Status.PASS


def test_candidate_texts_that_agree_answer_and_texts_that_differ_do_not(catalog: PolicySet) -> None:
    ecr = [f"{w['AWS::AccountId']}.dkr.ecr.{w['AWS::Region']}.{w['AWS::URLSuffix']}/api:1" for w in WORLDS]
    agreeing = task_definition()
    agreeing["containerDefinitions"][0]["image"] = Unknown("!Sub of AWS::AccountId, AWS::Region", ecr)
    differing = task_definition()
    differing["containerDefinitions"][0]["image"] = Unknown("!If UseMirror, decided at deploy", [ecr[0], "nginx:1"])

    assert judged(catalog, build_task_definition(agreeing, "t#A"))["ecs-images-ecr-only"].status is Status.PASS
    result = judged(catalog, build_task_definition(differing, "t#B"))["ecs-images-ecr-only"]
    assert result.status is Status.NOT_APPLICABLE
    assert result.reason is not None
    assert "containerDefinitions[0].image is !If UseMirror" in result.reason


def test_an_unknown_list_is_judged_as_an_unknown_item(catalog: PolicySet) -> None:
    # GIVEN a container whose whole environment is chosen at deploy
    data = task_definition()
    data["containerDefinitions"][0]["environment"] = Unknown("!If Production, decided at deploy")

    result = judged(catalog, build_task_definition(data, "t#TD"))["ecs-secrets-managed"]

    # THEN the secrets policy cannot pass it, and names the list
    assert result.status is Status.NOT_APPLICABLE
    assert result.reason is not None
    assert "containerDefinitions[0].environment is !If Production" in result.reason


def test_an_unknown_scope_is_never_a_failure(catalog: PolicySet) -> None:
    # GIVEN a service on Fargate 1.3.0 running an EFS task definition, whose launch type is a parameter
    efs = task_definition(
        networkMode="awsvpc",
        volumes=[{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}],
    )
    service = {"serviceName": "api", "launchType": Unknown("!Ref LaunchType"), "platformVersion": "1.3.0"}
    resource = build_service(service, "t#Service", normalise_td(efs), {})

    result = judged(catalog, resource)["ecs-efs-fargate-platform"]

    # THEN whether the policy applies is unknown, so it is no FAIL, and the reason names the launch type
    assert result.status is Status.NOT_APPLICABLE
    assert result.reason is not None
    assert "launchType is !Ref LaunchType" in result.reason


def normalise_td(data: dict[str, Any]) -> dict[str, Any]:
    from ecsguard.core.models import TaskDefinition

    return normalise(TaskDefinition, data)


def test_when_unknown_error_makes_an_unjudged_resource_an_error(tmp_path: Path) -> None:
    # GIVEN a policy that declares an unknown value an ERROR
    source = (POLICY_DIR / "ecs-network-awsvpc.yaml").read_text(encoding="utf-8")
    policy_file = tmp_path / "ecs-network-awsvpc.yaml"
    policy_file.write_text(source.replace("\ncheck:", "\nwhen_unknown: error\ncheck:", 1), encoding="utf-8")
    policy = load_policy_file(policy_file)
    assert policy.document.when_unknown == "error"

    results = PolicySet((policy,)).evaluate(
        [replace(build_task_definition(task_definition(networkMode=NETWORK_MODE), "t#TD"), uncertain=True)]
    )

    assert [(r.status, r.reason) for r in results] == [
        (Status.ERROR, "known only at deploy: networkMode is !Ref NetworkMode, a parameter given at deploy")
    ]


# --- every scenario, one value at a time made unknown ------------------------------------------------------------


def _positions(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every scalar and every list inside ``value``: where an unknown can stand."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _positions(item, (*path, key))
    elif isinstance(value, list):
        if path:
            yield path
        for index, item in enumerate(value):
            yield from _positions(item, (*path, index))
    elif path:
        yield path


def _with(document: dict[str, Any], position: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for step in position[:-1]:
        target = target[step]
    target[position[-1]] = value
    return changed


def _sweep_params() -> list[Any]:
    params = []
    for case_file in case_files():
        for letter, scenario in case_file.scenarios.items():
            # A task is never read from a template (its overrides are applied before it is judged): no unknowns.
            if scenario.type is not ResourceType.TASK:
                params.append(pytest.param(case_file.policy, scenario, id=f"{case_file.policy}/{letter}"))
    return params


def _verdict(policy_set: PolicySet, policy_id: str, resource: Resource) -> Result:
    (result,) = [r for r in policy_set.evaluate([resource]) if r.policy_id == policy_id]
    return result


@pytest.mark.parametrize(("policy_id", "scenario"), _sweep_params())
def test_an_unknown_value_never_contradicts_the_value_it_stands_for(policy_id: str, scenario: Scenario) -> None:
    # GIVEN the scenario's verdict, with every value it holds as given
    policy_set = policy_set_for(policy_id, scenario.parameters)
    policy = policy_set.get(policy_id)
    assert policy is not None
    known = _verdict(policy_set, policy_id, build_resource(policy.resource_type, scenario, "case"))
    fields = [("resource", p) for p in _positions(scenario.resource)]
    if scenario.task_definition is not None:
        fields += [("task_definition", p) for p in _positions(scenario.task_definition)]
    for part, position in fields:
        original: Any = getattr(scenario, part)
        held = original
        for step in position:
            held = held[step]
        for stand_in in _stand_ins(held):
            # WHEN that one value is known only at deploy
            changed = scenario.model_copy(update={part: _with(original, position, stand_in)})
            resource = build_resource(policy.resource_type, changed, "case")
            if resource.model is None:  # a value the model needs to read the resource at all (a list's item type)
                continue
            result = _verdict(policy_set, policy_id, replace(resource, uncertain=True))
            where = f"{part}.{'.'.join(map(str, position))} as {stand_in!r}"

            # THEN a FAIL is one the scenario has, with no more evidence; a PASS is no failure there (a PASS, or not
            # applicable when whether it applies is what is unknown); out of scope is out of scope there; an error
            # is one some deployed value meets (the scenario's own, or one that brings the policy in scope)
            if result.status is Status.FAIL:
                assert known.status is Status.FAIL, where
                assert {e.path for e in result.evidence} <= {e.path for e in known.evidence}, where
            elif result.status is Status.PASS:
                assert known.status in (Status.PASS, Status.NOT_APPLICABLE), where
            elif result.status is Status.NOT_APPLICABLE and not (result.reason or "").startswith(UNKNOWN):
                assert (known.status, known.reason) == (result.status, result.reason), where
            elif result.status is Status.ERROR:
                assert known.status is Status.ERROR or result.reason != known.reason, where
            if stand_in.candidates:  # texts that all are the value itself answer as it does, at the same paths
                assert result.status is known.status, where
                assert [e.path for e in result.evidence] == [e.path for e in known.evidence], where


def _stand_ins(value: Any) -> list[Unknown]:
    """An unknown with no known text, and, for a text, one whose every candidate is that text."""
    stand_ins = [Unknown("!Ref Stand")]
    if isinstance(value, str):
        stand_ins.append(Unknown("!Sub Stand", [value, value]))
    return stand_ins


# --- the intrinsic functions of a template --------------------------------------------------------------------------


def intrinsics(**resources: Any) -> Intrinsics:
    parameters = {
        "Tag": {"Type": "String", "Default": "1"},
        "Password": {"Type": "String", "NoEcho": True},
        "Mode": {"Type": "String", "AllowedValues": ["awsvpc", "bridge"]},
    }
    return Intrinsics(parameters, resources, {"TaskDefinition": "template.yaml#TaskDefinition"})


def test_pseudo_parameters_have_a_text_in_every_world() -> None:
    found = intrinsics().api({"Image": {"Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/api:1"}})
    image = found["image"]
    assert isinstance(image, Unknown)
    assert "111111111111.dkr.ecr.eu-west-1.amazonaws.com/api:1" in image.candidates
    assert "222222222222.dkr.ecr.us-gov-west-1.amazonaws.com/api:1" in image.candidates
    assert image.description == "!Sub of AWS::AccountId, AWS::Region"


def test_a_parameter_is_unknown_and_its_allowed_values_are_its_texts() -> None:
    resolved = intrinsics().api(
        {"Image": {"Fn::Sub": "nginx:${Tag}"}, "NetworkMode": {"Ref": "Mode"}, "Value": {"Ref": "Password"}}
    )
    assert isinstance(resolved["image"], Unknown)
    assert resolved["image"].candidates == ()
    assert resolved["networkMode"].candidates == ("awsvpc", "bridge")
    assert resolved["value"].description == "!Ref Password, a NoEcho parameter given at deploy"


def test_no_value_leaves_a_property_out_and_plain_subs_are_text() -> None:
    resolved = intrinsics().api(
        {"User": {"Ref": "AWS::NoValue"}, "Command": ["run", {"Ref": "AWS::NoValue"}], "Name": {"Fn::Sub": "a-${!b}"}}
    )
    assert resolved == {"command": ["run"], "name": "a-${b}"}


def test_resources_of_the_template_give_their_shapes_and_links() -> None:
    found = intrinsics(
        Repo={"Type": "AWS::ECR::Repository", "Properties": {"RepositoryName": "payments"}},
        Secret={"Type": "AWS::SecretsManager::Secret"},
        Bucket={"Type": "AWS::S3::Bucket"},
    ).api(
        {
            "Image": {"Fn::Join": [":", [{"Fn::GetAtt": ["Repo", "RepositoryUri"]}, "1"]]},
            "ValueFrom": {"Ref": "Secret"},
            "TaskDefinition": {"Ref": "TaskDefinition"},
            "Other": {"Fn::GetAtt": "Bucket.Arn"},
            "Imported": {"Fn::ImportValue": "shared-image"},
        }
    )
    assert found["image"].candidates[0] == "111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments:1"
    assert found["valueFrom"].candidates[0].startswith("arn:aws:secretsmanager:eu-west-1:111111111111:secret:Secret-")
    assert found["taskDefinition"] == "template.yaml#TaskDefinition"
    assert found["other"].description == "!GetAtt Bucket.Arn, known only at deploy"
    assert found["imported"].description == "!ImportValue, known only at deploy"
