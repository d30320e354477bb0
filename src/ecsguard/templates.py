"""Read infrastructure as code into the ECS API's shapes, so that a template is judged by the same policies as what it
deploys: CloudFormation and SAM templates (YAML with short-form intrinsics, or JSON) and the templates CDK
synthesises under cdk.out/.

Templates are read with cfn-lint's decoder, which keeps the line of every key, so a result names the line of the
offending property. Properties are mapped to the API's names by ``core.cloudformation``; intrinsic functions become
what is known before deploy (``core.cloudformation.Intrinsics``): a reference to another resource of the same
template that the scan resolves, or an ``Unknown`` value that the engine judges in three values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecsguard.core.cloudformation import Intrinsics
from ecsguard.core.models import ResourceType
from ecsguard.core.unknowns import ACCOUNT_SETTINGS, Unknown, contains_unknown

# The CloudFormation types a scan judges, and the part of the API shape each becomes.
TEMPLATE_TYPES: Mapping[str, ResourceType] = {
    "AWS::ECS::TaskDefinition": ResourceType.TASK_DEFINITION,
    "AWS::ECS::Service": ResourceType.SERVICE,
    "AWS::ECS::Cluster": ResourceType.CLUSTER,
    "AWS::ECS::TaskSet": ResourceType.TASK_SET,
}
# Resources another resource names by !Ref or !GetAtt, which the scan resolves from the same template.
_LINKED_TYPES = frozenset({"AWS::ECS::TaskDefinition", "AWS::ECS::Cluster"})
# A YAML file is a template when a top-level key says so; other YAML is read as ECS API shapes.
_TEMPLATE_KEY = re.compile(rb"(?m)^(?:AWSTemplateFormatVersion|Resources|Transform)[ \t]*:")
# A value quoted in a parser's message may be the input's own text (a secret): the message keeps the rest.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")
# A parser's own position, in a message cfn-lint reports at line 1 (an undefined alias, a duplicate anchor).
_POSITION = re.compile(r"line (\d+), column (\d+)")


class TemplateError(ValueError):
    """A template that cannot be read, with the line and column where its parser stopped."""


@dataclass(frozen=True)
class TemplateResource:
    """One ECS resource of a template, in the API's shape (``data``), with its logical id and where it is."""

    kind: ResourceType
    logical_id: str
    reference: str  # template.yaml#TaskDefinition: the resource's id, and what other resources link to
    data: dict[str, Any]
    uncertain: bool  # holds values known only at deploy
    properties: Any  # the decoded Properties node, for the line of a property (line_of)
    line: int | None  # the line of the resource's logical id

    @classmethod
    def of(
        cls,
        kind: ResourceType,
        logical_id: str,
        source: str,
        data: dict[str, Any],
        properties: Any = None,
        line: int | None = None,
    ) -> TemplateResource:
        """The resource ``logical_id`` (a template's logical id, a plan's address) of the file ``source``."""
        uncertain = contains_unknown(data)
        return cls(kind, logical_id, f"{source}#{logical_id}", data, uncertain, properties, line)


def yaml_is_template(data: bytes) -> bool:
    return _TEMPLATE_KEY.search(data) is not None


def is_template(document: object) -> bool:
    """A CloudFormation template: a Resources section of typed resources."""
    if not isinstance(document, dict):
        return False
    resources = document.get("Resources")
    if not isinstance(resources, dict) or not resources:
        return False
    typed = all(isinstance(r, dict) and isinstance(r.get("Type"), str) for r in resources.values())
    return typed and ("AWSTemplateFormatVersion" in document or any(_is_aws_type(r) for r in resources.values()))


def _is_aws_type(resource: Mapping[str, Any]) -> bool:
    kind = resource.get("Type")
    return isinstance(kind, str) and kind.startswith(("AWS::", "Custom::", "Alexa::"))


def decode_template(path: Path) -> dict[str, Any]:
    """The template in ``path``, every node marked with its line; TemplateError naming where it is unreadable."""
    try:
        from cfnlint.decode import decode  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - cfn-lint comes with the templates extra
        raise TemplateError("reading templates needs cfn-lint: pip install 'ecsguard[templates]'") from None
    template, matches = decode(str(path))
    if template is None or matches:
        found = matches[0] if matches else None
        if found is None:
            raise TemplateError("not a readable template: no template in it")
        text = str(found.message)
        line, column = found.linenumber, found.columnnumber
        inner = _POSITION.search(text)
        if (line, column) == (1, 1) and inner is not None:
            line, column = int(inner.group(1)), int(inner.group(2))
        first = text.splitlines()[0] if text else "parse error"
        message = _QUOTED.sub("(…)", first.removeprefix("Template could not be parsed: "))
        raise TemplateError(f"not a readable template at line {line}, column {column}: {message}")
    if not isinstance(template, dict):
        raise TemplateError("not a readable template: its top level is not a mapping")
    return template


