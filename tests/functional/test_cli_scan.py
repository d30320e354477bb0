"""`ecsguard scan` end to end over files: input shapes, verdicts, exit codes, and no leaked secrets.

The scans load the whole catalog (policies/), as a user's would: verdicts are stated for the policies the
sample events were written for, and every other policy of the catalog is checked to give its one result per
resource. A test about the exit status under --fail-on narrows the set to the policies it is about."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsguard.cli import main
from ecsguard.core.models import ResourceType
from policy_catalog import POLICY_DIR, SAMPLE_EVENT_POLICIES, narrowed_policy_dir, policy_ids

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
ACCOUNT = "123456789012"
ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}"
# Values planted in the bundled sample events; they must never be printed.
# The plaintext secrets of the sample events: in a task definition, and in two launches' overrides.
PLANTED_IN_EVENTS = ("Tr0ub4dor-and-3-horses", "AKIAZ7EXAMPLEKEYQ2XW", "Zq8!launch-override-pw", "Kp3#start-task-arg")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    status, out, err = run(capsys, "scan", "--format", "json", *argv)
    return status, json.loads(out), err


def verdicts(document: dict[str, Any], about: set[str] | None = None) -> set[tuple[str, str, str]]:
    """(policy, resource, status) of every result, or of the results of the ``about`` policies."""
    return {
        (r["policy_id"], r["resource"]["id"], r["status"])
        for r in document["results"]
        if about is None or r["policy_id"] in about
    }


@pytest.fixture(autouse=True)
def _every_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expectations here are about the whole catalog, each policy of every pack (ECSGUARD_PACKS=all); the
    tests about packs set or remove the variable themselves."""
    monkeypatch.setenv("ECSGUARD_PACKS", "all")


def results_per_policy_and_resource(document: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((r["policy_id"], r["resource"]["id"]) for r in document["results"])


def catalog_results(evaluations: dict[str, tuple[ResourceType, int]]) -> Counter[tuple[str, str]]:
    """What evaluating each resource ``count`` times gives: one result per catalog policy of its type, each time."""
    return Counter(
        {
            (policy_id, resource_id): count
            for resource_id, (resource_type, count) in evaluations.items()
            for policy_id in policy_ids(resource_type)
        }
    )


SAMPLE = set(SAMPLE_EVENT_POLICIES)
EFS_POLICY = "ecs-efs-fargate-platform"


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def task_definition(family: str, revision: int, **fields: Any) -> dict[str, Any]:
    return {
        "taskDefinitionArn": f"{ARN}:task-definition/{family}:{revision}",
        "family": family,
        "revision": revision,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "app", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{family}:1"}],
        **fields,
    }


EFS_VOLUMES = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]


def task_verdicts(task: str, efs: str, images: str, network: str, secrets: str) -> set[tuple[str, str, str]]:
    """A task's verdicts under the sample events' four policies: RunTask of payments-api:1 with a plaintext
    password in its overrides, RunTask of reports-efs:3 on Fargate 1.3.0, StartTask of legacy-proxy:12 with a
    password in its command override."""
    return {
        ("ecs-efs-fargate-platform", task, efs),
        ("ecs-images-ecr-only", task, images),
        ("ecs-network-awsvpc", task, network),
        ("ecs-secrets-managed", task, secrets),
    }


