"""Sweep benchmark: an account-wide sweep of a large account in moto, its wall time and its API calls.

Starts moto's ThreadedMotoServer on 127.0.0.1 in this process, enables Security Hub and fills ECS over HTTP
(a thread pool) from a fixed seed: ``--task-definitions`` revisions (default 2,000) over ``--families``
families of 1 to 4 revisions (some deregistered, some families retired, so "latest ACTIVE" matters),
``--services`` services (default 500) over ``--clusters`` clusters (one of them empty) that share a few hot
revisions, FARGATE with and without EFS on assorted platform versions, EC2, bridge and host network modes,
plaintext secrets and non-ECR images, so results of every status are published (NOT_APPLICABLE and ERROR
come from the service policy: the task definition policies have no applicability condition).

Then it runs the sweep in this process as the scheduled Lambda function does, keeping every result so that each
can be checked (``wiring.build_sweeper(Settings.from_environment({"ECSGUARD_PACKS": "all"}), publish=True)``, whose
``keep`` is True, and ``sweep_regions``), over HTTP, with botocore event hooks on the sweep's own ECS and Security
Hub clients (``before-call``/``after-call`` for calls, ``before-send`` for HTTP attempts, retries included), and
prints the wall time and where it goes (the seconds a call of each operation was in flight; the sweep lists,
describes, evaluates and imports a page at a time, so these interleave), the calls by operation, and the ideal
call count for the account, computed from what was planted (not from what the sweep saw):

- ListTaskDefinitions pages: ceil(ACTIVE revisions / 100); ListClusters pages: ceil(clusters / 100);
- ListServices pages: ceil(services in the cluster / 100) per cluster, at least 1 (the sweep asks for ECS's
  largest page, 100; the default would be 10);
- DescribeServices: ceil(services in the cluster / 10) per cluster;
- DescribeClusters: ceil(clusters / 100), every cluster with its settings (no service needs its cluster again);
- ListTasks: one page per cluster (no task is planted), so that a running standalone task's findings stay;
- DescribeTaskDefinition: one per distinct revision evaluated (latest ACTIVE of each family, and every
  revision a service uses);
- GetFindings: ceil(existing ACTIVE ecsguard findings / 100), at least 1, and one for the findings archived
  since the sweep started (there are none here); BatchImportFindings: ceil(findings sent / 100).

After the first sweep, with its findings in Security Hub as before a daily sweep, the peak resident memory of the
sweep is measured where a user meets it: a child process (``python -c MEMORY_CHILD``) imports
``ecsguard.handlers.sweep`` and calls ``handler({}, context)`` as Lambda does (``keep=False``: counts only), with
the context's function ARN (so no STS call), moto's endpoint and fake credentials, every pack, no topic, and the
variables the Lambda runtime sets (tracing active, as deployed; segments go to a local socket nothing reads). moto,
which holds the whole account and every finding, stays in this process and is not counted. The child counts its
calls by operation with ``before-call``/``before-send`` hooks on its boto3 session and prints one JSON line:
VmHWM of ``/proc/self/status`` after the imports, at its first call and at the end (the peak printed), VmRSS,
``ru_maxrss`` (shown only when it differs: on Linux it keeps the parent's peak across fork/exec), the handler's
wall time and summary, and the calls. Its summary must equal the first sweep's counts (the account is unchanged),
its resources and findings the plan's, and Security Hub must be left as it was. ``--no-memory`` skips it.

A second sweep follows, with the first sweep's findings in Security Hub, after ``--churn`` services were
deleted and as many families' latest revisions deregistered (so findings get archived). Both sweeps' results,
archived findings and the resulting Security Hub state are checked against the planted account.

``--sizes 2000/500,10000/2000`` runs all of it for each account size in turn (``TASK_DEFINITIONS/SERVICES
[/CLUSTERS]``; clusters default to ``--clusters`` scaled by services / ``--services``, families to 40 %), moto reset
in between (``POST /moto-api/reset``), then prints the sizes' peak memory side by side and each one's ratio to the
first, against the target of at most 1.5 times.

The sweep runs every policy of its set (``policies/``). The benchmark has a model of four of them (secrets, ECR
images, awsvpc, EFS platform: ``expected_status``), whose verdicts it checks; for any other policy it checks
that every resource of the policy's type has its one result and finding, in the Security Hub state that result
gives, and counts the verdicts without asserting them.

moto differs from ECS and Security Hub in ways that change call counts (see /work/shared/MOTO.md); this
benchmark patches moto's request handlers in this process so that they page and filter as AWS does:
ListTaskDefinitions, ListClusters and ListServices ignore maxResults/nextToken in moto (one page of everything);
ListServices also lists deleted services, and matches clusters by substring; GetFindings ignores Filters (so
it would page through ARCHIVED findings too). The patched GetFindings pages with a cursor: moto's paginator builds
the whole answer for every page, which would make reading N findings cost N x N / 100.

Finally it estimates, from the per-call times measured here and the ideal call counts of a larger account of
the same shape, how long a sweep of ``--estimate-task-definitions`` / ``--estimate-services`` would take.

Exit status: 0 when both sweeps and the Lambda-like process ran and their results are what was planted (a call
count above the ideal, or a peak ratio above 1.5, is a measurement, marked MISS, not a failure); 1 when a sweep
reported problems or failed to list, or a result, an archived finding or the Security Hub state differs from the
plan, or the Lambda-like process failed (its stderr's end is shown) or its summary differs; 2 when moto could not
be prepared or a policy the benchmark has a model of is not in the sweep's set. With ``--sizes``, the worst of the
sizes (a 2 stops the run).

Run: ``.venv/bin/python bench/sweep.py [--task-definitions 2000] [--services 500] [--seed 11] [--no-memory]``, or
``.venv/bin/python bench/sweep.py --sizes 2000/500,10000/2000`` (the larger one takes about 20 minutes here).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
# As the Lambda function learns its account from its context: no sts:GetCallerIdentity call.
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecsguard-sweep"
REPOSITORY = Path(__file__).resolve().parents[1]

SECRETS = "ecs-secrets-managed"
IMAGES = "ecs-images-ecr-only"
NETWORK = "ecs-network-awsvpc"
EFS = "ecs-efs-fargate-platform"
TASK_DEFINITION_POLICIES = (SECRETS, IMAGES, NETWORK)
SERVICE_POLICIES = (EFS,)
# The policies expected_status has a model of; the sweep's set may hold others (counted, not asserted).
MODELLED = frozenset((*TASK_DEFINITION_POLICIES, *SERVICE_POLICIES))
PASS, FAIL, NOT_APPLICABLE, ERROR = "PASS", "FAIL", "NOT_APPLICABLE", "ERROR"
STATUSES = (PASS, FAIL, NOT_APPLICABLE, ERROR)
# Security Hub (Compliance.Status, RecordState) of a finding, by result status (ecsguard.core.findings).
STORED = {
    PASS: ("PASSED", "ACTIVE"),
    FAIL: ("FAILED", "ACTIVE"),
    ERROR: ("NOT_AVAILABLE", "ACTIVE"),
    NOT_APPLICABLE: ("NOT_AVAILABLE", "ARCHIVED"),
}
GONE = ("NOT_AVAILABLE", "ARCHIVED")
# The expected state of a finding of a policy without a model: what the sweep's own result for it gives (check()
# fills it in); the estimate, which has no sweep's results, takes such a finding to be ACTIVE.
UNMODELLED = ("as the sweep's result", "ACTIVE")

# AWS page sizes when the request sends no maxResults, and the largest a request may ask for.
LIST_TASK_DEFINITIONS_PAGE = 100
LIST_CLUSTERS_PAGE = 100
LIST_SERVICES_PAGE = 100
LIST_SERVICES_MAX_PAGE = 100
DESCRIBE_SERVICES_BATCH = 10
DESCRIBE_CLUSTERS_BATCH = 100  # DescribeClusters takes at most 100 clusters per call
GET_FINDINGS_PAGE = 100  # the sweep sends MaxResults=100, the most GetFindings returns
IMPORT_BATCH = 100
# Security Hub's throttling per account and Region, (requests per second, burst), from its API reference.
SECURITY_HUB_QUOTAS = {"GetFindings": (3.0, 6), "BatchImportFindings": (10.0, 30)}

ECS_OPERATIONS = (
    "ListTaskDefinitions",
    "ListClusters",
    "ListServices",
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeClusters",
    "ListTasks",
)
SECURITY_HUB_OPERATIONS = ("GetFindings", "BatchImportFindings")
OPERATIONS = ECS_OPERATIONS + SECURITY_HUB_OPERATIONS
# Operations the sweep runs on its thread pool (concurrency N); the others run one after the other.
PARALLEL_OPERATIONS = frozenset({"DescribeServices", "DescribeTaskDefinition"})

STEMS = ("web", "api", "worker", "checkout", "ledger", "search", "notifier", "reports", "ingest", "auth-gateway")
ECR_IMAGES = (
    f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web:1.4.2",
    f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/payments/api:2024.11.3",
    f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/platform/nginx-proxy:1.27",
    f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml/feature_store@sha256:{'ab' * 32}",
)
OTHER_IMAGES = (
    "nginx:1.27",
    "docker.io/library/redis:7.2",
    "ghcr.io/acme/api:2.3.1",
    "public.ecr.aws/docker/library/busybox:1.36",  # ECR Public: fails unless allow_ecr_public
    "quay.io/prometheus/node-exporter:v1.8.0",
)
EFS_VOLUME = {"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}
# Fargate platform versions of services; "1.4.0-beta" is not a dotted version, so the EFS policy answers ERROR.
# AWS would reject it at CreateService; moto stores it, which gives ERROR results a path through the sweep.
PLATFORM_VERSIONS: tuple[str | None, ...] = (None, "LATEST", "1.4.0", "1.3.0", "1.4.0-beta")
PLATFORM_VERSION_WEIGHTS = (25, 25, 30, 17, 3)


# --- the planted account ------------------------------------------------------------------


@dataclass
class Revision:
    family: str
    number: int
    network_mode: str
    images: tuple[str, ...]
    plaintext_secret: bool
    efs: bool
    active: bool = True

    @property
    def arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{self.family}:{self.number}"


@dataclass
class PlannedService:
    cluster: str
    name: str
    revision: Revision
    launch_type: str
    platform_version: str | None
    deleted: bool = False

    @property
    def arn(self) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{self.cluster}/{self.name}"


@dataclass
class Plan:
    families: dict[str, list[Revision]]
    clusters: list[str]
    services: list[PlannedService]

    @property
    def revisions(self) -> list[Revision]:
        return [revision for revisions in self.families.values() for revision in revisions]

    def live_services(self) -> list[PlannedService]:
        return [service for service in self.services if not service.deleted]

    def latest_active(self) -> list[Revision]:
        latest = []
        for revisions in self.families.values():
            active = [revision for revision in revisions if revision.active]
            if active:
                latest.append(max(active, key=lambda revision: revision.number))
        return latest

    def evaluated(self) -> dict[str, Revision]:
        """What the sweep must evaluate: the latest ACTIVE revision of each family, and every live service's."""
        revisions = {revision.arn: revision for revision in self.latest_active()}
        revisions.update({service.revision.arn: service.revision for service in self.live_services()})
        return revisions

    def services_by_cluster(self) -> dict[str, int]:
        counts = dict.fromkeys(self.clusters, 0)
        for service in self.live_services():
            counts[service.cluster] += 1
        return counts


