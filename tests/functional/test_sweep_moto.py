"""The account-wide sweep against moto in server mode: several Regions, clusters and services, with the whole
policy catalog (policies/): every policy of the catalog has its finding on every resource of its type, and the
policies the planted resources were made for have the verdicts stated here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from emulated_aws import ACCOUNT, Aws

from ecsguard.adapters import aws as aws_adapter
from ecsguard.core.models import ResourceType
from ecsguard.handlers import sweep as sweep_handler
from ecsguard.settings import Settings
from ecsguard.sweep import sweep_regions
from ecsguard.wiring import build_sweeper
from policy_catalog import policy_ids

EAST, WEST = "us-east-1", "eu-west-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{EAST}.amazonaws.com/app:1"
EFS = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]


def arn(region: str, resource: str) -> str:
    return f"arn:aws:ecs:{region}:{ACCOUNT}:{resource}"


def catalog_finding_ids(task_definitions: list[str], services: list[str], clusters: list[str] = ()) -> set[str]:
    """One finding per catalog policy and resource of its type."""
    return {
        *(f"ecsguard/{p}/{r}" for p in policy_ids(ResourceType.TASK_DEFINITION) for r in task_definitions),
        *(f"ecsguard/{p}/{r}" for p in policy_ids(ResourceType.SERVICE) for r in services),
        *(f"ecsguard/{p}/{r}" for p in policy_ids(ResourceType.CLUSTER) for r in clusters),
    }


def policy_of(finding_id: str) -> str:
    return finding_id.split("/", 2)[1]


# us-east-1's resources that arrange() plants and the sweep evaluates: the latest revision of each family, the
# revisions services use, and the services.
EAST_TASK_DEFINITIONS = [arn(EAST, f"task-definition/{r}") for r in ("web:1", "web:2", "efs-app:1")]
EAST_SERVICES = [arn(EAST, f"service/{s}") for s in ("alpha/legacy", "beta/old-efs", "beta/new-efs")]
EAST_CLUSTERS = [arn(EAST, f"cluster/{c}") for c in ("alpha", "beta")]


def arrange(ecs_east: Any, ecs_west: Any) -> None:
    """us-east-1: web:1 (awsvpc) and web:2 (bridge), efs-app:1 shared by two Fargate services, and web:1 used by
    an EC2 service; eu-west-1: one task definition with a plaintext secret and no service."""
    container = {"name": "app", "image": IMAGE, "memory": 256}
    ecs_east.register_task_definition(family="web", containerDefinitions=[container], networkMode="awsvpc")
    ecs_east.register_task_definition(family="web", containerDefinitions=[container], networkMode="bridge")
    ecs_east.register_task_definition(
        family="efs-app", containerDefinitions=[container], networkMode="awsvpc", volumes=EFS
    )
    for cluster in ("alpha", "beta"):
        ecs_east.create_cluster(clusterName=cluster)
    ecs_east.create_service(cluster="alpha", serviceName="legacy", taskDefinition="web:1", launchType="EC2")
    for name, version in (("old-efs", "1.3.0"), ("new-efs", "LATEST")):
        ecs_east.create_service(
            cluster="beta", serviceName=name, taskDefinition="efs-app:1", launchType="FARGATE", platformVersion=version
        )
    leaky = {**container, "environment": [{"name": "DB_PASSWORD", "value": "PLANTED-sweep-secret-1"}]}
    ecs_west.register_task_definition(family="leaky", containerDefinitions=[leaky], networkMode="awsvpc")


def count_describes(client: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.ecs.*", lambda model, **_: calls.update([model.name]))
    return calls


def statuses(region: str) -> dict[str, tuple[str, str]]:
    findings = boto3.client("securityhub", region_name=region).get_findings(MaxResults=100)["Findings"]
    return {f["Id"]: (f["Compliance"]["Status"], f["RecordState"]) for f in findings}


def test_sweep_two_regions_publishes_expected_findings_and_describes_shared_revision_once(aws: Aws) -> None:
    # GIVEN two Regions with task definitions, clusters and services, and Security Hub enabled in both
    ecs_west = boto3.client("ecs", region_name=WEST)
    arrange(aws.ecs, ecs_west)
    boto3.client("securityhub", region_name=WEST).enable_security_hub()
    settings = Settings.from_environment({"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all"})
    sweeper = build_sweeper(settings, publish=True)
    east_calls = count_describes(aws_adapter.client("ecs", region=EAST, max_attempts=2, retry_mode="adaptive"))

    # WHEN both Regions are swept
    reports, failures = sweep_regions(sweeper, ACCOUNT, [EAST, WEST])

    # THEN every latest revision, every service's revision and every service has findings, in its own Region
    assert failures == []
    td, svc = (lambda r: arn(EAST, f"task-definition/{r}")), (lambda s: arn(EAST, f"service/{s}"))
    east = statuses(EAST)
    expected_east = {
        f"ecsguard/ecs-network-awsvpc/{td('web:2')}": ("FAILED", "ACTIVE"),
        f"ecsguard/ecs-network-awsvpc/{td('web:1')}": ("PASSED", "ACTIVE"),
        f"ecsguard/ecs-network-awsvpc/{td('efs-app:1')}": ("PASSED", "ACTIVE"),
        f"ecsguard/ecs-efs-fargate-platform/{svc('beta/old-efs')}": ("FAILED", "ACTIVE"),
        f"ecsguard/ecs-efs-fargate-platform/{svc('beta/new-efs')}": ("PASSED", "ACTIVE"),
        f"ecsguard/ecs-efs-fargate-platform/{svc('alpha/legacy')}": ("NOT_AVAILABLE", "ARCHIVED"),
    }
    about = {"ecs-network-awsvpc", "ecs-efs-fargate-platform"}
    assert {k: v for k, v in east.items() if policy_of(k) in about} == expected_east
    assert set(east) == catalog_finding_ids(EAST_TASK_DEFINITIONS, EAST_SERVICES, EAST_CLUSTERS)
    west = statuses(WEST)
    assert west[f"ecsguard/ecs-secrets-managed/{arn(WEST, 'task-definition/leaky:1')}"] == ("FAILED", "ACTIVE")
    assert set(west) == catalog_finding_ids([arn(WEST, "task-definition/leaky:1")], [])
    # AND each revision was described once, although two services share efs-app:1
    assert east_calls["DescribeTaskDefinition"] == 3
    assert east_calls["DescribeServices"] == 2  # one batch per cluster
    assert [r.region for r in reports] == [EAST, WEST]


def test_sweep_archives_findings_of_resources_removed_since_last_sweep(aws: Aws) -> None:
    # GIVEN a first sweep
    ecs_west = boto3.client("ecs", region_name=WEST)
    arrange(aws.ecs, ecs_west)
    settings = Settings.from_environment({"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all"})
    sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [EAST])
    removed = catalog_finding_ids([arn(EAST, "task-definition/web:2")], [arn(EAST, "service/beta/old-efs")])
    before = statuses(EAST)

    # WHEN a service is deleted and the latest web revision deregistered, and the account is swept again
    aws.ecs.delete_service(cluster="beta", service="old-efs", force=True)
    aws.ecs.deregister_task_definition(taskDefinition="web:2")
    (report,), failures = sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [EAST])

    # THEN their findings that were active are archived (a NOT_APPLICABLE one already was), among them the EFS
    # failure and web:2's three, and web:1 (now the latest, and still used) stays active
    assert failures == []
    gone = {finding_id for finding_id in removed if before[finding_id][1] == "ACTIVE"}
    assert gone >= {
        f"ecsguard/ecs-efs-fargate-platform/{arn(EAST, 'service/beta/old-efs')}",
        *(
            f"ecsguard/{policy}/{arn(EAST, 'task-definition/web:2')}"
            for policy in ("ecs-secrets-managed", "ecs-images-ecr-only", "ecs-network-awsvpc")
        ),
    }
    assert set(report.archived) == gone
    east = statuses(EAST)
    assert {finding_id: east[finding_id][1] for finding_id in gone} == dict.fromkeys(gone, "ARCHIVED")
    assert east[f"ecsguard/ecs-network-awsvpc/{arn(EAST, 'task-definition/web:1')}"] == ("PASSED", "ACTIVE")


def test_sweep_without_publish_sends_nothing(aws: Aws) -> None:
    arrange(aws.ecs, boto3.client("ecs", region_name=WEST))
    settings = Settings.from_environment({"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all"})

    (report,), failures = sweep_regions(build_sweeper(settings, publish=False), ACCOUNT, [EAST])

    assert failures == []
    assert {f"ecsguard/{r.policy_id}/{r.resource.id}" for r in report.results} == catalog_finding_ids(
        EAST_TASK_DEFINITIONS, EAST_SERVICES, EAST_CLUSTERS
    )
    assert len(report.results) == len(catalog_finding_ids(EAST_TASK_DEFINITIONS, EAST_SERVICES, EAST_CLUSTERS))
    assert aws.findings() == {}


def test_sweep_handler_event_naming_regions_sweeps_only_those(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN settings that would sweep us-east-1, and a schedule whose event names eu-west-1
    arrange(aws.ecs, boto3.client("ecs", region_name=WEST))
    settings = Settings.from_environment(
        {"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all", "ECSGUARD_SWEEP_REGIONS": EAST}
    )
    monkeypatch.setattr(sweep_handler, "SETTINGS", settings)

    # WHEN the sweep function runs on that event
    answer = sweep_handler.handler({"regions": [WEST]}, None)

    # THEN it swept eu-west-1 only
    assert [(region["region"], region["resources"]) for region in answer["regions"]] == [(WEST, 1)]


def test_sweep_keeps_findings_of_older_revisions_that_are_still_active(aws: Aws) -> None:
    # GIVEN a sweep that reported web:2 (bridge, FAILED), then a fixed web:3 registered
    arrange(aws.ecs, boto3.client("ecs", region_name=WEST))
    settings = Settings.from_environment({"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all"})
    sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [EAST])
    container = {"name": "app", "image": IMAGE, "memory": 256}
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container], networkMode="awsvpc")

    # WHEN the account is swept again (only the latest revision of each family is evaluated)
    (report,), _ = sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [EAST])

    # THEN web:2, still ACTIVE and runnable, keeps its FAILED finding: it is not a ghost
    web2 = f"ecsguard/ecs-network-awsvpc/{arn(EAST, 'task-definition/web:2')}"
    assert web2 not in report.archived
    assert statuses(EAST)[web2] == ("FAILED", "ACTIVE")
    assert statuses(EAST)[f"ecsguard/ecs-network-awsvpc/{arn(EAST, 'task-definition/web:3')}"] == ("PASSED", "ACTIVE")
