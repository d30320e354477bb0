"""Throughput benchmark: the declarative engine against hand-written Python doing the same checks.

Generates realistic ECS task definitions and services (deterministically, from a seed), then times:

- the engine: ``build_task_definition`` (pydantic normalisation) plus ``PolicySet.evaluate`` for each
  raw dict, exactly as a scan does; and, for information, the evaluation alone over pre-built models;
- a plain hand-written implementation of four of the policies (their "twins", in handwritten.py: secrets,
  ECR images, awsvpc, EFS platform) over the raw dicts, using the same regular expressions and parameter
  defaults, read from the policy files.

The engine runs the whole policy set of ``policies/`` (what a scan costs); when the set holds policies without
a twin, the engine is also timed on the twinned policies alone, which is the like-for-like comparison with the
hand-written code. Everything runs in this one process, on one thread, best of ``--repeat`` runs each. The
engine remembers the answers of its regular expressions by text (``operators.Memo``: values and names repeat
across containers and revisions); every timed run starts with those memos empty, as a new process does, and
the engine is also timed with nothing remembered, the worst case of inputs whose every value is new. The
hand-written verdicts must equal the engine's for every twinned (policy, resource) pair: the benchmark is also
a cross-check and exits with status 1 on any disagreement. A missed throughput target is reported, not an
error (status 0); status 2 means a twinned policy is missing from the set.

Run: ``make bench`` or ``.venv/bin/python bench/throughput.py [--count 10000] [--seed 7] [--profile]``.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ecsguard.catalog import load_policy_set
from ecsguard.core import operators
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import Cluster, ResourceType, TaskDefinition
from ecsguard.core.resources import Resource, Unresolved, build_service, build_task_definition, normalise
from handwritten import (
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    POLICY_DIR,
    SERVICE_POLICIES,
    TASK_DEFINITION_POLICIES,
    TWINNED,
    HandResult,
    HandWritten,
    Raw,
)

TARGET_RATE = 5000.0  # task definitions per second, engine including normalisation
TARGET_RATIO = 3.0  # engine time / hand-written time


# --- generated inputs -----------------------------------------------------------------

ACCOUNTS = ("123456789012", "210987654321", "555566667777", "111122223333")
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
REPOSITORIES = (
    "web",
    "api",
    "worker",
    "payments/api",
    "payments/ledger-writer",
    "team-a/billing-service",
    "platform/nginx-proxy",
    "ml/feature_store",
)
FAMILIES = ("web", "api", "worker", "checkout", "ledger", "search", "notifier", "reports", "ingest", "auth-gateway")


def _token(rng: random.Random, length: int, alphabet: str) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _hex(rng: random.Random, length: int) -> str:
    return _token(rng, length, "0123456789abcdef")


def _secrets_manager_arn(rng: random.Random) -> str:
    name = (
        f"prod/{rng.choice(FAMILIES)}/{rng.choice(('db', 'api', 'jwt', 'smtp'))}-{_token(rng, 6, string.ascii_letters)}"
    )
    return f"arn:aws:secretsmanager:{rng.choice(REGIONS)}:{rng.choice(ACCOUNTS)}:secret:{name}"


ORDINARY_VARIABLES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("LOG_LEVEL", lambda r: r.choice(("DEBUG", "INFO", "WARN", "ERROR"))),
    ("PORT", lambda r: str(r.choice((80, 3000, 8080, 8443, 9000)))),
    ("DB_HOST", lambda r: f"db-{r.randrange(1, 9)}.cluster-c9akcixyz.eu-west-1.rds.amazonaws.com"),
    ("DB_PORT", lambda r: r.choice(("5432", "3306"))),
    ("DB_NAME", lambda r: r.choice(("app", "orders", "ledger"))),
    ("DB_USER", lambda r: r.choice(("app", "readonly", "svc_orders"))),
    ("REDIS_HOST", lambda r: f"redis-{r.randrange(1, 5)}.abc123.cache.amazonaws.com"),
    ("AWS_REGION", lambda r: r.choice(REGIONS)),
    ("NODE_ENV", lambda r: r.choice(("production", "staging"))),
    ("JAVA_OPTS", lambda r: f"-Xms{r.choice((256, 512))}m -Xmx{r.choice((512, 1024, 2048))}m -XX:+UseG1GC"),
    ("SPRING_PROFILES_ACTIVE", lambda r: r.choice(("prod", "prod,aws", "staging"))),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", lambda r: "http://localhost:4317"),
    ("SERVICE_NAME", lambda r: r.choice(FAMILIES)),
    ("HTTP_TIMEOUT_MS", lambda r: str(r.choice((500, 1000, 3000, 10000)))),
    ("MAX_CONNECTIONS", lambda r: str(r.randrange(10, 500))),
    ("QUEUE_URL", lambda r: f"https://sqs.us-east-1.amazonaws.com/{r.choice(ACCOUNTS)}/jobs-{r.randrange(9)}"),
    ("BUCKET_NAME", lambda r: f"acme-{r.choice(('uploads', 'reports', 'exports'))}-prod"),
    ("TZ", lambda r: r.choice(("UTC", "Europe/Paris", "America/New_York"))),
    ("WORKERS", lambda r: str(r.randrange(1, 17))),
    ("CACHE_TTL", lambda r: str(r.choice((60, 300, 3600)))),
    ("FEATURE_FLAGS", lambda r: ",".join(r.sample(("beta-ui", "new-pricing", "dark-mode", "fast-path"), 2))),
    ("DD_ENV", lambda r: r.choice(("prod", "staging"))),
    ("DD_SERVICE", lambda r: r.choice(FAMILIES)),
    (
        "SENTRY_DSN",
        lambda r: f"https://{_hex(r, 32)}@o{r.randrange(10**5, 10**6)}.ingest.sentry.io/{r.randrange(10**6)}",
    ),
    ("METRICS_PATH", lambda r: "/metrics"),
    ("GIT_SHA", lambda r: _hex(r, 40)),
    ("BUILD_ID", lambda r: str(r.randrange(10**6))),
)
# Secret-like words that only describe a secret (descriptive_name_pattern), or secret-like names with
# values that cannot be a plaintext secret (empty, a boolean, an ARN): all of these pass.
HARMLESS_SECRET_LIKE_VARIABLES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("DB_SECRET_ARN", _secrets_manager_arn),
    ("TOKEN_TTL", lambda r: str(r.choice((300, 900, 3600)))),
    ("PASSWORD_MIN_LENGTH", lambda r: str(r.choice((12, 14, 16)))),
    ("AUTH_ENABLED", lambda r: r.choice(("true", "false"))),
    ("JWT_SECRET_NAME", lambda r: f"prod/{r.choice(FAMILIES)}/jwt"),
    ("API_KEY_HEADER", lambda r: "X-Api-Key"),
    ("SECRET_ROTATION_DAYS", lambda r: "30"),
    ("OAUTH_TOKEN_URL", lambda r: "https://login.example.com/oauth2/token"),
    ("SESSION_TOKEN_EXPIRY", lambda r: "900"),
    ("CREDENTIALS_PROVIDER", lambda r: "ecs"),
    ("PRIVATE_KEY_PATH", lambda r: "/run/secrets/signing.pem"),
    ("AUTH", lambda r: r.choice(("off", "on", "yes"))),
    ("DB_PASSWORD", lambda r: ""),
    ("API_KEY", _secrets_manager_arn),
)
PLAINTEXT_SECRET_VARIABLES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("DB_PASSWORD", lambda r: _token(r, 16, string.ascii_letters + string.digits + "!#%")),
    ("API_KEY", lambda r: _hex(r, 32)),
    ("SESSION_SECRET", lambda r: _token(r, 48, string.ascii_letters + string.digits)),
    ("AWS_SECRET_ACCESS_KEY", lambda r: _token(r, 40, string.ascii_letters + string.digits + "/+")),
    ("STRIPE_WEBHOOK_SECRET", lambda r: "whsec_" + _token(r, 32, string.ascii_letters + string.digits)),
    ("ECS_ENGINE_AUTH_DATA", lambda r: _token(r, 24, string.ascii_letters + string.digits)),
    ("REDIS_AUTH", lambda r: _hex(r, 24)),
)
# Values shaped like a known credential, under any name (credential_patterns).
CREDENTIAL_VARIABLES: tuple[tuple[str, Callable[[random.Random], str]], ...] = (
    ("AWS_ACCESS_KEY_ID", lambda r: "AKIA" + _token(r, 16, string.ascii_uppercase + string.digits)),
    ("UPLOADER", lambda r: "AKIA" + _token(r, 16, string.ascii_uppercase + string.digits)),
    ("GITHUB_CLONE", lambda r: "ghp_" + _token(r, 36, string.ascii_letters + string.digits)),
    ("DATABASE_URL", lambda r: f"postgres://app:{_hex(r, 12)}@db.internal:5432/app"),
    ("SLACK_HOOK", lambda r: f"https://hooks.slack.com/services/T{_hex(r, 8)}/B{_hex(r, 8)}/{_hex(r, 24)}"),
    ("NPM_CONFIG", lambda r: "npm_" + _token(r, 36, string.ascii_letters + string.digits)),
)


def _managed_value_from(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return _secrets_manager_arn(rng)
    if roll < 0.55:
        return _secrets_manager_arn(rng) + rng.choice((":password::", ":username:AWSCURRENT:", "::AWSPREVIOUS:"))
    if roll < 0.8:
        region, account = rng.choice(REGIONS), rng.choice(ACCOUNTS)
        return f"arn:aws:ssm:{region}:{account}:parameter/prod/{rng.choice(FAMILIES)}/{rng.choice(('key', 'token'))}"
    if roll < 0.95:
        return f"/prod/{rng.choice(FAMILIES)}/{rng.choice(('api-key', 'db_password', 'smtp.pass'))}"
    return rng.choice(("api-key", "DbPassword", "smtp.pass"))


def _bad_value_from(rng: random.Random) -> str:
    return rng.choice(
        (
            "arn:aws:s3:::acme-config/prod/secrets.env",  # neither Secrets Manager nor SSM
            "my db password",  # not a parameter name
            f"arn:aws:secretsmanager:us-east-1:{rng.choice(ACCOUNTS)}:secret:AKIA{_token(rng, 16, 'ABCDEFGH2345')}",
            "postgres://app:hunter2@db.internal/app",
        )
    )


def _image(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.86:
        account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        host = rng.choices(
            (
                f"{account}.dkr.ecr.{region}.amazonaws.com",
                f"{account}.dkr.ecr-fips.us-east-1.amazonaws.com",
                f"{account}.dkr.ecr.cn-north-1.amazonaws.com.cn",
                f"{account}.dkr-ecr.{region}.on.aws",
            ),
            weights=(94, 2, 2, 2),
        )[0]
        reference = rng.choice(
            (
                f":{rng.randrange(1, 4)}.{rng.randrange(20)}.{rng.randrange(10)}",
                ":latest",
                f":sha-{_hex(rng, 7)}",
                f"@sha256:{_hex(rng, 64)}",
                f":v2024.{rng.randrange(1, 13):02d}.{rng.randrange(1, 29):02d}",
            )
        )
        return f"{host}/{rng.choice(REPOSITORIES)}{reference}"
    if roll < 0.92:
        return rng.choice(
            (
                "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                "public.ecr.aws/datadog/agent:7",
                "public.ecr.aws/nginx/nginx:1.27-alpine",
            )
        )
    if roll < 0.995:
        return rng.choice(("nginx:1.27", "datadog/agent:latest", "redis:7-alpine", "ghcr.io/acme/tool:1.2.0", "nginx"))
    # Look-alike registries that must fail.
    return rng.choice(
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/app:1",
            "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/App:1",
        )
    )


def _environment(rng: random.Random, plaintext: bool, credential: bool) -> list[Raw]:
    """3 to 15 variables: mostly ordinary, a few secret-like but harmless, and the requested flaws."""
    total = rng.randint(3, 15)
    variables: dict[str, str] = {}
    for name, make in rng.sample(HARMLESS_SECRET_LIKE_VARIABLES, rng.randint(0, min(3, total - 2))):
        variables[name] = make(rng)
    if plaintext:
        name, make = rng.choice(PLAINTEXT_SECRET_VARIABLES)
        variables[name] = make(rng)
    if credential:
        name, make = rng.choice(CREDENTIAL_VARIABLES)
        variables[name] = make(rng)
    for name, make in rng.sample(ORDINARY_VARIABLES, max(0, total - len(variables))):
        variables[name] = make(rng)
    names = list(variables)
    rng.shuffle(names)
    return [{"name": name, "value": variables[name]} for name in names]


def _log_configuration(rng: random.Random, family: str, bad_secret: bool) -> Raw | None:
    roll = rng.random()
    if roll < 0.84:
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{family}",
                "awslogs-region": rng.choice(REGIONS),
                "awslogs-stream-prefix": "ecs",
            },
        }
    if roll < 0.92:
        return {
            "logDriver": "splunk",
            "options": {"splunk-url": "https://splunk.example.com:8088", "splunk-format": "json"},
            "secretOptions": [
                {"name": "splunk-token", "valueFrom": _bad_value_from(rng) if bad_secret else _managed_value_from(rng)}
            ],
        }
    if roll < 0.98:
        return {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch_logs", "region": rng.choice(REGIONS)}}
    return None


def _container(rng: random.Random, family: str, index: int, flaws: set[str]) -> Raw:
    image = _image(rng)
    container: Raw = {
        "name": family if index == 0 else rng.choice(("log-router", "datadog-agent", "envoy", "migrations", "sidecar")),
        "image": image,
        "cpu": rng.choice((0, 128, 256, 512)),
        "memory": rng.choice((256, 512, 1024, 2048)),
        "essential": index == 0,
        "portMappings": [{"containerPort": rng.choice((80, 8080, 9000)), "hostPort": 0, "protocol": "tcp"}]
        if index == 0
        else [],
        "environment": _environment(rng, "plaintext" in flaws and index == 0, "credential" in flaws and index == 0),
        "mountPoints": [],
        "volumesFrom": [],
    }
    secret_count = rng.choice((0, 0, 1, 1, 2, 3, 4))
    secrets = [{"name": f"SECRET_{n}", "valueFrom": _managed_value_from(rng)} for n in range(secret_count)]
    if "bad_secret" in flaws and index == 0:
        secrets.append({"name": "LEGACY_PASSWORD", "valueFrom": _bad_value_from(rng)})
    if secrets:
        container["secrets"] = secrets
    log_configuration = _log_configuration(rng, family, "bad_log_secret" in flaws and index == 0)
    if log_configuration is not None:
        container["logConfiguration"] = log_configuration
    if ".dkr.ecr" not in image and ".dkr-ecr" not in image and rng.random() < 0.5:
        parameter = (
            f"arn:aws:ssm:us-east-1:{rng.choice(ACCOUNTS)}:parameter/dockerhub"
            if rng.random() < 0.1
            else _secrets_manager_arn(rng)
        )
        container["repositoryCredentials"] = {"credentialsParameter": parameter}
    if rng.random() < 0.05:
        container["environmentFiles"] = [{"value": f"arn:aws:s3:::acme-config/{family}.env", "type": "s3"}]
    if rng.random() < 0.3:
        container["healthCheck"] = {
            "command": ["CMD-SHELL", "curl -f http://localhost/health || exit 1"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
        }
    if rng.random() < 0.2:
        container["ulimits"] = [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]
    return container


def generate_task_definition(rng: random.Random, serial: int, efs: bool = False) -> Raw:
    family = f"{rng.choice(FAMILIES)}-{serial % 997}"
    revision = rng.randrange(1, 200)
    account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
    flaws = {
        flaw
        for flaw, probability in (
            ("plaintext", 0.05),
            ("credential", 0.02),
            ("bad_secret", 0.01),
            ("bad_log_secret", 0.01),
        )
        if rng.random() < probability
    }
    containers = [
        _container(rng, family, index, flaws) for index in range(rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0])
    ]
    task: Raw = {
        "taskDefinitionArn": f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}",
        "family": family,
        "revision": revision,
        "status": "ACTIVE",
        "containerDefinitions": containers,
        "taskRoleArn": f"arn:aws:iam::{account}:role/{family}-task",
        "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
        "volumes": [],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresCompatibilities": ["FARGATE"],
        "cpu": rng.choice(("256", "512", "1024", "2048")),
        "memory": rng.choice(("512", "1024", "2048", "4096")),
        "registeredAt": "2025-06-01T12:00:00.000Z",
        "registeredBy": f"arn:aws:sts::{account}:assumed-role/deployer/ci",
    }
    mode = rng.choices(("awsvpc", "bridge", "host", None, "none"), (80, 10, 3, 6, 1))[0]
    if mode is not None:
        task["networkMode"] = mode
    if efs:
        task["volumes"] = [
            {
                "name": "shared",
                "efsVolumeConfiguration": {
                    "fileSystemId": f"fs-{_hex(rng, 17)}",
                    "rootDirectory": "/",
                    "transitEncryption": "ENABLED",
                    "authorizationConfig": {"accessPointId": f"fsap-{_hex(rng, 17)}", "iam": "ENABLED"},
                },
            }
        ]
        containers[0]["mountPoints"] = [{"sourceVolume": "shared", "containerPath": "/mnt/shared", "readOnly": False}]
    elif rng.random() < 0.1:
        task["volumes"] = [{"name": "scratch", "host": {}}]
    if rng.random() < 0.3:
        task["tags"] = [{"key": "team", "value": rng.choice(("payments", "platform", "growth"))}]
    return task


CLUSTERS: dict[str, Raw] = {
    "prod-fargate": {
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod-fargate",
        "clusterName": "prod-fargate",
        "status": "ACTIVE",
        "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
        "defaultCapacityProviderStrategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        ],
    },
    "prod-ec2": {
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod-ec2",
        "clusterName": "prod-ec2",
        "status": "ACTIVE",
        "capacityProviders": ["asg-m7g"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "asg-m7g", "weight": 1, "base": 0}],
    },
    "legacy": {
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/legacy",
        "clusterName": "legacy",
        "status": "ACTIVE",
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    },
}


def generate_service(rng: random.Random, serial: int) -> tuple[Raw, Raw, str]:
    """A DescribeServices item, its task definition and the name of its cluster ("unknown" is not scanned)."""
    efs = rng.random() < 0.45
    task = generate_task_definition(rng, serial, efs=efs)
    cluster = rng.choices(("prod-fargate", "prod-ec2", "legacy", "unknown"), (50, 25, 15, 10))[0]
    service: Raw = {
        "serviceArn": f"arn:aws:ecs:eu-west-1:123456789012:service/{cluster}/{task['family']}-svc-{serial}",
        "serviceName": f"{task['family']}-svc-{serial}",
        "clusterArn": f"arn:aws:ecs:eu-west-1:123456789012:cluster/{cluster}",
        "status": "ACTIVE",
        "taskDefinition": task["taskDefinitionArn"],
        "desiredCount": rng.randrange(1, 10),
        "runningCount": rng.randrange(0, 10),
        "pendingCount": 0,
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "createdAt": "2025-05-01T08:00:00.000Z",
        "enableExecuteCommand": rng.random() < 0.2,
    }
    placement = rng.choices(("launch_fargate", "launch_ec2", "strategy", "cluster_default"), (45, 20, 15, 20))[0]
    maybe_fargate = placement in ("launch_fargate", "cluster_default")
    if placement == "launch_fargate":
        service["launchType"] = "FARGATE"
    elif placement == "launch_ec2":
        service["launchType"] = "EC2"
    elif placement == "strategy":
        providers = rng.choice((["FARGATE_SPOT"], ["FARGATE", "FARGATE_SPOT"], ["asg-m7g"]))
        service["capacityProviderStrategy"] = [{"capacityProvider": name, "weight": 1, "base": 0} for name in providers]
        maybe_fargate = providers != ["asg-m7g"]
    if maybe_fargate:
        version = rng.choices(("LATEST", "1.4.0", "1.3.0", "1.2.0", "1.0.0", None), (40, 35, 10, 5, 3, 7))[0]
        if version is not None:
            service["platformVersion"] = version
        service["platformFamily"] = "Linux"
        service["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
                "securityGroups": ["sg-0123456789abcdef0"],
                "assignPublicIp": "DISABLED",
            }
        }
    if rng.random() < 0.6:
        service["loadBalancers"] = [
            {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{serial}/abc",
                "containerName": task["containerDefinitions"][0]["name"],
                "containerPort": 8080,
            }
        ]
    return service, task, cluster


# --- measurement ----------------------------------------------------------------------


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        operators.forget_answers()  # each run starts as a new process does
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class Workload:
    task_definitions: list[Raw]
    services: list[tuple[Raw, Raw, Raw | None]]  # service, its task definition, its cluster (None: not scanned)


def generate(count: int, service_count: int, seed: int) -> Workload:
    rng = random.Random(seed)
    task_definitions = [generate_task_definition(rng, serial) for serial in range(count)]
    services = []
    for serial in range(service_count):
        service, task, cluster = generate_service(rng, serial)
        services.append((service, task, CLUSTERS.get(cluster)))
    return Workload(task_definitions, services)


def engine_service_inputs(workload: Workload) -> list[tuple[Raw, Raw, Raw | Unresolved]]:
    """The service's related resources are separate inputs of a scan, normalised once, outside the timing."""
    clusters = {name: normalise(Cluster, raw) for name, raw in CLUSTERS.items()}
    unknown = Unresolved("cluster 'unknown' is not among the scanned inputs")
    prepared = []
    for service, task, cluster in workload.services:
        name = cluster["clusterName"] if cluster is not None else None
        prepared.append((service, normalise(TaskDefinition, task), clusters[name] if name else unknown))
    return prepared


