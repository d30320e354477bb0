"""Terraform's ECS resources (a plan's ``resource_changes[].change.after``) in the ECS API's shape, so that every
policy judges a planned task definition, service or cluster as it judges the API's.

The AWS provider names an attribute as the API does in snake_case, writes a nested object as a block (a list of one
object), a map of tags as a map, and a few things its own way: ``volume`` for ``volumes``, ``assign_public_ip`` as a
boolean, a service's ``network_configuration`` for the API's ``networkConfiguration.awsvpcConfiguration``. An
``aws_ecs_task_definition``'s ``container_definitions`` is the API's JSON already, as a string. What the plan does
not know yet (``after_unknown``) becomes an ``Unknown`` value, judged in three values (``core.unknowns``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ecsguard.core.models import ResourceType
from ecsguard.core.unknowns import ACCOUNT_SETTINGS, Unknown

TERRAFORM_TYPES: Mapping[str, ResourceType] = {
    "aws_ecs_task_definition": ResourceType.TASK_DEFINITION,
    "aws_ecs_service": ResourceType.SERVICE,
    "aws_ecs_cluster": ResourceType.CLUSTER,
}
# A resource's own attributes whose API name is not their snake_case in camelCase.
TOP_RENAMED: Mapping[str, Mapping[str, str]] = {
    "aws_ecs_task_definition": {"arn": "taskDefinitionArn"},
    "aws_ecs_service": {"name": "serviceName"},
    "aws_ecs_cluster": {"name": "clusterName", "arn": "clusterArn"},
}
# Attributes, at any depth, whose API name is not their snake_case in camelCase.
RENAMED: Mapping[str, str] = {
    "volume": "volumes",
    "host_path": "host",  # a volume's host_path is the API's host.sourcePath (converted below)
    "setting": "settings",
    "placement_constraints": "placementConstraints",
    "ordered_placement_strategy": "placementStrategy",
    "capacity_provider_strategy": "capacityProviderStrategy",
    "load_balancer": "loadBalancers",
    "service_registries": "serviceRegistries",
    "size_in_gib": "sizeInGiB",
    "s3_bucket_encryption_enabled": "s3EncryptionEnabled",
    "enable_ecs_managed_tags": "enableECSManagedTags",
    "inference_accelerator": "inferenceAccelerators",
    "configure_at_launch": "configuredAtLaunch",
    "iam": "iam",
}
# Blocks the provider writes as a list of (at most) one object, where the API has one object.
SINGLE_BLOCKS = frozenset(
    {
        "efs_volume_configuration",
        "authorization_config",
        "docker_volume_configuration",
        "fsx_windows_file_server_volume_configuration",
        "runtime_platform",
        "ephemeral_storage",
        "proxy_configuration",
        "deployment_controller",
        "deployment_circuit_breaker",
        "network_configuration",
        "configuration",
        "execute_command_configuration",
        "log_configuration",
        "managed_storage_configuration",
        "service_connect_configuration",
    }
)
# Attributes of the provider's own (bookkeeping, or the Terraform side of a setting) that no API document has.
PROVIDER_ONLY = frozenset(
    {
        "id",
        "tags_all",
        "skip_destroy",
        "track_latest",
        "arn_without_revision",
        "force_new_deployment",
        "wait_for_steady_state",
        "triggers",
        "timeouts",
        "iam_role",
        "force_delete",
    }
)
_CAMEL = re.compile(r"_([a-z0-9])")
UNKNOWN_AFTER_APPLY = "known after apply"


def camel(name: str) -> str:
    return _CAMEL.sub(lambda match: match.group(1).upper(), name)


def _unknown(path: str) -> Unknown:
    """A value the plan marks unknown; the path it is judged at names it in the API's terms."""
    return Unknown(UNKNOWN_AFTER_APPLY)


