"""CloudFormation's ECS properties in the ECS API's shape, so that every policy judges a template's task definition
or service as it judges the API's.

CloudFormation names a property as the API does with its first letter upper-cased (``ContainerDefinitions`` for
``containerDefinitions``), but for a few, listed in ``RENAMED``; and a map whose keys are the user's own (Docker
labels, log options, driver options) keeps them as written. ``tests/unit/test_cloudformation.py`` checks both
against the resource schemas that cfn-lint ships and botocore's ECS model, property by property, so a property
AWS adds is a failing test rather than a silently misread field. Intrinsic functions (``{"Ref": ...}``,
``{"Fn::Sub": ...}``) are values unknown before deploy: they are kept as they are, for the caller to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# CloudFormation names whose API name is not the name with its first letter lowered.
RENAMED: Mapping[str, str] = {
    "EFSVolumeConfiguration": "efsVolumeConfiguration",
    "FilesystemId": "fileSystemId",
    "IAM": "iam",
    "FSxWindowsFileServerVolumeConfiguration": "fsxWindowsFileServerVolumeConfiguration",
    "S3FilesVolumeConfiguration": "s3filesVolumeConfiguration",
    "ProxyConfigurationProperties": "properties",
    "PlacementStrategies": "placementStrategy",
}
# Maps whose keys are the user's (a Docker label's, a log driver option's): kept as written.
VERBATIM_MAPS = frozenset({"DockerLabels", "Options", "DriverOpts", "Labels"})


def api_name(name: str) -> str:
    """The ECS API's name for a CloudFormation property name."""
    return RENAMED.get(name) or name[:1].lower() + name[1:]


def is_intrinsic(value: object) -> bool:
    """Whether ``value`` is an intrinsic function (``Ref``, ``Fn::...``, ``Condition``): known only at deploy."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or (isinstance(key, str) and key.startswith("Fn::"))


def to_api(value: Any) -> Any:
    """A resource's ``Properties`` (or any part of them) with the ECS API's names; intrinsics kept as they are."""
    if isinstance(value, Mapping):
        if is_intrinsic(value):
            return value
        return {api_name(str(key)): (item if key in VERBATIM_MAPS else to_api(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [to_api(item) for item in value]
    return value