def test_scan_bundled_events_gives_expected_verdicts_and_hides_planted_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, document, err = scan_json(capsys, str(EVENTS))

    td = f"{ARN}:task-definition"
    service = f"{ARN}:service/prod"
    truncated = f"{EVENTS}/ecs-register-task-definition-truncated.json#payments-api"
    task = f"{ARN}:task"
    expected = {
        ("ecs-images-ecr-only", f"{td}/payments-api:1", "PASS"),
        ("ecs-network-awsvpc", f"{td}/payments-api:1", "PASS"),
        ("ecs-secrets-managed", f"{td}/payments-api:1", "PASS"),
        ("ecs-images-ecr-only", truncated, "PASS"),
        ("ecs-network-awsvpc", truncated, "PASS"),
        ("ecs-secrets-managed", truncated, "PASS"),
        ("ecs-images-ecr-only", f"{td}/billing-worker:4", "PASS"),
        ("ecs-network-awsvpc", f"{td}/billing-worker:4", "PASS"),
        ("ecs-secrets-managed", f"{td}/billing-worker:4", "FAIL"),
        ("ecs-images-ecr-only", f"{td}/legacy-proxy:12", "FAIL"),
        ("ecs-network-awsvpc", f"{td}/legacy-proxy:12", "FAIL"),
        ("ecs-secrets-managed", f"{td}/legacy-proxy:12", "PASS"),
        ("ecs-images-ecr-only", f"{td}/reports-efs:3", "PASS"),
        ("ecs-network-awsvpc", f"{td}/reports-efs:3", "PASS"),
        ("ecs-secrets-managed", f"{td}/reports-efs:3", "PASS"),
        ("ecs-efs-fargate-platform", f"{service}/payments-api", "NOT_APPLICABLE"),
        ("ecs-efs-fargate-platform", f"{service}/reports", "FAIL"),  # created on 1.3.0
        ("ecs-efs-fargate-platform", f"{service}/reports", "PASS"),  # updated to 1.4.0
        ("ecs-efs-fargate-platform", f"{service}/reports-spot", "FAIL"),
        # Standalone tasks, judged on the task definition they run (in the same folder) with their overrides
        # applied, and on their own launch settings.
        *task_verdicts(f"{ARN}:task/prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9", "NOT_APPLICABLE", "PASS", "PASS", "FAIL"),
        *task_verdicts(f"{ARN}:task/prod/1b2c3d4e5f60718293a4b5c6d7e8f90a", "FAIL", "PASS", "PASS", "PASS"),
        *task_verdicts(f"{ARN}:task/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b", "NOT_APPLICABLE", "FAIL", "FAIL", "FAIL"),
        # The task set runs payments-api:1, which mounts no EFS.
        ("ecs-efs-fargate-platform", f"{ARN}:task-set/prod/checkout/ecs-svc/1234567890123456789", "NOT_APPLICABLE"),
        # The CloudFormation hook's requests (events/hook/): a task definition with a plaintext password, and a
        # service on Fargate 1.3.0 running reports-efs:3, found among the other inputs.
        ("ecs-images-ecr-only", "billing#BillingWorkerTaskDefinition", "PASS"),
        ("ecs-network-awsvpc", "billing#BillingWorkerTaskDefinition", "PASS"),
        ("ecs-secrets-managed", "billing#BillingWorkerTaskDefinition", "FAIL"),
        ("ecs-efs-fargate-platform", "reports#ReportsService", "FAIL"),
    }
    assert verdicts(document, SAMPLE) == expected
    # every policy of the catalog ran on every resource of its type: prod/reports twice (created, then updated),
    # the analytics cluster three times (created, its settings updated, its configuration updated; then deleted)
    evaluations = {resource_id: 1 for _, resource_id, _ in expected} | {f"{service}/reports": 2}
    evaluations[f"{ARN}:cluster/analytics"] = 3
    # and the checkout service's green task set three times (created, scaled, made primary; then deleted)
    evaluations[f"{ARN}:task-set/prod/checkout/ecs-svc/1234567890123456789"] = 3
    kinds = {
        ":service/": ResourceType.SERVICE,
        ":cluster/": ResourceType.CLUSTER,
        ":task-set/": ResourceType.TASK_SET,
        ":task/": ResourceType.TASK,
    }
    assert results_per_policy_and_resource(document) == catalog_results(
        {
            resource_id: (
                next(
                    (kind for marker, kind in kinds.items() if marker in resource_id),
                    ResourceType.SERVICE if resource_id.endswith("Service") else ResourceType.TASK_DEFINITION,
                ),
                count,
            )
            for resource_id, count in evaluations.items()
        }
    )
    assert status == 1
    failing_evidence = {
        (r["policy_id"], r["resource"]["id"], e["path"])
        for r in document["results"]
        if r["status"] == "FAIL" and r["policy_id"] in SAMPLE
        for e in r["evidence"]
    }
    assert failing_evidence == {
        ("ecs-secrets-managed", f"{td}/billing-worker:4", "containerDefinitions[0].environment[1]"),
        ("ecs-secrets-managed", f"{td}/billing-worker:4", "containerDefinitions[0].environment[2].value"),
        ("ecs-images-ecr-only", f"{td}/legacy-proxy:12", "containerDefinitions[0].image"),
        ("ecs-images-ecr-only", f"{td}/legacy-proxy:12", "containerDefinitions[1].image"),
        ("ecs-network-awsvpc", f"{td}/legacy-proxy:12", "networkMode"),
        ("ecs-efs-fargate-platform", f"{service}/reports", "platformVersion"),
        ("ecs-efs-fargate-platform", f"{service}/reports-spot", "platformVersion"),
        ("ecs-secrets-managed", "billing#BillingWorkerTaskDefinition", "containerDefinitions[0].environment[1]"),
        ("ecs-efs-fargate-platform", "reports#ReportsService", "platformVersion"),
        # A task's evidence names the override where the launch put the value, or the task definition it runs.
        (
            "ecs-secrets-managed",
            f"{task}/prod/0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "overrides.containerOverrides[0].environment[1]",
        ),
        ("ecs-efs-fargate-platform", f"{task}/prod/1b2c3d4e5f60718293a4b5c6d7e8f90a", "platformVersion"),
        (
            "ecs-secrets-managed",
            f"{task}/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b",
            "overrides.containerOverrides[0].command[2]",
        ),
        (
            "ecs-images-ecr-only",
            f"{task}/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b",
            "$taskDefinition.containerDefinitions[0].image",
        ),
        (
            "ecs-images-ecr-only",
            f"{task}/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b",
            "$taskDefinition.containerDefinitions[1].image",
        ),
        ("ecs-network-awsvpc", f"{task}/batch/2c3d4e5f60718293a4b5c6d7e8f90a1b", "$taskDefinition.networkMode"),
    }
    assert {item["source"].rsplit("/", 1)[-1] for item in document["summary"]["skipped"]} == {
        "ecs-create-service-failed.json",
        "ecs-delete-cluster.json",
        "ecs-delete-service.json",
        "ecs-delete-task-set.json",
        "ecs-deregister-task-definition.json",
        "ecs-tag-resource.json",
        "ecs-untag-resource.json",
        "ecs-task-state-change-stopped.json",
    }
    for planted in PLANTED_IN_EVENTS:
        assert planted not in json.dumps(document)
        assert planted not in err


