"""Compile a validated policy document into an executable condition tree.

Compilation is where meaning is checked: every field path exists in the resource
model, every operator is registered and its argument valid, every parameter and
message placeholder refers to something real. All problems are collected with their
location in the policy file, so one run reports every mistake.

A compiled node answers ``test(env)`` quickly (booleans only, no path strings), and
``explain(env, want)`` only for a failed policy, to build its evidence.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ecsguard.core.models import MODEL_BY_RESOURCE_TYPE, ResourceType, Severity
from ecsguard.core.operators import OPERATORS, ArgumentError, OperandError, Operator, parse_version
from ecsguard.core.policy import AllOf, AnyOf, Compare, Condition, ForAny, ForEach, Not, PolicyDocument
from ecsguard.core.resources import RELATED_TYPES, Unresolved
from ecsguard.core.schema import PathError, SchemaNode, parse_path, resolve_schema, schema_for_model

Location = tuple[str | int, ...]
ROOT: Final = "resource"


class EvaluationError(Exception):
    """A comparison that could not be made; becomes an ERROR result. Never carries a secret value."""


@dataclass(frozen=True)
class CompileProblem:
    location: Location
    message: str


class PolicyCompileError(ValueError):
    def __init__(self, problems: Sequence[CompileProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.location))}: {p.message}" for p in problems))
        self.problems = tuple(problems)


@dataclass
class Trace:
    """One piece of evidence while it is being built."""

    path: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


class Env:
    """Variable bindings during evaluation; ``paths`` is only kept while explaining a failure."""

    __slots__ = ("paths", "values")

    def __init__(self, values: dict[str, Any], paths: dict[str, str] | None) -> None:
        self.values = values
        self.paths = paths


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _showable(value: object, sensitive: bool) -> bool:
    """Only plain scalars of non-sensitive fields may appear in messages (an object may hold a secret)."""
    return not sensitive and isinstance(value, str | int | float | bool)


_PATH_TOKEN = re.compile(r"\[\d+\]|\$?[^.\[]+")


def _focus(traces: Sequence[Trace], fallback: str) -> str:
    """The deepest path that every located trace lies under, or ``fallback`` (the enclosing item)."""
    paths = [_PATH_TOKEN.findall(trace.path) for trace in traces if trace.path]
    if not paths:
        return fallback
    common: list[str] = []
    for tokens in zip(*paths, strict=False):
        if any(token != tokens[0] for token in tokens):
            break
        common.append(tokens[0])
    focus = "".join(token if token.startswith("[") or not index else f".{token}" for index, token in enumerate(common))
    return focus if len(focus) >= len(fallback) else fallback


# --- paths -----------------------------------------------------------------------


@dataclass(frozen=True)
class Getter:
    """Reads a path from a bound variable. Steps are (field name, is map key) or None for '[]'."""

    variable: str
    steps: tuple[tuple[str, bool] | None, ...]
    text: str
    sensitive: bool
    relation: bool

    def _start(self, env: Env) -> Any:
        value = env.values[self.variable]
        if self.relation and type(value) is Unresolved:
            raise EvaluationError(value.reason)
        return value

    def one(self, env: Env) -> Any:
        value = self._start(env)
        for step in self.steps:
            if value is None:
                return None
            name, is_map = step  # type: ignore[misc]  # single-valued getters have no '[]' steps
            value = value.get(name) if is_map else getattr(value, name, None)
        return value

    def located(self, env: Env) -> list[tuple[Any, str]]:
        """Every value the path reaches, with its concrete path (``a[1].b``)."""
        base = env.paths[self.variable] if env.paths is not None else ""
        current: list[tuple[Any, str]] = [(self._start(env), base)]
        for step in self.steps:
            following: list[tuple[Any, str]] = []
            for value, path in current:
                if value is None:
                    continue
                if step is None:
                    if not isinstance(value, list):
                        raise EvaluationError(f"{path or self.text} is not a list")
                    following.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
                else:
                    name, is_map = step
                    following.append((value.get(name) if is_map else getattr(value, name, None), _join(path, name)))
            current = following
        return current

    def concrete(self, env: Env) -> str:
        """The concrete path of a single-valued getter, whether or not the field is set."""
        path = env.paths[self.variable] if env.paths is not None else ""
        for step in self.steps:
            path = f"{path}[]" if step is None else _join(path, step[0])
        return path

    def many(self, env: Env) -> list[Any]:
        """Every set value the path reaches; paths are only built while explaining."""
        if env.paths is not None:
            return [value for value, _ in self.located(env) if value is not None]
        current: list[Any] = [self._start(env)]
        for step in self.steps:
            following: list[Any] = []
            for value in current:
                if value is None:
                    continue
                if step is None:
                    if not isinstance(value, list):
                        raise EvaluationError(f"{self.text} is not a list")
                    following.extend(value)
                else:
                    name, is_map = step
                    following.append(value.get(name) if is_map else getattr(value, name, None))
            current = following
        return [value for value in current if value is not None]


# --- messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A message with placeholders: {var.field}, {param.name}, {value}, {match}, {path}."""

    parts: tuple[tuple[str, str | None, Getter | None], ...]  # (literal, special, getter)
    params: Mapping[str, Any]

    def render(self, env: Env, details: Mapping[str, str], path: str) -> str:
        out = []
        for literal, special, getter in self.parts:
            out.append(literal)
            if getter is not None:
                value = getter.one(env)
                out.append("(unset)" if value is None else str(value))
            elif special == "match":
                out.append(details.get("match", "(no match)"))
            elif special == "value":
                out.append(details.get("value", "(not shown)"))
            elif special == "path":
                out.append(path or "(resource)")
            elif special is not None:
                out.append(_show(self.params[special]))
        return "".join(out)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


