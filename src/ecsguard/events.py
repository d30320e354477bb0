"""Interpret EventBridge "AWS API Call via CloudTrail" events from ECS: what each one asks us to do.

Pure: no AWS calls. The Lambda and ``ecsguard scan`` share it, so both read events the same way.
The raw event is never logged or echoed: its request parameters can hold plaintext secrets, so
errors name fields, not values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecsguard.core.models import ResourceType
from ecsguard.core.resources import ECS_NAME, TASK_ARN, describe_validation_error, field_names
from ecsguard.core.times import parse_time

DETAIL_TYPE = "AWS API Call via CloudTrail"
# ECS's own event when a task changes state: a STOPPED task's findings are archived.
TASK_STATE_CHANGE = "ECS Task State Change"
ECS_EVENTS_SOURCE = "aws.ecs"
ECS_EVENT_SOURCE = "ecs.amazonaws.com"
# CloudTrail record versions are major.minor (1.08 ... 1.11 today); a new major version is a change that is not
# backward compatible, so CloudTrail recommends comparing the major version for equality.
SUPPORTED_EVENT_VERSION_MAJOR = 1
_EVENT_VERSION = re.compile(r"([0-9]{1,4})\.[0-9]{1,4}")


class MalformedEvent(ValueError):
    """An event that is not a readable ECS CloudTrail event; the message names the field."""


class UserIdentity(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = None
    arn: str | None = None
    accountId: str | None = None


class CloudTrailDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    eventVersion: str | None = None  # absent in some older samples: accepted
    eventSource: str
    eventName: str
    eventTime: str | None = None
    eventID: str | None = None
    awsRegion: str | None = None
    recipientAccountId: str | None = None
    userIdentity: UserIdentity = UserIdentity()
    errorCode: str | None = None
    requestParameters: dict[str, Any] | None = None
    responseElements: dict[str, Any] | None = None


class _Envelope(BaseModel):
    """What EventBridge puts around every event."""

    # Each kind of envelope below is built when the first event of its kind arrives (the cold start pays less).
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    region: str
    time: str | None = None


class EventEnvelope(_Envelope):
    detail: CloudTrailDetail


class TaskStateDetail(BaseModel):
    """What ECS Task State Change says of a task: enough to archive a stopped one (its overrides are not read)."""

    # Built when the first such event arrives: most invocations are CloudTrail events.
    model_config = ConfigDict(extra="allow", defer_build=True)
    taskArn: str
    lastStatus: str | None = None
    group: str | None = None
    clusterArn: str | None = None
    stoppedAt: str | None = None


class TaskStateEnvelope(_Envelope):
    detail: TaskStateDetail


@dataclass(frozen=True)
class EventContext:
    """Who did what, where: carried into findings and notifications."""

    event_id: str
    api_call: str
    account: str
    region: str
    actor: str | None
    event_time: str | None

    @property
    def partition(self) -> str:
        return partition_of(self.region)


@dataclass(frozen=True)
class EvaluateTaskDefinition:
    """Evaluate a task definition: from the event when it carries it whole, else described by ``reference``.

    ``request`` is what the caller sent (the definition without the fields ECS assigns), for offline use.
    ``call_time`` is the record's eventTime (to the second) when ``reference`` is a family: the revision to
    evaluate is the one registered then (``resolution.registered_revision``), not whichever is latest.
    """

    context: EventContext
    data: dict[str, Any] | None
    reference: str
    request: dict[str, Any] | None = None
    call_time: datetime | None = None


@dataclass(frozen=True)
class EvaluateService:
    """Evaluate a service in its state after the call: from the event, else described by cluster and name.

    ``request`` is a CreateService request (a whole service); an UpdateService request holds only changes.
    """

    context: EventContext
    data: dict[str, Any] | None
    cluster: str
    service: str
    request: dict[str, Any] | None = None
    complete: bool = True  # whether ``data`` is the whole service; UpdateService's response leaves out its tags


@dataclass(frozen=True)
class EvaluateCluster:
    """Evaluate a cluster, always described (DescribeClusters with its settings and configuration): a call's
    response may leave out the settings the account's defaults gave it, and a late event's copy is stale."""

    context: EventContext
    cluster: str  # the ARN, or the name in the event's account and Region
    data: dict[str, Any] | None = None  # the response's copy, used offline by ``ecsguard scan``


@dataclass(frozen=True)
class EvaluateTaskSet:
    """Evaluate a task set in its state after the call: from the event, else described (DescribeTaskSets)."""

    context: EventContext
    data: dict[str, Any] | None
    cluster: str
    service: str
    task_set: str  # the ARN


@dataclass(frozen=True)
class EvaluateTasks:
    """Evaluate the standalone tasks a RunTask or StartTask call started: each as the response's tasks[] gives it,
    with the launch settings its request asked for (network configuration, capacity provider strategy, platform
    version; a task's description holds the version LATEST resolved to, not the request's)."""

    context: EventContext
    tasks: tuple[dict[str, Any], ...]
    cluster: str  # the ARN


@dataclass(frozen=True)
class ArchiveResource:
    """The resource is gone: archive its findings."""

    context: EventContext
    resource_type: ResourceType
    arn: str


@dataclass(frozen=True)
class Skip:
    """Nothing to evaluate; ``failed_call`` distinguishes an API call that failed from an irrelevant event."""

    context: EventContext | None
    reason: str
    failed_call: bool = False


Action = (
    EvaluateTaskDefinition
    | EvaluateService
    | EvaluateCluster
    | EvaluateTaskSet
    | EvaluateTasks
    | ArchiveResource
    | Skip
)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def parse_envelope(event: object) -> EventEnvelope:
    if not isinstance(event, dict):
        raise MalformedEvent(f"an event must be a JSON object, not {type(event).__name__}")
    try:
        envelope = EventEnvelope.model_validate(event)
    except ValidationError as error:
        problem = describe_validation_error(error, field_names(EventEnvelope))
        raise MalformedEvent(f"not an EventBridge CloudTrail event: {problem}") from None
    _check_event_version(envelope.detail.eventVersion)
    return envelope


def _check_event_version(version: str | None) -> None:
    """A record of another major version may be laid out differently: refuse it rather than misread it."""
    if version is None:
        return
    match = _EVENT_VERSION.fullmatch(version)
    if match is None:
        raise MalformedEvent(
            "detail.eventVersion is not a CloudTrail record version (major.minor); "
            f"major version {SUPPORTED_EVENT_VERSION_MAJOR} is supported"
        )
    if int(match.group(1)) != SUPPORTED_EVENT_VERSION_MAJOR:
        raise MalformedEvent(
            f"detail.eventVersion has a major version other than {SUPPORTED_EVENT_VERSION_MAJOR}, the only CloudTrail "
            "record major version supported"
        )


def _context(envelope: EventEnvelope) -> EventContext:
    detail = envelope.detail
    return EventContext(
        event_id=envelope.id,
        api_call=detail.eventName,
        account=detail.recipientAccountId or envelope.account,
        region=detail.awsRegion or envelope.region,
        actor=detail.userIdentity.arn,
        event_time=detail.eventTime or envelope.time,
    )


def _arn(context: EventContext, resource: str) -> str:
    return f"arn:{context.partition}:ecs:{context.region}:{context.account}:{resource}"


def task_definition_arn(context: EventContext, reference: str) -> str:
    """The ARN for ``family:revision`` or an ARN; a bare family has no single ARN."""
    if reference.startswith("arn:"):
        return reference
    return _arn(context, f"task-definition/{reference}")


def cluster_arn(context: EventContext, cluster: str) -> str:
    """The ARN for a cluster a request names by name or ARN: a name is the cluster of that name in the event's
    account and Region, so two accounts' clusters of one name stay apart."""
    return cluster if cluster.startswith("arn:") else _arn(context, f"cluster/{cluster}")