def test_scan_text_format_names_failures_and_hides_planted_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "scan", str(EVENTS))

    assert status == 1
    assert "FAIL  HIGH          ecs-secrets-managed" in out
    assert "environment variable DB_PASSWORD has a secret-like name" in out
    assert "(aws_access_key_id)" in out
    for planted in PLANTED_IN_EVENTS:
        assert planted not in out + err


def test_scan_describe_outputs_resolve_task_definition_and_cluster_default_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN DescribeServices output for two services that set neither launchType nor a strategy,
    # their task definitions as DescribeTaskDefinition output, and the cluster as DescribeClusters output.
    write(tmp_path / "td-efs.json", {"taskDefinition": task_definition("efs-app", 7, volumes=EFS_VOLUMES)})
    write(tmp_path / "td-plain.json", {"taskDefinition": task_definition("plain-app", 2)})
    write(
        tmp_path / "clusters.json",
        {
            "clusters": [
                {
                    "clusterArn": f"{ARN}:cluster/fargate-default",
                    "clusterName": "fargate-default",
                    "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
                }
            ]
        },
    )
    base = {"clusterArn": f"{ARN}:cluster/fargate-default", "status": "ACTIVE", "platformVersion": "1.3.0"}
    write(
        tmp_path / "services.json",
        {
            "services": [
                {
                    **base,
                    "serviceArn": f"{ARN}:service/fargate-default/efs",
                    "serviceName": "efs",
                    "taskDefinition": f"{ARN}:task-definition/efs-app:7",
                },
                {
                    **base,
                    "serviceArn": f"{ARN}:service/fargate-default/plain",
                    "serviceName": "plain",
                    "taskDefinition": "plain-app",
                },
            ],
            "failures": [],
        },
    )

    status, document, _ = scan_json(capsys, str(tmp_path))

    assert verdicts(document, {EFS_POLICY}) == {
        ("ecs-efs-fargate-platform", f"{ARN}:service/fargate-default/efs", "FAIL"),
        ("ecs-efs-fargate-platform", f"{ARN}:service/fargate-default/plain", "NOT_APPLICABLE"),
    }
    assert status == 1


# Two accounts, each with a cluster named prod: one defaults to Fargate, the other to its EC2 capacity provider.
FARGATE_ACCOUNT, EC2_ACCOUNT = "111111111111", "222222222222"
DEFAULT_STRATEGIES = {
    FARGATE_ACCOUNT: [{"capacityProvider": "FARGATE", "weight": 1}],
    EC2_ACCOUNT: [{"capacityProvider": "prod-asg", "weight": 1}],
}