# --- nodes ---------------------------------------------------------------------------


class Node:
    """A compiled condition. ``test`` is a closure built once per node: the hot path of every scan."""

    message: Template | None = None
    scope: str = ROOT
    test: Callable[[Env], bool]

    def explain(self, env: Env, want: bool) -> list[Trace]:
        """Evidence for why this node is not ``want``; called only when test(env) != want."""
        traces = self._explain(env, want)
        if self.message is None:
            return traces
        details: dict[str, str] = {}
        for trace in traces:
            details.update(trace.details)
        path = _focus(traces, env.paths[self.scope] if env.paths is not None else "")
        return [Trace(path, self.message.render(env, details, path), details)]

    def _explain(self, env: Env, want: bool) -> list[Trace]:
        raise NotImplementedError


class Constant(Node):
    def __init__(self, value: bool, description: str) -> None:
        self.value = value
        self.description = description
        self.test = (lambda env: True) if value else (lambda env: False)

    def _explain(self, env: Env, want: bool) -> list[Trace]:
        return [Trace("", self.description)]


class AllNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.test = _all_of(tuple(child.test for child in children))

    def _explain(self, env: Env, want: bool) -> list[Trace]:
        traces: list[Trace] = []
        for child in self.children:
            if child.test(env) != want:
                traces.extend(child.explain(env, want))
        return traces


class AnyNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children
        self.test = _any_of(tuple(child.test for child in children))

    def _explain(self, env: Env, want: bool) -> list[Trace]:
        traces: list[Trace] = []
        for child in self.children:
            if child.test(env) != want:
                traces.extend(child.explain(env, want))
        return traces


class NotNode(Node):
    def __init__(self, child: Node) -> None:
        self.child = child
        inner = child.test
        self.test = lambda env: not inner(env)

    def _explain(self, env: Env, want: bool) -> list[Trace]:
        return self.child.explain(env, not want)


