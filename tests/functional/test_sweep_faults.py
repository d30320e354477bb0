"""The sweep when AWS misbehaves: a cluster whose services may not be listed, a revision that is throttled on
every attempt, a Region that cannot be listed at all, and Security Hub's GetFindings failing.

Every fault is real HTTP from fault_proxy in front of moto's server; botocore is not mocked. What must hold:
a failure on one resource is an ERROR result (never a pass) and a line in the report, the rest of the sweep
goes on, findings of resources that may still exist are never archived, and a Region that cannot be listed
is a failure that names the call while the other Regions are still swept.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from emulated_aws import ACCOUNT, Aws
from fault_proxy import BATCH_IMPORT_FINDINGS, FaultProxy, error_response, identify

from ecsguard.adapters import aws as aws_adapter
from ecsguard.errors import EventFailed
from ecsguard.handlers import sweep as sweep_handler
from ecsguard.settings import Settings
from ecsguard.sweep import RegionReport, Sweeper, sweep_regions
from ecsguard.wiring import build_sweeper
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

EAST, WEST = "us-east-1", "eu-west-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{EAST}.amazonaws.com/app:1"
EFS = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]
TD_POLICIES = ("ecs-images-ecr-only", "ecs-network-awsvpc", "ecs-secrets-managed")
EFS_POLICY = "ecs-efs-fargate-platform"
# The sweeps load the sample events' policies, which this module's expectations (results, findings) are about.
POLICY_DIR_SETTING = {"ECSGUARD_POLICY_DIR": str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES))}
_REGION_OF_SIGNATURE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/[^/]+/aws4_request")


def denial(action: str) -> str:
    return (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ecsguard-sweep/ecsguard is not authorized to perform: "
        f"{action} on resource: * because no identity-based policy allows the {action} action"
    )


def arn(resource: str, region: str = EAST) -> str:
    return f"arn:aws:ecs:{region}:{ACCOUNT}:{resource}"


def td(name: str, region: str = EAST) -> str:
    return arn(f"task-definition/{name}", region)


def svc(name: str) -> str:
    return arn(f"service/{name}")


def fid(policy_id: str, resource_arn: str) -> str:
    return f"ecsguard/{policy_id}/{resource_arn}"


# --- a proxy that can fault one cluster, one revision or one Region --------------------------------


@dataclass(frozen=True)
class Faulted:
    operation: str
    region: str
    body: dict[str, Any]


class TargetedFaultProxy(FaultProxy):
    """FaultProxy whose rules can also be limited to one Region and to JSON bodies with given values.

    The base proxy matches the operation alone; a sweep makes the same call for every cluster and revision,
    and a fault on one of them needs the request's Region (SigV4 credential scope) and body. Requests answered
    by these rules are recorded in ``faulted``; everything else goes through the base proxy (and its ``calls``).
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._targeted: list[tuple[str, str | None, dict[str, Any], int, str, str]] = []
        self._faulted: list[Faulted] = []
        self._targeted_lock = threading.Lock()

    def fail_where(
        self,
        operation: str,
        *,
        region: str | None = None,
        body: dict[str, Any] | None = None,
        status: int,
        code: str,
        message: str,
    ) -> None:
        """Answer each request for ``operation`` in ``region`` whose JSON body has ``body``'s values with this error."""
        with self._targeted_lock:
            self._targeted.append((operation, region, body or {}, status, code, message))

    def faulted(self) -> list[Faulted]:
        with self._targeted_lock:
            return list(self._faulted)

    def stop_failing(self) -> None:
        """Forget the targeted rules: the denial ends."""
        with self._targeted_lock:
            self._targeted.clear()

    def _answer(self, method: str, path: str, headers: Any, body: bytes) -> Any:
        operation = identify(method, path, headers, body)
        scope = _REGION_OF_SIGNATURE.search(headers.get("Authorization", ""))
        region = scope.group(1) if scope else ""
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        with self._targeted_lock:
            for wanted, wanted_region, values, status, code, message in self._targeted:
                matches = all(isinstance(document, dict) and document.get(k) == v for k, v in values.items())
                if wanted == operation and wanted_region in (None, region) and matches:
                    self._faulted.append(Faulted(operation, region, document))
                    return error_response(operation, status, code, message)
        return super()._answer(method, path, headers, body)