def account_arn(account: str, resource: str) -> str:
    return f"arn:aws:ecs:us-east-1:{account}:{resource}"


def write_two_accounts_prod_clusters(folder: Path) -> None:
    """Each account's DescribeClusters output and its EFS task definition (the same family and revision in both)."""
    for account, strategy in DEFAULT_STRATEGIES.items():
        cluster = {
            "clusterArn": account_arn(account, "cluster/prod"),
            "clusterName": "prod",
            "defaultCapacityProviderStrategy": strategy,
        }
        write(folder / f"{account}-clusters.json", {"clusters": [cluster]})
        efs = {**task_definition("efs-app", 7, volumes=EFS_VOLUMES)}
        efs["taskDefinitionArn"] = account_arn(account, "task-definition/efs-app:7")
        write(folder / f"{account}-td.json", {"taskDefinition": efs})


@pytest.mark.parametrize("reverse", [False, True], ids=["fargate-first", "ec2-first"])
def test_scan_two_accounts_prod_clusters_each_service_takes_its_own_cluster_default_strategy(
    reverse: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two accounts' clusters named prod with different default strategies, and in each a service on platform
    # 1.3.0 that mounts EFS and sets neither launchType nor a strategy (DescribeServices output: it names clusterArn)
    write_two_accounts_prod_clusters(tmp_path)
    accounts = sorted(DEFAULT_STRATEGIES, reverse=reverse)
    for index, account in enumerate(accounts):
        service = {
            "serviceArn": account_arn(account, "service/prod/reports"),
            "serviceName": "reports",
            "clusterArn": account_arn(account, "cluster/prod"),
            "status": "ACTIVE",
            "platformVersion": "1.3.0",
            "taskDefinition": account_arn(account, "task-definition/efs-app:7"),
        }
        write(tmp_path / f"{index}-services.json", {"services": [service], "failures": []})

    # WHEN the folder is scanned
    status, document, _ = scan_json(capsys, str(tmp_path))

    # THEN the Fargate account's service fails, and the other account's (on EC2 by default) is not applicable
    assert verdicts(document, {EFS_POLICY}) == {
        (EFS_POLICY, account_arn(FARGATE_ACCOUNT, "service/prod/reports"), "FAIL"),
        (EFS_POLICY, account_arn(EC2_ACCOUNT, "service/prod/reports"), "NOT_APPLICABLE"),
    }
    assert status == 1


def create_service_event(account: str, number: int) -> dict[str, Any]:
    """The CreateService sample without its response, from ``account``: its request names the cluster prod by name
    and the task definition efs-app:7, and sets neither a launch type nor a strategy."""
    event = json.loads((EVENTS / "ecs-create-service.json").read_text(encoding="utf-8"))
    event["id"] = f"00000000-0000-0000-0000-{number:012d}"
    event["account"] = account
    detail = event["detail"]
    detail["recipientAccountId"] = account
    detail["responseElements"] = None
    request = detail["requestParameters"]
    for key in ("launchType", "capacityProviderStrategy"):
        request.pop(key, None)
    request.update({"cluster": "prod", "serviceName": "reports", "taskDefinition": "efs-app:7"})
    request["platformVersion"] = "1.3.0"
    return event


def test_scan_create_service_requests_naming_cluster_by_name_take_their_own_account_s_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a CreateService event without its response from each account, both naming the cluster "prod"
    write_two_accounts_prod_clusters(tmp_path)
    for number, account in enumerate(DEFAULT_STRATEGIES, start=1):
        write(tmp_path / f"{account}-create-service.json", create_service_event(account, number))

    # WHEN the folder is scanned
    _, document, _ = scan_json(capsys, str(tmp_path))

    # THEN each name is the cluster of that name in the event's own account
    assert verdicts(document, {EFS_POLICY}) == {
        (EFS_POLICY, f"{tmp_path}/{FARGATE_ACCOUNT}-create-service.json#reports", "FAIL"),
        (EFS_POLICY, f"{tmp_path}/{EC2_ACCOUNT}-create-service.json#reports", "NOT_APPLICABLE"),
    }


def test_scan_service_naming_cluster_without_account_among_two_of_that_name_is_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a bare CreateService request (no account anywhere) naming prod, which two accounts' inputs have
    write_two_accounts_prod_clusters(tmp_path)
    request = create_service_event(FARGATE_ACCOUNT, 1)["detail"]["requestParameters"]
    request["taskDefinition"] = account_arn(FARGATE_ACCOUNT, "task-definition/efs-app:7")
    write(tmp_path / "request.json", request)

    _, document, _ = scan_json(capsys, str(tmp_path))

    # THEN neither account's default strategy is guessed: the policy reports ERROR, saying why
    (result,) = [r for r in document["results"] if r["policy_id"] == EFS_POLICY]
    assert (result["resource"]["id"], result["status"]) == (f"{tmp_path}/request.json#reports", "ERROR")
    assert "2 scanned clusters are named 'prod' (in different accounts or Regions)" in result["reason"]


def efs_result_of_ec2_account_service(
    capsys: pytest.CaptureFixture[str], folder: Path, without: str, **changes: str
) -> dict[str, Any]:
    """The EFS policy's result for the EC2 account's prod/reports service (Fargate 1.3.0, efs-app:7, with
    ``changes``), scanned with both accounts' clusters and task definitions but the file ``without``."""
    write_two_accounts_prod_clusters(folder)
    (folder / without).unlink()
    service = {
        "serviceArn": account_arn(EC2_ACCOUNT, "service/prod/reports"),
        "serviceName": "reports",
        "clusterArn": account_arn(EC2_ACCOUNT, "cluster/prod"),
        "platformVersion": "1.3.0",
        "taskDefinition": account_arn(EC2_ACCOUNT, "task-definition/efs-app:7"),
        **changes,
    }
    write(folder / "services.json", {"services": [service]})
    _, document, _ = scan_json(capsys, str(folder))
    (result,) = [r for r in document["results"] if r["policy_id"] == EFS_POLICY]
    return result


def test_scan_service_cluster_arn_not_among_inputs_is_error_even_with_another_account_s_of_that_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN only the Fargate account's prod cluster, and a service of the other account in its own prod
    result = efs_result_of_ec2_account_service(capsys, tmp_path, without=f"{EC2_ACCOUNT}-clusters.json")

    assert result["status"] == "ERROR"
    assert f"cluster '{account_arn(EC2_ACCOUNT, 'cluster/prod')}' is not among the scanned inputs" in result["reason"]


def test_scan_service_task_definition_arn_of_another_account_is_not_taken_for_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the EC2 account's service runs its own efs-app:7 on Fargate 1.3.0, and only the other account's
    # efs-app:7 (the same family and revision) is among the inputs
    result = efs_result_of_ec2_account_service(capsys, tmp_path, without=f"{EC2_ACCOUNT}-td.json", launchType="FARGATE")

    # THEN the policy cannot judge it (ERROR naming the missing revision), rather than judge the other account's
    assert result["status"] == "ERROR"
    missing = account_arn(EC2_ACCOUNT, "task-definition/efs-app:7")
    assert f"task definition '{missing}' is not among the scanned inputs" in result["reason"]


def test_scan_bare_request_naming_a_revision_two_accounts_have_is_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a bare CreateService request (no account anywhere) naming efs-app:7, which both accounts' inputs have
    write_two_accounts_prod_clusters(tmp_path)
    request = create_service_event(FARGATE_ACCOUNT, 1)["detail"]["requestParameters"]
    request["launchType"] = "FARGATE"
    write(tmp_path / "request.json", request)

    _, document, _ = scan_json(capsys, str(tmp_path))

    (result,) = [r for r in document["results"] if r["policy_id"] == EFS_POLICY]
    assert result["status"] == "ERROR"
    assert "task definition 'efs-app:7' is ambiguous: 2 scanned inputs" in result["reason"]


def test_scan_service_without_its_task_definition_is_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "create-service.json",
        {"cluster": "prod", "serviceName": "orphan", "taskDefinition": "missing-family:4", "launchType": "FARGATE"},
    )

    status, document, _ = scan_json(capsys, str(tmp_path))

    assert {r["policy_id"] for r in document["results"]} == policy_ids(ResourceType.SERVICE)
    (result,) = [r for r in document["results"] if r["policy_id"] == EFS_POLICY]
    assert result["status"] == "ERROR"
    assert "missing-family:4" in result["reason"]
    assert "not among the scanned inputs" in result["reason"]
    assert status == 1