def make_plan(task_definitions: int, services: int, families: int, clusters: int, seed: int) -> Plan:
    rng = random.Random(seed)
    # 1 to 4 revisions per family, task_definitions in all.
    counts = [1] * families
    room = list(range(families))
    for _ in range(task_definitions - families):
        index = rng.randrange(len(room))
        counts[room[index]] += 1
        if counts[room[index]] == 4:
            room[index] = room[-1]
            room.pop()
    plan_families: dict[str, list[Revision]] = {}
    for serial, count in enumerate(counts):
        family = f"{rng.choice(STEMS)}-{serial:05d}"
        plan_families[family] = [_revision(rng, family, number) for number in range(1, count + 1)]
    names = list(plan_families)

    # Services share revisions: a few hot families get most services, mostly on their newest revision.
    order = names[:]
    rng.shuffle(order)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(order))]
    cluster_names = [f"cluster-{index:03d}" for index in range(clusters)]
    cluster_weights = [rng.uniform(0.3, 3.0) for _ in cluster_names]
    if clusters > 1:
        cluster_weights[-1] = 0.0  # one empty cluster: ListServices still has to be asked once
    plan_services = []
    for serial in range(services):
        revisions = plan_families[rng.choices(order, weights)[0]]
        revision = revisions[-1] if rng.random() < 0.7 else rng.choice(revisions)
        cluster = rng.choices(cluster_names, cluster_weights)[0]
        if revision.network_mode == "awsvpc" and rng.random() < 0.7:
            launch_type, version = "FARGATE", rng.choices(PLATFORM_VERSIONS, PLATFORM_VERSION_WEIGHTS)[0]
        else:
            launch_type, version = "EC2", None
        plan_services.append(PlannedService(cluster, f"svc-{serial:05d}", revision, launch_type, version))

    # Deregistered after the services were created (as in an account: services keep running on them).
    for revisions in plan_families.values():
        draw = rng.random()
        if draw < 0.03:
            for revision in revisions:
                revision.active = False  # a retired family: nothing ACTIVE left
        elif len(revisions) >= 2 and draw < 0.18:
            revisions[-1].active = False  # a bad release rolled back: the latest ACTIVE is the one before
        if len(revisions) >= 3 and rng.random() < 0.4:
            revisions[0].active = False
    return Plan(plan_families, cluster_names, plan_services)


def _revision(rng: random.Random, family: str, number: int) -> Revision:
    network_mode = rng.choices(("awsvpc", "bridge", "host"), (80, 15, 5))[0]
    images = tuple(
        rng.choice(ECR_IMAGES) if rng.random() < 0.88 else rng.choice(OTHER_IMAGES) for _ in range(rng.randint(1, 2))
    )
    efs = rng.random() < (0.35 if network_mode == "awsvpc" else 0.1)
    return Revision(family, number, network_mode, images, rng.random() < 0.06, efs)


def churn(plan: Plan, count: int, seed: int) -> tuple[list[PlannedService], list[Revision]]:
    """Delete ``count`` services and deregister the latest ACTIVE revision of ``count`` families (in the plan)."""
    rng = random.Random(seed + 1)
    deleted = rng.sample(plan.live_services(), min(count, len(plan.live_services())))
    for service in deleted:
        service.deleted = True
    candidates = [revisions for revisions in plan.families.values() if sum(r.active for r in revisions) >= 2]
    deregistered = []
    for revisions in rng.sample(candidates, min(count, len(candidates))):
        latest = max((revision for revision in revisions if revision.active), key=lambda revision: revision.number)
        latest.active = False
        deregistered.append(latest)
    return deleted, deregistered


def task_definition_request(revision: Revision) -> dict[str, Any]:
    containers = []
    for index, image in enumerate(revision.images):
        environment = [{"name": "LOG_LEVEL", "value": "INFO"}, {"name": "PORT", "value": str(8080 + index)}]
        if revision.plaintext_secret and index == 0:
            environment.append({"name": "DB_PASSWORD", "value": f"planted-{revision.family}-{revision.number}"})
        secret = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{revision.family}/db-password"
        containers.append(
            {
                "name": f"app-{index}",
                "image": image,
                "memory": 256,
                "essential": index == 0,
                "environment": environment,
                "secrets": [{"name": "DB_PASSWORD_FROM_SSM", "valueFrom": secret}],
            }
        )
    return {
        "family": revision.family,
        "networkMode": revision.network_mode,
        "containerDefinitions": containers,
        "volumes": [EFS_VOLUME] if revision.efs else [],
    }


# --- what the sweep must find and the calls it needs -------------------------------------------


def expected_status(policy_id: str, revision: Revision, service: PlannedService | None = None) -> str:
    """The planted verdict, decided from how the resource was built (independently of the engine)."""
    if policy_id == SECRETS:
        return FAIL if revision.plaintext_secret else PASS
    if policy_id == IMAGES:
        return PASS if all(image in ECR_IMAGES for image in revision.images) else FAIL
    if policy_id == NETWORK:
        return PASS if revision.network_mode == "awsvpc" else FAIL
    assert service is not None
    if service.launch_type != "FARGATE" or not revision.efs:
        return NOT_APPLICABLE
    version = service.platform_version
    if version in (None, "LATEST"):
        return PASS
    parts = version.split(".")
    if not all(part.isdigit() for part in parts):
        return ERROR
    return PASS if tuple(int(part) for part in parts) >= (1, 4) else FAIL


@dataclass(frozen=True)
class SweptPolicies:
    """The ids of the policies the sweep evaluates, by resource type, in the set's order."""

    task_definition: tuple[str, ...]
    service: tuple[str, ...]
    cluster: tuple[str, ...] = ()

    @classmethod
    def of(cls, policy_set: Any) -> SweptPolicies:
        from ecsguard.core.models import ResourceType

        return cls(
            tuple(policy.id for policy in policy_set.for_type(ResourceType.TASK_DEFINITION)),
            tuple(policy.id for policy in policy_set.for_type(ResourceType.SERVICE)),
            tuple(policy.id for policy in policy_set.for_type(ResourceType.CLUSTER)),
        )

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.task_definition, *self.service, *self.cluster)

    @property
    def unmodelled(self) -> tuple[str, ...]:
        return tuple(policy_id for policy_id in self.all if policy_id not in MODELLED)