@pytest.fixture
def proxy(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetedFaultProxy]:
    """The sweep's AWS clients go through the proxy; the test's own clients (aws.*, direct()) do not."""

    def forget_clients() -> None:
        aws_adapter.client.cache_clear()
        aws_adapter._session.cache_clear()

    with TargetedFaultProxy(aws.endpoint) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
        forget_clients()
        yield fault_proxy
    forget_clients()  # the cached clients point at the proxy that just stopped


def deny_listing_services(proxy: TargetedFaultProxy, cluster: str) -> None:
    """The sweep's role may no longer list ``cluster``'s services (the other clusters' it still may)."""
    proxy.fail_where(
        "ecs:ListServices",
        body={"cluster": cluster},
        status=400,
        code="AccessDeniedException",
        message=denial("ecs:ListServices"),
    )


def direct(aws: Aws, service: str, region: str) -> Any:
    """A client of the emulated account that bypasses the proxy."""
    return boto3.client(service, region_name=region, endpoint_url=aws.endpoint)


def sweeper(attempts: int = 1, publish: bool = True) -> Sweeper:
    environment = {"ECSGUARD_AWS_MAX_ATTEMPTS": str(attempts), **POLICY_DIR_SETTING}
    return build_sweeper(Settings.from_environment(environment), publish=publish)


def arrange(ecs: Any) -> None:
    """us-east-1: web:1 and efs-app:1 (EFS), both passing every task definition policy;
    cluster alpha: front (Fargate 1.3.0, efs-app:1: FAIL), legacy (EC2, web:1) and batch (EC2, efs-app:1);
    cluster beta: old-efs (Fargate 1.3.0: FAIL) and new-efs (Fargate LATEST: PASS), both on efs-app:1."""
    container = {"name": "app", "image": IMAGE, "memory": 256}
    ecs.register_task_definition(family="web", containerDefinitions=[container], networkMode="awsvpc")
    ecs.register_task_definition(family="efs-app", containerDefinitions=[container], networkMode="awsvpc", volumes=EFS)
    for cluster in ("alpha", "beta"):
        ecs.create_cluster(clusterName=cluster)
    fargate = {"taskDefinition": "efs-app:1", "launchType": "FARGATE"}
    ecs.create_service(cluster="alpha", serviceName="front", platformVersion="1.3.0", **fargate)
    ecs.create_service(cluster="alpha", serviceName="legacy", taskDefinition="web:1", launchType="EC2")
    ecs.create_service(cluster="alpha", serviceName="batch", taskDefinition="efs-app:1", launchType="EC2")
    ecs.create_service(cluster="beta", serviceName="old-efs", platformVersion="1.3.0", **fargate)
    ecs.create_service(cluster="beta", serviceName="new-efs", platformVersion="LATEST", **fargate)


def states(aws: Aws, region: str = EAST) -> dict[str, tuple[str, str]]:
    """Every finding in the Region as (Compliance.Status, RecordState), by Id."""
    if region == EAST:
        findings = aws.findings().values()
    else:
        findings = direct(aws, "securityhub", region).get_findings(MaxResults=100)["Findings"]
    return {f["Id"]: (f["Compliance"]["Status"], f["RecordState"]) for f in findings}


def service_verdicts(report: RegionReport) -> dict[str, str]:
    return {r.resource.id: r.status.value for r in report.results if r.policy_id == EFS_POLICY}


# --- one cluster ---------------------------------------------------------------------------------


