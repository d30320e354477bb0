"""Evaluate a policy set over resources: every (policy, resource) pair gets exactly one result."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ecsguard.core.compiler import ROOT, CompiledPolicy, Env, EvaluationError, Trace
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import Resource
from ecsguard.core.results import Evidence, ResourceRef, Result, Status


@dataclass(frozen=True)
class PolicySet:
    """A frozen, fully validated set of compiled policies."""

    policies: tuple[CompiledPolicy, ...]

    def for_type(self, resource_type: ResourceType) -> tuple[CompiledPolicy, ...]:
        return tuple(policy for policy in self.policies if policy.resource_type is resource_type)

    def get(self, policy_id: str) -> CompiledPolicy | None:
        return next((policy for policy in self.policies if policy.id == policy_id), None)

    def evaluate(self, resources: Iterable[Resource]) -> list[Result]:
        by_type = {resource_type: self.for_type(resource_type) for resource_type in ResourceType}
        results: list[Result] = []
        for resource in resources:
            results.extend(evaluate_policy(policy, resource) for policy in by_type[resource.type])
        return results


def _result(policy: CompiledPolicy, resource: Resource, status: Status, **extra: object) -> Result:
    return Result(
        policy_id=policy.id,
        resource=ResourceRef(type=resource.type, id=resource.id),
        status=status,
        severity=policy.severity,
        title=policy.title,
        **extra,  # type: ignore[arg-type]
    )


def evaluate_policy(policy: CompiledPolicy, resource: Resource) -> Result:
    if resource.type is not policy.resource_type:
        raise ValueError(f"policy {policy.id} applies to {policy.resource_type.value}, not {resource.type.value}")
    if resource.model is None:
        return _result(policy, resource, Status.ERROR, reason=resource.problem or "resource could not be read")
    values: dict[str, object] = {ROOT: resource.model, **resource.related}
    paths = {ROOT: "", **{name: f"${name}" for name in resource.related}}
    try:
        try:
            status = _decide(policy, Env(values, None))
        except EvaluationError:
            # Evaluate again keeping paths, so the reason names the exact element (containers[2].…).
            status = _decide(policy, Env(values, dict(paths)))
        if status is not Status.FAIL:
            return _result(policy, resource, status)
        traces = policy.check.explain(Env(values, paths), True)
    except EvaluationError as error:
        return _result(policy, resource, Status.ERROR, reason=str(error))
    except Exception as error:  # noqa: BLE001 - a bug in one operator must not hide the other results
        # The exception text may quote a field value, so only its type is reported.
        reason = f"internal error ({type(error).__name__}) while evaluating; please report this policy and input"
        return _result(policy, resource, Status.ERROR, reason=reason)
    return _result(policy, resource, Status.FAIL, evidence=_evidence(policy, traces))


def _decide(policy: CompiledPolicy, env: Env) -> Status:
    if policy.applies_when is not None and not policy.applies_when.test(env):
        return Status.NOT_APPLICABLE
    return Status.PASS if policy.check.test(env) else Status.FAIL


def _evidence(policy: CompiledPolicy, traces: Sequence[Trace]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str], None] = {}
    for trace in traces:
        seen.setdefault((trace.path, trace.message), None)
    if not seen:
        seen[("", f"does not satisfy: {policy.title}")] = None
    return tuple(Evidence(path=path, message=message) for path, message in seen)