class ForEachNode(Node):
    """``for_each`` (every item satisfies ``require``) or, with ``need_all`` false, ``for_any``."""

    def __init__(self, items: Getter, variable: str, where: Node | None, require: Node, need_all: bool) -> None:
        self.items = items
        self.variable = variable
        self.where = where
        self.require = require
        self.need_all = need_all
        self.test = self._fast_test()

    def _fast_test(self) -> Callable[[Env], bool]:
        variable, need_all, located = self.variable, self.need_all, self._test_located
        where = self.where.test if self.where is not None else None
        require = self.require.test
        many = self.items.many
        steps = self.items.steps
        # The usual list is one field of a bound variable (containerDefinitions[], environment[]).
        field = (
            steps[0][0] if len(steps) == 2 and steps[0] is not None and not steps[0][1] and steps[1] is None else None
        )
        source, text = self.items.variable, self.items.text
        if self.items.relation:
            field = None

        def test(env: Env) -> bool:
            if env.paths is not None:
                return located(env)
            values = env.values
            items: Sequence[Any]
            if field is None:
                items = many(env)
            else:
                listed = getattr(values[source], field, None)
                if listed is None:
                    items = ()
                elif type(listed) is list:
                    items = listed
                else:
                    raise EvaluationError(f"{text} is not a list")
            previous = values.get(variable)
            try:
                for item in items:
                    if item is None:
                        continue
                    values[variable] = item
                    if where is not None and not where(env):
                        continue
                    if require(env) is not need_all:
                        return not need_all
                return need_all
            finally:
                values[variable] = previous

        return test

    def _test_located(self, env: Env) -> bool:
        """The same as ``test``, keeping each item's concrete path so that errors can name it."""
        assert env.paths is not None
        values, paths = env.values, env.paths
        previous = (values.get(self.variable), paths.get(self.variable, ""))
        try:
            for item, path in self.items.located(env):
                if item is None:
                    continue
                values[self.variable], paths[self.variable] = item, path
                if self.where is not None and not self.where.test(env):
                    continue
                if self.require.test(env) is not self.need_all:
                    return not self.need_all
            return self.need_all
        finally:
            values[self.variable], paths[self.variable] = previous

    def explain(self, env: Env, want: bool) -> list[Trace]:
        """Evidence from each item whose outcome goes against ``want`` (all of them for an unmet for_any)."""
        assert env.paths is not None
        values, paths = env.values, env.paths
        previous = (values.get(self.variable), paths.get(self.variable))
        traces: list[Trace] = []
        try:
            for item, path in self.items.located(env):
                if item is None:
                    continue
                values[self.variable], paths[self.variable] = item, path
                if self.where is not None and not self.where.test(env):
                    continue
                if self.require.test(env) is want:
                    continue
                found = self.require.explain(env, want)
                if self.message is None:
                    traces.extend(found)
                else:
                    details: dict[str, str] = {}
                    for trace in found:
                        details.update(trace.details)
                    focus = _focus(found, path)
                    traces.append(Trace(focus, self.message.render(env, details, focus), details))
        finally:
            values[self.variable], paths[self.variable] = previous[0], previous[1] or ""
        if not traces:
            path = self.items.concrete(env).removesuffix("[]")
            quantity = "every" if self.need_all else "no"
            text = f"{quantity} item of {self.items.text} satisfies the condition"
            traces.append(Trace(path, self.message.render(env, {}, path) if self.message else text))
        return traces


_MISSING_IS_FALSE: Final = object()


class CompareNode(Node):
    def __init__(
        self,
        getter: Getter,
        operator: Operator,
        argument: Any,
        argument_text: str,
        default: Any,
        capture: re.Pattern[str] | None,
    ) -> None:
        self.getter = getter
        self.operator = operator
        self.apply = operator.apply
        self.argument = argument
        self.argument_text = argument_text
        self.default = default
        self.capture = capture
        self.iterates = any(step is None for step in getter.steps)
        # Most comparisons read one attribute of a bound variable: give them a short path in test().
        first = getter.steps[0] if len(getter.steps) == 1 else None
        simple = first is not None and not first[1] and capture is None and default is None and not getter.relation
        self.attribute = first[0] if simple and first is not None else None
        self.variable = getter.variable
        self.handles_missing = operator.handles_missing
        self.test = self._fast_test()

    def _value(self, env: Env) -> Any:
        value = self.getter.one(env)
        if self.capture is not None and value is not None:
            if not isinstance(value, str):
                raise EvaluationError(f"{self.getter.text}: cannot capture from a {type(value).__name__}")
            match = self.capture.search(value)
            value = match.group(1) if match else None
        if value is None:
            if self.default is not None:
                return self.default
            if not self.operator.handles_missing:
                return _MISSING_IS_FALSE
        return value

    def outcome(self, env: Env) -> object:
        if self.iterates:
            # Only exists (some value is set) and empty (every value is empty) may follow '[]'.
            found = self.getter.many(env)
            if self.operator.name == "exists":
                return bool(found)
            for value in found:
                if not self._apply(env, value):
                    return False
            return True
        value = self._value(env)
        if value is _MISSING_IS_FALSE:
            return False
        return self._apply(env, value)

    def _apply(self, env: Env, value: Any) -> object:
        try:
            return self.apply(value, self.argument)
        except OperandError as error:
            shown = f" (value {value!r})" if _showable(value, self.getter.sensitive) else ""
            where = self.getter.concrete(env) if env.paths is not None else self.getter.text
            comparison = f"{self.operator.name} {self.argument_text}".rstrip()
            raise EvaluationError(f"{where} {comparison}: {error}{shown}") from None

    def _fast_test(self) -> Callable[[Env], bool]:
        outcome = self.outcome
        if self.attribute is None:
            return lambda env: bool(outcome(env))
        attribute, variable, apply, argument = self.attribute, self.variable, self.apply, self.argument
        handles_missing = self.handles_missing

        def test(env: Env) -> bool:
            if env.paths is not None:
                return bool(outcome(env))
            value = getattr(env.values[variable], attribute, None)
            if value is None and not handles_missing:
                return False
            try:
                return bool(apply(value, argument))
            except OperandError:
                return bool(outcome(env))  # raises the EvaluationError that names the field

        return test

    def explain(self, env: Env, want: bool) -> list[Trace]:
        outcome = self.outcome(env)
        details = {"match": outcome} if isinstance(outcome, str) else {}
        path = self.getter.concrete(env)
        value = None if self.iterates else self.getter.one(env)
        if value is None:
            value = self.default
        if value is None:
            details["value"] = "(unset)"
        elif _showable(value, self.getter.sensitive):
            details["value"] = str(value)
        if self.message is not None:
            return [Trace(path, self.message.render(env, details, path), details)]
        if value is None:
            shown = "is not set and"
        elif _showable(value, self.getter.sensitive):
            shown = f"is {value!r} and"
        else:
            shown = "has a value that"
        verdict = "does not satisfy" if want else "satisfies"
        subject = path or self.getter.text
        comparison = f"{self.operator.name} {self.argument_text}".rstrip()
        return [Trace(path, f"{subject} {shown} {verdict} {comparison}", details)]