def test_sweep_list_services_denied_for_one_cluster_sweeps_the_others_and_keeps_its_findings(
    aws: Aws, proxy: TargetedFaultProxy
) -> None:
    # GIVEN a first sweep published every finding, then alpha/front was deleted
    arrange(aws.ecs)
    (first,), failures = sweep_regions(sweeper(), ACCOUNT, [EAST])
    assert (failures, first.problems) == ([], [])
    before = states(aws)
    assert {i: before[i] for i in (fid(EFS_POLICY, svc("beta/old-efs")), fid(EFS_POLICY, svc("beta/new-efs")))} == {
        fid(EFS_POLICY, svc("beta/old-efs")): ("FAILED", "ACTIVE"),
        fid(EFS_POLICY, svc("beta/new-efs")): ("PASSED", "ACTIVE"),
    }
    aws.ecs.delete_service(cluster="alpha", service="front", force=True)
    # AND the sweep may no longer list beta's services
    beta = arn("cluster/beta")
    deny_listing_services(proxy, beta)
    proxy_imports = len(proxy.calls(BATCH_IMPORT_FINDINGS))

    # WHEN
    (report,), failures = sweep_regions(sweeper(), ACCOUNT, [EAST])

    # THEN the Region is swept, and the report names the call and the cluster
    assert failures == []
    assert report.problems == [
        f"ecs:ListServices for cluster {beta} failed: AccessDeniedException: {denial('ecs:ListServices')}"
    ]
    assert report.summary()["problems"] == report.problems
    assert proxy.faulted() == [Faulted("ecs:ListServices", EAST, {"cluster": beta, "maxResults": 100})]
    # AND alpha's services were evaluated and published, and the deleted one archived
    assert service_verdicts(report) == {svc("alpha/legacy"): "NOT_APPLICABLE", svc("alpha/batch"): "NOT_APPLICABLE"}
    assert report.archived == [fid(EFS_POLICY, svc("alpha/front"))]
    after = states(aws)
    assert after[fid(EFS_POLICY, svc("alpha/front"))] == ("NOT_AVAILABLE", "ARCHIVED")
    second_imports = {
        finding_id for call in proxy.calls(BATCH_IMPORT_FINDINGS)[proxy_imports:] for finding_id in call.finding_ids()
    }
    assert {i for i in second_imports if ":service/" in i} == {
        fid(EFS_POLICY, svc("alpha/legacy")),
        fid(EFS_POLICY, svc("alpha/batch")),
        fid(EFS_POLICY, svc("alpha/front")),
    }
    # AND beta's findings, whose services may still exist, were neither archived nor touched
    assert {i: after[i] for i in (fid(EFS_POLICY, svc("beta/old-efs")), fid(EFS_POLICY, svc("beta/new-efs")))} == {
        fid(EFS_POLICY, svc("beta/old-efs")): ("FAILED", "ACTIVE"),
        fid(EFS_POLICY, svc("beta/new-efs")): ("PASSED", "ACTIVE"),
    }


def test_sweep_cluster_denied_gets_a_not_available_finding_on_the_cluster_until_it_can_be_listed_again(
    aws: Aws, proxy: TargetedFaultProxy
) -> None:
    # GIVEN the sweep may not list beta's services
    arrange(aws.ecs)
    beta = arn("cluster/beta")
    deny_listing_services(proxy, beta)
    blind_spot = f"ecsguard/sweep.coverage/{beta}"

    # WHEN a sweep runs
    (report,), failures = sweep_regions(sweeper(), ACCOUNT, [EAST])

    # THEN Security Hub shows a NOT_AVAILABLE finding on beta itself, naming the call, and on no other cluster
    assert (failures, report.summary()["clusters_not_listed"]) == ([], [beta])
    found = aws.findings()
    assert {i for i in found if i.startswith("ecsguard/sweep.coverage/")} == {blind_spot}
    finding = found[blind_spot]
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("NOT_AVAILABLE", "ACTIVE")
    assert finding["Resources"][0]["Type"] == "AwsEcsCluster"
    assert f"ecs:ListServices for cluster {beta} failed: AccessDeniedException" in finding["Description"]

    # WHEN the denial ends and the next sweep runs
    proxy.stop_failing()
    (later,), failures = sweep_regions(sweeper(), ACCOUNT, [EAST])

    # THEN the blind spot is archived, and beta's services are judged
    assert (failures, later.problems, later.summary()["clusters_not_listed"]) == ([], [], [])
    assert blind_spot in later.archived
    assert states(aws)[blind_spot] == ("NOT_AVAILABLE", "ARCHIVED")
    assert {svc("beta/old-efs"), svc("beta/new-efs")} <= set(service_verdicts(later))