def engine_verdicts(policy_set: PolicySet, resources: Iterable[Resource]) -> list[dict[str, str]]:
    verdicts = []
    for resource in resources:
        verdicts.append({result.policy_id: result.status.value for result in policy_set.evaluate([resource])})
    return verdicts


def twinned_subset(policy_set: PolicySet) -> PolicySet:
    """The set's policies that HandWritten has a twin of, in the set's order."""
    return PolicySet(tuple(policy for policy in policy_set.policies if policy.id in TWINNED))


def compare(
    kind: str, ids: Sequence[str], engine: Sequence[Mapping[str, str]], hand: Sequence[Sequence[HandResult]]
) -> tuple[int, Counter[tuple[str, str]], list[str]]:
    """Disagreements on the twinned policies (every engine verdict of theirs against the hand-written one), and
    the engine's verdicts of every policy, twinned or not, counted."""
    disagreements = 0
    tally: Counter[tuple[str, str]] = Counter()
    examples: list[str] = []
    for identifier, all_verdicts, hand_results in zip(ids, engine, hand, strict=True):
        hand_verdict = {result.policy_id: result.status for result in hand_results}
        for policy_id, status in all_verdicts.items():
            tally[(policy_id, status)] += 1
        engine_verdict = {policy_id: status for policy_id, status in all_verdicts.items() if policy_id in TWINNED}
        if hand_verdict != engine_verdict:
            disagreements += 1
            if len(examples) < 10:
                engine_sorted, hand_sorted = dict(sorted(engine_verdict.items())), dict(sorted(hand_verdict.items()))
                examples.append(f"  {kind} {identifier}: engine {engine_sorted} hand-written {hand_sorted}")
    return disagreements, tally, examples


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="task definitions to generate (default 10000)")
    parser.add_argument("--services", type=int, default=None, help="services to generate (default count/5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated inputs (default 7)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions, the best is kept (default 3)")
    parser.add_argument("--profile", action="store_true", help="also profile the engine loop with cProfile")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    service_count = args.count // 5 if args.services is None else args.services

    policy_set = load_policy_set(POLICY_DIR)
    loaded = sorted(policy.id for policy in policy_set.policies)
    missing = sorted(TWINNED - set(loaded))
    if missing:
        print(f"bench: the hand-written code twins {missing}, not in {POLICY_DIR} (found {loaded})", file=sys.stderr)
        return 2
    untwinned = [policy_id for policy_id in loaded if policy_id not in TWINNED]
    remembering = operators.MEMO_ENTRIES
    operators.MEMO_ENTRIES = 0  # the same policies, compiled with memos that keep nothing
    forgetful_set = load_policy_set(POLICY_DIR)
    operators.MEMO_ENTRIES = remembering
    # Like for like with the hand-written code, which searches every value: the twinned policies, remembering
    # nothing.
    twins = twinned_subset(forgetful_set)
    hand = HandWritten()
    workload = generate(args.count, service_count, args.seed)
    tds = workload.task_definitions
    service_inputs = engine_service_inputs(workload)
    evaluate = policy_set.evaluate
    evaluate_twins = twins.evaluate
    evaluate_forgetful = forgetful_set.evaluate

    # Cross-check first (untimed): every verdict of the hand-written code equals the engine's.
    td_resources = [build_task_definition(raw, "bench") for raw in tds]
    td_engine = engine_verdicts(policy_set, td_resources)
    td_hand = [hand.task_definition(raw) for raw in tds]
    svc_resources = [build_service(raw, "bench", task, cluster) for raw, task, cluster in service_inputs]
    svc_engine = engine_verdicts(policy_set, svc_resources)
    svc_hand = [hand.service(raw, task, cluster) for raw, task, cluster in workload.services]
    td_bad, td_tally, td_examples = compare("task definition", [r.id for r in td_resources], td_engine, td_hand)
    svc_bad, svc_tally, svc_examples = compare("service", [r.id for r in svc_resources], svc_engine, svc_hand)

    # Timing.
    def engine_td() -> None:
        for raw in tds:
            evaluate([build_task_definition(raw, "bench")])

    def engine_td_forgetful() -> None:
        for raw in tds:
            evaluate_forgetful([build_task_definition(raw, "bench")])

    def engine_td_evaluation_only() -> None:
        for resource in td_resources:
            evaluate([resource])

    def engine_td_twins() -> None:
        for raw in tds:
            evaluate_twins([build_task_definition(raw, "bench")])

    def hand_td() -> None:
        check = hand.task_definition
        for raw in tds:
            check(raw)

    def engine_svc() -> None:
        for raw, task, cluster in service_inputs:
            evaluate([build_service(raw, "bench", task, cluster)])

    def engine_svc_evaluation_only() -> None:
        for resource in svc_resources:
            evaluate([resource])

    def engine_svc_twins() -> None:
        for raw, task, cluster in service_inputs:
            evaluate_twins([build_service(raw, "bench", task, cluster)])

    def hand_svc() -> None:
        check = hand.service
        for raw, task, cluster in workload.services:
            check(raw, task, cluster)

    repeat = args.repeat
    t_engine = best_of(repeat, engine_td)
    t_engine_eval = best_of(repeat, engine_td_evaluation_only)
    t_forgetful = best_of(repeat, engine_td_forgetful)
    t_hand = best_of(repeat, hand_td)
    # Like for like with the hand-written code: the twinned policies alone, remembering nothing.
    t_twins = best_of(repeat, engine_td_twins)
    n_svc = len(workload.services)
    if n_svc:
        t_engine_svc = best_of(repeat, engine_svc)
        t_engine_svc_eval = best_of(repeat, engine_svc_evaluation_only)
        t_hand_svc = best_of(repeat, hand_svc)
        t_twins_svc = best_of(repeat, engine_svc_twins)

    # Report.
    n = len(tds)
    containers = sum(len(raw["containerDefinitions"]) for raw in tds)
    variables = sum(len(c.get("environment") or ()) for raw in tds for c in raw["containerDefinitions"])
    distinct_values = len(
        {v.get("value") for raw in tds for c in raw["containerDefinitions"] for v in c.get("environment") or ()}
    )
    print("ecsguard throughput benchmark")
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}; "
        f"one process, one thread; best of {repeat} runs; seed {args.seed}"
    )
    print(
        f"  inputs: {n:,} task definitions ({containers / n:.2f} containers and {variables / containers:.1f} "
        f"environment variables per container on average; {distinct_values / max(variables, 1):.0%} of the "
        f"variables' values distinct), {n_svc:,} services"
    )
    print(
        f"  policy set: {len(loaded)} policies from {POLICY_DIR}; cross-checked against hand-written twins: "
        f"{len(TWINNED)}; timed and counted only: {', '.join(untwinned) or 'none'}"
    )
    print()
    print("Verdicts (engine; hand-written identical unless listed below; * no hand-written twin, not cross-checked)")
    print(f"  {'policy':<32}{'PASS':>8}{'FAIL':>8}{'N/A':>8}{'ERROR':>8}")
    tally = td_tally + svc_tally
    for policy in policy_set.policies:
        counts = [tally[(policy.id, status)] for status in (PASS, FAIL, NOT_APPLICABLE, ERROR)]
        label = policy.id if policy.id in TWINNED else f"{policy.id} *"
        print(f"  {label:<32}" + "".join(f"{value:>8,}" for value in counts))
    disagreements = td_bad + svc_bad
    print(f"  disagreements: {td_bad} of {n:,} task definitions, {svc_bad} of {n_svc:,} services")
    for line in td_examples + svc_examples:
        print(line)
    td_policies = policy_set.for_type(ResourceType.TASK_DEFINITION)
    svc_policies = policy_set.for_type(ResourceType.SERVICE)
    twins_note = f", {len(TASK_DEFINITION_POLICIES)} of them twinned" if untwinned else ""
    print()
    print(f"Task definitions ({_policies(len(td_policies))} each{twins_note}; the service policies do not apply)")
    print(f"  {'':<48}{'td/s':>10}{'µs/td':>9}{'vs hand-written':>18}")
    rows = [
        ("hand-written, raw dicts", t_hand),
        ("engine, normalisation + evaluation", t_engine),
        ("engine, evaluation only (models pre-built)", t_engine_eval),
        ("engine, nothing remembered", t_forgetful),
    ]
    rows.append(("engine, twins only, nothing remembered", t_twins))
    for label, seconds in rows:
        print(f"  {label:<48}{_rate(n, seconds)}{seconds / n * 1e6:>9.1f}{seconds / t_hand:>17.2f}x")
    if n_svc:
        twins_note = f", {len(SERVICE_POLICIES)} of them twinned" if untwinned else ""
        print()
        print(
            f"Services ({_policies(len(svc_policies))} each{twins_note}; "
            "task definition and cluster resolved beforehand)"
        )
        print(f"  {'':<48}{'svc/s':>10}{'µs/svc':>9}{'vs hand-written':>18}")
        rows = [
            ("hand-written, raw dicts", t_hand_svc),
            ("engine, normalisation + evaluation", t_engine_svc),
            ("engine, evaluation only (models pre-built)", t_engine_svc_eval),
        ]
        rows.append(("engine, twins only, nothing remembered", t_twins_svc))
        for label, seconds in rows:
            print(f"  {label:<48}{_rate(n_svc, seconds)}{seconds / n_svc * 1e6:>9.1f}{seconds / t_hand_svc:>17.2f}x")
    print()
    # Throughput is what a scan pays, over the whole set; the slowdown compares the same checks on both sides.
    rate, ratio = n / t_engine, t_twins / t_hand
    print(
        "Targets (engine including normalisation, task definitions; throughput over the whole set"
        + (", slowdown over the twinned policies, nothing remembered)" if untwinned else ", nothing remembered)")
    )
    print(f"  throughput >= {TARGET_RATE:,.0f} td/s on one core: {rate:>10,.0f} td/s   {_mark(rate >= TARGET_RATE)}")
    print(
        f"  slowdown vs hand-written <= {TARGET_RATIO:.1f}x:       {ratio:>10.2f}x      {_mark(ratio <= TARGET_RATIO)}"
    )

    if args.profile:
        _profile(engine_td)
    if disagreements:
        print(
            f"\nbench: {disagreements} resource(s) where the engine and the hand-written checks disagree",
            file=sys.stderr,
        )
        return 1
    return 0


def _policies(count: int) -> str:
    return f"{count} policy" if count == 1 else f"{count} policies"


def _mark(met: bool) -> str:
    return "PASS" if met else "MISS"


def _profile(run: Callable[[], None]) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(run)
    print("\nProfile of the engine loop (normalisation + evaluation), by own time")
    pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(20)
    print("Profile of the engine loop, by cumulative time")
    pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
