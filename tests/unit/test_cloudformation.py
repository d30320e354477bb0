"""CloudFormation's ECS property names against the ECS API's, property by property: every property of the resource
schemas cfn-lint ships for AWS::ECS::TaskDefinition, Service, Cluster and TaskSet maps to a member of the matching API
request (botocore's ECS model), a map of the user's own keys stays a map, and nothing is left unexplained."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from ecsguard.core.cloudformation import RENAMED, VERBATIM_MAPS, api_name, is_intrinsic, to_api

# Properties of CloudFormation's that no create request has: identifiers CloudFormation reads back (read-only), and
# Service.ForceNewDeployment, an object there, a boolean of UpdateService in the API.
NOT_IN_THE_REQUEST = {
    "AWS::ECS::TaskDefinition": {"TaskDefinitionArn"},
    "AWS::ECS::Service": {"ServiceArn", "Name", "ForceNewDeployment"},
    "AWS::ECS::Cluster": {"Arn"},
    "AWS::ECS::TaskSet": {"Id"},
}
REQUESTS = {
    "AWS::ECS::TaskDefinition": "RegisterTaskDefinitionRequest",
    "AWS::ECS::Service": "CreateServiceRequest",
    "AWS::ECS::Cluster": "CreateClusterRequest",
    "AWS::ECS::TaskSet": "CreateTaskSetRequest",
}


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _walk(schema: dict[str, Any], node: dict[str, Any], shape: Any, path: str, found: dict[str, list[str]]) -> None:
    node = _resolve(schema, node)
    if node.get("type") == "array" and "items" in node and shape.type_name == "list":
        _walk(schema, node["items"], shape.member, f"{path}[]", found)
        return
    for name, child in (node.get("properties") or {}).items():
        at = f"{path}.{name}" if path else name
        if not path and name in NOT_IN_THE_REQUEST[found["type"][0]]:
            continue
        if shape.type_name != "structure" or api_name(name) not in shape.members:
            found["unmapped"].append(at)
            continue
        member = shape.members[api_name(name)]
        resolved = _resolve(schema, child)
        if "patternProperties" in resolved:
            found["maps"].append(name)
            if member.type_name != "map":
                found["unmapped"].append(f"{at} (a map here, a {member.type_name} in the API)")
            continue
        found["checked"].append(at)
        _walk(schema, child, member, at, found)


@pytest.mark.parametrize("resource_type", sorted(REQUESTS))
def test_every_cloudformation_property_maps_to_the_api_request(resource_type: str) -> None:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    request = botocore.session.get_session().get_service_model("ecs").shape_for(REQUESTS[resource_type])
    found: dict[str, list[str]] = {"type": [resource_type], "unmapped": [], "maps": [], "checked": []}

    _walk(schema, schema, request, "", found)

    assert found["unmapped"] == []
    assert set(found["maps"]) <= VERBATIM_MAPS
    assert len(found["checked"]) > 20  # the walk reached nested properties, so it checked something


def test_renamed_and_verbatim_maps_are_all_used_by_the_schemas() -> None:
    # No entry of the tables is left over from a property AWS no longer has.
    seen: set[str] = set()
    maps: set[str] = set()
    for resource_type in REQUESTS:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
        stack = [schema, *schema.get("definitions", {}).values()]
        while stack:
            node = stack.pop()
            for name, child in (node.get("properties") or {}).items():
                seen.add(name)
                if "patternProperties" in _resolve(schema, child):
                    maps.add(name)
    assert set(RENAMED) <= seen
    assert maps == VERBATIM_MAPS


def test_to_api_renames_properties_keeps_user_keys_and_intrinsics() -> None:
    properties = {
        "Family": {"Fn::Sub": "${AWS::StackName}-api"},
        "ContainerDefinitions": [
            {
                "Name": "api",
                "Image": {"Ref": "Image"},
                "DockerLabels": {"Team": "payments", "com.example.Owner": "ops"},
                "LogConfiguration": {"LogDriver": "awslogs", "Options": {"awslogs-group": "/ecs/api"}},
                "Environment": [{"Name": "LOG_LEVEL", "Value": "INFO"}],
            }
        ],
        "Volumes": [
            {"Name": "data", "EFSVolumeConfiguration": {"FilesystemId": "fs-1", "TransitEncryption": "ENABLED"}}
        ],
    }

    assert to_api(properties) == {
        "family": {"Fn::Sub": "${AWS::StackName}-api"},
        "containerDefinitions": [
            {
                "name": "api",
                "image": {"Ref": "Image"},
                "dockerLabels": {"Team": "payments", "com.example.Owner": "ops"},
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api"}},
                "environment": [{"name": "LOG_LEVEL", "value": "INFO"}],
            }
        ],
        "volumes": [
            {"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "transitEncryption": "ENABLED"}}
        ],
    }
    assert is_intrinsic({"Fn::GetAtt": ["Role", "Arn"]})
    assert not is_intrinsic({"Name": "x"})
    assert not is_intrinsic({"Ref": "x", "Other": 1})
