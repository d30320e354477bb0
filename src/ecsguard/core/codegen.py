"""Turn a compiled condition tree into one Python function, as fastjsonschema does for schemas.

The function answers for one polarity: ``check(env)`` is None when the condition has the wanted
value, and otherwise the evidence for why it does not (see ``core.tree``). Generating the source
inlines what a tree of closures pays for at every node: the loops over containers and variables,
each comparison, the ``all``/``any`` short cuts. ``not`` is free, since the polarity is fixed when
the code is written. Conditions placed without ``explain`` (``applies_when``, ``where``) compile to
plain booleans.

What the generated code does is exactly what the node classes document; they keep the parts that
only run on a mismatch or an error (building traces, rendering messages, naming a path), and the
generated code calls them there. Nothing here reads a resource: the source depends only on the
policy, and the values a policy names (patterns, lists, parameters) are passed in, never written
into the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecsguard.core.operators import OperandError, memo
from ecsguard.core.tree import (
    ROOT,
    AllNode,
    AnyNode,
    CompareNode,
    Constant,
    Env,
    EvaluationError,
    ForEachNode,
    Node,
    NotNode,
    Trace,
    Traces,
    join_path,
)
from ecsguard.core.unknowns import NO_ANSWER, Unknown

Check = Callable[[Env], Traces | None]
Decide = Callable[[Env], bool]


class _Writer:
    def __init__(self, hope: bool | None = None) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "Trace": Trace,
            "EvaluationError": EvaluationError,
            "OperandError": OperandError,
            "join_path": join_path,
            "Unknown": Unknown,
            "NO_ANSWER": NO_ANSWER,
        }
        self.counter = 0
        self.locals: dict[str, str] = {}  # policy variable -> local holding its bound value
        # None: the resource holds no unknown value. True: a comparison with no answer (core.unknowns) answers as
        # the policy would like; False: against it, and the unknown it read is noted in env.unknowns.
        self.hope = hope

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: object, prefix: str = "k") -> str:
        name = self.name(prefix)
        self.namespace[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def local(self, variable: str) -> str:
        if variable not in self.locals:
            self.locals[variable] = self.name("v")
        return self.locals[variable]

    # --- explaining: out is None, or the traces of why not ------------------------------------

    def explain(self, node: Node, want: bool, out: str, depth: int, quiet: bool = False) -> None:
        """``quiet``: an ancestor's message replaces this node's, so only paths and details are built."""
        if not node.explains:  # the compiler places deciding conditions only at roots (applies_when, where)
            raise TypeError("a condition placed to decide cannot explain")
        message = node.message
        if message is not None and not node.renders_own_message:
            inner = self.name("t")
            self._explain(node, want, inner, depth, quiet=True)
            summary = self.constant(node, "n")
            render = "" if not quiet else ", render=False"
            self.emit(depth, f"{out} = None if {inner} is None else {summary}.summarise(env, {inner}{render})")
            return
        self._explain(node, want, out, depth, quiet)

    def _explain(self, node: Node, want: bool, out: str, depth: int, quiet: bool) -> None:
        if isinstance(node, Constant):
            if node.value is want:
                self.emit(depth, f"{out} = None")
            else:
                self.emit(depth, f"{out} = [Trace('', {self.constant(node.description)})]")
        elif isinstance(node, NotNode):
            self.explain(node.child, not want, out, depth, quiet)
        elif isinstance(node, AllNode | AnyNode):
            # all that must hold, or any that must not: every child is evaluated, each failure reported.
            if isinstance(node, AllNode) is want:
                self._every(node.children, want, out, depth, quiet)
            else:
                self._first(node.children, want, out, depth, quiet)
        elif isinstance(node, ForEachNode):
            self._for_each(node, want, out, depth, quiet)
        elif isinstance(node, CompareNode):
            self._compare(node, want, out, depth, explain=True, quiet=quiet)
        else:
            raise TypeError(f"cannot generate code for {type(node).__name__}")

    def _every(self, children: list[Node], want: bool, out: str, depth: int, quiet: bool) -> None:
        self.emit(depth, f"{out} = None")
        for child in children:
            found = self.name("t")
            self.explain(child, want, found, depth, quiet)
            self.emit(depth, f"if {found} is not None:")
            self.emit(depth + 1, f"{out} = {found} if {out} is None else {out} + {found}")

    def _first(self, children: list[Node], want: bool, out: str, depth: int, quiet: bool) -> None:
        found = [self.name("t") for _ in children]
        for index, child in enumerate(children):
            self.explain(child, want, found[index], depth, quiet)
            self.emit(depth, f"if {found[index]} is None:")
            self.emit(depth + 1, f"{out} = None")
            self.emit(depth, "else:")
            depth += 1
        self.emit(depth, f"{out} = {' + '.join(found)}")

    def _read(self, value: str, source: str, steps: tuple[str | None, ...], depth: int) -> None:
        """Set ``value`` to the field path ``steps`` (no '[]') of ``source``, as ``Getter.one`` reads it: field by
        field while set; no steps is the bound value itself."""
        if not steps:
            self.emit(depth, f"{value} = {source}")
            return
        first, *rest = steps
        self.emit(depth, f"{value} = {source}.get({first!r})")
        for step in rest:
            self.emit(depth, f"if {value} is not None: {value} = {value}.get({step!r})")

    def _bind_items(self, node: ForEachNode, item: str, path: str, depth: int) -> int:
        """Emit the loop over the node's items (binding item and path); return the loop body's depth."""
        items = node.items
        steps = items.steps
        fields = steps[:-1]
        # Lists at a field path of a bound variable are looped over inline; a map's entries come from the getter.
        inline = fields and steps[-1] is None and None not in fields and not items.relation and not node.over_map
        if inline:
            listed, prefix, index = self.name("l"), self.name("p"), self.name("i")
            self._read(listed, self.local(items.variable), fields, depth)
            dotted = ".".join(str(field) for field in fields)
            self.emit(depth, f"{prefix} = join_path(paths[{items.variable!r}], {dotted!r})")
            self.emit(depth, f"if {listed} is None:")
            self.emit(depth + 1, f"{listed} = ()")
            if self.hope is not None:  # an unknown list is one unknown item, named by the list's path
                self.emit(depth, f"elif type({listed}) is Unknown:")
                self.emit(depth + 1, f"{listed} = ({listed},)")
            self.emit(depth, f"elif type({listed}) is not list:")
            self.emit(depth + 1, f"raise EvaluationError(({prefix} or {items.text!r}) + ' is not a list')")
            self.emit(depth, f"for {index}, {item} in enumerate({listed}):")
            if self.hope is not None:
                self.emit(depth + 1, f"{path} = {prefix} if type({listed}) is tuple else f'{{{prefix}}}[{{{index}}}]'")
            else:
                self.emit(depth + 1, f"{path} = f'{{{prefix}}}[{{{index}}}]'")
        else:
            getter = self.constant(items, "g")
            self.emit(depth, f"for {item}, {path} in {getter}.located(env):")
        return depth + 1

    def _loop(
        self, node: ForEachNode, depth: int, body: Callable[[str, str, int], None], where_favor: bool = True
    ) -> None:
        """The loop over a for_each's items with its variable bound, restored afterwards. ``where_favor``: what the
        policy would like its ``where`` to answer (selecting fewer items, or more), for a resource with unknowns."""
        variable, bound = node.variable, self.local(node.variable)
        previous = self.name("s")
        item, path = self.name("x"), self.name("q")
        self.emit(depth, f"{previous} = (values.get({variable!r}), paths.get({variable!r}, ''))")
        self.emit(depth, "try:")
        inner = self._bind_items(node, item, path, depth + 1)
        self.emit(inner, f"if {item} is None:")
        self.emit(inner + 1, "continue")
        self.emit(inner, f"{bound} = values[{variable!r}] = {item}")
        self.emit(inner, f"paths[{variable!r}] = {path}")
        if node.where is not None:
            selected = self.name("b")
            self.decide(node.where, selected, inner, where_favor)
            self.emit(inner, f"if not {selected}:")
            self.emit(inner + 1, "continue")
        body(item, path, inner)
        self.emit(depth, "finally:")
        self.emit(depth + 1, f"values[{variable!r}], paths[{variable!r}] = {previous}")

    def _for_each(self, node: ForEachNode, want: bool, out: str, depth: int, quiet: bool) -> None:
        # for_each that must not hold, or for_any that must: the first item answering None decides.
        decided_by_one = node.need_all is not want
        collected, mismatched = self.name("c"), self.name("m")
        owner = self.constant(node, "n")
        render = "" if not quiet else ", render=False"
        self.emit(depth, f"{collected} = []")
        self.emit(depth, f"{mismatched} = False")
        self.emit(depth, f"{out} = None")

        def body(item: str, path: str, inner: int) -> None:
            found = self.name("t")
            self.explain(node.require, want, found, inner, quiet=quiet or node.message is not None)
            self.emit(inner, f"if {found} is None:")
            self.emit(inner + 1, "break" if decided_by_one else "continue")
            self.emit(inner, f"{mismatched} = True")
            if node.message is None:
                self.emit(inner, f"{collected}.extend({found})")
            else:
                self.emit(inner, f"{collected}.append({owner}.item_trace(env, {found}, {path}{render}))")
            # After the loop, in its else clause: no item decided it.
            self.emit(inner - 1, "else:")
            if decided_by_one:
                self.emit(inner, f"{out} = {collected} or {owner}.default_traces(env{render})")
            else:
                self.emit(inner, f"if {mismatched}:")
                self.emit(inner + 1, f"{out} = {collected} or {owner}.default_traces(env{render})")

        # Selecting fewer items helps an every-item condition to hold, more helps a some-item one.
        self._loop(node, depth, body, where_favor=want is not node.need_all)

    # --- deciding: out is the condition's truth value --------------------------------------------

    def decide(self, node: Node, out: str, depth: int, favor: bool = False) -> None:
        """``favor``: the answer that helps the resource pass (false for applies_when: out of scope)."""
        if isinstance(node, Constant):
            self.emit(depth, f"{out} = {node.value}")
        elif isinstance(node, NotNode):
            inner = self.name("b")
            self.decide(node.child, inner, depth, not favor)
            self.emit(depth, f"{out} = not {inner}")
        elif isinstance(node, AllNode | AnyNode):
            stop = isinstance(node, AnyNode)  # any stops at the first true child, all at the first false
            self.emit(depth, f"{out} = {not stop}")
            for child in node.children:
                found = self.name("b")
                self.decide(child, found, depth, favor)
                self.emit(depth, f"if {found} is {stop}:")
                self.emit(depth + 1, f"{out} = {stop}")
                self.emit(depth, "else:")
                depth += 1
            self.emit(depth, "pass")
        elif isinstance(node, ForEachNode):
            need_all = node.need_all
            self.emit(depth, f"{out} = {need_all}")

            def body(item: str, path: str, inner: int) -> None:
                holds = self.name("b")
                self.decide(node.require, holds, inner, favor)
                self.emit(inner, f"if {holds} is not {need_all}:")
                self.emit(inner + 1, f"{out} = {not need_all}")
                self.emit(inner + 1, "break")

            self._loop(node, depth, body, where_favor=favor is not need_all)
        elif isinstance(node, CompareNode):
            self._compare(node, True, out, depth, explain=False, favor=favor)
        else:
            raise TypeError(f"cannot generate code for {type(node).__name__}")

    # --- comparisons ---------------------------------------------------------------------------------

    def _compare(
        self,
        node: CompareNode,
        want: bool,
        out: str,
        depth: int,
        explain: bool,
        quiet: bool = False,
        favor: bool = True,
    ) -> None:
        """Set ``out``: with explain, None or the traces; otherwise the comparison's truth value (``favor``: the one
        that helps the resource pass)."""
        owner = self.constant(node, "n")
        result = self.name("r")
        render = "" if not quiet else ", render=False"

        def conclude(at: int, outcome: str) -> None:
            if not explain:
                self.emit(at, f"{out} = bool({outcome})")
            elif want:
                self.emit(at, f"{out} = None if {outcome} else {owner}.traces(env, True, {outcome}{render})")
            else:
                self.emit(at, f"{out} = {owner}.traces(env, False, {outcome}{render}) if {outcome} else None")

        def unanswered(at: int) -> None:
            """A comparison with an unknown value and no answer: as the policy would like, or noted and against."""
            if self.hope:
                self.emit(at, f"{out} = {favor}" if not explain else f"{out} = None")
            elif not explain:
                self.emit(at, f"{owner}.note_unknown(env)")
                self.emit(at, f"{out} = {not favor}")
            else:
                self.emit(at, f"{out} = {owner}.unknown_traces(env)")

        def concluded(at: int, outcome: str) -> None:
            if self.hope is None:
                conclude(at, outcome)
                return
            self.emit(at, f"if {outcome} is NO_ANSWER:")
            unanswered(at + 1)
            self.emit(at, "else:")
            conclude(at + 1, outcome)

        getter, operator = node.getter, node.operator
        # A path of fields (no '[]') read from a bound variable is read inline, as Getter.one and
        # CompareNode._value read it: field by field while set, then the default for an unset field.
        simple = None not in getter.steps and not getter.relation and node.capture is None
        if not simple:
            outcome = "outcome" if self.hope is None else "outcome_unknown"
            self.emit(depth, f"{result} = {owner}.{outcome}(env)")
            concluded(depth, result)
            return
        value = self.name("u")
        self._read(value, self.local(getter.variable), getter.steps, depth)
        if self.hope is not None:
            self.emit(depth, f"if type({value}) is Unknown:")
            self.emit(depth + 1, f"{result} = {owner}.unknown_outcome(env, {value})")
            concluded(depth + 1, result)
            self.emit(depth, "else:")
            depth += 1
        if node.default is not None:
            self.emit(depth, f"if {value} is None: {value} = {self.constant(node.default)}")
        shortcut = operator.on_strings(node.argument) if operator.on_strings is not None else None
        apply, argument = self.constant(operator.apply, "a"), self.constant(node.argument)
        branch = "if"
        if not operator.handles_missing:
            self.emit(depth, f"if {value} is None:")
            conclude(depth + 1, "False")
            branch = "elif"
        if shortcut is not None:
            self.emit(depth, f"{branch} type({value}) is str:")
            if operator.remembers:
                remembered = memo(operator, node.argument, shortcut)
                answers, answer = self.constant(remembered.answers, "d"), self.constant(remembered.answer, "w")
                self.emit(depth + 1, f"{result} = {answers}.get({value})")
                self.emit(depth + 1, f"if {result} is None: {result} = {answer}({value})")
            else:
                self.emit(depth + 1, f"{result} = {self.constant(shortcut, 'f')}({value})")
            conclude(depth + 1, result)
            branch = "elif"
        if branch == "if":
            self._apply(owner, apply, argument, value, result, depth)
            conclude(depth, result)
        else:
            self.emit(depth, "else:")
            self._apply(owner, apply, argument, value, result, depth + 1)
            conclude(depth + 1, result)

    def _apply(self, owner: str, apply: str, argument: str, value: str, result: str, depth: int) -> None:
        self.emit(depth, "try:")
        self.emit(depth + 1, f"{result} = {apply}({value}, {argument})")
        self.emit(depth, "except OperandError as problem:")
        self.emit(depth + 1, f"raise {owner}.error(env, {value}, problem) from None")


def _function(writer: _Writer, name: str, body: list[str]) -> Callable[[Env], Any]:
    prologue = ["values = env.values", "paths = env.paths"]
    prologue += [f"{local} = values[{variable!r}]" for variable, local in writer.locals.items() if variable == ROOT]
    source = "\n".join([f"def {name}(env):", *("    " + line for line in prologue), *body])
    namespace = dict(writer.namespace)
    exec(compile(source, f"<ecsguard {name}>", "exec"), namespace)  # noqa: S102 - source built from the policy alone
    function: Callable[[Env], Any] = namespace[name]
    function.__doc__ = source  # the generated source, for whoever debugs a policy
    return function


def build_check(node: Node, want: bool = True, hope: bool | None = None) -> Check:
    """A function answering None when ``node`` is ``want`` for the bound resource, else the evidence. ``hope``: for a
    resource with unknown values, answer a comparison that has none as the policy would like (True) or against it
    (False, noting what was unknown in ``env.unknowns``)."""
    writer = _Writer(hope)
    writer.local(ROOT)
    writer.explain(node, want, "out", 1)
    writer.emit(1, "return out")
    return _function(writer, "check", list(writer.lines))


def build_decision(node: Node, hope: bool | None = None) -> Decide:
    """A function answering whether ``node`` holds for the bound resource (no evidence); ``hope`` as for
    ``build_check``, where the answer the policy would like is false (out of scope)."""
    writer = _Writer(hope)
    writer.local(ROOT)
    writer.decide(node, "out", 1)
    writer.emit(1, "return out")
    return _function(writer, "decide", list(writer.lines))