def test_scan_update_service_event_without_response_is_error_not_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads((EVENTS / "ecs-update-service.json").read_text())
    event["detail"]["responseElements"] = None
    write(tmp_path / "update.json", event)

    status, document, _ = scan_json(capsys, str(tmp_path))

    # the service itself is unknown, so every service policy of the catalog reports ERROR, and says why
    assert sorted((r["policy_id"], r["status"]) for r in document["results"]) == [
        (policy_id, "ERROR") for policy_id in sorted(policy_ids(ResourceType.SERVICE))
    ]
    assert {"DescribeServices" in r["reason"] for r in document["results"]} == {True}
    assert status == 1


def test_scan_yaml_and_list_inputs_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "task.yaml").write_text(
        "family: from-yaml\nnetworkMode: host\ncontainerDefinitions:\n  - name: app\n    image: nginx\n"
    )
    write(tmp_path / "many.json", [task_definition("listed-a", 1), task_definition("listed-b", 1)])

    _, document, _ = scan_json(capsys, str(tmp_path))

    yaml_id = f"{tmp_path}/task.yaml#from-yaml"
    assert {(r["resource"]["id"], r["policy_id"], r["status"]) for r in document["results"]} >= {
        (yaml_id, "ecs-network-awsvpc", "FAIL"),
        (yaml_id, "ecs-images-ecr-only", "FAIL"),
        (f"{ARN}:task-definition/listed-a:1", "ecs-network-awsvpc", "PASS"),
        (f"{ARN}:task-definition/listed-b:1", "ecs-network-awsvpc", "PASS"),
    }
    assert len(document["results"]) == 3 * len(policy_ids(ResourceType.TASK_DEFINITION))


