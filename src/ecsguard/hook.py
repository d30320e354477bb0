"""A CloudFormation Lambda hook: the resource a stack is about to create or update, judged before it deploys.

CloudFormation (an ``AWS::CloudFormation::LambdaHook`` on resource operations) invokes the hook function with
the proposed properties of an ``AWS::ECS::TaskDefinition`` or ``AWS::ECS::Service`` and waits up to 30 seconds
for its answer (the CloudFormation Hooks User Guide, "Create Lambda functions to evaluate resources for Lambda
Hooks", https://docs.aws.amazon.com/cloudformation-cli/latest/hooks-userguide/lambda-hooks-create-lambda-function.html):

- the request: ``clientRequestToken``, ``stackId``, ``actionInvocationPoint`` (``CREATE_PRE_PROVISION``,
  ``UPDATE_PRE_PROVISION``, ``DELETE_PRE_PROVISION``) and ``requestData`` with ``targetName`` (the resource type),
  ``targetLogicalId`` and ``targetModel.resourceProperties`` (the template's properties, PascalCase);
- the answer: ``hookStatus`` ``SUCCESS`` or ``FAILED``, for a failure an ``errorCode`` (``NonCompliant`` when the
  resource was judged and fails, ``InternalFailure`` when it could not be judged), a ``message`` (CloudFormation
  keeps 4,096 characters of it, and a hook result's HookStatusReason holds 1,024: MESSAGE_LIMIT), and the
  request's ``clientRequestToken``.

The properties become the ECS API's shape (``core.cloudformation.to_api``) and the same typed resource every
entry point evaluates (``core.resources``, ``resolution.service_resource``), so the scanner's policy set judges
them as it judges a RegisterTaskDefinition or CreateService call. A task definition needs no AWS call; a
service's task definition is described (the ``Resolver`` the wiring gives, ECS's DescribeTaskDefinition) only
when a loaded service policy reads ``$taskDefinition``, and clusters are never described. The hook is
preventive: it publishes nothing, it answers. No property value reaches an answer: a malformed request is named
by position and kind, an unexpected exception by its type and where it was raised.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecsguard.core.cloudformation import to_api
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import ResourceType, Service
from ecsguard.core.resources import (
    Resource,
    Unresolved,
    build_task_definition,
    describe_validation_error,
    field_names,
    normalise,
)
from ecsguard.core.results import Result, Status
from ecsguard.errors import AwsCallFailed
from ecsguard.resolution import Resolver, service_resource

# The resource types the hook judges (its TargetFilters in template.yaml name exactly these).
HOOK_TARGETS: Mapping[str, ResourceType] = {
    ResourceType.TASK_DEFINITION.value: ResourceType.TASK_DEFINITION,
    ResourceType.SERVICE.value: ResourceType.SERVICE,
}
# CloudFormation keeps 4,096 characters of a resource operation's message; ListHookResults' HookStatusReason
# holds 1,024. The answer stays within the smaller, so it is read whole wherever it is shown.
MESSAGE_LIMIT = 1024
# CloudFormation waits 30 seconds for the function; the answer is due well before, a cold start included.
DEADLINE_SECONDS = 20.0
SUCCESS, FAILED = "SUCCESS", "FAILED"
NON_COMPLIANT, INTERNAL_FAILURE = "NonCompliant", "InternalFailure"
_SEPARATOR = " | "
# Shapes of what CloudFormation itself names: a logical id, a stack's name in its ARN, a resource type.
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]{1,255}")
_STACK_NAME = re.compile(r"arn:[a-z0-9-]+:cloudformation:[a-z0-9-]+:[0-9]{12}:stack/([A-Za-z][A-Za-z0-9-]{0,127})/.*")
_TYPE_NAME = re.compile(r"[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}")
_NO_CLUSTER = (
    "the hook does not describe clusters, so what the service takes from its cluster (its default capacity "
    "provider strategy when it sets neither LaunchType nor CapacityProviderStrategy, its ECS Exec logging) is "
    "unknown before it deploys; set LaunchType or CapacityProviderStrategy"
)


class TargetModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
    resourceProperties: dict[str, Any] | None = None  # the proposed properties; empty when the resource is deleted


class RequestData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    targetName: str = Field(min_length=1)  # the resource type
    targetLogicalId: str = Field(min_length=1)
    targetModel: TargetModel


class HookRequest(BaseModel):
    """What CloudFormation sends a Lambda hook for a resource operation: the fields the hook reads (the others,
    previousResourceProperties included, are ignored: what is judged is what would be deployed)."""

    model_config = ConfigDict(extra="ignore")
    clientRequestToken: str = Field(min_length=1)
    stackId: str | None = None  # empty when the caller is Cloud Control API
    actionInvocationPoint: Literal["CREATE_PRE_PROVISION", "UPDATE_PRE_PROVISION", "DELETE_PRE_PROVISION"]
    requestData: RequestData


_REQUEST_FIELDS = field_names(HookRequest)


class MalformedRequest(ValueError):
    """A request the hook cannot read; the message names positions and kinds, never the request's values."""


