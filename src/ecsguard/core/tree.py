"""The executable condition tree of a compiled policy.

Every node evaluates one way: ``node.evaluator(want)`` builds a closure that returns None when the
node's value is ``want``, and otherwise the evidence for why it is not. The engine builds the
policy's check for ``want=True``: None is a PASS, a list of traces is a FAIL with its evidence, so
one pass decides a verdict and collects what explains it. A ``not`` builds its child for the
opposite polarity (so it costs nothing at run time); an ``all`` that must hold evaluates every
child (to report every failure) but stops at the first false child when it must not hold, and
``any`` mirrors it.

Conditions that only decide (``applies_when``, a ``for_each``'s ``where``) are placed without
``explain``: they stop at the first answer and return ``UNEXPLAINED`` instead of building evidence.

Concrete paths (``containerDefinitions[1].environment[0]``) are kept in the environment as items are
bound, so evidence and errors name the exact element without a second evaluation. Resources are the
plain dicts that ``core.resources`` validated against the models, so every step is a ``dict.get``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ecsguard.core.operators import OperandError, Operator
from ecsguard.core.resources import Unresolved

ROOT: Final = "resource"


class EvaluationError(Exception):
    """A comparison that could not be made; becomes an ERROR result. Never carries a secret value."""


@dataclass(slots=True)
class Trace:
    """One piece of evidence while it is being built."""

    path: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


class Env:
    """Variable bindings during evaluation, and the concrete path of each bound value."""

    __slots__ = ("paths", "values")

    def __init__(self, values: dict[str, Any], paths: dict[str, str]) -> None:
        self.values = values
        self.paths = paths


Traces = list[Trace]
# A node built for one polarity: None when the node has the wanted value, else why not.
Check = Callable[[Env], Traces | None]
# What a node sealed without ``explain`` returns for "not the wanted value"; never extended.
UNEXPLAINED: Final[Traces] = []


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def showable(value: object, sensitive: bool) -> bool:
    """Only plain scalars of non-sensitive fields may appear in messages (an object may hold a secret)."""
    return not sensitive and isinstance(value, str | int | float | bool)


_PATH_TOKEN = re.compile(r"\[[0-9]+\]|\$?[^.\[]+")


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


def _merged_details(traces: Iterable[Trace]) -> dict[str, str]:
    details: dict[str, str] = {}
    for trace in traces:
        details.update(trace.details)
    return details


# --- paths -----------------------------------------------------------------------


@dataclass(frozen=True)
class Getter:
    """Reads a path from a bound variable. Steps are field names (or map keys), or None for '[]'."""

    variable: str
    steps: tuple[str | None, ...]
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
            value = value.get(step)
        return value

    def located(self, env: Env) -> list[tuple[Any, str]]:
        """Every value the path reaches, with its concrete path (``a[1].b``)."""
        current: list[tuple[Any, str]] = [(self._start(env), env.paths[self.variable])]
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
                    following.append((value.get(step), _join(path, step)))
            current = following
        return current

    def concrete(self, env: Env) -> str:
        """The concrete path of a single-valued getter, whether or not the field is set."""
        path = env.paths[self.variable]
        for step in self.steps:
            path = f"{path}[]" if step is None else _join(path, step)
        return path

    def many(self, env: Env) -> list[Any]:
        """Every set value the path reaches."""
        return [value for value, _ in self.located(env) if value is not None]


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
                out.append(show(self.params[special]))
        return "".join(out)


def show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


# --- nodes ---------------------------------------------------------------------------


class Node:
    """A compiled condition: ``evaluator(want)`` builds the closure that evaluates it for that polarity.

    The polarity is fixed when the closure is built (a ``not`` builds its child for the opposite one),
    so evaluation pays for no ``not`` and no test of what is wanted: the hot path of every scan.
    """

    message: Template | None = None
    scope: str = ROOT
    explains: bool = True
    # Compare and for_each render their own message per located trace; the others summarise their children's.
    renders_own_message: bool = False

    def place(self, scope: str, message: Template | None, explain: bool) -> Node:
        """Where the node sits, its message, and whether it explains (false where it only decides)."""
        self.scope = scope
        self.message = message
        self.explains = explain
        return self

    def evaluator(self, want: bool) -> Check:
        """A closure answering None when the node is ``want``, else why not (UNEXPLAINED when it only decides)."""
        check = self._check(want) if self.explains else self._decide(want)
        if self.explains and self.message is not None and not self.renders_own_message:
            check = _summarised(check, self.message, self.scope)
        return check

    def _check(self, want: bool) -> Check:
        raise NotImplementedError

    def _decide(self, want: bool) -> Check:
        return self._check(want)


def _summarised(inner: Check, message: Template, scope: str) -> Check:
    """One trace carrying the node's message in place of its children's evidence."""

    def check(env: Env) -> Traces | None:
        traces = inner(env)
        if traces is None:
            return None
        details = _merged_details(traces)
        path = _focus(traces, env.paths[scope])
        return [Trace(path, message.render(env, details, path), details)]

    return check


class Constant(Node):
    def __init__(self, value: bool, description: str) -> None:
        self.value = value
        self.description = description

    def _check(self, want: bool) -> Check:
        if self.value is want:
            return lambda env: None
        description = self.description
        return lambda env: [Trace("", description)]

    def _decide(self, want: bool) -> Check:
        return (lambda env: None) if self.value is want else (lambda env: UNEXPLAINED)


def _every(children: tuple[Check, ...]) -> Check:
    """None when every child answers None; otherwise the evidence of every child that does not."""
    if len(children) == 1:
        return children[0]

    def check(env: Env) -> Traces | None:
        traces: Traces | None = None
        for child in children:
            found = child(env)
            if found is not None:
                if traces is None:
                    traces = found
                else:
                    traces.extend(found)
        return traces

    return check


def _first(children: tuple[Check, ...]) -> Check:
    """None as soon as one child answers None; otherwise the evidence of them all."""
    if len(children) == 1:
        return children[0]

    def check(env: Env) -> Traces | None:
        collected: Traces = []
        for child in children:
            found = child(env)
            if found is None:
                return None
            collected.extend(found)
        return collected

    return check


def _short(children: tuple[Check, ...], stop_on_none: bool) -> Check:
    """Only decides: stops at the first child that answers None (or, with stop_on_none false, not None)."""

    def check(env: Env) -> Traces | None:
        for child in children:
            if (child(env) is None) is stop_on_none:
                return None if stop_on_none else UNEXPLAINED
        return UNEXPLAINED if stop_on_none else None

    return check


class AllNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def _check(self, want: bool) -> Check:
        # Holding needs every child: report every one that fails. Not holding needs one false child.
        children = tuple(child.evaluator(want) for child in self.children)
        return _every(children) if want else _first(children)

    def _decide(self, want: bool) -> Check:
        return _short(tuple(child.evaluator(want) for child in self.children), stop_on_none=not want)


class AnyNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children

    def _check(self, want: bool) -> Check:
        children = tuple(child.evaluator(want) for child in self.children)
        return _first(children) if want else _every(children)

    def _decide(self, want: bool) -> Check:
        return _short(tuple(child.evaluator(want) for child in self.children), stop_on_none=want)


class NotNode(Node):
    def __init__(self, child: Node) -> None:
        self.child = child

    def _check(self, want: bool) -> Check:
        return self.child.evaluator(not want)


class ForEachNode(Node):
    """``for_each`` (every item satisfies ``require``) or, with ``need_all`` false, ``for_any``."""

    renders_own_message = True

    def __init__(self, items: Getter, variable: str, where: Node | None, require: Node, need_all: bool) -> None:
        self.items = items
        self.variable = variable
        self.where = where
        self.require = require
        self.need_all = need_all

    def _located(self) -> Callable[[Env], Iterable[tuple[Any, str]]]:
        """Each item of the list with its concrete path."""
        items = self.items
        steps = items.steps
        # The usual list is one field of a bound variable (containerDefinitions[], environment[]).
        field_name = steps[0] if len(steps) == 2 and steps[1] is None and not items.relation else None
        if field_name is None:
            return items.located
        source = items.variable

        def located(env: Env) -> Iterable[tuple[Any, str]]:
            listed = env.values[source].get(field_name)
            prefix = _join(env.paths[source], field_name)
            if listed is None:
                return ()
            if type(listed) is not list:
                raise EvaluationError(f"{prefix or items.text} is not a list")
            return [(item, f"{prefix}[{index}]") for index, item in enumerate(listed)]

        return located

    def _decide(self, want: bool) -> Check:
        variable, need_all, located = self.variable, self.need_all, self._located()
        where = self.where.evaluator(True) if self.where is not None else None
        holds = self.require.evaluator(True)
        answer, otherwise = (None, UNEXPLAINED) if need_all is want else (UNEXPLAINED, None)

        def check(env: Env) -> Traces | None:
            values, paths = env.values, env.paths
            previous = (values.get(variable), paths.get(variable, ""))
            try:
                for item, path in located(env):
                    if item is None:
                        continue
                    values[variable], paths[variable] = item, path
                    if where is not None and where(env) is not None:
                        continue
                    if (holds(env) is None) is not need_all:
                        return otherwise  # an item that fails for_each, or satisfies for_any, decides
            finally:
                values[variable], paths[variable] = previous
            return answer

        return check

    def _check(self, want: bool) -> Check:
        variable, need_all, message, items = self.variable, self.need_all, self.message, self.items
        where = self.where.evaluator(True) if self.where is not None else None
        require = self.require.evaluator(want)
        located = self._located()
        quantity = "every" if need_all else "no"
        # for_each that must not hold, or for_any that must: the first item answering None decides.
        decided_by_one = need_all is not want

        def check(env: Env) -> Traces | None:
            values, paths = env.values, env.paths
            previous = (values.get(variable), paths.get(variable, ""))
            collected: Traces = []
            mismatched = False
            try:
                for item, path in located(env):
                    if item is None:
                        continue
                    values[variable], paths[variable] = item, path
                    if where is not None and where(env) is not None:
                        continue
                    found = require(env)
                    if found is None:
                        if decided_by_one:
                            return None
                        continue
                    mismatched = True
                    if message is None:
                        collected.extend(found)
                    else:
                        details = _merged_details(found)
                        focus = _focus(found, path)
                        collected.append(Trace(focus, message.render(env, details, focus), details))
                if not mismatched and not decided_by_one:
                    return None
                if not collected:
                    path = items.concrete(env).removesuffix("[]")
                    text = f"{quantity} item of {items.text} satisfies the condition"
                    collected.append(Trace(path, message.render(env, {}, path) if message else text))
                return collected
            finally:
                values[variable], paths[variable] = previous

        return check


_MISSING_IS_FALSE: Final = object()


class CompareNode(Node):
    renders_own_message = True

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
        self.argument = argument
        self.argument_text = argument_text
        self.default = default
        self.capture = capture
        self.iterates = any(step is None for step in getter.steps)

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
        """The operator's answer (truthy or not); raise EvaluationError when it cannot compare."""
        if self.iterates:
            found = self.getter.many(env)
            if self.operator.over_items == "some":
                return any(self._apply(env, value) for value in found)
            return all(self._apply(env, value) for value in found)
        value = self._value(env)
        if value is _MISSING_IS_FALSE:
            return False
        return self._apply(env, value)

    def _apply(self, env: Env, value: Any) -> object:
        try:
            return self.operator.apply(value, self.argument)
        except OperandError as error:
            raise self._error(env, value, error) from None

    def _error(self, env: Env, value: Any, error: OperandError) -> EvaluationError:
        shown = f" (value {value!r})" if showable(value, self.getter.sensitive) else ""
        comparison = f"{self.operator.name} {self.argument_text}".rstrip()
        return EvaluationError(f"{self.getter.concrete(env)} {comparison}: {error}{shown}")

    def _check(self, want: bool) -> Check:
        traces = self._traces
        return self._comparison(want, lambda env, outcome: traces(env, want, outcome))

    def _decide(self, want: bool) -> Check:
        return self._comparison(want, lambda env, outcome: UNEXPLAINED)

    def _comparison(self, want: bool, traces: Callable[[Env, object], Traces]) -> Check:
        outcome, getter = self.outcome, self.getter
        # Most comparisons read one field of a bound variable: give them a short path.
        first = getter.steps[0] if len(getter.steps) == 1 else None
        if first is None or getter.relation or self.capture is not None or self.default is not None:

            def check(env: Env) -> Traces | None:
                result = outcome(env)
                return None if bool(result) is want else traces(env, result)

            return check
        attribute, variable, apply, argument = first, getter.variable, self.operator.apply, self.argument
        handles_missing, error = self.operator.handles_missing, self._error
        shortcut = self.operator.on_strings(argument) if self.operator.on_strings is not None else None

        def check_field(env: Env) -> Traces | None:
            value = env.values[variable].get(attribute)
            if value is None and not handles_missing:
                return None if want is False else traces(env, False)
            try:
                result = apply(value, argument)
            except OperandError as problem:
                raise error(env, value, problem) from None
            return None if bool(result) is want else traces(env, result)

        if shortcut is None:
            return check_field

        def check_string_field(env: Env) -> Traces | None:
            value = env.values[variable].get(attribute)
            if type(value) is not str:
                return check_field(env)
            result = shortcut(value)
            return None if bool(result) is want else traces(env, result)

        return check_string_field

    def _traces(self, env: Env, want: bool, outcome: object) -> Traces:
        details = {"match": outcome} if isinstance(outcome, str) else {}
        path = self.getter.concrete(env)
        value = None if self.iterates else self.getter.one(env)
        if value is None:
            value = self.default
        if value is None:
            details["value"] = "(unset)"
        elif showable(value, self.getter.sensitive):
            details["value"] = str(value)
        if self.message is not None:
            return [Trace(path, self.message.render(env, details, path), details)]
        if value is None:
            shown = "is not set and"
        elif showable(value, self.getter.sensitive):
            shown = f"is {value!r} and"
        else:
            shown = "has a value that"
        verdict = "does not satisfy" if want else "satisfies"
        subject = path or self.getter.text
        comparison = f"{self.operator.name} {self.argument_text}".rstrip()
        return [Trace(path, f"{subject} {shown} {verdict} {comparison}", details)]


def names_match(node: Node) -> bool:
    """Whether a comparison under ``node`` names what matched, so a message may show ``{match}``."""
    if isinstance(node, CompareNode):
        return node.operator.names_match
    if isinstance(node, AllNode | AnyNode):
        return any(names_match(child) for child in node.children)
    if isinstance(node, NotNode):
        return names_match(node.child)
    if isinstance(node, ForEachNode):
        return names_match(node.require)
    return False


def compares_plain_field(node: Node) -> bool:
    """Whether a comparison under ``node`` reads a non-sensitive field, so a message may show ``{value}``."""
    if isinstance(node, CompareNode):
        return not node.getter.sensitive
    if isinstance(node, AllNode | AnyNode):
        return any(compares_plain_field(child) for child in node.children)
    if isinstance(node, NotNode):
        return compares_plain_field(node.child)
    if isinstance(node, ForEachNode):
        return compares_plain_field(node.require)
    return False