def test_sweep_describe_task_definition_throttled_every_attempt_gives_error_results_for_that_revision(
    aws: Aws, proxy: TargetedFaultProxy
) -> None:
    # GIVEN DescribeTaskDefinition of efs-app:1 is throttled on every attempt (botocore may try twice)
    arrange(aws.ecs)
    efs_app = td("efs-app:1")
    proxy.fail_where(
        "ecs:DescribeTaskDefinition",
        body={"taskDefinition": efs_app},
        status=400,
        code="ThrottlingException",
        message="Rate exceeded",
    )

    # WHEN
    (report,), failures = sweep_regions(sweeper(attempts=2), ACCOUNT, [EAST])

    # THEN the call was tried twice, and the report names the call, the revision and the code
    assert failures == []
    assert [(f.operation, f.body["taskDefinition"]) for f in proxy.faulted()] == [
        ("ecs:DescribeTaskDefinition", efs_app),
        ("ecs:DescribeTaskDefinition", efs_app),
    ]
    reason = f"ecs:DescribeTaskDefinition for {efs_app} failed: ThrottlingException: Rate exceeded"
    assert report.problems == [reason]
    # AND efs-app:1 and the Fargate services using it are ERROR (the EC2 ones are not applicable), the rest fine
    assert {(r.policy_id, r.resource.id, r.status.value) for r in report.results} == {
        *((policy, efs_app, "ERROR") for policy in TD_POLICIES),
        *((policy, td("web:1"), "PASS") for policy in TD_POLICIES),
        (EFS_POLICY, svc("alpha/front"), "ERROR"),
        (EFS_POLICY, svc("beta/old-efs"), "ERROR"),
        (EFS_POLICY, svc("beta/new-efs"), "ERROR"),
        (EFS_POLICY, svc("alpha/legacy"), "NOT_APPLICABLE"),
        (EFS_POLICY, svc("alpha/batch"), "NOT_APPLICABLE"),
    }
    assert report.summary()["results"] == {"ERROR": 6, "PASS": 3, "NOT_APPLICABLE": 2}
    # AND Security Hub shows them NOT_AVAILABLE, never PASSED, with the reason
    findings = aws.findings()
    errored = [*(fid(policy, efs_app) for policy in TD_POLICIES)]
    errored += [fid(EFS_POLICY, svc(name)) for name in ("alpha/front", "beta/old-efs", "beta/new-efs")]
    assert {i: (findings[i]["Compliance"]["Status"], findings[i]["RecordState"]) for i in errored} == dict.fromkeys(
        errored, ("NOT_AVAILABLE", "ACTIVE")
    )
    assert {findings[i]["ProductFields"]["ecsguard/ErrorReason"] for i in errored} == {reason}
    assert {findings[fid(policy, td("web:1"))]["Compliance"]["Status"] for policy in TD_POLICIES} == {"PASSED"}


# --- a whole Region ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "target"),
    [("ecs:ListTaskDefinitions", "ACTIVE task definitions"), ("ecs:ListClusters", "clusters")],
)
def test_sweep_regions_listing_denied_in_one_region_fails_it_naming_the_call_and_sweeps_the_other(
    aws: Aws, proxy: TargetedFaultProxy, operation: str, target: str
) -> None:
    # GIVEN resources in both Regions, and the listing call denied in us-east-1 only
    arrange(aws.ecs)
    container = {"name": "app", "image": IMAGE, "memory": 256}
    direct(aws, "ecs", WEST).register_task_definition(
        family="west", containerDefinitions=[container], networkMode="bridge"
    )
    direct(aws, "securityhub", WEST).enable_security_hub()
    proxy.fail_where(operation, region=EAST, status=400, code="AccessDeniedException", message=denial(operation))

    # WHEN
    reports, failures = sweep_regions(sweeper(), ACCOUNT, [EAST, WEST])

    # THEN us-east-1 is a failure naming the call, and nothing was published there
    assert failures == [f"{EAST}: {operation} for {target} failed: AccessDeniedException: {denial(operation)}"]
    assert [f.operation for f in proxy.faulted()] == [operation]
    assert states(aws, EAST) == {}
    # AND eu-west-1 was swept and published
    assert [r.region for r in reports] == [WEST]
    assert states(aws, WEST) == {
        fid("ecs-images-ecr-only", td("west:1", WEST)): ("PASSED", "ACTIVE"),
        fid("ecs-network-awsvpc", td("west:1", WEST)): ("FAILED", "ACTIVE"),
        fid("ecs-secrets-managed", td("west:1", WEST)): ("PASSED", "ACTIVE"),
    }


# --- Security Hub --------------------------------------------------------------------------------