@dataclass(frozen=True)
class Target:
    """The resource a request proposes: its type, the id results name it by, its properties in the API's shape."""

    resource_type: ResourceType
    resource_id: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class HookOutcome:
    """The answer for CloudFormation (``response``), and what the handler logs and counts about it."""

    response: dict[str, Any]
    target: Target | None = None
    results: tuple[Result, ...] = ()
    problem: str | None = None  # why it could not be judged: malformed, unsupported, aws, timeout, error

    @property
    def status(self) -> str:
        return str(self.response["hookStatus"])

    def summary(self) -> dict[str, Any]:
        """Ids, counts and verdicts, for the log: never a property value (the message is left out too)."""
        return {
            "hook_status": self.status,
            "error_code": self.response.get("errorCode"),
            "resource_type": self.target.resource_type.value if self.target else None,
            "resource": self.target.resource_id if self.target else None,
            "problem": self.problem,
            # An InternalFailure's message is the hook's own (positions, kinds, calls), never a value of the request.
            "reason": self.response["message"] if self.problem is not None else None,
            "evaluations": len(self.results),
            "failed_policies": sorted(r.policy_id for r in self.results if r.status is Status.FAIL),
            "error_policies": sorted(r.policy_id for r in self.results if r.status is Status.ERROR),
        }


def client_request_token(request: object) -> str | None:
    """The token to echo: the request's own, when it has one (even in a request that is otherwise malformed)."""
    token = request.get("clientRequestToken") if isinstance(request, Mapping) else None
    return token if isinstance(token, str) and token else None


def _response(token: str | None, status: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"hookStatus": status}
    if error_code is not None:
        response["errorCode"] = error_code
    response["message"] = message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 3] + "..."
    if token is not None:
        response["clientRequestToken"] = token
    return response


def internal_failure(request: object, message: str, problem: str, target: Target | None = None) -> HookOutcome:
    """FAILED with InternalFailure: the resource could not be judged (never a SUCCESS)."""
    response = _response(client_request_token(request), FAILED, f"ecsguard: {message}", INTERNAL_FAILURE)
    return HookOutcome(response, target, problem=problem)


def unexpected(error: BaseException) -> str:
    """An unexpected exception, by type and where it was raised: its text may quote the request."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return (
        f"unexpected {type(error).__name__}{where} while judging the resource; its message is withheld because it "
        "may quote the request"
    )


def read_request(request: object) -> HookRequest:
    """The request, validated; raise MalformedRequest naming what is missing or of the wrong kind."""
    if not isinstance(request, Mapping):
        raise MalformedRequest(f"the request is not a JSON object but a {type(request).__name__}")
    try:
        parsed = HookRequest.model_validate(request)
    except ValidationError as error:
        raise MalformedRequest(describe_validation_error(error, _REQUEST_FIELDS)) from None
    model = parsed.requestData.targetModel
    if parsed.actionInvocationPoint != "DELETE_PRE_PROVISION" and model.resourceProperties is None:
        raise MalformedRequest(
            f"requestData.targetModel.resourceProperties: a {parsed.actionInvocationPoint} request needs the "
            "proposed properties (an object)"
        )
    return parsed


def resource_id(request: HookRequest) -> str:
    """``<stack name>#<logical id>`` (the logical id alone without a stack), each shown only in its own shape."""
    logical = request.requestData.targetLogicalId
    shown = logical if _LOGICAL_ID.fullmatch(logical) else "(logical id)"
    stack = _STACK_NAME.fullmatch(request.stackId or "")
    return f"{stack.group(1)}#{shown}" if stack else shown