def _mark_line(node: object) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def template_resources(template: Mapping[str, Any], source: str) -> Iterator[TemplateResource]:
    """The ECS resources of ``template``, their properties in the API's shape."""
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return
    parameters = template.get("Parameters")
    linked = {
        str(logical_id): f"{source}#{logical_id}"
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") in _LINKED_TYPES
    }
    conditions = template.get("Conditions")
    intrinsics = Intrinsics(
        parameters if isinstance(parameters, dict) else {},
        resources,
        linked,
        conditions if isinstance(conditions, dict) else {},
    )
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") not in TEMPLATE_TYPES:
            continue
        kind = TEMPLATE_TYPES[str(resource["Type"])]
        shown = str(logical_id) if _LOGICAL_ID.fullmatch(str(logical_id)) else "resource"
        properties = resource.get("Properties") or {}
        data = intrinsics.api(properties) if isinstance(properties, dict) else {}
        if not isinstance(data, dict):
            data = {}
        if kind in (ResourceType.TASK_DEFINITION, ResourceType.SERVICE, ResourceType.CLUSTER):
            # CloudFormation tags what it creates with the stack's tags too, which only the deploy names: a
            # resource naming none of its own has the stack's alone.
            data.setdefault("tags", Unknown("the stack's tags, which CloudFormation adds at deploy"))
        if kind is ResourceType.CLUSTER:
            data.setdefault("settings", ACCOUNT_SETTINGS)
        yield TemplateResource.of(kind, shown, source, data, properties, _mark_line(logical_id))


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def line_of(properties: Any, path: str) -> int | None:
    """The line of the property at the API ``path`` (``containerDefinitions[0].environment[1]``) in a resource's
    decoded Properties: the deepest part of the path the template writes, so an intrinsic that stands for a whole
    list still names its line."""
    from ecsguard.core.cloudformation import api_name

    node = properties
    line = _mark_line(node)
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(node, dict):
                break
            key = next((k for k in node if api_name(str(k)) == name or str(k) == name), None)
            if key is None:
                break
            line = _mark_line(key) or line
            node = node[key]
        else:
            position = int(index)
            if isinstance(node, list) and position < len(node):
                node = node[position]
            elif isinstance(node, dict) and position < len(node) and not _is_function(node):
                key = list(node)[position]  # a map's entry, named by position (core.tree)
                line = _mark_line(key) or line
                node = node[key]
                continue
            else:
                break
            line = _mark_line(node) or line
    return line


def _is_function(node: Mapping[str, Any]) -> bool:
    from ecsguard.core.cloudformation import is_intrinsic

    return is_intrinsic(node)


# --- Terraform plans (terraform show -json) -------------------------------------------------------------------------


def is_terraform_plan(document: object) -> bool:
    return isinstance(document, dict) and "terraform_version" in document and "resource_changes" in document


def _references(plan: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Each resource's references by attribute (``task_definition`` -> ``aws_ecs_task_definition.app``), as full
    addresses: a module's own references are relative to it."""
    found: dict[str, dict[str, list[str]]] = {}
    configuration = plan.get("configuration")
    pending = [("", configuration.get("root_module") if isinstance(configuration, dict) else None)]
    while pending:
        prefix, module = pending.pop()
        if not isinstance(module, dict):
            continue
        for resource in module.get("resources") or []:
            if not isinstance(resource, dict) or not isinstance(resource.get("address"), str):
                continue
            expressions = resource.get("expressions")
            attributes: dict[str, list[str]] = {}
            for name, expression in (expressions if isinstance(expressions, dict) else {}).items():
                references = expression.get("references") if isinstance(expression, dict) else None
                if isinstance(references, list):
                    attributes[name] = [f"{prefix}{r}" for r in references if isinstance(r, str)]
            found[f"{prefix}{resource['address']}"] = attributes
        for name, call in (module.get("module_calls") or {}).items():
            if isinstance(call, dict):
                pending.append((f"{prefix}module.{name}.", call.get("module")))
    return found


_LINKS = {"task_definition": ("taskDefinition", "aws_ecs_task_definition"), "cluster": ("cluster", "aws_ecs_cluster")}
_ADDRESS = re.compile(r"[A-Za-z0-9_.\[\]\"-]{1,512}")


def plan_resources(plan: Mapping[str, Any], source: str) -> Iterator[TemplateResource]:
    """The ECS resources a Terraform plan creates, updates or keeps, as they will be after it applies."""
    from ecsguard.core.terraform import TERRAFORM_TYPES, to_api

    changes = [
        change
        for change in plan.get("resource_changes") or []
        if isinstance(change, dict)
        and change.get("mode", "managed") == "managed"
        and change.get("type") in TERRAFORM_TYPES
        and isinstance(change.get("change"), dict)
        and isinstance(change["change"].get("after"), dict)  # a resource being deleted has no after
    ]
    addresses = {str(change.get("address")) for change in changes}
    references = _references(plan)
    for change in changes:
        address = str(change.get("address"))
        shown = address if _ADDRESS.fullmatch(address) else "resource"
        kind = TERRAFORM_TYPES[str(change["type"])]
        planned = change["change"]
        data = to_api(str(change["type"]), planned["after"], planned.get("after_unknown"))
        for attribute, (field_name, target_type) in _LINKS.items():
            for reference in references.get(_configured(address), {}).get(attribute, []):
                target = _resource_address(reference, target_type)
                if target in addresses:
                    data[field_name] = f"{source}#{target}"
                    break
        yield TemplateResource.of(kind, shown, source, data)


def _configured(address: str) -> str:
    """The configuration's address of a planned resource: without count or for_each keys (``x.y[0]``)."""
    return re.sub(r"\[[^\]]*\]", "", address)


def _resource_address(reference: str, target_type: str) -> str | None:
    """``aws_ecs_task_definition.app`` of a reference such as ``aws_ecs_task_definition.app.arn``."""
    parts = reference.split(".")
    for index in range(len(parts) - 1):
        if parts[index] == target_type:
            return ".".join(parts[: index + 2])
    return None
