"""`ecsguard scan` on Terraform plans (`terraform show -json`): the planned task definition, service and cluster are
judged as the API calls that apply them would be, and what the plan does not know yet is never a silent PASS.

tests/fixtures/terraform/fargate-efs/ holds a plan of a Fargate service on platform 1.3.0 running an EFS task
definition with a plaintext password, and, written by hand, the CloudTrail records of the calls the AWS provider makes
when it applies it (deployed.json): the oracle the plan's mapping is checked against.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from ecsguard.cli import main
from ecsguard.core.terraform import to_api
from ecsguard.report import FORMATS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "fargate-efs"
PLANTED = "Tf-plan-Pw-5531!"
KINDS = ("AWS::ECS::TaskDefinition", "AWS::ECS::Service", "AWS::ECS::Cluster")


def scan(capsys: pytest.CaptureFixture[str], *paths: Path, output: str = "json") -> tuple[int, str]:
    status = main(["scan", "--pack", "all", "--format", output, *map(str, paths)])
    return status, capsys.readouterr().out


def verdicts(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(resource type, policy) -> (status, evidence paths): one resource of each type in these inputs."""
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for result in document["results"]:
        key = (result["resource"]["type"], result["policy_id"])
        assert key not in found, f"two resources of type {key[0]}"
        found[key] = (result["status"], [e["path"] for e in result["evidence"]])
    return found


