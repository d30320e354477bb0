"""Normalise ECS API shapes into the typed resources that policies evaluate.

The models in ``core.models`` define the vocabulary and the types; a resource is the input checked
against them and kept as plain dicts (lax-coerced like the models, unknown fields kept), because
building a pydantic object per container and variable cost five times as much as reading the file.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache, partial
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, InstanceOf, TypeAdapter, ValidationError

from ecsguard.core.models import Cluster, EcsModel, ResourceType, Service, Task, TaskDefinition, TaskSet
from ecsguard.core.tasks import effective_task_definition
from ecsguard.core.unknowns import Unknown, contains_unknown

Document = dict[str, Any]


@dataclass(frozen=True)
class Unresolved:
    """A related resource that could not be found, and why."""

    reason: str


@dataclass(frozen=True)
class JudgedElsewhere:
    """A related resource that this resource does not have, because another resource holds it and is judged on it:
    a service deploying through task sets (EXTERNAL, CODE_DEPLOY controllers) runs the task definitions of its task
    sets. A policy that reads it is NOT_APPLICABLE, for ``reason``."""

    reason: str


# What a policy reads through a variable ($taskDefinition, $cluster): the related resource, why it could not be
# found, that another resource is judged on it, or (in a template) that it is known only at deploy.
Related = Document | Unresolved | JudgedElsewhere | Unknown


@dataclass(frozen=True)
class Resource:
    """One resource ready for evaluation.

    ``problem`` is set, and ``model`` is None, when the input could not be read as
    this resource type; every policy then reports ERROR with that reason.
    ``related`` holds resources that policies reach through variables, such as a
    service's task definition (``$taskDefinition``).
    """

    type: ResourceType
    id: str
    model: Document | None
    problem: str | None = None
    related: Mapping[str, Related] = field(default_factory=dict)
    # What the resource is judged as by policies written for another type: a task is judged by the task definition
    # policies as the task definition it runs, its overrides applied.
    views: Mapping[ResourceType, Document | Unresolved] = field(default_factory=dict)
    # Where parts of a view came from (core.tasks.origin_of): evidence names the task's override, not the definition.
    origins: Mapping[str, str] = field(default_factory=dict)
    # Whether the resource or a related one holds values known only at deploy (a template's !Ref): core.unknowns.
    uncertain: bool = False


@cache
def _plain(model: type[EcsModel], tolerant: bool = False) -> Any:
    """A TypedDict with the model's fields and types, nested models made TypedDicts too; ``tolerant``: every field
    and item may also be an ``Unknown`` (a template's value known only at deploy)."""
    fields = {name: _plain_annotation(info.annotation, tolerant) for name, info in model.model_fields.items()}
    plain: Any = _typed_dict(f"{model.__name__}{'Template' if tolerant else ''}", fields)
    plain.__pydantic_config__ = ConfigDict(extra="allow")
    return plain


def _typed_dict(name: str, fields: dict[str, Any]) -> Any:
    # pydantic needs typing_extensions' TypedDict before Python 3.12; pydantic itself depends on it.
    from typing_extensions import TypedDict

    return TypedDict(name, fields, total=False)  # type: ignore[operator]


def _plain_annotation(annotation: Any, tolerant: bool = False) -> Any:
    mirrored = _mirrored(annotation, tolerant)
    if not tolerant:
        return mirrored
    # An unknown's candidate texts are read as the field reads its value ("512" as a container's memory, 512).
    unknown = Annotated[InstanceOf[Unknown], AfterValidator(partial(_candidates_as, mirrored))]
    return typing.Union[mirrored, unknown]  # noqa: UP007 - built from types


@cache
def _field_validator(field_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(field_type)


def _candidates_as(field_type: Any, value: Unknown) -> Unknown:
    """``value`` with its candidates read as the field's type; none when one of them cannot be (a deploy would
    fail on it, so it says nothing of what would deploy). The field's validator is built on first use: a template
    reaches few of the models' fields."""
    if not value.candidates:
        return value
    try:
        validator = _field_validator(field_type)
        candidates = [validator.validate_python(candidate) for candidate in value.candidates]
        return Unknown(value.description, candidates, per_world=value.per_world)
    except ValidationError:
        return Unknown(value.description)


def _mirrored(annotation: Any, tolerant: bool) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, EcsModel):
        return _plain(annotation, tolerant)
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not arguments:
        return annotation
    mirrored = tuple(_plain_annotation(argument, tolerant) for argument in arguments)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[mirrored]  # noqa: UP007 - built from a tuple of members
    return origin[mirrored]


@cache
def _validator(model: type[EcsModel], tolerant: bool = False) -> TypeAdapter[Document]:
    return TypeAdapter(_plain(model, tolerant))


def normalise(model: type[EcsModel], data: Mapping[str, Any]) -> Document:
    """``data`` checked against ``model`` as a plain dict; raise pydantic's ValidationError when it is not one.

    A template's resource may hold values known only at deploy (``Unknown``) in any field: those are checked by a
    validator that lets them stand, built only for such a resource."""
    try:
        return _validator(model).validate_python(data)
    except ValidationError:
        if not contains_unknown(data):
            raise
    return _validator(model, tolerant=True).validate_python(data)


@cache
def field_names(*models: type[BaseModel]) -> frozenset[str]:
    """The field names (and aliases) of ``models`` and of the models they nest, the models' names, and
    pydantic's tags for the members of a union: what an error location may show."""
    names: set[str] = {"str", "int", "float", "bool", "datetime", "none", "list", "dict"}
    pending = list(models)
    while pending:
        model = pending.pop()
        if model.__name__ in names:
            continue
        names.add(model.__name__)
        names.update(model.model_fields)
        for info in model.model_fields.values():
            if info.alias:
                names.add(info.alias)
            pending.extend(_models_in(info.annotation))
    return frozenset(names)


def _ecs_field_names() -> frozenset[str]:
    return field_names(TaskDefinition, Service, Cluster, TaskSet, Task)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for argument in typing.get_args(annotation) for model in _models_in(argument)]