def test_scan_unreadable_file_exits_2_naming_it_and_still_scans_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.json").write_text('{"family": "x", "containerDefinitions": [')
    write(tmp_path / "unknown.json", {"hello": "world"})
    write(tmp_path / "good.json", task_definition("good", 1))

    status, document, err = scan_json(capsys, str(tmp_path))

    assert status == 2
    assert f"{tmp_path}/broken.json: not valid JSON or YAML" in err
    assert f"{tmp_path}/unknown.json: not a task definition, service, task set, task, cluster or ECS event" in err
    assert {r["resource"]["id"] for r in document["results"]} == {f"{ARN}:task-definition/good:1"}
    assert len(document["summary"]["input_errors"]) == 2


def test_scan_broken_file_error_does_not_echo_its_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "sk_live_0123456789abcdefGHIJ"
    (tmp_path / "broken.json").write_text('{"environment": [{"name": "K", "value": "' + secret + '"}')
    (tmp_path / "broken.yaml").write_text(f"environment:\n  - name: K\n    value: {secret}\n  bad: [\n")

    status, out, err = run(capsys, "scan", "--format", "json", str(tmp_path))

    assert status == 2
    assert secret not in out + err


def test_scan_missing_path_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "scan", str(tmp_path / "nope.json"))

    assert status == 2
    assert "nope.json: no such file or folder" in err


@pytest.mark.parametrize(("fail_on", "expected_status"), [("HIGH", 0), ("medium", 1), ("LOW", 1)])
def test_scan_fail_on_threshold_sets_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fail_on: str, expected_status: int
) -> None:
    # GIVEN one MEDIUM failure among the sample events' policies (another policy could fail it at any severity)
    write(tmp_path / "td.json", task_definition("bridge-only", 1, networkMode="bridge"))
    policies = str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES))

    status, document, _ = scan_json(capsys, "--policies", policies, "--fail-on", fail_on, str(tmp_path))

    assert status == expected_status
    assert document["summary"]["by_status"]["FAIL"] == 1


def test_scan_unreadable_resource_is_error_results_and_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A task definition that is not one (a field of the wrong type): every policy says ERROR, and the scan exits 2
    # naming the file and the field, as for any input that cannot be read.
    write(tmp_path / "td.json", task_definition("typed-wrong", 1, networkMode=5))

    status, document, err = scan_json(capsys, str(tmp_path))

    assert {r["status"] for r in document["results"]} == {"ERROR"}
    assert status == 2
    problem = f"{tmp_path / 'td.json'}: not a readable task definition: networkMode: Input should be a valid string"
    assert document["summary"]["input_errors"] == [problem]
    assert problem in err


def test_scan_error_result_counts_as_breach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A readable service whose task definition is not among the inputs: the EFS policy cannot be evaluated.
    write(tmp_path / "svc.json", {"serviceName": "web", "launchType": "FARGATE", "taskDefinition": "web:1"})

    status, document, _ = scan_json(capsys, str(tmp_path), "--fail-on", "HIGH")

    assert ("ecs-efs-fargate-platform", "ERROR") in {(r["policy_id"], r["status"]) for r in document["results"]}
    assert document["summary"]["input_errors"] == []
    assert status == 1