def target_of(request: HookRequest) -> Target | None:
    """The resource the request proposes, in the API's shape; None for a type the hook does not judge."""
    resource_type = HOOK_TARGETS.get(request.requestData.targetName)
    if resource_type is None:
        return None
    properties = to_api(request.requestData.targetModel.resourceProperties or {})
    return Target(resource_type, resource_id(request), properties)


class HookResolver:
    """What the hook may look up: a service's task definition, through ``lookup`` (None, for the reason
    ``unavailable``, when nothing may be looked up); never a cluster, a service or a task set."""

    def __init__(self, lookup: Resolver | None, unavailable: str = "") -> None:
        self._lookup = lookup
        self._unavailable = unavailable

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        if self._lookup is None:
            return Unresolved(self._unavailable or "the hook looks up no task definition")
        return self._lookup.task_definition(reference)

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        return Unresolved(_NO_CLUSTER)

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        return Unresolved("the hook does not describe services")

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        return Unresolved("the hook does not describe task sets")


def _as_service(properties: Mapping[str, Any]) -> Mapping[str, Any]:
    """The service's properties coerced like the model ("true" is True, "1" is 1), so that what decides the
    lookups (ECS Exec, the deployment controller) reads the values CloudFormation sends as strings; unchanged when
    they do not read as a service, for ``build_service`` to report."""
    try:
        return normalise(Service, properties)
    except ValidationError:
        return properties


def _fit(head: str, entries: Sequence[tuple[str, str]], limit: int) -> str:
    """``head`` and every entry, each ``(full, short)``, within ``limit``: all in full when they fit; else the first
    ones in full and the rest short, as many in full as fit; else the first in full (when it fits) and as many short
    ones as fit, the others counted; else only short ones and the count."""
    count = len(entries)
    text = head
    for full in range(count, -1, -1):
        text = head + _SEPARATOR.join([entry[0] for entry in entries[:full]] + [entry[1] for entry in entries[full:]])
        if len(text) <= limit:
            return text
    for full in (1, 0):
        for shown in range(count - 1, full - 1, -1):
            parts = [entry[0] for entry in entries[:full]] + [entry[1] for entry in entries[full:shown]]
            text = head + _SEPARATOR.join([*parts, f"and {count - shown} more"])
            if len(text) <= limit:
                return text
    return text[: limit - 3] + "..."


def _reason(text: str | None, limit: int = 300) -> str:
    reason = text or "no reason given"
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


