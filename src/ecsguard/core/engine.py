"""Evaluate a policy set over resources: every (policy, resource) pair gets exactly one result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import VIEWS, Resource, Unresolved
from ecsguard.core.results import Evidence, ResourceRef, Result, Status
from ecsguard.core.tasks import TASK_DEFINITION_VIEW, origin_of
from ecsguard.core.tree import ROOT, Env, EvaluationError, NotJudgedHere, Trace
from ecsguard.core.unknowns import UnknownRead, unknown_reason


@dataclass(frozen=True)
class PolicySet:
    """A frozen, fully validated set of compiled policies, in catalog order."""

    policies: tuple[CompiledPolicy, ...]
    by_id: Mapping[str, CompiledPolicy] = field(init=False, repr=False, compare=False)
    by_type: Mapping[ResourceType, tuple[CompiledPolicy, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {policy.id: policy for policy in self.policies})
        by_type = {t: tuple(p for p in self.policies if t in p.judges) for t in ResourceType}
        object.__setattr__(self, "by_type", by_type)

    def for_type(self, resource_type: ResourceType) -> tuple[CompiledPolicy, ...]:
        return self.by_type[resource_type]

    def get(self, policy_id: str) -> CompiledPolicy | None:
        return self.by_id.get(policy_id)

    def evaluate(self, resources: Iterable[Resource]) -> list[Result]:
        by_type = self.by_type
        results: list[Result] = []
        for resource in resources:
            # One reference and one environment per resource, shared by its policies.
            reference = ResourceRef(resource.type, resource.id)
            if resource.type in VIEWS:
                results.extend(_judge_views(by_type[resource.type], resource, reference))
                continue
            env = _environment(resource)
            judge = _judge_over_unknowns if resource.uncertain else _judge
            results.extend(judge(policy, resource, reference, env) for policy in by_type[resource.type])
        return results


def _judge_views(policies: Sequence[CompiledPolicy], resource: Resource, reference: ResourceRef) -> Iterator[Result]:
    """A resource judged also as another type (a task as the task definition it runs): each policy on the view of its
    own type when the resource has one, and evidence named where each value came from (the task's overrides)."""
    environments: dict[ResourceType | None, Env | None] = {}
    origins = resource.origins
    views = VIEWS.get(resource.type, frozenset())
    for policy in policies:
        view = policy.resource_type if policy.resource_type in views else None
        seen = resource.views.get(view) if view is not None else None
        if isinstance(seen, Unresolved):  # the task definition a task runs could not be found
            yield _result(policy, reference, Status.ERROR, reason=seen.reason)
            continue
        if view not in environments:
            environments[view] = _environment(resource, view)
        judge = _judge_over_unknowns if resource.uncertain else _judge
        result = judge(policy, resource, reference, environments[view])
        if origins and result.evidence:
            evidence = tuple(Evidence(origin_of(item.path, origins), item.message) for item in result.evidence)
            result = result._replace(evidence=evidence)
        yield result


def _result(
    policy: CompiledPolicy,
    resource: ResourceRef,
    status: Status,
    evidence: tuple[Evidence, ...] = (),
    reason: str | None = None,
) -> Result:
    return Result(policy.id, resource, status, policy.severity, policy.title, evidence, reason)


def evaluate_policy(policy: CompiledPolicy, resource: Resource, reference: ResourceRef | None = None) -> Result:
    """One evaluation decides the verdict and, for a FAIL, collects its evidence; ``reference`` names the
    resource in the result."""
    if resource.type not in policy.judges:
        raise ValueError(f"policy {policy.id} applies to {policy.resource_type.value}, not {resource.type.value}")
    reference = reference or ResourceRef(resource.type, resource.id)
    return next(_judge_views([policy], resource, reference))


def _environment(resource: Resource, view: ResourceType | None = None) -> Env | None:
    """The resource (or its ``view`` as another type) and its related resources bound for evaluation; None when the
    resource could not be read.

    A check restores every loop variable it binds before it returns, and the compiler lets a policy read only
    variables it has bound, so one environment serves every policy of the resource."""
    if resource.model is None:
        return None
    if view is not None:
        # The view's paths start at the variable a launch policy reads it by, so both name a value alike.
        return Env({ROOT: resource.views[view], **resource.related}, {ROOT: TASK_DEFINITION_VIEW})
    values: dict[str, object] = {ROOT: resource.model, **resource.related}
    paths = {ROOT: "", **{name: f"${name}" for name in resource.related}}
    return Env(values, paths)


def _judge(policy: CompiledPolicy, resource: Resource, ref: ResourceRef, env: Env | None) -> Result:
    if env is None:
        return _result(policy, ref, Status.ERROR, reason=resource.problem or "resource could not be read")
    try:
        if policy.in_scope is not None and not policy.in_scope(env):
            return _result(policy, ref, Status.NOT_APPLICABLE, reason=policy.document.not_applicable_reason)
        traces = policy.verdict(env)
    except NotJudgedHere as elsewhere:
        return _result(policy, ref, Status.NOT_APPLICABLE, reason=str(elsewhere))
    except EvaluationError as error:
        return _result(policy, ref, Status.ERROR, reason=str(error))
    except Exception as error:  # noqa: BLE001 - a bug in one operator must not hide the other results
        # The exception text may quote a field value, so only its type is reported.
        reason = f"internal error ({type(error).__name__}) while evaluating; please report this policy and input"
        return _result(policy, ref, Status.ERROR, reason=reason)
    if traces is None:
        return _result(policy, ref, Status.PASS)
    return _result(policy, ref, Status.FAIL, evidence=_evidence(policy, traces))


def _judge_over_unknowns(policy: CompiledPolicy, resource: Resource, ref: ResourceRef, env: Env | None) -> Result:
    """A resource holding values known only at deploy (core.unknowns): FAIL when the policy fails whatever they
    are, PASS (or NOT_APPLICABLE) when it holds whatever they are, and otherwise the policy's ``when_unknown``,
    naming what it needed."""
    if env is None:
        return _judge(policy, resource, ref, env)
    try:
        in_scope, verdict = policy.hopeful
        if in_scope is None or in_scope(env):
            traces = verdict(env)
            if traces is not None:
                return _result(policy, ref, Status.FAIL, evidence=_evidence(policy, traces))
        in_scope, verdict = policy.doubtful
        reads: list[UnknownRead] = []
        env.unknowns = reads
        try:
            if in_scope is not None and not in_scope(env):
                return _result(policy, ref, Status.NOT_APPLICABLE, reason=policy.document.not_applicable_reason)
            if verdict(env) is None:
                return _result(policy, ref, Status.PASS)
        finally:
            env.unknowns = None
    except NotJudgedHere as elsewhere:
        return _result(policy, ref, Status.NOT_APPLICABLE, reason=str(elsewhere))
    except EvaluationError as error:
        return _result(policy, ref, Status.ERROR, reason=str(error))
    except Exception as error:  # noqa: BLE001 - as in _judge: one operator's bug must not hide the other results
        reason = f"internal error ({type(error).__name__}) while evaluating; please report this policy and input"
        return _result(policy, ref, Status.ERROR, reason=reason)
    status = Status.ERROR if policy.document.when_unknown == "error" else Status.NOT_APPLICABLE
    return _result(policy, ref, status, reason=unknown_reason(reads))


def _evidence(policy: CompiledPolicy, traces: Sequence[Trace]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str], None] = {}
    for trace in traces:
        seen.setdefault((trace.path, trace.message), None)
    if not seen:
        seen[("", f"does not satisfy: {policy.title}")] = None
    return tuple(Evidence(path, message) for path, message in seen)