def test_scan_set_and_environment_overrides_change_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    public = task_definition("public", 1)
    public["containerDefinitions"][0]["image"] = "public.ecr.aws/nginx/nginx:1.27"
    write(tmp_path / "td.json", public)

    def image_status() -> str:
        _, document, _ = scan_json(capsys, *extra, str(tmp_path))
        return next(r["status"] for r in document["results"] if r["policy_id"] == "ecs-images-ecr-only")

    extra: tuple[str, ...] = ()
    assert image_status() == "FAIL"
    extra = ("--set", "ecs-images-ecr-only.allow_ecr_public=true")
    assert image_status() == "PASS"
    extra = ()
    monkeypatch.setenv("ECSGUARD_PARAMETERS", json.dumps({"ecs-images-ecr-only": {"allow_ecr_public": True}}))
    assert image_status() == "PASS"


def test_scan_parameter_file_with_wrong_type_exits_2_naming_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parameters = tmp_path / "params.yaml"
    parameters.write_text("parameters:\n  ecs-images-ecr-only:\n    allow_ecr_public: 'yes please'\n")
    write(tmp_path / "td.json", task_definition("x", 1))

    status, out, err = run(capsys, "scan", "--parameters", str(parameters), str(tmp_path / "td.json"))

    assert status == 2
    assert out == ""
    assert "ecs-images-ecr-only.yaml" in err
    assert "parameters.allow_ecr_public: override must be true or false" in err


def test_scan_malformed_set_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "scan", "--set", "no-dot=1", str(EVENTS))

    assert status == 2
    assert "--set expects POLICY_ID.PARAMETER=VALUE" in err


def test_policies_list_shows_every_builtin_policy_file(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN what each file in policies/ declares, read as plain YAML
    declared = set()
    for path in POLICY_DIR.glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        declared.add((document["id"], document["severity"], document["resource"]))

    status, out, _ = run(capsys, "policies", "list", "--format", "json")

    assert status == 0
    assert declared != set()
    assert {(p["id"], p["severity"], p["resource"]) for p in json.loads(out)} == declared


def test_policies_list_shows_each_policy_s_packs_and_pack_selects_them(capsys: pytest.CaptureFixture[str]) -> None:
    declared = {}
    for path in POLICY_DIR.glob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        declared[document["id"]] = document["packs"]

    _, out, _ = run(capsys, "policies", "list", "--format", "json")
    _, hardening, _ = run(capsys, "policies", "list", "--format", "json", "--pack", "hardening")
    _, text, _ = run(capsys, "policies", "list")

    assert {p["id"]: p["packs"] for p in json.loads(out)} == declared
    assert {p["id"] for p in json.loads(hardening)} == {key for key, packs in declared.items() if "hardening" in packs}
    for line in text.splitlines():
        policy_id = line.split()[0]
        assert ",".join(declared[policy_id]) in line


def test_scan_default_packs_are_mission_and_fsbp_and_pack_all_loads_every_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN one task definition, which every task definition policy of every pack judges, and no ECSGUARD_PACKS
    monkeypatch.delenv("ECSGUARD_PACKS")
    write(tmp_path / "td.json", task_definition("web", 1))
    packs_of = {
        document["id"]: set(document["packs"])
        for document in (yaml.safe_load(path.read_text(encoding="utf-8")) for path in POLICY_DIR.glob("*.yaml"))
        if document["resource"] == "AWS::ECS::TaskDefinition"
    }

    _, default, _ = scan_json(capsys, str(tmp_path))
    _, everything, _ = scan_json(capsys, "--pack", "all", str(tmp_path))
    _, hardening, _ = scan_json(capsys, "--pack", "hardening", str(tmp_path))

    assert {r["policy_id"] for r in default["results"]} == {i for i, p in packs_of.items() if p & {"mission", "fsbp"}}
    assert {r["policy_id"] for r in everything["results"]} == set(packs_of)
    assert {r["policy_id"] for r in hardening["results"]} == {i for i, p in packs_of.items() if "hardening" in p}


def test_scan_unknown_pack_is_a_usage_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "td.json", task_definition("web", 1))

    status, _, err = run(capsys, "scan", "--pack", "fsbpp", str(tmp_path))

    assert status == 2
    assert "no policy belongs to pack 'fsbpp'" in err