def test_sweep_get_findings_failing_archives_nothing_and_reports_the_problem(
    aws: Aws, proxy: TargetedFaultProxy
) -> None:
    # GIVEN a first sweep published every finding, then a service and a revision went away
    arrange(aws.ecs)
    sweep_regions(sweeper(), ACCOUNT, [EAST])
    before = states(aws)
    aws.ecs.delete_service(cluster="beta", service="old-efs", force=True)
    aws.ecs.deregister_task_definition(taskDefinition="web:1")
    aws.ecs.delete_service(cluster="alpha", service="legacy", force=True)
    # AND Security Hub now refuses GetFindings (so the sweep cannot tell which findings exist)
    proxy.fail(
        "securityhub:GetFindings", status=403, code="AccessDeniedException", message=denial("securityhub:GetFindings")
    )

    lookups_before = proxy.counts()["securityhub:GetFindings"]

    # WHEN
    (report,), failures = sweep_regions(sweeper(), ACCOUNT, [EAST])

    # THEN nothing is archived, and the problem is reported
    assert failures == []
    assert report.archived == []
    assert report.problems == [
        f"securityhub:GetFindings failed: AccessDeniedException: {denial('securityhub:GetFindings')}"
    ]
    assert proxy.counts()["securityhub:GetFindings"] - lookups_before == 1
    assert states(aws) == before
    assert before[fid(EFS_POLICY, svc("beta/old-efs"))] == ("FAILED", "ACTIVE")


# --- the scheduled handler -----------------------------------------------------------------------


@pytest.fixture
def sweep_settings(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Settings of the scheduled sweep handler (it reads them once, at import, like the scanner's)."""

    def apply(**settings: str) -> None:
        environment = {"ECSGUARD_AWS_MAX_ATTEMPTS": "1", "ECSGUARD_SWEEP_REGIONS": EAST, **POLICY_DIR_SETTING}
        environment.update({f"ECSGUARD_{name.upper()}": value for name, value in settings.items()})
        monkeypatch.setattr(sweep_handler, "SETTINGS", Settings.from_environment(environment))

    return apply


def metric_values(out: str) -> dict[str, float]:
    """Metric values of Powertools' EMF lines on stdout (summed by name)."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                total = sum(value) if isinstance(value, list) else value
                values[metric["Name"]] = values.get(metric["Name"], 0) + total
    return values


def test_sweep_handler_one_cluster_denied_returns_summary_with_problem_and_counts_it_in_metrics(
    aws: Aws,
    proxy: TargetedFaultProxy,
    sweep_settings: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN ListServices denied for beta, and DescribeTaskDefinition of efs-app:1 denied
    arrange(aws.ecs)
    sweep_settings()
    for operation, body in (
        ("ecs:ListServices", {"cluster": arn("cluster/beta")}),
        ("ecs:DescribeTaskDefinition", {"taskDefinition": td("efs-app:1")}),
    ):
        proxy.fail_where(operation, body=body, status=400, code="AccessDeniedException", message=denial(operation))

    # WHEN
    answer = sweep_handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)

    # THEN the handler returns (the sweep went on), with both problems and the ERROR results in its summary
    (summary,) = answer["regions"]
    assert sorted(summary["problems"]) == [
        f"ecs:DescribeTaskDefinition for {td('efs-app:1')} failed: AccessDeniedException: "
        f"{denial('ecs:DescribeTaskDefinition')}",
        f"ecs:ListServices for cluster {arn('cluster/beta')} failed: AccessDeniedException: "
        f"{denial('ecs:ListServices')}",
    ]
    assert summary["results"] == {"ERROR": 4, "PASS": 3, "NOT_APPLICABLE": 2}
    # AND the metrics count the problems and the evaluation errors
    metrics = metric_values(capsys.readouterr().out)
    assert {name: metrics.get(name) for name in ("SweepProblems", "EvaluationErrors", "SweptResources")} == {
        "SweepProblems": 2,
        "EvaluationErrors": 4,
        "SweptResources": 5,
    }


# The handler raises before it records any metric (Lambda's own Errors metric counts the failed invocation).
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_sweep_handler_region_that_cannot_be_listed_raises_naming_region_and_call(
    aws: Aws, proxy: TargetedFaultProxy, sweep_settings: Callable[..., None]
) -> None:
    sweep_settings()
    proxy.fail_where("ecs:ListClusters", status=400, code="AccessDeniedException", message=denial("ecs:ListClusters"))

    with pytest.raises(EventFailed) as failure:
        sweep_handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)

    assert str(failure.value) == (
        f"sweep failed: {EAST}: ecs:ListClusters for clusters failed: AccessDeniedException: "
        f"{denial('ecs:ListClusters')}"
    )
    assert aws.findings() == {}