def plan(tmp_path: Path, change: Any = None) -> Path:
    document = json.loads((FIXTURE / "plan.json").read_text(encoding="utf-8"))
    if change is not None:
        change(document)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_plan_is_judged_as_the_calls_that_apply_it(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the plan, and the CloudTrail records of the calls that apply it
    status, planned = scan(capsys, FIXTURE / "plan.json")
    deployed_status, deployed = scan(capsys, FIXTURE / "deployed.json")

    # WHEN both are judged
    from_plan, from_events = verdicts(json.loads(planned)), verdicts(json.loads(deployed))

    # THEN every policy has the same verdict on each resource, with the same evidence, case by case
    assert {kind for kind, _ in from_plan} == set(KINDS)
    differences = {
        key: (from_plan.get(key), from_events.get(key))
        for key in from_plan.keys() | from_events.keys()
        if from_plan.get(key) != from_events.get(key)
    }
    assert differences == {}
    # the service found its task definition through the plan's reference, so the EFS policy fails it
    assert from_plan[("AWS::ECS::Service", "ecs-efs-fargate-platform")] == ("FAIL", ["platformVersion"])
    assert status == deployed_status == 1


def test_plan_resources_are_named_by_file_and_address(capsys: pytest.CaptureFixture[str]) -> None:
    _, out = scan(capsys, FIXTURE / "plan.json")

    ids = {result["resource"]["id"] for result in json.loads(out)["results"]}

    assert ids == {
        f"{FIXTURE / 'plan.json'}#aws_ecs_cluster.reports",
        f"{FIXTURE / 'plan.json'}#aws_ecs_task_definition.reports",
        f"{FIXTURE / 'plan.json'}#aws_ecs_service.reports",
    }


def test_container_definitions_known_after_apply_leave_the_definite_failures_standing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a plan whose container definitions refer to a resource not created yet (jsonencode of a repository URL)
    def unknown_containers(document: dict[str, Any]) -> None:
        change = document["resource_changes"][1]["change"]
        del change["after"]["container_definitions"]
        change["after_unknown"]["container_definitions"] = True

    # WHEN it is judged
    _, out = scan(capsys, plan(tmp_path, unknown_containers))
    found = {(r["resource"]["type"], r["policy_id"]): r for r in json.loads(out)["results"]}

    # THEN the container policies say what they needed, and what the plan knows still fails: the EFS volume on 1.3.0
    secrets = found[("AWS::ECS::TaskDefinition", "ecs-secrets-managed")]
    assert secrets["status"] == "NOT_APPLICABLE"
    assert secrets["reason"] == "known only at deploy: containerDefinitions is known after apply"
    assert found[("AWS::ECS::Service", "ecs-efs-fargate-platform")]["status"] == "FAIL"
    assert found[("AWS::ECS::TaskDefinition", "ecs-network-awsvpc")]["status"] == "PASS"


def test_a_service_in_a_module_finds_its_task_definition_in_the_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the same resources inside a module, referring to each other by the module's own addresses
    def in_module(document: dict[str, Any]) -> None:
        for change in document["resource_changes"]:
            change["address"] = f"module.reports.{change['address']}"
            change["module_address"] = "module.reports"
        resources = document["configuration"]["root_module"].pop("resources")
        document["configuration"]["root_module"]["module_calls"] = {
            "reports": {"source": "./modules/reports", "module": {"resources": resources}}
        }

    _, out = scan(capsys, plan(tmp_path, in_module))
    found = {(r["resource"]["type"], r["policy_id"]): r for r in json.loads(out)["results"]}

    service = found[("AWS::ECS::Service", "ecs-efs-fargate-platform")]
    assert service["status"] == "FAIL"
    assert service["resource"]["id"].endswith("#module.reports.aws_ecs_service.reports")


def test_a_service_whose_task_definition_is_not_in_the_plan_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a plan that changes only the service, whose task definition is an existing revision outside the scan
    def service_only(document: dict[str, Any]) -> None:
        service = document["resource_changes"][2]
        service["change"]["after"]["task_definition"] = "arn:aws:ecs:us-east-1:123456789012:task-definition/reports:7"
        del service["change"]["after_unknown"]["task_definition"]
        document["resource_changes"] = [service]

    _, out = scan(capsys, plan(tmp_path, service_only))
    found = {r["policy_id"]: r for r in json.loads(out)["results"]}

    efs = found["ecs-efs-fargate-platform"]
    assert efs["status"] == "ERROR"
    assert "task-definition/reports:7" in efs["reason"]
    assert "not among the scanned inputs" in efs["reason"]


def test_deleted_resources_are_not_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def deleting(document: dict[str, Any]) -> None:
        for change in document["resource_changes"]:
            change["change"]["actions"] = ["delete"]
            change["change"]["before"], change["change"]["after"] = change["change"]["after"], None

    status, out = scan(capsys, plan(tmp_path, deleting))

    summary = json.loads(out)["summary"]
    assert (status, summary["results"], summary["input_errors"]) == (0, 0, [])
    assert [item["reason"] for item in summary["skipped"]] == [
        "a Terraform plan that creates, updates or keeps no ECS task definition, service or cluster"
    ]


@pytest.mark.parametrize("output", sorted(FORMATS))
def test_no_format_shows_the_plans_plaintext_password(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out = scan(capsys, FIXTURE / "plan.json", output=output)

    assert "ecs-secrets-managed" in out
    assert PLANTED not in out
    assert PLANTED.replace("!", "&#33;") not in out


# --- the mapping, attribute by attribute, against the ECS API --------------------------------------------------------

# What the AWS provider's documentation lists for each resource, in a plan's shape: every attribute a policy could
# read, blocks as lists of one object.
PLANNED = {
    "aws_ecs_task_definition": (
        "RegisterTaskDefinitionRequest",
        {
            "family": "web",
            "container_definitions": "[]",
            "task_role_arn": "arn:aws:iam::123456789012:role/t",
            "execution_role_arn": "arn:aws:iam::123456789012:role/e",
            "network_mode": "awsvpc",
            "ipc_mode": "task",
            "pid_mode": "task",
            "cpu": "256",
            "memory": "512",
            "requires_compatibilities": ["FARGATE"],
            "enable_fault_injection": False,
            "placement_constraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
            "proxy_configuration": [{"type": "APPMESH", "container_name": "envoy", "properties": {"AppPorts": "80"}}],
            "runtime_platform": [{"operating_system_family": "LINUX", "cpu_architecture": "ARM64"}],
            "ephemeral_storage": [{"size_in_gib": 30}],
            "inference_accelerator": [{"device_name": "d", "device_type": "eia2.medium"}],
            "tags": {"team": "web"},
            "volume": [
                {
                    "name": "v",
                    "host_path": "/data",
                    "configure_at_launch": False,
                    "efs_volume_configuration": [
                        {
                            "file_system_id": "fs-1",
                            "root_directory": "/",
                            "transit_encryption": "ENABLED",
                            "transit_encryption_port": 2049,
                            "authorization_config": [{"access_point_id": "fsap-1", "iam": "ENABLED"}],
                        }
                    ],
                    "docker_volume_configuration": [
                        {"scope": "shared", "autoprovision": True, "driver": "local", "driver_opts": {}, "labels": {}}
                    ],
                    "fsx_windows_file_server_volume_configuration": [
                        {
                            "file_system_id": "fs-2",
                            "root_directory": "\\\\data",
                            "authorization_config": [{"credentials_parameter": "arn:x", "domain": "corp"}],
                        }
                    ],
                }
            ],
        },
    ),
    "aws_ecs_service": (
        "CreateServiceRequest",
        {
            "name": "web",
            "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
            "task_definition": "web:1",
            "desired_count": 1,
            "launch_type": "FARGATE",
            "platform_version": "LATEST",
            "enable_execute_command": True,
            "enable_ecs_managed_tags": True,
            "propagate_tags": "SERVICE",
            "scheduling_strategy": "REPLICA",
            "health_check_grace_period_seconds": 30,
            "availability_zone_rebalancing": "ENABLED",
            "tags": {"team": "web"},
            "capacity_provider_strategy": [{"capacity_provider": "FARGATE", "weight": 1, "base": 0}],
            "deployment_controller": [{"type": "ECS"}],
            "deployment_circuit_breaker": [{"enable": True, "rollback": True}],
            "deployment_maximum_percent": 200,
            "deployment_minimum_healthy_percent": 100,
            "alarms": [{"alarm_names": ["web-5xx"], "enable": True, "rollback": True}],
            "network_configuration": [{"subnets": ["s"], "security_groups": ["g"], "assign_public_ip": False}],
            "load_balancer": [{"target_group_arn": "arn:t", "container_name": "web", "container_port": 80}],
            "ordered_placement_strategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
            "placement_constraints": [{"type": "distinctInstance"}],
            "service_registries": [{"registry_arn": "arn:r", "port": 80}],
        },
    ),
    "aws_ecs_cluster": (
        "CreateClusterRequest",
        {
            "name": "prod",
            "tags": {"team": "web"},
            "setting": [{"name": "containerInsights", "value": "enabled"}],
            "configuration": [
                {
                    "execute_command_configuration": [
                        {
                            "kms_key_id": "k",
                            "logging": "OVERRIDE",
                            "log_configuration": [
                                {
                                    "cloud_watch_log_group_name": "/ecs/exec",
                                    "cloud_watch_encryption_enabled": True,
                                    "s3_bucket_name": "b",
                                    "s3_bucket_encryption_enabled": True,
                                    "s3_key_prefix": "exec",
                                }
                            ],
                        }
                    ]
                }
            ],
        },
    ),
}


def _unmapped(value: Any, shape: Any, path: str) -> list[str]:
    if shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{path} (a {type(value).__name__} here, a list in the API)"]
        return [p for item in value for p in _unmapped(item, shape.member, f"{path}[]")]
    if shape.type_name == "map" or not isinstance(value, dict):
        return []
    missing = []
    for key, item in value.items():
        if key not in shape.members:
            missing.append(f"{path}.{key}" if path else key)
            continue
        missing.extend(_unmapped(item, shape.members[key], f"{path}.{key}" if path else key))
    return missing


@pytest.mark.parametrize("resource_type", sorted(PLANNED))
def test_every_planned_attribute_maps_to_a_member_of_the_api_request(resource_type: str) -> None:
    request_name, after = PLANNED[resource_type]
    request = botocore.session.get_session().get_service_model("ecs").shape_for(request_name)

    document = to_api(resource_type, copy.deepcopy(after), {})

    assert _unmapped(document, request, "") == []
    assert len(document) >= len(after) - 4  # attributes were mapped, not dropped (a service's deployment ones merge)
