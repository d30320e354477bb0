"""The vocabulary of field paths a policy may use, derived from the resource models.

A path such as ``containerDefinitions[].environment[].name`` is checked against
this schema when a policy loads, so ``netwrkMode`` is an error at load time and
not a silent non-match at run time.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel

from ecsguard.core.models import Sensitive


@dataclass(frozen=True)
class SchemaNode:
    """One position in a resource's shape. A list's ``item`` is its items'; a map's is its entries', objects
    with the fields ``key`` and ``value``, so ``for_each: dockerLabels[]`` reads each label's key and value."""

    kind: str  # "object", "list", "map" or "scalar"
    fields: dict[str, SchemaNode] = field(default_factory=dict)
    item: SchemaNode | None = None
    sensitive: bool = False
    type_name: str = "any"


MAP_ENTRY = "map entry"


def map_entry(sensitive: bool) -> SchemaNode:
    """A map's entry: its key (the input's own text, shown only when it is shaped like a name) and its value."""
    return SchemaNode(
        kind="object",
        fields={
            "key": SchemaNode(kind="scalar", type_name="str"),
            "value": SchemaNode(kind="scalar", sensitive=sensitive),
        },
        sensitive=False,
        type_name=MAP_ENTRY,
    )


class PathError(ValueError):
    """A path that is malformed or that the resource model does not have."""


_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Step:
    """One step of a parsed path: a named field, or iteration over a list or a map."""

    name: str | None  # None means "each item" ([])


@dataclass(frozen=True)
class ParsedPath:
    variable: str | None  # "$name" prefix, without the "$"
    steps: tuple[Step, ...]
    text: str

    @property
    def iterates(self) -> bool:
        return any(step.name is None for step in self.steps)


def parse_path(text: str) -> ParsedPath:
    """Parse ``[$var.]name(.name|[])*`` into steps."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a field path must be a non-empty string")
    rest = text.strip()
    variable: str | None = None
    if rest.startswith("$"):
        match = _SEGMENT.match(rest, 1)
        if not match:
            raise PathError(f"malformed variable in path {text!r}")
        variable = match.group(0)
        rest = rest[match.end() :]
        if rest.startswith("."):
            rest = rest[1:]
            if not rest:
                raise PathError(f"path {text!r} ends with '.'")
    steps: list[Step] = []
    position = 0
    expect_name = variable is None or bool(rest)
    while position < len(rest):
        if rest.startswith("[]", position):
            if not steps:
                raise PathError(f"path {text!r} cannot start with '[]'")
            steps.append(Step(None))
            position += 2
            expect_name = False
            continue
        if not expect_name:
            if rest[position] != ".":
                raise PathError(f"expected '.' or '[]' at offset {position} of path {text!r}")
            position += 1
        match = _SEGMENT.match(rest, position)
        if not match:
            raise PathError(f"expected a field name at offset {position} of path {text!r}")
        steps.append(Step(match.group(0)))
        position = match.end()
        expect_name = False
    if variable is None and not steps:
        raise PathError(f"empty path {text!r}")
    return ParsedPath(variable=variable, steps=tuple(steps), text=text)


def resolve_schema(root: SchemaNode, path: ParsedPath, start: str | None = None) -> SchemaNode:
    """Walk ``path`` through ``root`` and return the node it ends on, or raise PathError.

    ``start`` names where a relative path starts (a loop variable), for messages.
    """
    node = root
    walked = f"${path.variable}" if path.variable else (start or "")
    for step in path.steps:
        if step.name is None:
            if node.kind not in ("list", "map") or node.item is None:
                raise PathError(f"'{walked}' is not a list, so '[]' cannot follow it")
            node = node.item
            walked += "[]"
            continue
        if node.kind == "list":
            raise PathError(f"'{walked}' is a list: write '{walked}[].{step.name}' to look into its items")
        if node.kind == "map":
            node = SchemaNode(kind="scalar", sensitive=node.sensitive)
        elif node.kind == "object":
            child = node.fields.get(step.name)
            if child is None:
                hint = difflib.get_close_matches(step.name, node.fields, n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                where = f"'{walked}'" if walked else "the resource"
                raise PathError(f"unknown field '{step.name}' in {where}{suggestion}")
            node = child
        else:
            raise PathError(f"'{walked}' is a {node.type_name}, it has no field '{step.name}'")
        walked = f"{walked}.{step.name}" if walked else step.name
    return node


@cache
def schema_for_model(model: type[BaseModel]) -> SchemaNode:
    fields: dict[str, SchemaNode] = {}
    for name, info in model.model_fields.items():
        sensitive = any(isinstance(meta, Sensitive) for meta in info.metadata)
        fields[name] = _schema_for_annotation(info.annotation, sensitive)
    return SchemaNode(kind="object", fields=fields, type_name=model.__name__)


def _schema_for_annotation(annotation: Any, sensitive: bool) -> SchemaNode:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extras = typing.get_args(annotation)
        return _schema_for_annotation(base, sensitive or any(isinstance(e, Sensitive) for e in extras))
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _schema_for_annotation(members[0], sensitive)
        names = "|".join(getattr(m, "__name__", str(m)) for m in members)
        return SchemaNode(kind="scalar", sensitive=sensitive, type_name=names)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return SchemaNode(kind="list", item=_schema_for_annotation(item, sensitive), sensitive=sensitive)
    if origin is dict:
        return SchemaNode(kind="map", item=map_entry(sensitive), sensitive=sensitive, type_name="map")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        node = schema_for_model(annotation)
        if sensitive:
            return SchemaNode(kind=node.kind, fields=node.fields, sensitive=True, type_name=node.type_name)
        return node
    return SchemaNode(kind="scalar", sensitive=sensitive, type_name=getattr(annotation, "__name__", "any"))
