"""Reading CloudFormation templates in tests: short-form tags, IAM statements, the repository's paths."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

import ecsguard.adapters

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
MEMBER_TEMPLATE = REPO / "templates" / "member-account.yaml"
TEMPLATES = (TEMPLATE, MEMBER_TEMPLATE)


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads short-form tags (!Ref, !If, ...) as their long forms ({"Ref": ...}, {"Fn::If": ...})."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in {"Ref", "Condition"}:
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CloudFormationLoader)
    return loaded


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def branches(value: Any) -> Iterator[Any]:
    """Every value a property can take: both branches of an Fn::If, nothing for AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, when_true, when_false = value["Fn::If"]
        yield from branches(when_true)
        yield from branches(when_false)
    elif value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def as_list(value: Any) -> list[Any]:
    """A property that takes one value or a list of them (Action, Resource), as a list, across Fn::If."""
    values: list[Any] = []
    for branch in branches(value):
        for item in branch if isinstance(branch, list) else [branch]:
            values.extend(branches(item))
    return values


def policy_documents(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM policy document in a template (identity, trust, key, queue, topic and bus policies)."""
    if isinstance(node, dict):
        if "Statement" in node:
            yield node
        for value in node.values():
            yield from policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_documents(value)


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [statement for statement in as_list(document["Statement"]) if isinstance(statement, dict)]


def actions(statement: dict[str, Any]) -> set[str]:
    return set(as_list(statement.get("Action", [])))


def role_policies(template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    """The AWS::IAM::RolePolicy resources attached to ``role``, by PolicyName."""
    return {
        policy["Properties"]["PolicyName"]: policy["Properties"]["PolicyDocument"]
        for policy in resources(template, "AWS::IAM::RolePolicy").values()
        if policy["Properties"]["RoleName"] == {"Ref": role}
    }


def document_actions(document: dict[str, Any]) -> set[str]:
    return {action for statement in statements(document) for action in actions(statement)}


# Adapters that only an operator's command calls (`ecsguard replay`, with the operator's credentials), never a
# function: what they call is granted to the failure queues' readers, not to a function's role.
OPERATOR_ADAPTERS = frozenset({"ecsguard.adapters.sqs"})


def code_iam_actions() -> frozenset[str]:
    """The union of ``IAM_ACTIONS`` of every module under ecsguard.adapters that a function uses: what it calls."""
    found: set[str] = set()
    for module_info in pkgutil.iter_modules(ecsguard.adapters.__path__, "ecsguard.adapters."):
        if module_info.name in OPERATOR_ADAPTERS:
            continue
        module = importlib.import_module(module_info.name)
        found |= set(getattr(module, "IAM_ACTIONS", ()))
    return frozenset(found)


def function_environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    """A function's environment variables, Globals included (SAM merges them)."""
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def function_property(template: dict[str, Any], function: str, name: str) -> Any:
    """A function's property, else its Globals value."""
    properties = template["Resources"][function]["Properties"]
    if name in properties:
        return properties[name]
    return template.get("Globals", {}).get("Function", {})[name]