def expected_results(plan: Plan, policies: SweptPolicies) -> dict[tuple[str, str], str | None]:
    """One result per policy and resource of its type: the planted verdict, or None for a policy without a model."""
    results: dict[tuple[str, str], str | None] = {}
    for arn, revision in plan.evaluated().items():
        for policy_id in policies.task_definition:
            results[(policy_id, arn)] = expected_status(policy_id, revision) if policy_id in MODELLED else None
    for service in plan.live_services():
        for policy_id in policies.service:
            results[(policy_id, service.arn)] = (
                expected_status(policy_id, service.revision, service) if policy_id in MODELLED else None
            )
    for name in plan.clusters:  # no cluster policy has a model: any verdict, but one per cluster
        for policy_id in policies.cluster:
            results[(policy_id, f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}")] = None
    return results


def finding_id(policy_id: str, arn: str) -> str:
    return f"ecsguard/{policy_id}/{arn}"


@dataclass
class Expected:
    results: dict[tuple[str, str], str | None]  # None: a policy without a model (any verdict, counted)
    existing_active: set[str]  # ACTIVE ecsguard findings in Security Hub before the sweep
    archived: set[str]
    findings_sent: int
    store: dict[str, tuple[str, str]]  # Security Hub after the sweep: Id -> (Compliance.Status, RecordState)


def expect(plan: Plan, store_before: Mapping[str, tuple[str, str]], policies: SweptPolicies) -> Expected:
    results = expected_results(plan, policies)
    current = {finding_id(policy_id, arn): status for (policy_id, arn), status in results.items()}
    existing_active = {finding for finding, (_, state) in store_before.items() if state == "ACTIVE"}
    # An older revision that is still ACTIVE exists (it can still run): its findings stay as they are.
    still_active = {revision.arn for revision in plan.revisions if revision.active}
    kept = {finding for finding in existing_active if finding.split("/", 2)[-1] in still_active}
    archived = existing_active - current.keys() - kept
    store = dict.fromkeys(store_before.keys() - kept, GONE)
    store.update({finding: store_before[finding] for finding in kept if finding not in current})
    store.update({finding: STORED[status] if status else UNMODELLED for finding, status in current.items()})
    return Expected(results, existing_active, archived, len(current) + len(archived), store)


def ideal_calls(plan: Plan, existing_active: int, findings_sent: int) -> dict[str, int]:
    """The fewest calls a sweep of the planted account can make on AWS, by operation."""
    per_cluster = plan.services_by_cluster().values()
    active_revisions = sum(revision.active for revision in plan.revisions)
    return {
        "ListTaskDefinitions": max(1, math.ceil(active_revisions / LIST_TASK_DEFINITIONS_PAGE)),
        "ListClusters": max(1, math.ceil(len(plan.clusters) / LIST_CLUSTERS_PAGE)),
        "ListServices": sum(max(1, math.ceil(count / LIST_SERVICES_PAGE)) for count in per_cluster),
        "DescribeServices": sum(math.ceil(count / DESCRIBE_SERVICES_BATCH) for count in per_cluster),
        "DescribeTaskDefinition": len(plan.evaluated()),
        # Every cluster, with its settings, 100 a call (every planted service has a launch type: none asks again).
        "DescribeClusters": math.ceil(len(plan.clusters) / DESCRIBE_CLUSTERS_BATCH),
        # The running tasks of each cluster (none planted: one page each), so a standalone task's findings stay.
        "ListTasks": len(plan.clusters),
        # Every ACTIVE finding, then those archived since the sweep started (none here: one empty page).
        "GetFindings": max(1, math.ceil(existing_active / GET_FINDINGS_PAGE)) + 1,
        "BatchImportFindings": math.ceil(findings_sent / IMPORT_BATCH),
    }


# --- the emulator ------------------------------------------------------------------------------


class EmulatorFailed(Exception):
    pass


_TOKEN = "bench-page-"


def make_moto_page_like_aws() -> None:
    """Patch moto's handlers, in this process, so that list calls page and GetFindings filters as on AWS.

    Each patch undoes one difference listed in /work/shared/MOTO.md (or found here) that changes call counts.
    """
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.securityhub.exceptions import InvalidInputException
    from moto.securityhub.models import SecurityHubBackend

    from ecsguard.core.times import parse_time

    def page(items: list[str], max_results: Any, token: Any, default: int) -> tuple[list[str], str | None]:
        size = default if max_results is None else int(max_results)
        if not 1 <= size <= 100:
            raise InvalidParameterException("maxResults must be between 1 and 100")
        start = 0
        if token:
            if not str(token).startswith(_TOKEN) or not str(token)[len(_TOKEN) :].isdigit():
                raise InvalidParameterException("Invalid nextToken")
            start = int(str(token)[len(_TOKEN) :])
        end = start + size
        return items[start:end], (f"{_TOKEN}{end}" if end < len(items) else None)

    # moto: maxResults and nextToken ignored, sort ignored (AWS: 100 a page by default, sorted by family, revision).
    def list_task_definitions(self: Any) -> ActionResult:
        arns = self.ecs_backend.list_task_definitions(
            self._get_param("familyPrefix"), self._get_param("status", "ACTIVE")
        )
        arns.sort(key=lambda arn: (arn.rsplit("/", 1)[1].rsplit(":", 1)[0], int(arn.rsplit(":", 1)[1])))
        if self._get_param("sort") == "DESC":
            arns.reverse()
        items, token = page(arns, self._get_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"taskDefinitionArns": items, "nextToken": token})

    # moto: no pagination (AWS: 100 a page by default).
    def list_clusters(self: Any) -> ActionResult:
        arns = self.ecs_backend.list_clusters()
        items, token = page(arns, self._get_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"clusterArns": items, "nextToken": token})

    # moto: no pagination (AWS: 10 a page by default), deleted services still listed (AWS: gone once drained,
    # as they are by the next daily sweep), and services matched to clusters by substring ("a" matches "ba:x").
    def list_services(self: Any) -> ActionResult:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        arns = sorted(
            service.arn
            for service in backend.services.values()
            if service.cluster_arn == cluster.arn and service.status != "INACTIVE"
        )
        items, token = page(arns, self._get_param("maxResults"), self._get_param("nextToken"), 10)
        return ActionResult({"serviceArns": items, "nextToken": token})

    EC2ContainerServiceResponse.list_task_definitions = list_task_definitions  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_clusters = list_clusters  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_services = list_services  # type: ignore[method-assign]

    # moto: Filters ignored, every finding returned (ARCHIVED ones included). String filters on the fields the
    # sweep and the scanner use are applied as AWS does: EQUALS/PREFIX values ORed, NOT_ ones ANDed, fields ANDed.
    fields: dict[str, tuple[str, ...]] = {
        "Id": ("Id",),
        "GeneratorId": ("GeneratorId",),
        "RecordState": ("RecordState",),
        "AwsAccountId": ("AwsAccountId",),
        "Region": ("Region",),
        "ProductArn": ("ProductArn",),
        "ComplianceStatus": ("Compliance", "Status"),
        "WorkflowStatus": ("Workflow", "Status"),
    }

    dates = {"UpdatedAt"}

    def matches(finding: dict[str, Any], filters: dict[str, Any] | None) -> bool:
        for name, conditions in (filters or {}).items():
            if name in dates:
                moment = parse_time(finding.get(name))
                for condition in conditions:
                    start, end = parse_time(condition.get("Start")), parse_time(condition.get("End"))
                    if moment is None or (start and moment < start) or (end and moment > end):
                        return False
                continue
            if name not in fields:
                raise InvalidInputException("GetFindings", f"bench: filter {name} is not emulated")
            value: Any = finding
            for key in fields[name]:
                value = value.get(key) if isinstance(value, dict) else None
            value = "" if value is None else str(value)
            positive = [c for c in conditions if c["Comparison"] in ("EQUALS", "PREFIX")]
            if positive and not any(_compare(value, c) for c in positive):
                return False
            if not all(_compare(value, c) for c in conditions if c not in positive):
                return False
        return True

    # Paged with a cursor into moto's list of findings (which only grows, and is updated in place): moto's own
    # paginator builds the whole answer for every page, so reading N findings would cost N x N / 100 here.
    def get_findings(
        self: Any,
        filters: dict[str, Any] | None = None,
        sort_criteria: Any = None,
        max_results: Any = None,
        next_token: Any = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        size = 100 if max_results is None else int(max_results)
        if not 1 <= size <= 100:
            raise InvalidInputException("GetFindings", "MaxResults must be a number between 1 and 100")
        index = 0
        if next_token:
            if not str(next_token).startswith(_TOKEN) or not str(next_token)[len(_TOKEN) :].isdigit():
                raise InvalidInputException("GetFindings", "Invalid NextToken")
            index = int(str(next_token)[len(_TOKEN) :])
        findings: list[Any] = self.findings
        answer: list[dict[str, Any]] = []
        while index < len(findings) and len(answer) < size:
            if matches(findings[index].data, filters):
                answer.append(findings[index].as_dict())
            index += 1
        # A token only when another finding matches, as AWS answers: no empty last page to ask for.
        while index < len(findings) and not matches(findings[index].data, filters):
            index += 1
        return answer, (f"{_TOKEN}{index}" if index < len(findings) else None)

    SecurityHubBackend.get_findings = get_findings  # type: ignore[method-assign]


def _compare(value: str, condition: Mapping[str, str]) -> bool:
    wanted, comparison = condition["Value"], condition["Comparison"]
    if comparison == "EQUALS":
        return value == wanted
    if comparison == "PREFIX":
        return value.startswith(wanted)
    if comparison == "NOT_EQUALS":
        return value != wanted
    if comparison == "PREFIX_NOT_EQUALS":
        return not value.startswith(wanted)
    raise ValueError(f"bench: comparison {comparison} is not emulated")


@dataclass
class Emulator:
    endpoint: str
    stop: Callable[[], None]


def start_moto() -> Emulator:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    make_moto_page_like_aws()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return Emulator(f"http://{host}:{port}", server.stop)


def moto_environment(endpoint: str) -> dict[str, str]:
    """The variables that send every boto3 client to moto, with fake credentials and no configuration files."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def set_environment(endpoint: str) -> None:
    """As the functional tests do: every boto3 client of this process goes to moto, with fake credentials."""
    for name in [name for name in os.environ if name.startswith(("AWS_", "ECSGUARD_"))]:
        del os.environ[name]
    os.environ.update(moto_environment(endpoint))


def setup_client(service: str, workers: int) -> Any:
    """A client for filling the account: its own session, so nothing it does is counted."""
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=workers, retries={"mode": "standard", "total_max_attempts": 5})
    return boto3.session.Session(region_name=REGION).client(service, config=config)


def fill(plan: Plan, workers: int) -> float:
    """Create the planted account over HTTP; returns the seconds it took."""
    start = time.perf_counter()
    ecs = setup_client("ecs", workers)
    setup_client("securityhub", 1).enable_security_hub()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda name: ecs.create_cluster(clusterName=name), plan.clusters))

        def register(revisions: list[Revision]) -> None:
            for revision in revisions:  # in order: ECS numbers a family's revisions 1, 2, 3...
                answer = ecs.register_task_definition(**task_definition_request(revision))["taskDefinition"]
                if answer["taskDefinitionArn"] != revision.arn:
                    raise EmulatorFailed(f"registered {answer['taskDefinitionArn']}, planned {revision.arn}")

        list(pool.map(register, plan.families.values()))

        def create(service: PlannedService) -> None:
            parameters: dict[str, Any] = {
                "cluster": service.cluster,
                "serviceName": service.name,
                "taskDefinition": service.revision.arn,
                "desiredCount": 1,
                "launchType": service.launch_type,
            }
            if service.platform_version is not None:
                parameters["platformVersion"] = service.platform_version
            arn = ecs.create_service(**parameters)["service"]["serviceArn"]
            if arn != service.arn:
                raise EmulatorFailed(f"created {arn}, planned {service.arn}")

        list(pool.map(create, plan.services))
        inactive = [revision for revision in plan.revisions if not revision.active]
        list(pool.map(lambda revision: ecs.deregister_task_definition(taskDefinition=revision.arn), inactive))
    return time.perf_counter() - start


def apply_churn(deleted: Sequence[PlannedService], deregistered: Sequence[Revision], workers: int) -> None:
    ecs = setup_client("ecs", workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda s: ecs.delete_service(cluster=s.cluster, service=s.name, force=True), deleted))
        list(pool.map(lambda r: ecs.deregister_task_definition(taskDefinition=r.arn), deregistered))


def security_hub_store() -> dict[str, tuple[str, str]]:
    """Every finding in moto's Security Hub (read in-process: not a call of the sweep)."""
    from moto.securityhub.models import securityhub_backends

    return {
        str(finding.data["Id"]): (
            str((finding.data.get("Compliance") or {}).get("Status", "?")),
            str(finding.data.get("RecordState")),
        )
        for finding in securityhub_backends[ACCOUNT][REGION].findings
    }


# --- counting the sweep's calls -----------------------------------------------------------------


@dataclass
class Call:
    operation: str
    start: float
    end: float
    failed: bool


class CallLog:
    """Calls (before-call/after-call) and HTTP attempts (before-send) on the clients it is attached to."""

    _STARTED = "ecsguard_bench_started"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.attempts: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-call", self._before_call, unique_id=f"bench-before-call-{id(self)}")
        events.register("after-call", self._after_call, unique_id=f"bench-after-call-{id(self)}")
        events.register("after-call-error", self._after_error, unique_id=f"bench-after-call-error-{id(self)}")
        events.register("before-send", self._before_send, unique_id=f"bench-before-send-{id(self)}")

    def reset(self) -> None:
        with self._lock:
            self.calls = []
            self.attempts = Counter()

    # Handlers return None: a value from a before-call or before-send handler would replace the request.
    def _before_call(self, context: dict[str, Any], **_: Any) -> None:
        context[self._STARTED] = time.perf_counter()

    def _record(self, event_name: str, context: dict[str, Any], failed: bool) -> None:
        end = time.perf_counter()
        call = Call(event_name.rsplit(".", 1)[-1], context.get(self._STARTED, end), end, failed)
        with self._lock:
            self.calls.append(call)

    def _after_call(self, event_name: str, context: dict[str, Any], http_response: Any, **_: Any) -> None:
        self._record(event_name, context, http_response.status_code >= 300)

    def _after_error(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        self._record(event_name, context, True)

    def _before_send(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.attempts[event_name.rsplit(".", 1)[-1]] += 1

    def counts(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    def busy(self, operations: Iterable[str] | None = None) -> float:
        """Seconds during which at least one call (of ``operations``, else of any) was in flight."""
        wanted = None if operations is None else set(operations)
        return in_flight((call.start, call.end) for call in self.calls if wanted is None or call.operation in wanted)


def in_flight(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of ``intervals``: calls of the thread pool overlap, and are counted once."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


@dataclass
class SweepRun:
    label: str
    plan_counts: dict[str, int]
    report: Any
    failures: list[str]
    wall: float
    calls: Counter[str]
    attempts: Counter[str]
    failed_calls: Counter[str]
    # Seconds a call of the operation was in flight, and a call of any: the sweep lists, describes, evaluates and
    # imports a page at a time, so an operation's first and last calls span most of the sweep.
    busy: dict[str, float]
    busy_any: float
    mean_latency: dict[str, float]
    expected: Expected
    ideal: dict[str, int]
    mismatches: list[str] = field(default_factory=list)


def run_sweep(label: str, plan: Plan, sweeper: Any, log: CallLog) -> SweepRun:
    from ecsguard.sweep import sweep_regions

    store_before = security_hub_store()
    expected = expect(plan, store_before, SweptPolicies.of(sweeper.policy_set))
    ideal = ideal_calls(plan, len(expected.existing_active), expected.findings_sent)
    log.reset()
    start = time.perf_counter()
    reports, failures = sweep_regions(sweeper, ACCOUNT, [REGION])
    end = time.perf_counter()
    calls = list(log.calls)
    latency: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        latency[call.operation].append(call.end - call.start)
    run = SweepRun(
        label=label,
        plan_counts=plan_counts(plan),
        report=reports[0] if reports else None,
        failures=failures,
        wall=end - start,
        calls=log.counts(),
        attempts=Counter(log.attempts),
        failed_calls=Counter(call.operation for call in calls if call.failed),
        busy={operation: log.busy([operation]) for operation in log.counts()},
        busy_any=log.busy(),
        mean_latency={operation: sum(values) / len(values) for operation, values in latency.items()},
        expected=expected,
        ideal=ideal,
    )
    run.mismatches = check(run, security_hub_store())
    return run


def plan_counts(plan: Plan) -> dict[str, int]:
    live = plan.live_services()
    return {
        "task definitions": len(plan.revisions),
        "ACTIVE task definitions": sum(revision.active for revision in plan.revisions),
        "families": len(plan.families),
        "families with an ACTIVE revision (latest ACTIVE evaluated)": len(plan.latest_active()),
        "clusters": len(plan.clusters),
        "services": len(live),
        "services on a FARGATE launch type": sum(service.launch_type == "FARGATE" for service in live),
        "revisions used by services": len({service.revision.arn for service in live}),
        "of which INACTIVE": len({service.revision.arn for service in live if not service.revision.active}),
        "distinct revisions evaluated": len(plan.evaluated()),
    }


def check(run: SweepRun, store_after: Mapping[str, tuple[str, str]]) -> list[str]:
    """Differences between what the sweep did and what was planted (empty when all is as planted)."""
    problems: list[str] = []
    report, expected = run.report, run.expected
    if run.failures:
        problems += [f"the sweep could not list: {failure}" for failure in run.failures]
    if report is None:
        return problems or ["the sweep returned no report"]
    problems += [f"the sweep reported a problem: {problem}" for problem in report.problems]
    actual = {(r.policy_id, r.resource.id): r.status.value for r in report.results}
    if len(actual) != len(report.results):
        problems.append(f"{len(report.results) - len(actual)} duplicate (policy, resource) results")
    for key in sorted(actual.keys() | expected.results.keys()):
        got = actual.get(key, "missing")
        if key not in expected.results:
            problems.append(f"{key[0]} on {key[1]}: {got}, planted not planted")
        elif (wanted := expected.results[key]) is None:  # no model of the policy: any verdict, but one
            if key not in actual:
                problems.append(f"{key[0]} on {key[1]}: missing, planted a result (its verdict not modelled)")
        elif got != wanted:
            problems.append(f"{key[0]} on {key[1]}: {got}, planted {wanted}")
    if set(report.archived) != expected.archived:
        extra, missing = set(report.archived) - expected.archived, expected.archived - set(report.archived)
        problems.append(f"archived: {len(extra)} not expected (e.g. {sorted(extra)[:2]}), {len(missing)} missed")
    if report.findings_imported != expected.findings_sent:
        problems.append(f"findings imported: {report.findings_imported}, expected {expected.findings_sent}")
    # A finding of a policy without a model is expected in the state its own result gives.
    wanted_store = dict(expected.store)
    for (policy_id, arn), status in expected.results.items():
        if status is None and (policy_id, arn) in actual:
            wanted_store[finding_id(policy_id, arn)] = STORED[actual[(policy_id, arn)]]
    differing = [
        key for key in store_after.keys() | wanted_store.keys() if store_after.get(key) != wanted_store.get(key)
    ]
    if differing:
        sample = sorted(differing)[:3]
        shown = "; ".join(f"{key}: {store_after.get(key)} vs {wanted_store.get(key)}" for key in sample)
        problems.append(f"Security Hub holds {len(differing)} finding(s) other than expected: {shown}")
    return problems


# --- peak memory: the sweep as the Lambda function runs it, in a process of its own ------------------

MEMORY_TAG = "sweep-memory-result "
# moto's cost per call grows with the account (its GetFindings and BatchImportFindings scan every finding it holds),
# so a sweep of 10,000 task definitions and 2,000 services takes many minutes here.
MEMORY_TIMEOUT = 3 * 3600
# The target: a sweep of a 10,000 / 2,000 account within 1.5 times the peak of a 2,000 / 500 one.
TARGET_PEAK_RATIO = 1.5

# Runs as `python -c MEMORY_CHILD` (no -I: a PYTHONPATH naming another checkout's src/ must hold in the child too).
# Only what the handler's module imports is imported before the baseline, plus the adapters' boto3, which the
# handler imports on its first invocation anyway and whose session the counters go on.
MEMORY_CHILD = f"""
import json, resource, threading, time
from collections import Counter
from types import SimpleNamespace

def status_kib(field):
    # VmHWM is this process's own peak resident set, VmRSS its resident set now, in KiB.
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1

began = time.perf_counter()
import ecsguard.handlers.sweep as sweep
from ecsguard.adapters import aws
imported = time.perf_counter()
after_imports = {{"hwm_kib": status_kib("VmHWM"), "rss_kib": status_kib("VmRSS")}}

lock = threading.Lock()
calls, attempts = Counter(), Counter()
ready = {{}}

def counter(into):
    def count(event_name, **_):
        with lock:  # the sweep's thread pools call at once
            if not ready:  # the first call: policies loaded, tracer and first client made, nothing read yet
                ready["hwm_kib"] = status_kib("VmHWM")
            into[event_name.rsplit(".", 1)[-1]] += 1
        # None: a value returned from before-call or before-send would replace the request
    return count

# A client copies its session's handlers when it is made: every client the sweep makes is counted.
events = aws._session().events
events.register("before-call", counter(calls))
events.register("before-send", counter(attempts))
context = SimpleNamespace(
    invoked_function_arn="{FUNCTION_ARN}",
    function_name="ecsguard-sweep",
    memory_limit_in_mb=512,
    aws_request_id="00000000-0000-4000-8000-000000000000",
    get_remaining_time_in_millis=lambda: 900_000,
)
started = time.perf_counter()
summary = sweep.handler({{}}, context)
wall = time.perf_counter() - started
result = {{
    "import_s": imported - began,
    "wall_s": wall,
    "after_imports": after_imports,
    "at_first_call_kib": ready.get("hwm_kib", -1),
    "hwm_kib": status_kib("VmHWM"),
    "rss_kib": status_kib("VmRSS"),
    "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "summary": summary,
    "calls": calls,
    "attempts": attempts,
}}
print("{MEMORY_TAG}" + json.dumps(result), flush=True)
"""


def memory_environment(endpoint: str, xray_port: int) -> dict[str, str]:
    """This process's environment without AWS, Lambda, Powertools or ecsguard settings; then moto's variables, the
    in-process sweeps' settings (every pack; no topic), and what the Lambda runtime and template.yaml set for the
    sweep function: tracing is active there, so the X-Ray SDK is loaded and patches botocore here too."""
    dropped = ("AWS_", "ECSGUARD_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN_", "_HANDLER")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    env.update(moto_environment(endpoint))
    env.update(
        {
            "ECSGUARD_PACKS": "all",
            "POWERTOOLS_SERVICE_NAME": "ecsguard",
            "POWERTOOLS_METRICS_NAMESPACE": "ecsguard",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "LAMBDA_TASK_ROOT": str(REPOSITORY),
            "LAMBDA_RUNTIME_DIR": str(REPOSITORY),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_LAMBDA_FUNCTION_NAME": "ecsguard-sweep",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ecsguard-sweep",
            "_HANDLER": "ecsguard.handlers.sweep.handler",
            "_X_AMZN_TRACE_ID": "Root=1-6761f3a2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )
    return env


@dataclass
class MemoryRun:
    result: dict[str, Any]  # what the child printed; empty when it failed
    existing_active: int  # ACTIVE ecsguard findings in Security Hub when it started
    ideal: dict[str, int]
    problems: list[str]


def run_memory(plan: Plan, first: SweepRun, policies: SweptPolicies, endpoint: str) -> MemoryRun:
    """The handler's sweep in a child process, on the account as sweep 1 left it (its findings in Security Hub):
    its results must be sweep 1's and the Security Hub state must not change."""
    store_before = security_hub_store()
    expected = expect(plan, store_before, policies)
    ideal = ideal_calls(plan, len(expected.existing_active), expected.findings_sent)
    run = MemoryRun({}, len(expected.existing_active), ideal, [])
    # Where the X-Ray daemon would listen: the child's segments go here, and nothing reads them.
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sink.bind(("127.0.0.1", 0))
        env = memory_environment(endpoint, sink.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD],
            env=env,
            capture_output=True,
            text=True,
            timeout=MEMORY_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        run.problems.append(f"the Lambda-like process did not finish within {MEMORY_TIMEOUT} s")
        return run
    finally:
        sink.close()
    lines = [line for line in done.stdout.splitlines() if line.startswith(MEMORY_TAG)]
    if done.returncode != 0 or len(lines) != 1:
        # Its stderr holds the handler's log and a traceback; ecsguard logs no value of a resource.
        tail = "\n".join(f"      {line}" for line in done.stderr.strip().splitlines()[-25:])
        run.problems.append(f"the Lambda-like process failed (exit status {done.returncode}); its stderr ends:\n{tail}")
        return run
    run.result = json.loads(lines[0][len(MEMORY_TAG) :])
    run.problems = check_memory(run.result, first, expected, store_before, security_hub_store())
    return run


def check_memory(
    result: Mapping[str, Any],
    first: SweepRun,
    expected: Expected,
    store_before: Mapping[str, tuple[str, str]],
    store_after: Mapping[str, tuple[str, str]],
) -> list[str]:
    """Differences between the handler's summary and sweep 1's results (the same account, checked against the
    plan), the plan's counts, and the Security Hub state, which a sweep of an unchanged account leaves as it is."""
    regions = (result.get("summary") or {}).get("regions") or []
    if len(regions) != 1:
        return [f"the handler answered for {len(regions)} Regions, not 1"]
    summary = regions[0]
    problems: list[str] = []
    statuses = dict(Counter(r.status.value for r in first.report.results)) if first.report is not None else {}
    resources = len({arn for _, arn in expected.results})
    if summary.get("results") != statuses:
        problems.append(f"results by status {summary.get('results')}, sweep 1 of the same account {statuses}")
    if summary.get("resources") != resources:
        problems.append(f"{summary.get('resources')} resources swept, planted {resources}")
    if summary.get("archived") != len(expected.archived):
        problems.append(f"{summary.get('archived')} findings archived, expected {len(expected.archived)}")
    if summary.get("findings_imported") != expected.findings_sent:
        problems.append(f"{summary.get('findings_imported')} findings imported, expected {expected.findings_sent}")
    for key in ("problems", "clusters_not_listed"):
        if summary.get(key):
            problems.append(f"{key}: {len(summary[key])}, expected none")
    if summary.get("older_than_known"):
        problems.append(f"older_than_known: {summary['older_than_known']}, expected 0")
    if not result.get("calls"):
        problems.append("no call was counted: the counters are not on the sweep's clients")
    differing = [
        key for key in store_before.keys() | store_after.keys() if store_before.get(key) != store_after.get(key)
    ]
    if differing:
        shown = "; ".join(f"{key}: {store_before.get(key)} -> {store_after.get(key)}" for key in sorted(differing)[:3])
        problems.append(f"the sweep changed {len(differing)} finding(s) of an unchanged account: {shown}")
    return problems


def _mb(kib: float) -> float:
    return kib / 1024


def print_memory(run: MemoryRun) -> None:
    print("Memory: the sweep as the Lambda function runs it, in a process of its own (moto, here, is not counted)")
    print(
        "  `python -c`: import ecsguard.handlers.sweep, then handler({}, context) (keep=False: counts only), every "
        "pack, no topic, the Lambda runtime's variables (tracing active); after sweep 1, "
        f"{run.existing_active:,} ACTIVE findings in Security Hub, the account unchanged"
    )
    result = run.result
    if result:
        peak, baseline = result["hwm_kib"], result["after_imports"]["hwm_kib"]
        calls, attempts = Counter(result["calls"]), Counter(result["attempts"])
        total, ideal = sum(calls.values()), sum(run.ideal.values())
        print(
            f"  peak resident memory (Lambda-like process): {_mb(peak):.1f} MB (after imports {_mb(baseline):.1f} MB; "
            f"the sweep added {_mb(peak - baseline):.1f} MB), wall {result['wall_s']:.1f} s, calls: {total:,} "
            f"(ideal {ideal:,}, {sum(attempts.values()) - total:,} retries)"
        )
        operations = [*[op for op in OPERATIONS if calls[op] or run.ideal[op]], *sorted(set(calls) - set(OPERATIONS))]
        print(
            "    "
            + ", ".join(
                f"{op} {calls[op]:,}" + (f" ({run.ideal[op]:,})" if op in run.ideal else "") for op in operations
            )
            + "  (ideal in brackets)"
        )
        after = _mb(result["after_imports"]["rss_kib"])
        print(
            f"  peak: VmHWM of /proc/self/status, the process's own; {_mb(result['at_first_call_kib']):.1f} MB at "
            "the sweep's first call (policies loaded, tracer and first client made, nothing read yet); resident "
            f"after imports {after:.1f} MB, at the end {_mb(result['rss_kib']):.1f} MB; handler import "
            f"{result['import_s']:.2f} s"
        )
        inherited = result["ru_maxrss_kib"]
        if abs(inherited - peak) > 1024:
            print(
                f"  (ru_maxrss said {_mb(inherited):.1f} MB: on Linux it keeps the parent's peak across fork/exec, "
                "and the parent hosts moto; VmHWM is the child's own)"
            )
        summary = result["summary"]["regions"][0] if result["summary"].get("regions") else {}
        results = ", ".join(f"{count:,} {status}" for status, count in sorted(summary.get("results", {}).items()))
        print(
            f"  handler's summary: {summary.get('resources', 0):,} resources, {results}; "
            f"{summary.get('findings_imported', 0):,} findings imported, {summary.get('archived', 0):,} archived"
        )
    print_differences(
        "NOT AS EXPECTED",
        run.problems,
        "results as sweep 1's on the same account, counts as planted, Security Hub unchanged",
    )
    print()


# --- report -------------------------------------------------------------------------------------


def _mark(met: bool) -> str:
    return "PASS" if met else "MISS"


def print_differences(title: str, differences: list[str], agreed: str) -> None:
    """The first differences from what was expected, or the line that says there were none."""
    if not differences:
        print(f"  {agreed}")
        return
    print(f"  {title} ({len(differences)}):")
    for line in differences[:15]:
        print(f"    {line}")


def print_sweep(run: SweepRun, concurrency: int, max_attempts: int) -> None:
    report, expected = run.report, run.expected
    print(f"{run.label}")
    print(f"  wall time {run.wall:8.2f} s   (concurrency {concurrency}, {max_attempts} attempts, adaptive retry mode)")
    print("  account: " + ", ".join(f"{value:,} {name}" for name, value in run.plan_counts.items()))
    print_phases(run)
    if report is not None:
        print_results(run)
        sent = run.expected.findings_sent
        actual = {(r.policy_id, r.resource.id): r.status.value for r in report.results}
        outcomes = (status or actual.get(key) for key, status in expected.results.items())
        states = Counter(STORED[status][1] for status in outcomes if status is not None)
        print(
            f"  findings: {report.findings_imported:,} imported of {len(report.findings):,} sent "
            f"({states['ACTIVE']:,} ACTIVE, {states['ARCHIVED']:,} ARCHIVED as NOT_APPLICABLE, "
            f"{len(report.archived):,} archived because the resource is gone; planted {sent:,}); "
            f"{len(expected.existing_active):,} ACTIVE findings existed before"
        )
        print(
            f"  notifications: {len(report.notifications):,} built (not sent: no topic configured); "
            f"problems: {len(report.problems)}"
        )
    print_calls(run)
    print_differences(
        "NOT AS PLANTED", run.mismatches, "results, archived findings and the Security Hub state are as planted"
    )
    print()


def print_phases(run: SweepRun) -> None:
    print("  where the time goes (seconds a call of the operation was in flight; the sweep takes a page at a time):")
    rows = [
        (f"{operation} ({'thread pool' if operation in PARALLEL_OPERATIONS else 'one by one'})", run.busy[operation])
        for operation in [*OPERATIONS, *sorted(set(run.busy) - set(OPERATIONS))]
        if operation in run.busy
    ]
    rows.append(("no call in flight: build resources, evaluate, plan findings", cpu_seconds(run)))
    for label, seconds in rows:
        print(f"    {label:<60}{seconds:8.2f} s {seconds / run.wall:6.1%}")


def print_results(run: SweepRun) -> None:
    actual: Counter[tuple[str, str]] = Counter((r.policy_id, r.status.value) for r in run.report.results)
    planted = Counter((policy_id, status) for (policy_id, _), status in run.expected.results.items())
    policies = list(dict.fromkeys(policy_id for policy_id, _ in run.expected.results))
    print("  results by status (planted in brackets when different; * no model of the policy: counted only):")
    print(f"    {'policy':<32}" + "".join(f"{status:>16}" for status in ("PASS", "FAIL", "N/A", "ERROR")))
    for policy_id in policies:
        cells = []
        for status in STATUSES:
            got, wanted = actual[(policy_id, status)], planted[(policy_id, status)]
            cells.append(f"{got:,}" if got == wanted or policy_id not in MODELLED else f"{got:,} ({wanted:,})")
        label = policy_id if policy_id in MODELLED else f"{policy_id} *"
        print(f"    {label:<32}" + "".join(f"{cell:>16}" for cell in cells))


def print_calls(run: SweepRun) -> None:
    print(
        f"  API calls  {'operation':<24}{'calls':>7}{'HTTP':>7}{'retries':>8}{'ideal':>7}  {'verdict':<8}"
        f"{'mean ms':>8}{'busy s':>8}"
    )
    total_calls = total_attempts = total_ideal = 0
    for operation in OPERATIONS:
        calls, attempts, ideal = run.calls[operation], run.attempts[operation], run.ideal[operation]
        if not calls and not ideal:
            continue
        total_calls, total_attempts, total_ideal = total_calls + calls, total_attempts + attempts, total_ideal + ideal
        latency = run.mean_latency.get(operation, 0.0) * 1000
        print(
            f"             {operation:<24}{calls:>7,}{attempts:>7,}{attempts - calls:>8,}{ideal:>7,}  "
            f"{_mark(calls <= ideal):<8}{latency:>8.1f}{run.busy.get(operation, 0.0):>8.2f}"
        )
    unexpected = sorted(set(run.calls) - set(OPERATIONS))
    for operation in unexpected:
        calls, attempts = run.calls[operation], run.attempts[operation]
        total_calls, total_attempts = total_calls + calls, total_attempts + attempts
        print(f"             {operation:<24}{calls:>7,}{attempts:>7,}{attempts - calls:>8,}{0:>7}  MISS")
    print(
        f"             {'total':<24}{total_calls:>7,}{total_attempts:>7,}{total_attempts - total_calls:>8,}"
        f"{total_ideal:>7,}  {_mark(total_calls <= total_ideal)}"
    )
    failed = sum(run.failed_calls.values())
    print(
        f"  calls <= ideal: {_mark(total_calls <= total_ideal)}; HTTP attempts = calls + retries "
        f"({total_attempts - total_calls} retries, {failed} calls answered with an error)"
    )


# --- estimate -------------------------------------------------------------------------------------


def print_estimate(
    first: SweepRun, second: SweepRun, args: argparse.Namespace, concurrency: int, policies: SweptPolicies
) -> None:
    families = max(1, round(args.estimate_task_definitions * args.families / args.task_definitions))
    families = min(max(families, math.ceil(args.estimate_task_definitions / 4)), args.estimate_task_definitions)
    clusters = max(1, round(args.estimate_services * args.clusters / max(args.services, 1)))
    plan = make_plan(args.estimate_task_definitions, args.estimate_services, families, clusters, args.seed)
    first_big = expect(plan, {}, policies)
    store = first_big.store
    second_big = expect(plan, store, policies)
    results_big = len(first_big.results)
    print(
        f"ESTIMATE (not measured) for an account of {args.estimate_task_definitions:,} task definitions and "
        f"{args.estimate_services:,} services of the same shape"
    )
    print(
        f"  ({families:,} families, {clusters:,} clusters, {len(plan.evaluated()):,} distinct revisions to evaluate, "
        f"{results_big:,} results), concurrency {concurrency}, the calls the sweep makes on AWS (= the ideal here)"
    )
    assumed = args.assumed_latency_ms / 1000
    print(f"  {'':<24}{'first sweep':>26}{'next sweeps':>26}")
    print(f"  {'operation':<24}{'calls':>8}{'@moto':>9}{'@AWS?':>9}{'calls':>8}{'@moto':>9}{'@AWS?':>9}   s/call here")
    totals = [0.0, 0.0, 0.0, 0.0]
    ideal_first = ideal_calls(plan, 0, first_big.findings_sent)
    ideal_next = ideal_calls(plan, len(second_big.existing_active), second_big.findings_sent)
    for operation in OPERATIONS:
        if not ideal_first[operation] and not ideal_next[operation]:
            continue
        per_call = effective_seconds_per_call(operation, (first, second))
        cells = []
        for index, calls in enumerate((ideal_first[operation], ideal_next[operation])):
            here = calls * per_call
            aws = aws_seconds(operation, calls, assumed, concurrency)
            totals[2 * index] += here
            totals[2 * index + 1] += aws
            cells.append(f"{calls:>8,}{here:>8.1f}s{aws:>8.1f}s")
        print(f"  {operation:<24}{''.join(cells)}   {per_call * 1000:8.2f} ms")
    cpu_per_result = (cpu_seconds(first) + cpu_seconds(second)) / (
        len(first.expected.results) + len(second.expected.results)
    )
    cpu = cpu_per_result * results_big
    totals = [total + cpu for total in totals]
    print(
        f"  {'CPU: evaluate, findings':<24}{'':>8}{cpu:>8.1f}s{cpu:>8.1f}s{'':>8}{cpu:>8.1f}s{cpu:>8.1f}s"
        f"   {cpu_per_result * 1e6:8.1f} µs/result"
    )
    print(f"  {'total':<24}{'':>8}{totals[0]:>8.1f}s{totals[1]:>8.1f}s{'':>8}{totals[2]:>8.1f}s{totals[3]:>8.1f}s")
    print(
        "  @moto: calls x the effective seconds per call measured here (the seconds a call of the operation was in "
        f"flight / its calls: the thread pool's {concurrency}-way overlap is in it; moto shares this process's GIL, "
        "and its own cost per call grows with the account)."
    )
    print(
        f"  @AWS?: an ASSUMED {args.assumed_latency_ms:.0f} ms round trip per call (--assumed-latency-ms), "
        f"divided by {concurrency} for the thread-pooled describes; GetFindings and BatchImportFindings no faster "
        "than Security Hub's quotas (3/s burst 6, 10/s burst 30); ECS's throttling is not modelled."
    )
    if policies.unmodelled:
        print(
            f"  Findings of the policies without a model ({', '.join(policies.unmodelled)}) are taken as ACTIVE "
            "(a NOT_APPLICABLE one is archived, so next sweeps' GetFindings may be fewer)."
        )
    print()


def effective_seconds_per_call(operation: str, runs: Iterable[SweepRun]) -> float:
    seconds = calls = 0.0
    for run in runs:
        if run.calls[operation]:
            seconds += run.busy.get(operation, 0.0)
            calls += run.calls[operation]
    return seconds / calls if calls else 0.0


def aws_seconds(operation: str, calls: int, latency: float, concurrency: int) -> float:
    seconds = calls * latency / (concurrency if operation in PARALLEL_OPERATIONS else 1)
    if operation in SECURITY_HUB_QUOTAS:
        rate, burst = SECURITY_HUB_QUOTAS[operation]
        seconds = max(seconds, (calls - burst) / rate)
    return seconds


def cpu_seconds(run: SweepRun) -> float:
    """The sweep's own work, while no call was in flight: building resources, evaluation, findings, archiving."""
    return max(0.0, run.wall - run.busy_any)


# --- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--task-definitions", type=int, default=2000, help="revisions to register (default 2000)")
    parser.add_argument("--families", type=int, default=None, help="families (default task definitions x 0.4)")
    parser.add_argument("--services", type=int, default=500, help="services to create (default 500)")
    parser.add_argument("--clusters", type=int, default=20, help="clusters, the last one empty (default 20)")
    parser.add_argument(
        "--churn",
        type=int,
        default=25,
        help="services deleted and latest revisions deregistered before the second sweep (default 25)",
    )
    parser.add_argument("--seed", type=int, default=11, help="random seed of the planted account (default 11)")
    parser.add_argument("--workers", type=int, default=8, help="threads that fill moto (default 8)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="the sweep's thread pool (default: the sweep's own, SweepOptions.concurrency)",
    )
    parser.add_argument("--estimate-task-definitions", type=int, default=10_000)
    parser.add_argument("--estimate-services", type=int, default=2_000)
    parser.add_argument(
        "--assumed-latency-ms",
        type=float,
        default=40.0,
        help="round trip per AWS call assumed in the estimate's @AWS? column (default 40)",
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the peak memory of the sweep in a Lambda-like process (run after sweep 1 by default)",
    )
    parser.add_argument(
        "--sizes",
        default=None,
        metavar="TD/SERVICES[/CLUSTERS],...",
        help="run the whole benchmark for each account size in turn, moto reset in between, then compare their "
        "peak memory, e.g. 2000/500,10000/2000; clusters default to --clusters x services / --services",
    )
    args = parser.parse_args(argv)
    if args.sizes is not None:
        if args.no_memory or args.families is not None:
            parser.error("--sizes compares peak memory (no --no-memory) and sets families per size (no --families)")
        sizes = parse_sizes(args.sizes, args, parser)
    else:
        sizes = [(args.task_definitions, args.services, args.clusters)]
    runs = []
    for task_definitions, services, clusters in sizes:
        families = args.families if args.families is not None else max(1, task_definitions * 2 // 5)
        runs.append(
            argparse.Namespace(
                **{
                    **vars(args),
                    "task_definitions": task_definitions,
                    "services": services,
                    "clusters": clusters,
                    "families": families,
                }
            )
        )
    for run_args in runs:
        if not run_args.families <= run_args.task_definitions <= 4 * run_args.families:
            parser.error("--task-definitions must be between --families and 4 x --families")
        if run_args.clusters < 1 or run_args.services < 0 or run_args.workers < 1:
            parser.error("--clusters and --workers must be at least 1, --services at least 0")

    try:
        emulator = start_moto()
    except Exception as error:  # noqa: BLE001 - reported, exit 2
        print(f"bench: could not start moto: {error}", file=sys.stderr)
        return 2
    try:
        set_environment(emulator.endpoint)
        status = 0
        compared: list[tuple[argparse.Namespace, MemoryRun | None]] = []
        for index, run_args in enumerate(runs):
            if len(runs) > 1:
                print(
                    f"=== account {index + 1} of {len(runs)}: {run_args.task_definitions:,} task definitions, "
                    f"{run_args.services:,} services, {run_args.clusters:,} clusters ===",
                    flush=True,
                )
            plan = make_plan(
                run_args.task_definitions, run_args.services, run_args.families, run_args.clusters, run_args.seed
            )
            try:
                if index:
                    reset_moto(emulator.endpoint)  # the previous account's resources and findings gone
                fill_seconds = fill(plan, run_args.workers)
            except Exception as error:  # noqa: BLE001 - reported, exit 2
                print(f"bench: could not fill moto: {type(error).__name__}: {error}", file=sys.stderr)
                return 2
            outcome, memory = measure(plan, run_args, fill_seconds, emulator.endpoint)
            if outcome == 2:
                return 2
            status = max(status, outcome)
            compared.append((run_args, memory))
        if len(compared) > 1:
            print_memory_comparison(compared)
        return status
    finally:
        emulator.stop()


def parse_sizes(text: str, args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[tuple[int, int, int]]:
    sizes = []
    for part in text.split(","):
        fields = part.strip().split("/")
        if len(fields) not in (2, 3) or not all(f.strip().isdigit() for f in fields):
            parser.error(f"--sizes: {part.strip()!r} is not TASK_DEFINITIONS/SERVICES[/CLUSTERS]")
        numbers = [int(f) for f in fields]
        # Without a cluster count, the shape of the --clusters / --services account, as the estimate scales it.
        clusters = (
            numbers[2] if len(numbers) == 3 else max(1, round(numbers[1] * args.clusters / max(args.services, 1)))
        )
        sizes.append((numbers[0], numbers[1], clusters))
    return sizes


def reset_moto(endpoint: str) -> None:
    """moto's reset endpoint: every backend of the server (this process's) starts empty; the patches stay."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        if answer.status != 200:
            raise EmulatorFailed(f"moto's reset answered {answer.status}")


def print_memory_comparison(compared: Sequence[tuple[argparse.Namespace, MemoryRun | None]]) -> None:
    measured = [(args, memory) for args, memory in compared if memory is not None and memory.result]
    print("Peak memory by account size: the sweep in a Lambda-like process, after sweep 1 (VmHWM)")
    print(
        f"  {'task definitions / services / clusters':<40}{'resources':>10}{'findings':>10}{'peak MB':>9}"
        f"{'imports':>9}{'1st call':>9}{'added':>7}{'wall s':>8}{'calls':>8}"
    )
    for args, memory in measured:
        result = memory.result
        summary = result["summary"]["regions"][0]
        peak, baseline = result["hwm_kib"], result["after_imports"]["hwm_kib"]
        size = f"{args.task_definitions:,} / {args.services:,} / {args.clusters:,}"
        print(
            f"  {size:<40}{summary['resources']:>10,}{memory.existing_active:>10,}{_mb(peak):>9.1f}"
            f"{_mb(baseline):>9.1f}{_mb(result['at_first_call_kib']):>9.1f}{_mb(peak - baseline):>7.1f}"
            f"{result['wall_s']:>8.1f}{sum(result['calls'].values()):>8,}"
        )
    print(
        "  (MB: peak VmHWM, after the imports, at the sweep's first call, and added by the invocation; findings: "
        "ACTIVE ecsguard findings in Security Hub when the sweep started, every one read into its index)"
    )
    if len(measured) < 2:
        print("  fewer than two sizes measured: no ratio")
        print()
        return
    (small_args, small), *others = measured
    for args, memory in others:
        peak = memory.result["hwm_kib"] / small.result["hwm_kib"]
        added = (memory.result["hwm_kib"] - memory.result["after_imports"]["hwm_kib"]) / max(
            1, small.result["hwm_kib"] - small.result["after_imports"]["hwm_kib"]
        )
        resources = memory.result["summary"]["regions"][0]["resources"] / max(
            1, small.result["summary"]["regions"][0]["resources"]
        )
        print(
            f"  {args.task_definitions:,}/{args.services:,} over {small_args.task_definitions:,}/"
            f"{small_args.services:,}: peak x{peak:.2f} (target at most x{TARGET_PEAK_RATIO}: "
            f"{_mark(peak <= TARGET_PEAK_RATIO)}), added by the sweep x{added:.2f}, resources x{resources:.2f}"
        )
    print()


def measure(plan: Plan, args: argparse.Namespace, fill_seconds: float, endpoint: str) -> tuple[int, MemoryRun | None]:
    import boto3
    import moto

    # Imported after the environment is set: the scanner module reads its settings at import.
    from ecsguard.adapters import aws
    from ecsguard.settings import Settings
    from ecsguard.wiring import build_sweeper, remember_account

    aws.client.cache_clear()
    remember_account(SimpleNamespace(invoked_function_arn=FUNCTION_ARN))
    # Every pack: the most a deployment can load (bench/README.md).
    settings = Settings.from_environment({"ECSGUARD_PACKS": "all"})
    attempts = settings.aws_max_attempts
    log = CallLog()
    # The same cached clients build_sweeper's AccountAccess uses for the own account (same arguments, same order).
    ecs = aws.client("ecs", region=REGION, max_attempts=attempts, retry_mode="adaptive")
    securityhub = aws.client("securityhub", region=REGION, max_attempts=attempts, retry_mode="adaptive")
    log.attach(ecs)
    log.attach(securityhub)

    def new_sweeper() -> Any:
        sweeper: Any = build_sweeper(settings, publish=True)
        if args.concurrency is not None:
            sweeper.options = replace(sweeper.options, concurrency=args.concurrency)
        # The counters must be on the clients the sweep really uses.
        if sweeper.inventory_for(ACCOUNT, REGION)._client is not ecs:
            raise RuntimeError("the sweep's ECS client is not the one counted")
        if sweeper.findings_for(ACCOUNT, REGION)._client is not securityhub:
            raise RuntimeError("the sweep's Security Hub client is not the one counted")
        return sweeper

    started = time.perf_counter()
    sweeper = new_sweeper()
    build_seconds = time.perf_counter() - started
    concurrency = sweeper.options.concurrency
    policies = SweptPolicies.of(sweeper.policy_set)
    missing = sorted(MODELLED - set(policies.all))
    if missing:
        print(f"bench: the benchmark has a model of {missing}, not in the sweep's policy set", file=sys.stderr)
        return 2, None
    print("ecsguard sweep benchmark")
    print(
        f"  Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; moto "
        f"{moto.__version__} ThreadedMotoServer at {endpoint} in this process; boto3 {boto3.__version__}; "
        f"seed {args.seed}"
    )
    print(
        f"  filled over HTTP in {fill_seconds:.1f} s ({args.workers} threads): {len(plan.revisions):,} task "
        f"definitions, {len(plan.clusters)} clusters, {len(plan.services):,} services; build_sweeper (loads the "
        f"policies) {build_seconds * 1000:.0f} ms, not in the sweeps' wall time"
    )
    print(
        f"  policies: {len(policies.task_definition)} on task definitions, {len(policies.service)} on services; "
        f"verdicts modelled and checked for {len(MODELLED)}, counted only for: "
        f"{', '.join(policies.unmodelled) or 'none'}"
    )
    print(
        "  moto patched in this process to page and filter as AWS does: ListTaskDefinitions, ListClusters and "
        "ListServices honour maxResults/nextToken (moto returns everything in one page), ListServices leaves "
        "out deleted services and matches its cluster exactly, GetFindings applies its Filters (moto ignores "
        "them and would page through ARCHIVED findings too) and pages with a cursor (moto's builds the whole "
        "answer for every page)"
    )
    print()

    first = run_sweep("Sweep 1: Security Hub has no findings yet", plan, sweeper, log)
    print_sweep(first, concurrency, attempts)

    memory = None
    if not args.no_memory:
        memory = run_memory(plan, first, policies, endpoint)
        print_memory(memory)

    deleted, deregistered = churn(plan, args.churn, args.seed)
    apply_churn(deleted, deregistered, args.workers)
    label = (
        f"Sweep 2: with sweep 1's findings, after {len(deleted)} services were deleted and "
        f"{len(deregistered)} families' latest revisions deregistered"
    )
    second = run_sweep(label, plan, new_sweeper(), log)
    print_sweep(second, concurrency, attempts)

    print_estimate(first, second, args, concurrency, policies)
    failed = first.mismatches or second.mismatches or (memory is not None and memory.problems)
    return (1 if failed else 0), memory


if __name__ == "__main__":
    sys.exit(main())