def service_arn(context: EventContext, cluster: str, service: str) -> str:
    if service.startswith("arn:"):
        return service
    cluster_name = cluster.rsplit("/", 1)[-1] if cluster.startswith("arn:") else cluster
    return _arn(context, f"service/{cluster_name}/{service}")


def task_set_arn(context: EventContext, cluster: str, service: str, task_set: str) -> str:
    """The ARN for a task set a request names by ARN, or by id within its cluster and service (names or ARNs)."""
    if task_set.startswith("arn:"):
        return task_set
    cluster_name = cluster.rsplit("/", 1)[-1]
    service_name = service.rsplit("/", 1)[-1]
    return _arn(context, f"task-set/{cluster_name}/{service_name}/{task_set}")


def _text(parameters: dict[str, Any], key: str) -> str | None:
    value = parameters.get(key)
    return value if isinstance(value, str) and value else None


# What a call that changes what the policies check asks for, from its request and response (CloudTrail's
# requestParameters and responseElements). Adding a call is one entry in one of the two tables below.
Interpreter = Callable[[EventContext, dict[str, Any], dict[str, Any]], Action]


def _created_tags(request: dict[str, Any], response: dict[str, Any]) -> list[Any]:
    """The tags a resource was created with: the response's, else the request's (a resource is created with exactly
    the tags its request gives), else none."""
    for source in (response, request):
        tags = source.get("tags")
        if isinstance(tags, list):
            return tags
    return []