# A union member's tag, as pydantic writes it: list[...], dict[str, any] and the like (from our models, not input).
_TYPE_TAG = re.compile(r"(?:list|dict|tuple|set)\[[A-Za-z0-9_\[\], ]*\]")


def describe_validation_error(error: ValidationError, known: frozenset[str] | None = None) -> str:
    """Summarise a pydantic error by location and problem, without the offending input values.

    A location names only indexes, and field names the models (or ``known``) define: a key of a map such as
    ``logConfiguration.options`` is the input's text, so it is shown as ``<key>``.
    """
    allowed = _ecs_field_names() | (known or frozenset())
    problems = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        parts = [
            str(part) if isinstance(part, int) or part in allowed or _TYPE_TAG.fullmatch(str(part)) else "<key>"
            for part in item["loc"]
        ]
        problems.append(f"{'.'.join(parts) or '(top level)'}: {item['msg']}")
    return "; ".join(problems)


# What ECS accepts as a family or service name, and the shapes of their ARNs: an id outside these shapes is the
# input's own text (it may hold anything pasted there), so it is not shown.
ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
TASK_DEFINITION_ARN = re.compile(r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}:[0-9]+")
SERVICE_ARN = re.compile(
    r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:service/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9_-]{1,255}"
)


def task_definition_id(model: Mapping[str, Any], fallback: str) -> str:
    arn, family, revision = model.get("taskDefinitionArn"), model.get("family"), model.get("revision")
    if isinstance(arn, str) and TASK_DEFINITION_ARN.fullmatch(arn):
        return arn
    if isinstance(family, str) and ECS_NAME.fullmatch(family) and isinstance(revision, int):
        return f"{family}:{revision}"
    return fallback


CLUSTER_ARN = re.compile(r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}")


# task-set/<cluster>/<service>/<id>; ECS's ids look like ecs-svc/1234567890123456789 (so hold a slash).
TASK_SET_ARN = re.compile(
    r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:task-set/[A-Za-z0-9_-]{1,255}/[A-Za-z0-9_-]{1,255}/[A-Za-z0-9_/-]{1,255}"
)