@dataclass(frozen=True)
class Hook:
    """The hook over a loaded policy set. ``task_definitions`` builds the live lookup of a service's task
    definition (the ECS adapter, through the wiring) the first time a service needs it."""

    policy_set: PolicySet
    task_definitions: Callable[[], Resolver] | None = None
    deadline_seconds: float = DEADLINE_SECONDS
    _lookups: list[Resolver] = field(default_factory=list, init=False, repr=False, compare=False)

    @cached_property
    def reads_service_task_definition(self) -> bool:
        """Whether a loaded service policy reads ``$taskDefinition``: else a service needs no AWS call."""
        return any("taskDefinition" in policy.reads for policy in self.policy_set.for_type(ResourceType.SERVICE))

    def _resolver(self) -> HookResolver:
        """A service's lookups: its task definition only when a loaded policy reads it, else none at all."""
        if not self.reads_service_task_definition:
            return HookResolver(None, "no loaded service policy reads the service's task definition")
        if self.task_definitions is None:
            return HookResolver(None, "the hook was built without a task definition lookup")
        if not self._lookups:
            self._lookups.append(self.task_definitions())
        return HookResolver(self._lookups[0])

    def answer(self, request: object) -> HookOutcome:
        """The answer to one request: SUCCESS, FAILED NonCompliant, or FAILED InternalFailure; never raises."""
        try:
            return self._answer(request)
        except Exception as error:  # noqa: BLE001 - answered, never raised: CloudFormation needs an answer
            return internal_failure(request, unexpected(error), "error")

    def _answer(self, request: object) -> HookOutcome:
        try:
            parsed = read_request(request)
        except MalformedRequest as problem:
            return internal_failure(request, f"malformed hook request: {problem}", "malformed")
        target = target_of(parsed)
        token = parsed.clientRequestToken
        if target is None:
            named = parsed.requestData.targetName
            shown = named if _TYPE_NAME.fullmatch(named) else "(a type name not shown)"
            judged = " and ".join(HOOK_TARGETS)
            message = f"the hook judges {judged}, not {shown}; its TargetFilters should name only those"
            return internal_failure(request, message, "unsupported")
        if parsed.actionInvocationPoint == "DELETE_PRE_PROVISION":
            return HookOutcome(_response(token, SUCCESS, f"ecsguard: deleting {target.resource_id} is not judged"))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecsguard-hook")
        try:
            results = pool.submit(self._evaluate, target).result(timeout=self.deadline_seconds)
        except FutureTimeout:
            message = (
                f"{target.resource_id} was not judged within {self.deadline_seconds:g} s (a lookup did not answer); "
                "deploy again, or see the hook function's logs"
            )
            return internal_failure(request, message, "timeout", target)
        except AwsCallFailed as error:
            # The call and AWS's error code; not the target or AWS's message, which quote the request's reference.
            advice = (
                "the hook function's role needs ecs:DescribeTaskDefinition"
                if "AccessDenied" in error.code
                else "deploy again, or see the hook function's logs"
            )
            message = (
                f"{error.call} failed ({error.code}), so {target.resource_id}'s task definition could not be read; "
                f"{advice}"
            )
            return internal_failure(request, message, "aws", target)
        except Exception as error:  # noqa: BLE001 - answered, never raised: CloudFormation needs an answer
            return internal_failure(request, unexpected(error), "error", target)
        finally:
            pool.shutdown(wait=False)
        return HookOutcome(self._verdict(token, target, results), target, tuple(results))

    def _evaluate(self, target: Target) -> list[Result]:
        resource: Resource
        if target.resource_type is ResourceType.TASK_DEFINITION:
            resource = build_task_definition(target.properties, target.resource_id)
        else:
            service = _as_service(target.properties)
            cluster = service.get("cluster")
            in_cluster = cluster if isinstance(cluster, str) and cluster else "default"
            resource = service_resource(service, target.resource_id, in_cluster, self._resolver())
        return self.policy_set.evaluate([resource])

    def _verdict(self, token: str, target: Target, results: Sequence[Result]) -> dict[str, Any]:
        """SUCCESS when nothing fails or errs; NonCompliant naming each failing policy and its remediation (the
        most severe first); InternalFailure naming each policy that could not be judged and why."""
        order = sorted(results, key=lambda r: (-r.severity.rank, r.policy_id))
        failed = [r for r in order if r.status is Status.FAIL]
        errors = [r for r in order if r.status is Status.ERROR]
        applied = sum(1 for r in results if r.status is not Status.NOT_APPLICABLE)
        if not failed and not errors:
            if applied == 0:
                return _response(token, SUCCESS, f"ecsguard: no loaded policy applies to {target.resource_id}")
            message = f"ecsguard: {target.resource_id} complies with the {applied} policies that apply to it"
            return _response(token, SUCCESS, message)
        entries = [self._failure_entry(r) for r in failed] + [self._error_entry(r) for r in errors]
        judged = f"{len(failed)} of the {applied} policies that apply fail" if failed else ""
        unjudged = f"{len(errors)} could not be judged" if errors else ""
        head = f"ecsguard: {target.resource_id}: {', and '.join(filter(None, (judged, unjudged)))}: "
        return _response(
            token, FAILED, _fit(head, entries, MESSAGE_LIMIT), NON_COMPLIANT if failed else INTERNAL_FAILURE
        )

    def _failure_entry(self, result: Result) -> tuple[str, str]:
        short = f"[{result.severity.value}] {result.policy_id} ({result.title})"
        policy = self.policy_set.get(result.policy_id)
        where = f" at {result.evidence[0].path}" if result.evidence and result.evidence[0].path else ""
        fix = ""
        if policy is not None:  # the policy catalog's own text, never the request's
            fix = f": {' '.join(policy.document.remediation.text.split())} {policy.document.remediation.url}"
        return f"{short}{where}{fix}", short

    @staticmethod
    def _error_entry(result: Result) -> tuple[str, str]:
        short = f"[{result.severity.value}] {result.policy_id} ({result.title}) could not be judged"
        return f"{short}: {_reason(result.reason)}", short