# --- compilation ------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPolicy:
    id: str
    title: str
    description: str
    severity: Severity
    resource_type: ResourceType
    document: PolicyDocument
    parameters: Mapping[str, Any]
    applies_when: Node | None
    check: Node
    source: str


@dataclass
class _Scope:
    variables: dict[str, SchemaNode]
    relations: frozenset[str]
    innermost: str


_PARAMETER_CHECKS: Mapping[str, tuple[str, Any]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "version": ("a version string such as '1.4.0'", lambda v: isinstance(v, str) and _is_version(v)),
    "string_list": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)),
    "pattern_map": (
        "a mapping of names to regular expressions",
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(i, str) for k, i in v.items()),
    ),
}


def _is_version(text: str) -> bool:
    try:
        parse_version(text)
    except OperandError:
        return False
    return True


def check_parameter_value(kind: str, value: Any) -> str | None:
    """Return why ``value`` is not a valid parameter of ``kind``, or None when it is."""
    expected, accepts = _PARAMETER_CHECKS[kind]
    return None if accepts(value) else f"must be {expected}, found {type(value).__name__}"


class _Compiler:
    def __init__(self, document: PolicyDocument, parameters: Mapping[str, Any]) -> None:
        self.document = document
        self.parameters = parameters
        self.problems: list[CompileProblem] = []

    def fail(self, location: Location, message: str) -> None:
        self.problems.append(CompileProblem(location, message))

    def condition(self, condition: Condition, scope: _Scope, location: Location) -> Node:
        node: Node
        if isinstance(condition, AllOf):
            node = AllNode([self.condition(c, scope, (*location, "all", i)) for i, c in enumerate(condition.all)])
        elif isinstance(condition, AnyOf):
            node = AnyNode([self.condition(c, scope, (*location, "any", i)) for i, c in enumerate(condition.any)])
        elif isinstance(condition, Not):
            node = NotNode(self.condition(condition.not_, scope, (*location, "not")))
        elif isinstance(condition, ForEach | ForAny):
            return self.for_each(condition, scope, location)
        else:
            node = self.compare(condition, scope, location)
        node.scope = scope.innermost
        node.message = self.template(
            condition.message, scope, (*location, "message"), _has_match(node), _has_plain_field(node)
        )
        return node

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
        steps: list[tuple[str, bool] | None] = []
        walk = scope.variables[variable]
        sensitive = walk.sensitive
        for step in parsed.steps:
            if step.name is None:
                steps.append(None)
                walk = walk.item or walk
            else:
                steps.append((step.name, walk.kind == "map"))
                walk = walk.fields.get(step.name, SchemaNode(kind="scalar", sensitive=walk.sensitive))
            sensitive = sensitive or walk.sensitive
        getter = Getter(variable, tuple(steps), text, sensitive or node.sensitive, variable in scope.relations)
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
        if iterates and operator.name not in ("exists", "empty"):
            self.fail((*location, "field"), f"path '{condition.field}' has '[]': compare list items inside a for_each")
        if node.kind in ("object", "list", "map") and operator.name not in ("exists", "empty", "contains"):
            self.fail((*location, "field"), f"'{condition.field}' is a {node.kind}; '{operator.name}' compares a value")
        if operator.name == "contains" and node.kind != "list":
            self.fail((*location, "field"), f"'{condition.field}' is not a list; 'contains' needs one")
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
        return Constant(outcome, f"parameter {name} is {_show(value)!r}")

    def for_each(self, condition: ForEach | ForAny, scope: _Scope, location: Location) -> Node:
        key = "for_each" if isinstance(condition, ForEach) else "for_any"
        list_path = condition.for_each if isinstance(condition, ForEach) else condition.for_any
        resolved = self.getter(list_path, scope, (*location, key))
        variable = condition.as_
        if variable in scope.variables:
            self.fail((*location, "as"), f"variable '${variable}' is already bound here; choose another name")
        if resolved is None:
            return Constant(False, "invalid")
        getter, node = resolved
        if node.kind == "list" and node.item is not None:
            getter = Getter(getter.variable, (*getter.steps, None), getter.text, getter.sensitive, getter.relation)
            node = node.item
        elif getter.steps[-1:] != (None,):
            self.fail((*location, key), f"'{list_path}' is not a list")
            return Constant(False, "invalid")
        inner = _Scope({**scope.variables, variable: node}, scope.relations, variable)
        where = None if condition.where is None else self.condition(condition.where, inner, (*location, "where"))
        require = self.condition(condition.require, inner, (*location, "require"))
        result = ForEachNode(getter, variable, where, require, need_all=key == "for_each")
        result.scope = scope.innermost
        result.message = self.template(
            condition.message, inner, (*location, "message"), _has_match(result), _has_plain_field(result)
        )
        return result

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


