"""What a standalone task runs: its task definition with the task's overrides applied, as ECS applies them.

RunTask and StartTask take ``overrides``: per container (by name) a command that replaces the definition's, variables
that replace those of the same name or are added, environment files, CPU and memory; for the task, CPU, memory, roles
and ephemeral storage. A task definition policy judges the result, so that a plaintext password given at launch fails
as it would in the definition; and evidence on an overridden value names the override
(``overrides.containerOverrides[0].environment[2]``), where the caller put it, not the definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Where a task definition policy's paths start when it judges a task: the task's own fields are beside it.
TASK_DEFINITION_VIEW = "$taskDefinition"

# Container fields an override replaces outright when it sets them.
_REPLACED_CONTAINER_FIELDS = (
    "command",
    "environmentFiles",
    "cpu",
    "memory",
    "memoryReservation",
    "resourceRequirements",
)
_REPLACED_TASK_FIELDS = ("cpu", "memory", "taskRoleArn", "executionRoleArn", "ephemeralStorage")


def effective_task_definition(
    task_definition: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The task definition as the task runs it, and where each overridden part came from: a map from its path in
    the result (under ``TASK_DEFINITION_VIEW``) to its path in the task (under ``overrides``).

    An override naming no container of the definition changes nothing (ECS refuses such a call).
    """
    effective = dict(task_definition)
    origins: dict[str, str] = {}
    if not overrides:
        return effective, origins
    for name in _REPLACED_TASK_FIELDS:
        if overrides.get(name) is not None:
            effective[name] = overrides[name]
            origins[f"{TASK_DEFINITION_VIEW}.{name}"] = f"overrides.{name}"
    containers = task_definition.get("containerDefinitions")
    container_overrides = overrides.get("containerOverrides")
    if not isinstance(containers, list) or not isinstance(container_overrides, list):
        return effective, origins
    merged = list(containers)
    positions = {
        container.get("name"): index
        for index, container in reversed(list(enumerate(merged)))
        if isinstance(container, dict)
    }
    for override_index, override in enumerate(container_overrides):
        if not isinstance(override, dict) or override.get("name") not in positions:
            continue
        index = positions[override.get("name")]
        container = dict(merged[index])
        at, source = (
            f"{TASK_DEFINITION_VIEW}.containerDefinitions[{index}]",
            f"overrides.containerOverrides[{override_index}]",
        )
        for name in _REPLACED_CONTAINER_FIELDS:
            if override.get(name) is not None:
                container[name] = override[name]
                origins[f"{at}.{name}"] = f"{source}.{name}"
        variables = override.get("environment")
        if isinstance(variables, list) and variables:
            container["environment"] = _merged_environment(
                container.get("environment"), variables, f"{at}.environment", f"{source}.environment", origins
            )
        merged[index] = container
    effective["containerDefinitions"] = merged
    return effective, origins


def _merged_environment(
    defined: object, overriding: list[Any], at: str, source: str, origins: dict[str, str]
) -> list[Any]:
    """A container's variables with the override's applied: one of the same name replaced, any other added."""
    merged = list(defined) if isinstance(defined, list) else []
    by_name = {
        variable.get("name"): index
        for index, variable in reversed(list(enumerate(merged)))
        if isinstance(variable, dict)
    }
    for override_index, variable in enumerate(overriding):
        name = variable.get("name") if isinstance(variable, dict) else None
        index = by_name.get(name) if name is not None else None
        if index is None:
            index = len(merged)
            merged.append(variable)
            if name is not None:
                by_name[name] = index
        else:
            merged[index] = variable
        origins[f"{at}[{index}]"] = f"{source}[{override_index}]"
    return merged


def origin_of(path: str, origins: Mapping[str, str]) -> str:
    """``path`` in terms of where its value came from: the longest overridden part it lies in, else itself."""
    if not origins:
        return path
    cut = len(path)
    while cut > 0:
        prefix = path[:cut]
        found = origins.get(prefix)
        if found is not None:
            return found + path[cut:]
        cut = max(path.rfind(".", 0, cut), path.rfind("[", 0, cut))
    return path