def _merged(after: Any, unknown: Any, path: str) -> Any:
    """``after`` with every value ``after_unknown`` marks (true) replaced by an Unknown naming its attribute."""
    if unknown is True:
        return _unknown(path)
    if isinstance(after, dict):
        marks = unknown if isinstance(unknown, dict) else {}
        merged = {key: _merged(value, marks.get(key), f"{path}.{key}" if path else key) for key, value in after.items()}
        for key, mark in marks.items():  # an attribute the plan leaves out of after because it is unknown
            if key not in merged and mark is True:
                merged[key] = _unknown(f"{path}.{key}" if path else key)
        return merged
    if isinstance(after, list):
        marks_list = unknown if isinstance(unknown, list) else []
        return [
            _merged(item, marks_list[index] if index < len(marks_list) else None, f"{path}[{index}]")
            for index, item in enumerate(after)
        ]
    return after


def _api(value: Any, renamed: Mapping[str, str] | None = None) -> Any:
    """``value`` with the API's names; ``renamed``: the names of a resource's own attributes, at its top level."""
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            if key in PROVIDER_ONLY or item is None:
                continue
            name = (renamed or {}).get(key) or RENAMED.get(key) or camel(key)
            block = item
            if key in SINGLE_BLOCKS and isinstance(item, list):
                if not item:
                    continue
                block = item[0]
            converted[name] = _tags(block) if key == "tags" else _api(block)
        return converted
    if isinstance(value, list):
        return [_api(item) for item in value]
    return value


def _tags(value: Any) -> Any:
    """A map of tags as the API's list of key and value."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    return []


def _task_definition(document: dict[str, Any]) -> dict[str, Any]:
    definitions = document.get("containerDefinitions")
    if isinstance(definitions, str):
        try:
            document["containerDefinitions"] = json.loads(definitions)
        except ValueError:
            # json's message names a position, never the text; the resource then reads as unreadable.
            document["containerDefinitions"] = Unknown("containerDefinitions, which is not JSON")
    proxy = document.get("proxyConfiguration")
    if isinstance(proxy, dict) and isinstance(proxy.get("properties"), dict):  # a map here, name and value there
        proxy["properties"] = [{"name": key, "value": value} for key, value in proxy["properties"].items()]
    for volume in document.get("volumes") or []:
        if isinstance(volume, dict) and "host" in volume and not isinstance(volume["host"], dict | Unknown):
            volume["host"] = {"sourcePath": volume["host"]}
    return document


# A service's deployment settings, which the provider writes at its top level and the API in deploymentConfiguration.
_DEPLOYMENT = {
    "deploymentCircuitBreaker": "deploymentCircuitBreaker",
    "deploymentMaximumPercent": "maximumPercent",
    "deploymentMinimumHealthyPercent": "minimumHealthyPercent",
    "alarms": "alarms",
}


def _service(document: dict[str, Any]) -> dict[str, Any]:
    deployment = {api: document.pop(name) for name, api in _DEPLOYMENT.items() if name in document}
    if deployment:
        document["deploymentConfiguration"] = deployment
    network = document.get("networkConfiguration")
    if isinstance(network, dict):
        assign = network.get("assignPublicIp")
        if isinstance(assign, bool):
            network["assignPublicIp"] = "ENABLED" if assign else "DISABLED"
        document["networkConfiguration"] = {"awsvpcConfiguration": network}
    return document


def to_api(resource_type: str, after: Mapping[str, Any], after_unknown: Any) -> dict[str, Any]:
    """A planned resource's attributes (``change.after``, with ``change.after_unknown``) in the API's shape."""
    attributes = dict(after)
    if "tags_all" in attributes:  # the resource's tags and the provider's default_tags: what AWS is given
        attributes["tags"] = attributes["tags_all"]
        if isinstance(after_unknown, dict) and "tags_all" in after_unknown:
            after_unknown = {**after_unknown, "tags": after_unknown["tags_all"]}
    merged = _merged(attributes, after_unknown, "")
    document: dict[str, Any] = _api(merged, TOP_RENAMED.get(resource_type, {}))
    if resource_type == "aws_ecs_task_definition":
        return _task_definition(document)
    if resource_type == "aws_ecs_service":
        return _service(document)
    if resource_type == "aws_ecs_cluster" and not document.get("settings"):
        document["settings"] = ACCOUNT_SETTINGS
    return document
