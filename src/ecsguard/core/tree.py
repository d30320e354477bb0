"""The compiled form of a policy's conditions: nodes, paths, messages, and evidence.

The compiler builds a tree of these nodes; ``core.codegen`` turns it into one Python function per
policy that evaluates it. For a polarity ``want``, the function answers None when the condition has
the wanted value, and otherwise the evidence for why it does not: the engine asks the check for
``want=True``, so None is a PASS and a list of traces is a FAIL with its evidence, and one pass
decides a verdict and collects what explains it. A ``not`` is its child for the opposite polarity;
an ``all`` that must hold evaluates every child (to report every failure) but stops at the first
false child when it must not hold, and ``any`` mirrors it; a ``for_each`` that must hold reports
every failing item. Conditions that only decide (``applies_when``, a ``for_each``'s ``where``) are
placed without ``explain`` and evaluate to booleans, stopping at the first answer.

The methods of the nodes are what the evaluation calls when it needs more than a boolean: the
traces of a mismatch, a message, the concrete path of an element, an error naming it. Concrete
paths (``containerDefinitions[1].environment[0]``) are kept in the environment as items are bound,
so evidence and errors name the exact element without a second evaluation. Resources are the plain
dicts that ``core.resources`` validated against the models, so every step is a ``dict.get``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ecsguard.core.operators import OperandError, Operator
from ecsguard.core.resources import JudgedElsewhere, Unresolved
from ecsguard.core.unknowns import NO_ANSWER, Unknown, UnknownRead, answer

ROOT: Final = "resource"
MAX_COMBINATIONS: Final = 64  # of unknown values' candidate texts, for a comparison of all values at once


class EvaluationError(Exception):
    """A comparison that could not be made; becomes an ERROR result. Never carries a secret value."""


class NotJudgedHere(Exception):
    """The policy reads what another resource holds and is judged on (``JudgedElsewhere``): NOT_APPLICABLE."""


@dataclass(slots=True)
class Trace:
    """One piece of evidence while it is being built."""

    path: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


class Env:
    """Variable bindings during evaluation, and the concrete path of each bound value. ``unknowns`` collects the
    comparisons that had no answer, when a check written to note them runs (core.unknowns)."""

    __slots__ = ("paths", "unknowns", "values")

    def __init__(
        self, values: dict[str, Any], paths: dict[str, str], unknowns: list[UnknownRead] | None = None
    ) -> None:
        self.values = values
        self.paths = paths
        self.unknowns = unknowns


Traces = list[Trace]


def join_path(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


# The shape of what ECS itself gives or constrains (names, modes, versions, ids, image references without
# credentials): a text outside it is the input's own (a value pasted into a name, `user:password@` in an image
# or a URL, a sentence), so it is described, never shown.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,255}(?:@sha256:[a-f0-9]{64})?")
HIDDEN_TEXT = "(a value that is not a plain name, not shown)"


def showable(value: object, sensitive: bool) -> bool:
    """Only plain scalars of non-sensitive fields may appear in messages (an object may hold a secret), and of
    texts only those shaped like a name, a mode or a version."""
    if sensitive or not isinstance(value, str | int | float | bool):
        return False
    return not isinstance(value, str) or _PLAIN_TEXT.fullmatch(value) is not None


def _focus(traces: Sequence[Trace], fallback: str) -> str:
    """The deepest path that every located trace lies under, or ``fallback`` (the enclosing item).

    Paths are compared element by element: ``a[1]`` and ``a[10]`` share ``a``, not ``a[1``.
    """
    paths = [trace.path for trace in traces if trace.path]
    if not paths:
        return fallback
    first, last = min(paths), max(paths)  # the common prefix of all is the common prefix of these two
    if first == last:  # the usual case: one trace, or several at one path
        return first if len(first) >= len(fallback) else fallback
    length, limit = 0, min(len(first), len(last))
    while length < limit and first[length] == last[length]:
        length += 1
    # Back off to the end of an element: every path ends there or goes on with '.' or '['.
    while length and not all(len(path) == length or path[length] in ".[" for path in paths):
        length -= 1
    focus = first[:length]
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
        if self.relation:
            if type(value) is Unresolved:
                raise EvaluationError(value.reason)
            if type(value) is JudgedElsewhere:
                raise NotJudgedHere(value.reason)
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
                    if type(value) is Unknown:  # an unknown list: one unknown item, named by the list's path
                        following.append((value, path))
                        continue
                    if isinstance(value, dict):  # a map's entries, named by position: a key is the input's text
                        entries = ({"key": key, "value": item} for key, item in value.items())
                        following.extend((entry, f"{path}[{index}]") for index, entry in enumerate(entries))
                        continue
                    if not isinstance(value, list):
                        raise EvaluationError(f"{path or self.text} is not a list")
                    following.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
                else:
                    following.append((value.get(step), join_path(path, step)))
            current = following
        return current

    def unknowns(self, env: Env) -> list[tuple[Unknown, str]]:
        """The unknown values (core.unknowns) the path runs into, each with the concrete path where it stands: a
        field read of an unknown object is named by the object's own path."""
        found: list[tuple[Unknown, str]] = []
        current: list[tuple[Any, str]] = [(self._start(env), env.paths[self.variable])]
        for step in self.steps:
            following: list[tuple[Any, str]] = []
            for value, path in current:
                if type(value) is Unknown:
                    found.append((value, path))
                elif value is None:
                    continue
                elif step is not None:
                    following.append((value.get(step) if isinstance(value, dict) else None, join_path(path, step)))
                elif isinstance(value, dict):
                    following.extend((item, f"{path}[{index}]") for index, item in enumerate(value.values()))
                elif isinstance(value, list):
                    following.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
            current = following
        found.extend((value, path) for value, path in current if type(value) is Unknown)
        return found

    def concrete(self, env: Env) -> str:
        """The concrete path of a single-valued getter, whether or not the field is set."""
        path = env.paths[self.variable]
        for step in self.steps:
            path = f"{path}[]" if step is None else join_path(path, step)
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
                if value is None:
                    out.append("(unset)")
                elif type(value) is Unknown:
                    out.append(value.description)
                else:
                    out.append(str(value) if showable(value, False) else HIDDEN_TEXT)
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
    """A compiled condition. ``core.codegen`` turns a tree of them into one function per polarity;
    the methods here are what that function calls on a mismatch or an error (traces, messages, paths).
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

    def summarise(self, env: Env, traces: Traces, render: bool = True) -> Traces:
        """One trace carrying the node's message in place of its children's evidence.

        ``render`` is false under an ancestor whose own message will replace this one's.
        """
        assert self.message is not None
        details = _merged_details(traces)
        path = _focus(traces, env.paths[self.scope])
        return [Trace(path, self.message.render(env, details, path) if render else "", details)]


class Constant(Node):
    def __init__(self, value: bool, description: str) -> None:
        self.value = value
        self.description = description


class AllNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children


class AnyNode(Node):
    def __init__(self, children: list[Node]) -> None:
        self.children = children


class NotNode(Node):
    def __init__(self, child: Node) -> None:
        self.child = child


class ForEachNode(Node):
    """``for_each`` (every item satisfies ``require``) or, with ``need_all`` false, ``for_any``."""

    renders_own_message = True

    def __init__(
        self,
        items: Getter,
        variable: str,
        where: Node | None,
        require: Node,
        need_all: bool,
        over_map: bool = False,
    ) -> None:
        self.items = items
        self.variable = variable
        self.where = where
        self.require = require
        self.need_all = need_all
        self.over_map = over_map  # the items are a map's entries ({"key": ..., "value": ...})

    def item_trace(self, env: Env, found: Traces, path: str, render: bool = True) -> Trace:
        """The node's message for one item, focused on what the item's evidence has in common."""
        assert self.message is not None
        details = _merged_details(found)
        focus = _focus(found, path)
        return Trace(focus, self.message.render(env, details, focus) if render else "", details)

    def default_traces(self, env: Env, render: bool = True) -> Traces:
        """Evidence when no item explains the outcome (an empty list, or every item filtered out)."""
        path = self.items.concrete(env).removesuffix("[]")
        if not render:
            return [Trace(path, "")]
        if self.message is not None:
            return [Trace(path, self.message.render(env, {}, path))]
        quantity = "every" if self.need_all else "no"
        return [Trace(path, f"{quantity} item of {self.items.text} satisfies the condition")]


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
            if type(value) is Unknown:
                return self._captured_unknown(value)
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
            if self.operator.over_items == "collect":
                return self._apply(env, found)
            if self.operator.over_items == "some":
                return any(self._apply(env, value) for value in found)
            return all(self._apply(env, value) for value in found)
        value = self._value(env)
        if value is _MISSING_IS_FALSE:
            return False
        return self._apply(env, value)

    # --- over values known only at deploy (core.unknowns) ---

    def _captured_unknown(self, value: Unknown) -> Unknown:
        """The captured part of each candidate text, when every one has it."""
        assert self.capture is not None
        captured = []
        for candidate in value.candidates:
            match = self.capture.search(candidate) if isinstance(candidate, str) else None
            if match is None:
                return Unknown(value.description)
            captured.append(match.group(1))
        return Unknown(value.description, captured)

    def unknown_outcome(self, env: Env, value: Unknown) -> object:
        """The operator's answer for every candidate text of ``value`` when they agree, else NO_ANSWER; a
        candidate it cannot compare is an error, as the value itself would be."""
        return answer(value, lambda candidate: self._apply(env, candidate))

    def outcome_unknown(self, env: Env) -> object:
        """``outcome`` where a value may be unknown: NO_ANSWER when the unknowns decide it."""
        if self.iterates:
            found = self.getter.many(env)
            if self.operator.over_items == "collect":
                return self._collected_unknown(env, found)
            answers = [
                self.unknown_outcome(env, value) if type(value) is Unknown else self._apply(env, value)
                for value in found
            ]
            some = self.operator.over_items == "some"
            if any(a is not NO_ANSWER and bool(a) is some for a in answers):
                return some
            return NO_ANSWER if any(a is NO_ANSWER for a in answers) else not some
        value = self._value(env)
        if value is _MISSING_IS_FALSE:
            return False
        if type(value) is Unknown:
            return self.unknown_outcome(env, value)
        return self._apply(env, value)

    def _collected_unknown(self, env: Env, found: list[Any]) -> object:
        """A comparison of every value at once (includes_all) where some are unknown: its answer for every
        combination of their candidate texts when they agree (up to MAX_COMBINATIONS), else NO_ANSWER."""
        choices: list[tuple[Any, ...]] = [(v,) if type(v) is not Unknown else v.candidates for v in found]
        combinations = 1
        for options in choices:
            combinations *= len(options)
        if combinations == 0 or combinations > MAX_COMBINATIONS:
            return NO_ANSWER
        answers = {bool(self._apply(env, list(combination))) for combination in itertools.product(*choices)}
        return answers.pop() if len(answers) == 1 else NO_ANSWER

    def note_unknown(self, env: Env) -> Traces:
        """Note in ``env.unknowns`` the unknown values this comparison read; their traces."""
        traces: Traces = []
        for value, path in self.getter.unknowns(env):
            if env.unknowns is not None:
                env.unknowns.append(UnknownRead(path, value.description, id(value)))
            traces.append(Trace(path, f"{path or self.getter.text} is {value.description}"))
        if not traces:  # a captured part of a text known only at deploy
            path = self.getter.concrete(env)
            if env.unknowns is not None:
                env.unknowns.append(UnknownRead(path, "known only at deploy"))
            traces.append(Trace(path, f"{path or self.getter.text} is known only at deploy"))
        return traces

    def unknown_traces(self, env: Env) -> Traces:
        return self.note_unknown(env)

    def _apply(self, env: Env, value: Any) -> object:
        try:
            return self.operator.apply(value, self.argument)
        except OperandError as problem:
            raise self.error(env, value, problem) from None

    def error(self, env: Env, value: Any, problem: OperandError) -> EvaluationError:
        """The comparison could not be made: name the concrete path, and the value only if it may be shown."""
        shown = f" (value {value!r})" if showable(value, self.getter.sensitive) else ""
        comparison = f"{self.operator.name} {self.argument_text}".rstrip()
        return EvaluationError(f"{self.getter.concrete(env)} {comparison}: {problem}{shown}")

    def traces(self, env: Env, want: bool, outcome: object, render: bool = True) -> Traces:
        """Why the comparison is not ``want``; ``outcome`` is the operator's answer.

        ``render`` is false under an ancestor whose message will replace this one: path and details only.
        """
        details = {"match": outcome} if isinstance(outcome, str) else {}
        path = self.getter.concrete(env)
        value = None if self.iterates else self.getter.one(env)
        if value is None:
            value = self.default
        if value is None:
            details["value"] = "(unset)"
        elif type(value) is Unknown:  # a template's value, named by its function (names only, never a text)
            details["value"] = value.description
        elif showable(value, self.getter.sensitive):
            details["value"] = str(value)
        if not render:
            return [Trace(path, "", details)]
        if self.message is not None:
            return [Trace(path, self.message.render(env, details, path), details)]
        if value is None:
            shown = "is not set and"
        elif type(value) is Unknown:
            shown = f"is {value.description} and"
        elif showable(value, self.getter.sensitive):
            shown = f"is {value!r} and"
        else:
            shown = "has a value that"
        verdict = "does not satisfy" if want else "satisfies"
        subject = path or self.getter.text
        comparison = f"{self.operator.name} {self.argument_text}".rstrip()
        return [Trace(path, f"{subject} {shown} {verdict} {comparison}", details)]


def _some_comparison(node: Node, test: Callable[[CompareNode], bool]) -> bool:
    """Whether a comparison in ``node``'s subtree (a for_each's require included) passes ``test``."""
    if isinstance(node, CompareNode):
        return test(node)
    if isinstance(node, AllNode | AnyNode):
        return any(_some_comparison(child, test) for child in node.children)
    if isinstance(node, NotNode):
        return _some_comparison(node.child, test)
    if isinstance(node, ForEachNode):
        return _some_comparison(node.require, test)
    return False


def names_match(node: Node) -> bool:
    """Whether a comparison under ``node`` names what matched, so a message may show ``{match}``."""
    return _some_comparison(node, lambda compare: compare.operator.names_match)


def compares_plain_field(node: Node) -> bool:
    """Whether a comparison under ``node`` reads a non-sensitive field, so a message may show ``{value}``."""
    return _some_comparison(node, lambda compare: not compare.getter.sensitive)
