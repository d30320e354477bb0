"""Normalise ECS API shapes into the typed resources that policies evaluate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ecsguard.core.models import Cluster, EcsModel, ResourceType, Service, TaskDefinition


@dataclass(frozen=True)
class Unresolved:
    """A related resource that could not be found, and why."""

    reason: str


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
    model: EcsModel | None
    problem: str | None = None
    related: Mapping[str, EcsModel | Unresolved] = field(default_factory=dict)


def describe_validation_error(error: ValidationError) -> str:
    """Summarise a pydantic error by location and problem, without the offending input values."""
    problems = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)


def task_definition_id(model: TaskDefinition, fallback: str) -> str:
    if model.taskDefinitionArn:
        return model.taskDefinitionArn
    if model.family and model.revision is not None:
        return f"{model.family}:{model.revision}"
    return fallback


def build_task_definition(data: Mapping[str, Any], fallback_id: str) -> Resource:
    try:
        model = TaskDefinition.model_validate(data)
    except ValidationError as error:
        arn = data.get("taskDefinitionArn")
        return Resource(
            type=ResourceType.TASK_DEFINITION,
            id=arn if isinstance(arn, str) and arn else fallback_id,
            model=None,
            problem=f"not a readable task definition: {describe_validation_error(error)}",
        )
    return Resource(type=ResourceType.TASK_DEFINITION, id=task_definition_id(model, fallback_id), model=model)


def build_service(
    data: Mapping[str, Any],
    fallback_id: str,
    task_definition: TaskDefinition | Unresolved,
    cluster: Cluster | Unresolved,
) -> Resource:
    try:
        model = Service.model_validate(data)
    except ValidationError as error:
        arn = data.get("serviceArn")
        return Resource(
            type=ResourceType.SERVICE,
            id=arn if isinstance(arn, str) and arn else fallback_id,
            model=None,
            problem=f"not a readable service: {describe_validation_error(error)}",
        )
    return Resource(
        type=ResourceType.SERVICE,
        id=model.serviceArn or fallback_id,
        model=model,
        related={"taskDefinition": task_definition, "cluster": cluster},
    )


# Variables each resource type offers to policies, besides the resource itself ($resource).
RELATED_TYPES: Mapping[ResourceType, Mapping[str, type[EcsModel]]] = {
    ResourceType.TASK_DEFINITION: {},
    ResourceType.SERVICE: {"taskDefinition": TaskDefinition, "cluster": Cluster},
}
