"""`ecsguard sweep` as a user runs it: a separate process, configured only by its environment, against moto's
server. Without --publish it only prints what it found; with it, findings land in Security Hub. Exit status:
1 when a FAIL or ERROR is at or above --fail-on, 0 otherwise, 2 when a Region could not be listed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, cli_environment
from fault_proxy import FaultProxy

from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

ECSGUARD = Path(sys.executable).with_name("ecsguard")
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1"
EFS = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]
TD_POLICIES = ("ecs-images-ecr-only", "ecs-network-awsvpc", "ecs-secrets-managed")
EFS_POLICY = "ecs-efs-fargate-platform"


def td(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{name}"


def svc(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{name}"


# What the planted resources give: web:2 is the latest web revision and uses bridge (FAIL, MEDIUM); web:1 is
# evaluated because prod/api (EC2) runs it; prod/reports mounts EFS on Fargate 1.3.0 (FAIL, HIGH).
EXPECTED = {
    *((policy, td("web:1"), "PASS") for policy in TD_POLICIES),
    ("ecs-images-ecr-only", td("web:2"), "PASS"),
    ("ecs-network-awsvpc", td("web:2"), "FAIL"),
    ("ecs-secrets-managed", td("web:2"), "PASS"),
    *((policy, td("efs-app:1"), "PASS") for policy in TD_POLICIES),
    (EFS_POLICY, svc("prod/api"), "NOT_APPLICABLE"),
    (EFS_POLICY, svc("prod/reports"), "FAIL"),
}
COMPLIANCE = {
    "PASS": ("PASSED", "ACTIVE"),
    "FAIL": ("FAILED", "ACTIVE"),
    "NOT_APPLICABLE": ("NOT_AVAILABLE", "ARCHIVED"),
}


@pytest.fixture
def planted(aws: Aws) -> Aws:
    container = {"name": "app", "image": IMAGE, "memory": 256}
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container], networkMode="awsvpc")
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container], networkMode="bridge")
    aws.ecs.register_task_definition(
        family="efs-app", containerDefinitions=[container], networkMode="awsvpc", volumes=EFS
    )
    aws.ecs.create_cluster(clusterName="prod")
    aws.ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", launchType="EC2")
    aws.ecs.create_service(
        cluster="prod", serviceName="reports", taskDefinition="efs-app:1", launchType="FARGATE", platformVersion="1.3.0"
    )
    return aws


@pytest.fixture
def closed_port() -> str:
    """An endpoint on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def environment(aws: Aws, tmp_path: Path, **variables: str) -> dict[str, str]:
    """The sweep loads the sample events' policies, which this module's expectations are about."""
    policies = str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES))
    return cli_environment(
        aws, tmp_path, **{"AWS_DEFAULT_REGION": REGION, "ECSGUARD_POLICY_DIR": policies, **variables}
    )