def _all_of(tests: tuple[Callable[[Env], bool], ...]) -> Callable[[Env], bool]:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda env: first(env) and second(env)

    def test(env: Env) -> bool:
        for each in tests:
            if not each(env):
                return False
        return True

    return test


def _any_of(tests: tuple[Callable[[Env], bool], ...]) -> Callable[[Env], bool]:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda env: first(env) or second(env)

    def test(env: Env) -> bool:
        for each in tests:
            if each(env):
                return True
        return False

    return test


def _has_match(node: Node) -> bool:
    if isinstance(node, CompareNode):
        return node.operator.name == "matches_any"
    if isinstance(node, AllNode | AnyNode):
        return any(_has_match(child) for child in node.children)
    if isinstance(node, NotNode):
        return _has_match(node.child)
    if isinstance(node, ForEachNode):
        return _has_match(node.require)
    return False


def _has_plain_field(node: Node) -> bool:
    if isinstance(node, CompareNode):
        return not node.getter.sensitive
    if isinstance(node, AllNode | AnyNode):
        return any(_has_plain_field(child) for child in node.children)
    if isinstance(node, NotNode):
        return _has_plain_field(node.child)
    if isinstance(node, ForEachNode):
        return _has_plain_field(node.require)
    return False


def effective_parameters(
    document: PolicyDocument, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], list[CompileProblem]]:
    values: dict[str, Any] = {}
    problems: list[CompileProblem] = []
    for name, declared in document.parameters.items():
        why = check_parameter_value(declared.type, declared.default)
        if why:
            problems.append(CompileProblem(("parameters", name, "default"), why))
        values[name] = declared.default
    for name, value in overrides.items():
        if name not in document.parameters:
            known = ", ".join(document.parameters) or "none"
            problems.append(CompileProblem(("parameters", name), f"override of unknown parameter (declared: {known})"))
            continue
        why = check_parameter_value(document.parameters[name].type, value)
        if why:
            problems.append(CompileProblem(("parameters", name), f"override {why}"))
        values[name] = value
    return values, problems


def compile_policy(document: PolicyDocument, overrides: Mapping[str, Any], source: str) -> CompiledPolicy:
    """Compile one policy with its parameters; raise PolicyCompileError listing every problem."""
    parameters, problems = effective_parameters(document, overrides)
    compiler = _Compiler(document, parameters)
    compiler.problems.extend(problems)
    variables = {ROOT: schema_for_model(MODEL_BY_RESOURCE_TYPE[document.resource])}
    related = RELATED_TYPES[document.resource]
    variables.update({name: schema_for_model(model) for name, model in related.items()})
    scope = _Scope(variables, frozenset(related), ROOT)
    applies_when = None
    if document.applies_when is not None:
        applies_when = compiler.condition(document.applies_when, scope, ("applies_when",))
    check = compiler.condition(document.check, scope, ("check",))
    if compiler.problems:
        raise PolicyCompileError(compiler.problems)
    return CompiledPolicy(
        id=document.id,
        title=document.title,
        description=document.description,
        severity=document.severity,
        resource_type=document.resource,
        document=document,
        parameters=parameters,
        applies_when=applies_when,
        check=check,
        source=source,
    )
