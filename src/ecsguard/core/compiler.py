"""Compile a validated policy document into an executable condition tree (``core.tree``).

Compilation is where meaning is checked: every field path exists in the resource
model, every operator is registered and its argument valid, every parameter and
message placeholder refers to something real. All problems are collected with their
location in the policy file, so one run reports every mistake. What an operator accepts
(scalars or lists, a path through ``[]``, naming its match) is declared on the operator.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ecsguard.core.codegen import Check, Decide, build_check, build_decision
from ecsguard.core.models import MODEL_BY_RESOURCE_TYPE, ResourceType, Severity
from ecsguard.core.operators import OPERATORS, ArgumentError, OperandError, Operator
from ecsguard.core.parameters import CompileProblem, Location, check_parameter_value, effective_parameters
from ecsguard.core.policy import AllOf, AnyOf, Compare, Condition, ForAny, ForEach, Not, PolicyDocument
from ecsguard.core.resources import RELATED_TYPES, VIEWS
from ecsguard.core.schema import MAP_ENTRY, PathError, SchemaNode, parse_path, resolve_schema, schema_for_model
from ecsguard.core.tree import (
    ROOT,
    AllNode,
    AnyNode,
    CompareNode,
    Constant,
    ForEachNode,
    Getter,
    Node,
    NotNode,
    Template,
    compares_plain_field,
    names_match,
    show,
)

__all__ = [  # the parameter checks are re-exported: callers compile and check parameters from here
    "CompileProblem",
    "CompiledPolicy",
    "PolicyCompileError",
    "check_parameter_value",
    "compile_policy",
]


class PolicyCompileError(ValueError):
    def __init__(self, problems: Sequence[CompileProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.location))}: {p.message}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class CompiledPolicy:
    id: str
    title: str
    description: str
    severity: Severity
    resource_type: ResourceType
    judges: tuple[ResourceType, ...]  # resource_type first, then the other types it judges (also_judges)
    document: PolicyDocument
    parameters: Mapping[str, Any]
    applies_when: Node | None
    check: Node
    source: str
    # The related resources its conditions and messages read ($taskDefinition, $cluster): what must be looked up
    # before it is evaluated; a resource's own fields are always there.
    reads: frozenset[str] = frozenset()
    # Generated once from the nodes: whether the resource is in scope; None when it passes, else why not.
    in_scope: Decide | None = field(init=False, repr=False, compare=False)
    verdict: Check = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        in_scope = build_decision(self.applies_when) if self.applies_when is not None else None
        object.__setattr__(self, "in_scope", in_scope)
        object.__setattr__(self, "verdict", build_check(self.check))

    @cached_property
    def hopeful(self) -> tuple[Decide | None, Check]:
        """Scope and verdict over a resource with unknown values, each unanswerable comparison answered as the
        policy would like: a FAIL here is one no deployed value avoids. Written only when such a resource comes."""
        return self._over_unknowns(hope=True)

    @cached_property
    def doubtful(self) -> tuple[Decide | None, Check]:
        """As ``hopeful``, answered against the policy, noting what was unknown: a PASS here no value breaks."""
        return self._over_unknowns(hope=False)

    def _over_unknowns(self, hope: bool) -> tuple[Decide | None, Check]:
        in_scope = build_decision(self.applies_when, hope) if self.applies_when is not None else None
        return in_scope, build_check(self.check, hope=hope)


@dataclass
class _Scope:
    variables: dict[str, SchemaNode]
    relations: frozenset[str]
    innermost: str


class _Compiler:
    def __init__(self, document: PolicyDocument, parameters: Mapping[str, Any]) -> None:
        self.document = document
        self.parameters = parameters
        self.problems: list[CompileProblem] = []
        self.relations_read: set[str] = set()

    def fail(self, location: Location, message: str) -> None:
        self.problems.append(CompileProblem(location, message))

    def condition(self, condition: Condition, scope: _Scope, location: Location, explain: bool) -> Node:
        """Compile one condition; ``explain`` is false where it only decides (applies_when, where)."""
        node: Node
        if isinstance(condition, AllOf):
            children = [self.condition(c, scope, (*location, "all", i), explain) for i, c in enumerate(condition.all)]
            node = AllNode(children)
        elif isinstance(condition, AnyOf):
            children = [self.condition(c, scope, (*location, "any", i), explain) for i, c in enumerate(condition.any)]
            node = AnyNode(children)
        elif isinstance(condition, Not):
            node = NotNode(self.condition(condition.not_, scope, (*location, "not"), explain))
        elif isinstance(condition, ForEach | ForAny):
            return self.for_each(condition, scope, location, explain)
        else:
            node = self.compare(condition, scope, location)
        message = self.template(
            condition.message, scope, (*location, "message"), names_match(node), compares_plain_field(node)
        )
        return node.place(scope.innermost, message, explain)

    def getter(self, text: str, scope: _Scope, location: Location) -> tuple[Getter, SchemaNode] | None:
        try:
            parsed = parse_path(text)
            variable = parsed.variable or scope.innermost
            if variable not in scope.variables:
                known = ", ".join(f"${name}" for name in scope.variables)
                raise PathError(f"unknown variable '${variable}' (known here: {known})")
            start = None if parsed.variable or variable == ROOT else f"${variable}"
            node = resolve_schema(scope.variables[variable], parsed, start)
        except PathError as error:
            self.fail(location, f"{error} in path '{text}'")
            return None
        steps: list[str | None] = []
        walk = scope.variables[variable]
        sensitive = walk.sensitive
        for step in parsed.steps:
            if step.name is None:
                steps.append(None)
                walk = walk.item or walk
            else:
                steps.append(step.name)
                walk = walk.fields.get(step.name, SchemaNode(kind="scalar", sensitive=walk.sensitive))
            sensitive = sensitive or walk.sensitive
        getter = Getter(variable, tuple(steps), text, sensitive or node.sensitive, variable in scope.relations)
        if getter.relation:
            self.relations_read.add(variable)
        return getter, node

    def argument(self, value: Any, location: Location) -> tuple[Any, str] | None:
        if isinstance(value, dict) and set(value) == {"param"}:
            name = value["param"]
            if name not in self.parameters:
                self.fail(location, f"unknown parameter '{name}' (declared: {', '.join(self.parameters) or 'none'})")
                return None
            return self.parameters[name], f"parameter {name}"
        return value, "" if value is None else repr(value)

    def compare(self, condition: Compare, scope: _Scope, location: Location) -> Node:
        operator = OPERATORS.get(condition.op)
        if operator is None:
            self.fail((*location, "op"), f"unknown operator '{condition.op}' (known: {', '.join(sorted(OPERATORS))})")
            return Constant(False, "invalid")
        argument = self.argument(condition.value, (*location, "value"))
        if argument is None:
            return Constant(False, "invalid")
        raw, argument_text = argument
        if operator.takes_argument and condition.value is None:
            self.fail((*location, "value"), f"operator '{operator.name}' needs a 'value'")
            return Constant(False, "invalid")
        try:
            prepared = operator.prepare(raw)
        except ArgumentError as error:
            self.fail((*location, "value"), f"operator '{operator.name}' {error}")
            return Constant(False, "invalid")
        if condition.param is not None:
            return self.constant_compare(condition.param, operator, prepared, location)
        assert condition.field is not None
        resolved = self.getter(condition.field, scope, (*location, "field"))
        if resolved is None:
            return Constant(False, "invalid")
        getter, node = resolved
        iterates = any(step is None for step in getter.steps)
        if iterates and operator.over_items is None:
            self.fail((*location, "field"), f"path '{condition.field}' has '[]': compare list items inside a for_each")
        if operator.operand == "scalar" and node.kind in ("object", "list", "map"):
            self.fail((*location, "field"), f"'{condition.field}' is a {node.kind}; '{operator.name}' compares a value")
        if operator.operand == "list" and node.kind != "list":
            self.fail((*location, "field"), f"'{condition.field}' is not a list; '{operator.name}' needs one")
        capture = None
        if condition.capture is not None:
            try:
                capture = re.compile(condition.capture)
            except re.error as error:
                self.fail((*location, "capture"), f"invalid regular expression: {error}")
            else:
                if capture.groups != 1:
                    self.fail((*location, "capture"), "a capture pattern needs exactly one group")
                    capture = None
        return CompareNode(getter, operator, prepared, argument_text, condition.default, capture)

    def constant_compare(self, name: str, operator: Operator, prepared: Any, location: Location) -> Node:
        if name not in self.parameters:
            self.fail((*location, "param"), f"unknown parameter '{name}'")
            return Constant(False, "invalid")
        value = self.parameters[name]
        try:
            outcome = bool(operator.apply(value, prepared))
        except OperandError as error:
            self.fail((*location, "param"), f"parameter '{name}' cannot be compared with '{operator.name}': {error}")
            return Constant(False, "invalid")
        return Constant(outcome, f"parameter {name} is {show(value)!r}")

    def for_each(self, condition: ForEach | ForAny, scope: _Scope, location: Location, explain: bool) -> Node:
        key = "for_each" if isinstance(condition, ForEach) else "for_any"
        list_path = condition.for_each if isinstance(condition, ForEach) else condition.for_any
        resolved = self.getter(list_path, scope, (*location, key))
        variable = condition.as_
        if variable in scope.variables:
            self.fail((*location, "as"), f"variable '${variable}' is already bound here; choose another name")
        if resolved is None:
            return Constant(False, "invalid")
        getter, node = resolved
        if node.kind in ("list", "map") and node.item is not None:
            getter = Getter(getter.variable, (*getter.steps, None), getter.text, getter.sensitive, getter.relation)
            node = node.item
        elif getter.steps[-1:] != (None,):
            self.fail((*location, key), f"'{list_path}' is not a list")
            return Constant(False, "invalid")
        inner = _Scope({**scope.variables, variable: node}, scope.relations, variable)
        where = None
        if condition.where is not None:
            where = self.condition(condition.where, inner, (*location, "where"), explain=False)
        require = self.condition(condition.require, inner, (*location, "require"), explain)
        over_map = node.type_name == MAP_ENTRY
        result = ForEachNode(getter, variable, where, require, need_all=key == "for_each", over_map=over_map)
        message = self.template(
            condition.message, inner, (*location, "message"), names_match(result), compares_plain_field(result)
        )
        return result.place(scope.innermost, message, explain)

    def template(
        self, text: str | None, scope: _Scope, location: Location, has_match: bool, has_value: bool
    ) -> Template | None:
        if text is None:
            return None
        parts: list[tuple[str, str | None, Getter | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as error:
            self.fail(location, f"malformed message: {error}")
            return None
        for literal, name, spec, conversion in parsed:
            if name is None:
                parts.append((literal, None, None))
                continue
            if spec or conversion:
                self.fail(location, f"placeholder '{{{name}}}' cannot have a format or conversion")
                continue
            if name == "value" and not has_value:
                self.fail(location, "'{value}' needs a comparison of a non-sensitive field inside this condition")
            if name in ("match", "path", "value"):
                if name == "match" and not has_match:
                    self.fail(location, "'{match}' needs a 'matches_any' comparison inside this condition")
                parts.append((literal, name, None))
                continue
            head, _, rest = name.partition(".")
            if head == "param":
                if rest not in self.parameters:
                    self.fail(location, f"placeholder '{{{name}}}' names an unknown parameter")
                    continue
                parts.append((literal, rest, None))
                continue
            resolved = self.getter(f"${name}", scope, location)
            if resolved is None:
                continue
            getter, node = resolved
            if getter.sensitive:
                self.fail(location, f"placeholder '{{{name}}}' would show a sensitive value; name it by location")
            elif node.kind != "scalar" or None in getter.steps:
                self.fail(location, f"placeholder '{{{name}}}' must name a single value, not a {node.kind}")
            parts.append((literal, None, getter))
        return Template(tuple(parts), self.parameters)


def _scope(resource_type: ResourceType) -> _Scope:
    variables = {ROOT: schema_for_model(MODEL_BY_RESOURCE_TYPE[resource_type])}
    related = RELATED_TYPES[resource_type]
    variables.update({name: schema_for_model(model) for name, model in related.items()})
    return _Scope(variables, frozenset(related), ROOT)


def compile_policy(document: PolicyDocument, overrides: Mapping[str, Any], source: str) -> CompiledPolicy:
    """Compile one policy with its parameters; raise PolicyCompileError listing every problem."""
    parameters, problems = effective_parameters(document, overrides)
    compiler = _Compiler(document, parameters)
    compiler.problems.extend(problems)
    scope = _scope(document.resource)
    applies_when = None
    if document.applies_when is not None:
        applies_when = compiler.condition(document.applies_when, scope, ("applies_when",), explain=False)
    check = compiler.condition(document.check, scope, ("check",), explain=True)
    for other in document.also_judges:
        if document.resource in VIEWS.get(other, ()):
            continue  # judged as a resource of the policy's own type (a task as its task definition)
        # Judged through the same fields: each must be one of the other type's, with the same meaning.
        checker = _Compiler(document, parameters)
        if document.applies_when is not None:
            checker.condition(document.applies_when, _scope(other), ("applies_when",), explain=False)
        checker.condition(document.check, _scope(other), ("check",), explain=True)
        compiler.problems.extend(
            CompileProblem(("also_judges", other.value, *problem.location), problem.message)
            for problem in checker.problems
        )
    if compiler.problems:
        raise PolicyCompileError(compiler.problems)
    return CompiledPolicy(
        id=document.id,
        title=document.title,
        description=document.description,
        severity=document.severity,
        resource_type=document.resource,
        judges=(document.resource, *document.also_judges),
        document=document,
        parameters=parameters,
        applies_when=applies_when,
        check=check,
        source=source,
        reads=frozenset(compiler.relations_read),
    )