def sweep(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    assert ECSGUARD.is_file(), f"the ecsguard script is not installed next to {sys.executable}"
    return subprocess.run(
        [str(ECSGUARD), "sweep", *arguments], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def verdicts(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["policy_id"], r["resource"]["id"], r["status"]) for r in document["results"]}


def region_summary(imported: int = 0, notified: int = 0, region: str = REGION) -> dict[str, Any]:
    return {
        "account": ACCOUNT,
        "region": region,
        "resources": 5,
        "results": {"PASS": 8, "FAIL": 2, "NOT_APPLICABLE": 1},
        "archived": 0,
        "older_than_known": 0,
        "clusters_not_listed": [],
        "unused_exemptions": [],
        "findings_imported": imported,
        "notifications_sent": notified,
        "problems": [],
    }


def test_sweep_cli_json_prints_planted_results_publishes_nothing_and_exits_1_on_fail(
    planted: Aws, tmp_path: Path
) -> None:
    # WHEN
    completed = sweep(environment(planted, tmp_path), "--region", REGION, "--format", "json")

    # THEN every latest revision, every service's revision and every service is reported
    assert (completed.returncode, completed.stderr) == (1, "")
    document = json.loads(completed.stdout)
    assert verdicts(document) == EXPECTED
    summary = document["summary"]
    assert (summary["by_status"], summary["breaches"], summary["fail_on"]) == (
        {"PASS": 8, "FAIL": 2, "NOT_APPLICABLE": 1, "ERROR": 0, "EXEMPT": 0},
        2,
        "LOW",
    )
    assert (summary["regions"], summary["input_errors"]) == ([region_summary()], [])
    # AND nothing was sent anywhere
    assert planted.findings() == {}
    assert planted.messages() == []


@pytest.mark.parametrize(("fail_on", "status"), [("HIGH", 1), ("high", 1), ("CRITICAL", 0)])
def test_sweep_cli_fail_on_sets_exit_status_by_highest_failing_severity(
    planted: Aws, tmp_path: Path, fail_on: str, status: int
) -> None:
    # the failures are HIGH (EFS platform) and MEDIUM (network mode); no policy is CRITICAL
    completed = sweep(environment(planted, tmp_path), "--region", REGION, "--format", "json", "--fail-on", fail_on)

    assert (completed.returncode, completed.stderr) == (status, "")
    assert verdicts(json.loads(completed.stdout)) == EXPECTED


def test_sweep_cli_publish_imports_findings_and_notifies(planted: Aws, tmp_path: Path) -> None:
    # WHEN
    completed = sweep(environment(planted, tmp_path), "--region", REGION, "--format", "json", "--publish")

    # THEN every result is a finding in Security Hub, and each failing resource one notification
    assert (completed.returncode, completed.stderr) == (1, "")
    assert json.loads(completed.stdout)["summary"]["regions"] == [region_summary(imported=11, notified=2)]
    findings = planted.findings()
    assert {i: (f["Compliance"]["Status"], f["RecordState"]) for i, f in findings.items()} == {
        f"ecsguard/{policy}/{arn}": COMPLIANCE[status] for policy, arn, status in EXPECTED
    }
    assert sorted(json.loads(m["Body"])["resource"]["id"] for m in planted.messages()) == sorted(
        [td("web:2"), svc("prod/reports")]
    )


def test_sweep_cli_text_lists_each_resource_with_verdicts_and_a_summary_per_region(
    planted: Aws, tmp_path: Path
) -> None:
    completed = sweep(environment(planted, tmp_path), "--region", REGION)

    assert (completed.returncode, completed.stderr) == (1, "")
    lines = completed.stdout.splitlines()
    assert f"AWS::ECS::Service {svc('prod/reports')}" in lines
    assert f"AWS::ECS::TaskDefinition {td('web:2')}" in lines
    assert [line.split()[:3] for line in lines if line.startswith("  FAIL")] == [
        ["FAIL", "MEDIUM", "ecs-network-awsvpc"],
        ["FAIL", "HIGH", EFS_POLICY],
    ]
    assert "        - platformVersion: it runs on Fargate platform version 1.3.0" in completed.stdout
    assert "5 resources, 11 results: 2 failed, 0 errors, 8 passed, 1 not applicable; 2 at or above LOW" in lines
    assert lines[-1] == f"{REGION}: {json.dumps(region_summary())}"
    assert planted.findings() == {}


def test_sweep_cli_repeated_region_sweeps_each_in_order(planted: Aws, tmp_path: Path) -> None:
    completed = sweep(environment(planted, tmp_path), "--region", REGION, "--region", "eu-west-1", "--format", "json")

    assert (completed.returncode, completed.stderr) == (1, "")
    regions = json.loads(completed.stdout)["summary"]["regions"]
    assert [(r["region"], r["resources"]) for r in regions] == [(REGION, 5), ("eu-west-1", 0)]


def test_sweep_cli_cluster_that_cannot_be_listed_is_reported_and_the_rest_swept(planted: Aws, tmp_path: Path) -> None:
    # GIVEN the sweep may not list the services of cluster prod (the process talks to moto through a fault proxy)
    denial = "User: arn:aws:sts::123456789012:assumed-role/ops/me is not authorized to perform: ecs:ListServices"
    with FaultProxy(planted.endpoint) as proxy:
        proxy.fail("ecs:ListServices", status=400, code="AccessDeniedException", message=denial)

        # WHEN
        completed = sweep(
            environment(planted, tmp_path, AWS_ENDPOINT_URL=proxy.url), "--region", REGION, "--format", "json"
        )

    # THEN the latest revisions are still evaluated (web:2 fails: exit 1; web:1 was only there for prod/api),
    # and the Region's summary names the call and the cluster
    assert completed.returncode == 1, completed.stderr
    document = json.loads(completed.stdout)
    assert verdicts(document) == {v for v in EXPECTED if v[1] in (td("web:2"), td("efs-app:1"))}
    (region,) = document["summary"]["regions"]
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
    assert region["problems"] == [f"ecs:ListServices for cluster {cluster} failed: AccessDeniedException: {denial}"]
    assert planted.findings() == {}


def test_sweep_cli_region_that_cannot_be_listed_exits_2_naming_region_and_call(
    planted: Aws, tmp_path: Path, closed_port: str
) -> None:
    # GIVEN ECS's endpoint refuses connections (STS, which tells the account, still answers)
    env = environment(planted, tmp_path, AWS_ENDPOINT_URL_ECS=closed_port, ECSGUARD_AWS_MAX_ATTEMPTS="1")

    # WHEN
    completed = sweep(env, "--region", REGION, "--format", "json")

    # THEN
    assert completed.returncode == 2
    assert completed.stderr == (
        f"ecsguard: sweep failed in {REGION}: ecs:ListTaskDefinitions for ACTIVE task definitions failed: "
        f'EndpointConnectionError: Could not connect to the endpoint URL: "{closed_port}/"\n'
    )
    summary = json.loads(completed.stdout)["summary"]
    assert (summary["results"], summary["regions"]) == (0, [])
    assert summary["input_errors"] == [completed.stderr.removeprefix("ecsguard: sweep failed in ").rstrip("\n")]


def test_sweep_cli_every_endpoint_unreachable_exits_2_naming_the_call(
    planted: Aws, tmp_path: Path, closed_port: str
) -> None:
    # GIVEN no AWS endpoint answers at all, so not even the account can be told
    env = environment(planted, tmp_path, AWS_ENDPOINT_URL=closed_port, ECSGUARD_AWS_MAX_ATTEMPTS="1")

    # WHEN
    completed = sweep(env, "--region", REGION, "--format", "json")

    # THEN it fails as a usage problem, saying which call could not be made and why
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.startswith(
        "ecsguard: error: sts:GetCallerIdentity failed, so the account to sweep is unknown: "
        "Could not connect to the endpoint URL"
    )