# task/<cluster>/<id>, or task/<id> in the old ARN format.
TASK_ARN = re.compile(r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:task/(?:[A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9]{1,64}")


def task_id(model: Mapping[str, Any], fallback: str) -> str:
    arn = model.get("taskArn")
    return arn if isinstance(arn, str) and TASK_ARN.fullmatch(arn) else fallback


def task_set_id(model: Mapping[str, Any], fallback: str) -> str:
    arn = model.get("taskSetArn")
    return arn if isinstance(arn, str) and TASK_SET_ARN.fullmatch(arn) else fallback


def cluster_id(model: Mapping[str, Any], fallback: str) -> str:
    arn = model.get("clusterArn")
    return arn if isinstance(arn, str) and CLUSTER_ARN.fullmatch(arn) else fallback


def service_id(model: Mapping[str, Any], fallback: str) -> str:
    arn = model.get("serviceArn")
    return arn if isinstance(arn, str) and SERVICE_ARN.fullmatch(arn) else fallback


@dataclass(frozen=True)
class _Kind:
    """How one resource type is read: its model, the field and shape of its ARN, and its id when it has none."""

    resource_type: ResourceType
    model: type[EcsModel]
    arn_field: str
    arn_pattern: re.Pattern[str]
    named: str  # in "not a readable <named>"
    identify: Callable[[Mapping[str, Any], str], str]


def _build(
    kind: _Kind, data: Mapping[str, Any], fallback_id: str, related: Mapping[str, Any] | None = None
) -> Resource:
    """The resource ready for evaluation, or, when ``data`` does not read as its model, a resource that every
    policy of its type reports as ERROR, named by its ARN when it has a well-formed one."""
    try:
        model = normalise(kind.model, data)
    except ValidationError as error:
        arn = data.get(kind.arn_field)
        return Resource(
            type=kind.resource_type,
            id=arn if isinstance(arn, str) and kind.arn_pattern.fullmatch(arn) else fallback_id,
            model=None,
            problem=f"not a readable {kind.named}: {describe_validation_error(error)}",
        )
    identifier = kind.identify(model, fallback_id)
    return Resource(type=kind.resource_type, id=identifier, model=model, related=dict(related or {}))


_TASK_DEFINITION = _Kind(
    ResourceType.TASK_DEFINITION,
    TaskDefinition,
    "taskDefinitionArn",
    TASK_DEFINITION_ARN,
    "task definition",
    task_definition_id,
)
_SERVICE = _Kind(ResourceType.SERVICE, Service, "serviceArn", SERVICE_ARN, "service", service_id)
_CLUSTER = _Kind(ResourceType.CLUSTER, Cluster, "clusterArn", CLUSTER_ARN, "cluster", cluster_id)
_TASK_SET = _Kind(ResourceType.TASK_SET, TaskSet, "taskSetArn", TASK_SET_ARN, "task set", task_set_id)


_TASK = _Kind(ResourceType.TASK, Task, "taskArn", TASK_ARN, "task", task_id)


def build_task_definition(data: Mapping[str, Any], fallback_id: str) -> Resource:
    return _build(_TASK_DEFINITION, data, fallback_id)


def build_service(
    data: Mapping[str, Any],
    fallback_id: str,
    task_definition: Related,
    cluster: Related,
) -> Resource:
    return _build(_SERVICE, data, fallback_id, {"taskDefinition": task_definition, "cluster": cluster})


def build_task(
    data: Mapping[str, Any],
    fallback_id: str,
    task_definition: Document | Unresolved,
    cluster: Document | Unresolved,
) -> Resource:
    """A standalone task: judged by the launch policies on its own settings, with ``$taskDefinition`` the definition
    it runs (its overrides applied), and by the task definition policies on that definition. ``task_definition`` is
    the definition as registered (normalised); the overrides are the task's."""
    resource = _build(_TASK, data, fallback_id)
    if resource.model is None:
        return resource
    if isinstance(task_definition, Unresolved):
        # Every policy reading it reports the reason; a task definition policy has nothing else to read.
        related = {"taskDefinition": task_definition, "cluster": cluster}
        return replace(resource, related=related, views={ResourceType.TASK_DEFINITION: task_definition})
    effective, origins = effective_task_definition(task_definition, resource.model.get("overrides"))
    try:
        runs = normalise(TaskDefinition, effective)
    except ValidationError as error:
        problem = f"not a readable task: its overrides: {describe_validation_error(error)}"
        return Resource(type=ResourceType.TASK, id=resource.id, model=None, problem=problem)
    return replace(
        resource,
        related={"taskDefinition": runs, "cluster": cluster},
        views={ResourceType.TASK_DEFINITION: runs},
        origins=origins,
    )


def build_cluster(data: Mapping[str, Any], fallback_id: str) -> Resource:
    """A cluster as DescribeClusters gives it; what a policy needs that the description lacks (its settings,
    when it was described without them) is the policy's to judge, never a silent pass."""
    return _build(_CLUSTER, data, fallback_id)


def build_task_set(
    data: Mapping[str, Any],
    fallback_id: str,
    task_definition: Related,
    cluster: Related,
) -> Resource:
    """A task set as DescribeTaskSets or a DescribeServices item's taskSets[] gives it, judged on its own launch
    settings with the task definition it runs (``$taskDefinition``) and its cluster (``$cluster``)."""
    return _build(_TASK_SET, data, fallback_id, {"taskDefinition": task_definition, "cluster": cluster})


# The types a resource of one type is also judged as, by the policies written for them (Resource.views).
VIEWS: Mapping[ResourceType, frozenset[ResourceType]] = {ResourceType.TASK: frozenset({ResourceType.TASK_DEFINITION})}

# Variables each resource type offers to policies, besides the resource itself ($resource).
RELATED_TYPES: Mapping[ResourceType, Mapping[str, type[EcsModel]]] = {
    ResourceType.TASK_DEFINITION: {},
    ResourceType.SERVICE: {"taskDefinition": TaskDefinition, "cluster": Cluster},
    ResourceType.CLUSTER: {},
    ResourceType.TASK_SET: {"taskDefinition": TaskDefinition, "cluster": Cluster},
    ResourceType.TASK: {"taskDefinition": TaskDefinition, "cluster": Cluster},
}