def test_scan_judges_clusters_given_as_files_and_a_cluster_without_settings_is_not_applicable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN DescribeClusters output (with its settings) for two clusters, and one described without settings
    arn = "arn:aws:ecs:us-east-1:123456789012:cluster/"
    described = {
        "clusters": [
            {
                "clusterArn": f"{arn}on",
                "clusterName": "on",
                "settings": [{"name": "containerInsights", "value": "enabled"}],
            },
            {
                "clusterArn": f"{arn}off",
                "clusterName": "off",
                "settings": [{"name": "containerInsights", "value": "disabled"}],
            },
        ]
    }
    write(tmp_path / "clusters.json", described)
    write(tmp_path / "bare.json", {"clusters": [{"clusterArn": f"{arn}bare", "clusterName": "bare"}]})

    _, document, _ = scan_json(capsys, str(tmp_path))

    # THEN the Container Insights policy judges each; the one without settings is not applicable, with the reason
    insights = {
        r["resource"]["id"]: r for r in document["results"] if r["policy_id"] == "ecs-cluster-container-insights"
    }
    assert {arn_: r["status"] for arn_, r in insights.items()} == {
        f"{arn}on": "PASS",
        f"{arn}off": "FAIL",
        f"{arn}bare": "NOT_APPLICABLE",
    }
    assert {r["resource"]["type"] for r in insights.values()} == {"AWS::ECS::Cluster"}
    assert "described without its settings" in insights[f"{arn}bare"]["reason"]


def test_policies_validate_broken_folder_exits_2_naming_file_line_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (REPO / "policies" / "ecs-network-awsvpc.yaml").read_text()
    assert "  field: networkMode\n" in source
    (tmp_path / "ecs-network-awsvpc.yaml").write_text(source.replace("  field: networkMode\n", "  field: netwrkMode\n"))
    line = source.splitlines().index("  field: networkMode") + 1

    status, _, err = run(capsys, "policies", "validate", str(tmp_path))

    assert status == 2
    assert f"ecs-network-awsvpc.yaml:{line}: check.field: unknown field 'netwrkMode'" in err
    assert "did you mean 'networkMode'" in err


def test_policies_validate_builtin_set_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "policies", "validate")

    assert status == 0
    assert f"{len(policy_ids())} policies valid" in out


def test_console_script_runs_in_a_fresh_process() -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "ecsguard"),
            "scan",
            "--format",
            "json",
            "--fail-on",
            "CRITICAL",
            str(EVENTS),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    # five task definitions, three services, one cluster, one task set and three standalone tasks, and the hook
    # requests' task definition and service
    assert json.loads(completed.stdout)["summary"]["resources"] == 15


def test_scan_describe_tasks_output_judges_each_task_on_its_overrides_and_task_definition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN DescribeTasks output (one task whose override holds a plaintext password, one without overrides) and
    # the task definition both run, in another file
    planted = "Describe-Tasks-pw-6n2"
    clean = task_definition("worker", 2)
    write(tmp_path / "worker.json", {"taskDefinition": clean})
    base = {"clusterArn": f"{ARN}:cluster/prod", "taskDefinitionArn": clean["taskDefinitionArn"], "launchType": "EC2"}
    overridden = {
        **base,
        "taskArn": f"{ARN}:task/prod/{'a' * 32}",
        "overrides": {
            "containerOverrides": [{"name": "app", "environment": [{"name": "DB_PASSWORD", "value": planted}]}]
        },
    }
    plain = {**base, "taskArn": f"{ARN}:task/prod/{'b' * 32}", "overrides": {"containerOverrides": []}}
    write(tmp_path / "tasks.json", {"tasks": [overridden, plain], "failures": []})

    # WHEN the folder is scanned
    status, document, err = scan_json(capsys, "--pack", "all", str(tmp_path))

    # THEN each task is a resource of its own; the overridden one fails at the override, the value never shown
    secrets = {
        r["resource"]["id"]: (r["status"], [e["path"] for e in r["evidence"]])
        for r in document["results"]
        if r["policy_id"] == "ecs-secrets-managed"
    }
    assert secrets == {
        clean["taskDefinitionArn"]: ("PASS", []),
        overridden["taskArn"]: ("FAIL", ["overrides.containerOverrides[0].environment[0]"]),
        plain["taskArn"]: ("PASS", []),
    }
    assert {r["resource"]["type"] for r in document["results"] if r["resource"]["id"] == plain["taskArn"]} == {
        "AWS::ECS::Task"
    }
    assert status == 1
    assert planted not in json.dumps(document) + err