def _register_task_definition(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
    described = response.get("taskDefinition")
    if isinstance(described, dict) and described.get("taskDefinitionArn"):
        # RegisterTaskDefinition answers with the tags beside the task definition, as DescribeTaskDefinition does.
        tagged = {**described, "tags": _created_tags(request, response)}
        return EvaluateTaskDefinition(context, tagged, described["taskDefinitionArn"])
    family = _text(request, "family")
    if family is None:
        raise MalformedEvent(
            "RegisterTaskDefinition event has neither responseElements.taskDefinition nor requestParameters.family"
        )
    if not ECS_NAME.fullmatch(family):
        # ECS accepts no other family name, so the call cannot have succeeded; and the name is not shown.
        raise MalformedEvent("RegisterTaskDefinition event's requestParameters.family is not a family name")
    # The response was left out (CloudTrail truncates large ones): the revision registered at the event's time is
    # found by family and registeredAt; a later revision is not it.
    return EvaluateTaskDefinition(context, None, family, request, parse_time(context.event_time))


def _service_call(key: str, whole_request: bool) -> Interpreter:
    """CreateService and UpdateService: the service after the call, named in the request by ``key``.

    ``whole_request``: the request is a whole service (CreateService's), not only what changed.
    """

    def interpret(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
        described = response.get("service")
        if isinstance(described, dict) and described.get("serviceArn"):
            cluster = str(described.get("clusterArn") or _text(request, "cluster") or "default")
            if whole_request:
                return EvaluateService(
                    context, {**described, "tags": _created_tags(request, described)}, cluster, described["serviceArn"]
                )
            # UpdateService cannot change tags, and its response leaves them out: then the service is described
            # (with its tags), so that a tagging policy is judged on them rather than on their absence.
            complete = isinstance(described.get("tags"), list)
            return EvaluateService(context, described, cluster, str(described["serviceArn"]), complete=complete)
        service = _text(request, key)
        if service is None:
            raise MalformedEvent(
                f"{context.api_call} event has neither responseElements.service nor requestParameters.{key}"
            )
        cluster = _text(request, "cluster") or "default"
        return EvaluateService(context, None, cluster, service, request if whole_request else None)

    return interpret


def _deregister_task_definition(
    context: EventContext, request: dict[str, Any], response: dict[str, Any]
) -> ArchiveResource:
    described = response.get("taskDefinition")
    if isinstance(described, dict) and described.get("taskDefinitionArn"):
        return ArchiveResource(context, ResourceType.TASK_DEFINITION, str(described["taskDefinitionArn"]))
    reference = _text(request, "taskDefinition")
    if reference is None or ":" not in reference.rsplit("/", 1)[-1]:
        raise MalformedEvent("DeregisterTaskDefinition event names no task definition revision")
    return ArchiveResource(context, ResourceType.TASK_DEFINITION, task_definition_arn(context, reference))


def _delete_service(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> ArchiveResource:
    described = response.get("service")
    if isinstance(described, dict) and described.get("serviceArn"):
        return ArchiveResource(context, ResourceType.SERVICE, str(described["serviceArn"]))
    service = _text(request, "service")
    if service is None:
        raise MalformedEvent("DeleteService event has neither responseElements.service nor requestParameters.service")
    return ArchiveResource(
        context, ResourceType.SERVICE, service_arn(context, _text(request, "cluster") or "default", service)
    )


def _cluster_in(context: EventContext, request: dict[str, Any], response: dict[str, Any], key: str) -> str:
    """The ARN of the cluster a call names: the response's, else the request's ``key`` (a name or an ARN)."""
    described = response.get("cluster")
    if isinstance(described, dict) and isinstance(described.get("clusterArn"), str) and described["clusterArn"]:
        return str(described["clusterArn"])
    named = _text(request, key)
    if named is None:
        if key == "clusterName":  # CreateCluster without a name makes the cluster "default"
            named = "default"
        else:
            raise MalformedEvent(
                f"{context.api_call} event has neither responseElements.cluster.clusterArn nor requestParameters.{key}"
            )
    if not (named.startswith("arn:") or ECS_NAME.fullmatch(named)):
        raise MalformedEvent(f"{context.api_call} event names its cluster with something that is not a cluster name")
    return cluster_arn(context, named)


def _cluster_call(key: str) -> Interpreter:
    """CreateCluster, UpdateCluster, UpdateClusterSettings: the cluster after the call, named in the request by
    ``key``."""

    def interpret(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
        described = response.get("cluster")
        return EvaluateCluster(
            context, _cluster_in(context, request, response, key), described if isinstance(described, dict) else None
        )

    return interpret


def _delete_cluster(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> ArchiveResource:
    return ArchiveResource(context, ResourceType.CLUSTER, _cluster_in(context, request, response, "cluster"))


def _task_set_call(key: str | None) -> Interpreter:
    """CreateTaskSet, UpdateTaskSet, UpdateServicePrimaryTaskSet: the task set after the call, from the response,
    else named in the request by ``key``. None for CreateTaskSet: ECS names the task set it made only in its
    answer, and makes it with exactly its request's tags."""

    def interpret(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
        cluster, service = _text(request, "cluster") or "default", _text(request, "service")
        described = response.get("taskSet")
        if isinstance(described, dict) and isinstance(described.get("taskSetArn"), str):
            if key is None:
                described = {**described, "tags": _created_tags(request, described)}
            in_cluster = cluster_arn(context, str(described.get("clusterArn") or cluster))
            of_service = str(described.get("serviceArn") or service or "")
            return EvaluateTaskSet(context, described, in_cluster, of_service, str(described["taskSetArn"]))
        named = _text(request, key) if key is not None else None
        if named is None or service is None:
            wanted = f"requestParameters.service and {key}" if key else "the id of the task set it made"
            raise MalformedEvent(f"{context.api_call} event has no responseElements.taskSet, nor {wanted}")
        arn = task_set_arn(context, cluster, service, named)
        return EvaluateTaskSet(context, None, cluster_arn(context, cluster), service, arn)

    return interpret


def _delete_task_set(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> ArchiveResource:
    described = response.get("taskSet")
    if isinstance(described, dict) and isinstance(described.get("taskSetArn"), str):
        return ArchiveResource(context, ResourceType.TASK_SET, str(described["taskSetArn"]))
    cluster, service, named = (
        _text(request, "cluster") or "default",
        _text(request, "service"),
        _text(request, "taskSet"),
    )
    if service is None or named is None:
        raise MalformedEvent("DeleteTaskSet event names no task set (requestParameters.service and taskSet)")
    return ArchiveResource(context, ResourceType.TASK_SET, task_set_arn(context, cluster, service, named))


# What RunTask and StartTask ask for that applies to each task started, and that a task's description lacks or
# reports otherwise.
_LAUNCH_REQUEST_FIELDS = ("networkConfiguration", "capacityProviderStrategy", "platformVersion")


def _task_launch(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
    """RunTask and StartTask: the tasks started, from the response (which names them), with the request's launch
    settings. A call that started none (all in failures[]) changes nothing."""
    started = response.get("tasks")
    if not isinstance(started, list):
        raise MalformedEvent(
            f"{context.api_call} event has no responseElements.tasks, so the tasks it started are unknown"
        )
    tasks = []
    for index, task in enumerate(started):
        if not isinstance(task, dict) or not isinstance(task.get("taskArn"), str):
            raise MalformedEvent(f"{context.api_call} event's responseElements.tasks[{index}] has no taskArn")
        if not TASK_ARN.fullmatch(task["taskArn"]):
            # Not shown: a text that is not a task ARN is the input's own.
            raise MalformedEvent(
                f"{context.api_call} event's responseElements.tasks[{index}].taskArn is not a task ARN"
            )
        launched = dict(task)
        for key in _LAUNCH_REQUEST_FIELDS:
            if request.get(key) is not None:
                launched[key] = request[key]
        for key in ("overrides", "enableExecuteCommand"):
            if launched.get(key) is None and request.get(key) is not None:
                launched[key] = request[key]
        if not isinstance(launched.get("tags"), list):
            launched["tags"] = _created_tags(request, {})
        tasks.append(launched)
    if not tasks:
        return Skip(context, f"{context.api_call} started no task", failed_call=True)
    named = _text(request, "cluster") or "default"
    cluster = str(tasks[0].get("clusterArn") or cluster_arn(context, named))
    return EvaluateTasks(context, tuple(tasks), cluster)


def _arn_parts(arn: str) -> tuple[str, str, str, str, str] | None:
    """An ECS ARN's partition, Region, account, resource type and the rest of its resource; None if not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs" or "/" not in parts[5]:
        return None
    kind, _, rest = parts[5].partition("/")
    return parts[1], parts[3], parts[4], kind, rest


def _tagging_call(context: EventContext, request: dict[str, Any], response: dict[str, Any]) -> Action:
    """TagResource and UntagResource: the resource whose tags changed, described again with them."""
    arn = _text(request, "resourceArn")
    parts = _arn_parts(arn) if arn is not None else None
    if arn is None or parts is None:
        raise MalformedEvent(f"{context.api_call} event's requestParameters.resourceArn is not an ECS ARN")
    partition, region, account, kind, rest = parts
    if kind == "task-definition":
        if ":" not in rest:
            raise MalformedEvent(f"{context.api_call} event names a task definition without its revision")
        return EvaluateTaskDefinition(context, None, arn)
    if kind == "cluster":
        return EvaluateCluster(context, arn)
    if kind == "service":
        if "/" not in rest:
            # The old service ARN format (service/name) does not name the cluster, so it cannot be described.
            return Skip(
                context, f"{context.api_call} names a service by an ARN without its cluster; the sweep judges it"
            )
        cluster = f"arn:{partition}:ecs:{region}:{account}:cluster/{rest.split('/', 1)[0]}"
        return EvaluateService(context, None, cluster, arn)
    return Skip(context, f"{context.api_call} changed the tags of a {kind}, which no policy judges by its tags")


EVALUATIONS: Mapping[str, Interpreter] = {
    "RegisterTaskDefinition": _register_task_definition,
    "CreateService": _service_call("serviceName", whole_request=True),
    "UpdateService": _service_call("service", whole_request=False),
    "CreateCluster": _cluster_call("clusterName"),
    "UpdateCluster": _cluster_call("cluster"),
    "UpdateClusterSettings": _cluster_call("cluster"),
    "TagResource": _tagging_call,
    "UntagResource": _tagging_call,
    "CreateTaskSet": _task_set_call(None),
    "UpdateTaskSet": _task_set_call("taskSet"),
    "UpdateServicePrimaryTaskSet": _task_set_call("primaryTaskSet"),
    "RunTask": _task_launch,
    "StartTask": _task_launch,
}
DELETIONS: Mapping[str, Interpreter] = {
    "DeregisterTaskDefinition": _deregister_task_definition,
    "DeleteService": _delete_service,
    "DeleteCluster": _delete_cluster,
    "DeleteTaskSet": _delete_task_set,
}
INTERPRETERS: Mapping[str, Interpreter] = {**EVALUATIONS, **DELETIONS}
EVALUATED_CALLS = frozenset(EVALUATIONS)
TAGGING_CALLS = frozenset({"TagResource", "UntagResource"})  # they name a resource, whose state must be described
DELETION_CALLS = frozenset(DELETIONS)


def _task_state_change(event: dict[str, Any]) -> Action:
    """ECS Task State Change: a standalone task that stopped has its findings archived; other changes, and tasks a
    service started (judged through the service), change nothing."""
    try:
        envelope = TaskStateEnvelope.model_validate(event)
    except ValidationError as error:
        problem = describe_validation_error(error, field_names(TaskStateEnvelope, TaskStateDetail))
        raise MalformedEvent(f"not an ECS Task State Change event: {problem}") from None
    detail = envelope.detail
    context = EventContext(
        event_id=envelope.id,
        api_call=TASK_STATE_CHANGE,
        account=envelope.account,
        region=envelope.region,
        actor=None,
        event_time=detail.stoppedAt or envelope.time,
    )
    if not TASK_ARN.fullmatch(detail.taskArn):
        raise MalformedEvent("ECS Task State Change event's detail.taskArn is not a task ARN")
    if detail.lastStatus != "STOPPED":
        return Skip(context, "the task has not stopped")
    if (detail.group or "").startswith("service:"):
        return Skip(context, "the task belongs to a service, which is judged instead of its tasks")
    return ArchiveResource(context, ResourceType.TASK, detail.taskArn)


def interpret(event: object) -> Action:
    """Decide what an event asks for; raise MalformedEvent when it cannot be read."""
    if (
        isinstance(event, dict)
        and event.get("detail-type") == TASK_STATE_CHANGE
        and event.get("source") == ECS_EVENTS_SOURCE
    ):
        return _task_state_change(event)
    envelope = parse_envelope(event)
    context = _context(envelope)
    detail = envelope.detail
    if envelope.detail_type != DETAIL_TYPE or detail.eventSource != ECS_EVENT_SOURCE:
        return Skip(context, f"not an ECS API call ({envelope.detail_type} from {detail.eventSource})")
    if detail.errorCode:
        return Skip(context, f"{detail.eventName} failed with {detail.errorCode}; nothing changed", failed_call=True)
    interpreter = INTERPRETERS.get(detail.eventName)
    if interpreter is None:
        return Skip(context, f"ECS call {detail.eventName} does not change what the policies check")
    return interpreter(context, detail.requestParameters or {}, detail.responseElements or {})
