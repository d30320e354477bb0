"""Template benchmark: ``ecsguard scan`` on CloudFormation templates next to Checkov, on the same files, in the
same run.

Writes ``--templates`` (default 1,000) CloudFormation templates into a temporary folder, deterministically from
``--seed``, shaped like the stacks of real repositories: each an ECS cluster, an execution role (often a task
role too), a log group, a security group, one or two task definitions of 1 to 4 containers and a Fargate
service for each (``!Ref`` of its task definition and of the cluster, ``AssignPublicIp``, ``PlatformVersion``
``LATEST``, pinned or unset), sometimes a Secrets Manager secret, an EFS file system or an ECR repository, with
parameters, conditions and outputs. Images mostly from ECR (``!Sub
${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/...``, ``!GetAtt Repository.RepositoryUri``, a literal
URI, an old-style ``!Join``), sidecars from ECR Public; environment variables mostly ordinary, some from
``!Ref``/``!Sub``; ``Secrets`` with ``ValueFrom`` (ARNs, ``!Ref`` of the secret, ``!Sub`` of a parameter
name). Planted flaws, each in a share of the templates: a plaintext secret or a credential-shaped value in a
container's environment, a ``NoEcho`` parameter's default passed in the environment, a
``{{resolve:secretsmanager:...}}`` reference in the environment, a Docker Hub image, a privileged container,
an EFS volume without transit encryption, a public IP, a pinned platform version, Container Insights turned
off. 70 % are YAML with short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``, ``!Join``), 10 % YAML
with the long forms (``Fn::Sub:``), 20 % JSON; ``.yaml``, ``.yml`` and ``.json``.

Then it times whole processes, as users run them (launch to exit, seen from here; the median and the best of
``--repeat`` rounds after one untimed warm-up each, the commands taking turns), each on the same folder:

- ``ecsguard scan --format json <folder>``, the venv's console script, with its default packs, and again with
  ``--pack all``;
- ``checkov -d <folder> --framework cloudformation --output json --quiet --compact --skip-download``, Checkov
  ``CHECKOV_VERSION`` installed by this benchmark in a virtual environment of its own (``--checkov-venv``,
  default ``~/.cache/ecsguard-bench/checkov-venv``, reused when it holds that version; Checkov is never a
  dependency of ecsguard nor imported into its venv), run offline: ``--skip-download`` and
  ``BC_SKIP_MAPPING=TRUE`` (no policy metadata or guidelines fetched), ``CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE``
  (no PyPI version check at import), no API key in its environment (so nothing is uploaded); the leanest
  Checkov run, so the ratio to it is the one least favourable to ecsguard;
- the same without ``--quiet --compact``: Checkov's default JSON, with its passed checks (ecsguard's report has
  its PASS results too) and each resource's code block;
- each tool on a folder of one template (the first), for the fixed start-up cost; the per-template cost is the
  rest of the median over the other templates.

Each command's stdout goes to a file. Wall time is taken here around the process; CPU time (user + system,
the process and the children it waited for: Checkov forks ``os.cpu_count()`` workers to parse) and peak
resident memory (the largest of those processes) come from ``/usr/bin/time`` (``%U %S %M``) when it exists,
else from ``os.wait4``, whose ``ru_maxrss`` on Linux is at least this process's own peak (vfork and exec carry it
over; that floor is printed). The warm-up runs are the ones whose outputs are read for the sanity lines, and they
run under ``strace -f -e trace=connect`` when strace exists: an ``AF_INET``/``AF_INET6`` ``connect()`` (a DNS
lookup included) means the tool went to the network, and is reported.

It prints the inputs, then per command the median and best wall time, the median CPU time, templates per second
(the median's), the median peak RSS and the size of the report; the ratio of ecsguard's templates per second
to Checkov's (each ecsguard command against each Checkov one, medians), the start-up cost and the per-template
cost beyond it, and their ratio. Then the sanity lines: the checks each tool ran on ``AWS::ECS::*`` resources
and their verdicts, the input and parsing errors; per planted flaw, how many of the templates holding it (and
nothing else that the tool's checks for it cover) those checks flag, and how many templates they flag that hold
none of it (ECR Public sidecar images are listed as a plant of their own: ecsguard's ECR-only policy fails them
unless ``allow_ecr_public`` is set); and whether a report contains any planted secret value (a plaintext
secret, a credential-shaped value or a NoEcho default, searched as written and JSON-escaped; the values are
never printed, only where in the report they are).

Exit status: 0 when every process ran (a slow tool is a measurement, not a failure); 1 when a process failed
(exit status other than 0 or 1), ecsguard reported input errors on a generated template, a tool made a network
connection, or ecsguard's report holds a planted secret value; 2 when Checkov could not be installed or the venv
has no ``ecsguard`` script.

Run: ``.venv/bin/python bench/templates.py [--templates 1000] [--seed 29] [--repeat 3] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from throughput import (
    ACCOUNTS,
    CREDENTIAL_VARIABLES,
    FAMILIES,
    HARMLESS_SECRET_LIKE_VARIABLES,
    ORDINARY_VARIABLES,
    PLAINTEXT_SECRET_VARIABLES,
    REGIONS,
    REPOSITORIES,
    _hex,
    _managed_value_from,
    _token,
)

CHECKOV_VERSION = "3.3.30"  # pinned: the figures are Checkov's at this version
ECSGUARD = Path(sys.executable).with_name("ecsguard")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ecsguard-bench"
DEFAULT_CHECKOV_VENV = CACHE / "checkov-venv"
GNU_TIME = Path("/usr/bin/time")
ECS_PREFIX = "AWS::ECS::"

# Checkov, offline: no platform metadata, guidelines or custom policies fetched, no PyPI update check, and no
# API key (so nothing is uploaded). --skip-download on its command line does the same as BC_SKIP_MAPPING.
CHECKOV_OFFLINE_ENVIRONMENT = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "LOG_LEVEL": "WARNING",
}
CHECKOV_DROPPED_VARIABLES = ("BC_API_KEY", "PRISMA_API_URL", "BC_API_URL", "CKV_FRAMEWORK", "CKV_CHECK")

# --- planted flaws ------------------------------------------------------------------------------------------------
# Each flaw, the share of templates it is planted in, and the checks of each tool that are about it (a tool's
# check that is absent from its report, or a tool with none, is shown as such: no catalog is assumed).

PLAINTEXT = "plaintext secret in the environment"
CREDENTIAL = "credential-shaped value in the environment"
NOECHO_DEFAULT = "NoEcho parameter's default in the environment"
DYNAMIC_REFERENCE = "{{resolve:secretsmanager}} in the environment"
DOCKER_HUB = "Docker Hub image"
ECR_PUBLIC = "ECR Public image (a sidecar's)"
PRIVILEGED = "privileged container"
EFS_PLAINTEXT = "EFS volume without transit encryption"
PUBLIC_IP = "public IP assigned"
PINNED_PLATFORM = "Fargate platform version pinned"
NO_INSIGHTS = "Container Insights turned off"


@dataclass(frozen=True)
class Flaw:
    name: str
    share: float
    ecsguard: frozenset[str]  # policy ids whose FAIL on the file counts as flagging it
    checkov: frozenset[str]  # check ids whose failure on the file counts


FLAWS = (
    # AWS_SECRET_ACCESS_KEY is one of the plaintext secrets' names: ecs-no-aws-credential-variables judges it by name.
    Flaw(PLAINTEXT, 0.35, frozenset({"ecs-secrets-managed", "ecs-no-aws-credential-variables"}), frozenset()),
    Flaw(CREDENTIAL, 0.08, frozenset({"ecs-secrets-managed", "ecs-no-aws-credential-variables"}), frozenset()),
    Flaw(NOECHO_DEFAULT, 0.05, frozenset({"ecs-secrets-managed"}), frozenset()),
    Flaw(DYNAMIC_REFERENCE, 0.05, frozenset({"ecs-secrets-managed"}), frozenset()),
    Flaw(DOCKER_HUB, 0.15, frozenset({"ecs-images-ecr-only"}), frozenset()),
    Flaw(ECR_PUBLIC, 0.0, frozenset({"ecs-images-ecr-only"}), frozenset()),  # ecsguard's default: private ECR only
    Flaw(PRIVILEGED, 0.08, frozenset({"ecs-containers-nonprivileged"}), frozenset()),
    Flaw(EFS_PLAINTEXT, 0.0, frozenset({"ecs-efs-transit-encryption"}), frozenset({"CKV_AWS_97"})),  # of EFS stacks
    Flaw(PUBLIC_IP, 0.25, frozenset({"ecs-service-no-public-ip"}), frozenset()),
    Flaw(PINNED_PLATFORM, 0.0, frozenset({"ecs-fargate-platform-version-latest"}), frozenset()),  # by the roll
    Flaw(NO_INSIGHTS, 0.15, frozenset({"ecs-cluster-container-insights"}), frozenset({"CKV_AWS_65"})),
)
SHARE = {flaw.name: flaw.share for flaw in FLAWS}
EFS_SHARE = 0.25  # stacks with an EFS file system mounted by their first task definition
EFS_PLAINTEXT_SHARE = 0.4  # of those, the volume's TransitEncryption DISABLED or unset

DOCKER_HUB_IMAGES = ("nginx:1.27", "redis:7-alpine", "datadog/agent:7", "grafana/grafana:11.0.0", "envoyproxy/envoy")
SIDECARS: tuple[tuple[str, str], ...] = (
    ("log-router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
    ("xray-daemon", "public.ecr.aws/xray/aws-xray-daemon:3.3.12"),
    ("envoy", "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod"),
    ("datadog-agent", "public.ecr.aws/datadog/agent:7"),
    ("migrations", ""),  # the main image's repository, another tag
    ("worker", ""),
)


# --- intrinsic functions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fn:
    """An intrinsic function: a short-form tag in YAML (``!Sub ...``), ``{"Fn::Sub": ...}`` in JSON."""

    name: str  # Ref, Sub, GetAtt, Join, If, Equals, Select, GetAZs
    argument: Any


def ref(name: str) -> Fn:
    return Fn("Ref", name)


def sub(text: str) -> Fn:
    return Fn("Sub", text)


def get_att(logical_id: str, attribute: str) -> Fn:
    return Fn("GetAtt", f"{logical_id}.{attribute}")


def long_form(node: Any) -> Any:
    """The document with every intrinsic in its long form, as JSON (and some YAML) templates write them."""
    if isinstance(node, Fn):
        key = "Ref" if node.name == "Ref" else f"Fn::{node.name}"
        argument = node.argument.split(".", 1) if node.name == "GetAtt" else long_form(node.argument)
        return {key: argument}
    if isinstance(node, dict):
        return {key: long_form(value) for key, value in node.items()}
    if isinstance(node, list):
        return [long_form(item) for item in node]
    return node


class _Dumper(yaml.SafeDumper):
    """As people write templates: block lists indented under their key, ``!Ref Name`` rather than ``!Ref 'Name'``."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and event.tag and event.tag.startswith("!") and not event.style:
            analysis = self.analysis = self.analysis or self.analyze_scalar(event.value)
            plain = analysis.allow_flow_plain if self.flow_level else analysis.allow_block_plain
            if plain and not (analysis.empty or analysis.multiline):
                return ""
        return super().choose_scalar_style()


def _represent_fn(dumper: yaml.SafeDumper, function: Fn) -> yaml.Node:
    tag = f"!{function.name}"
    if isinstance(function.argument, str):
        return dumper.represent_scalar(tag, function.argument)
    return dumper.represent_sequence(tag, function.argument, flow_style=True)


_Dumper.add_representer(Fn, _represent_fn)


def to_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, indent=2)


# --- the templates ------------------------------------------------------------------------------------------------


@dataclass
class Planted:
    """What was put into the files, for the report and the checks (the verdicts come from the tools)."""

    templates: int = 0
    bytes: int = 0
    formats: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    containers: int = 0
    flaws: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # flaw -> file names
    secrets: dict[str, str] = field(default_factory=dict)  # planted secret value -> its file's name

    @property
    def flawed(self) -> int:
        return len(set().union(*self.flaws.values())) if self.flaws else 0


@dataclass
class Stack:
    """One template being built: its document (intrinsics as ``Fn``) and what was planted in it."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    flaws: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)
    containers: int = 0

    def document(self, description: str) -> dict[str, Any]:
        document: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description}
        for section, content in (
            ("Metadata", self.metadata),
            ("Parameters", self.parameters),
            ("Conditions", self.conditions),
            ("Resources", self.resources),
            ("Outputs", self.outputs),
        ):
            if content:
                document[section] = content
        return document


def _roll(rng: random.Random, flaw: str) -> bool:
    return rng.random() < SHARE[flaw]


def _ordinary_value(rng: random.Random, stack: Stack, name: str, make: Callable[[random.Random], str]) -> Any:
    """An ordinary variable's value; some are intrinsics, as templates pass the stack's own values."""
    if name == "AWS_REGION" and rng.random() < 0.6:
        return ref("AWS::Region")
    if name in ("NODE_ENV", "DD_ENV", "SPRING_PROFILES_ACTIVE") and rng.random() < 0.5:
        return ref("Environment")
    if name == "BUCKET_NAME" and rng.random() < 0.5:
        return sub("${AWS::StackName}-uploads")
    if name == "QUEUE_URL" and rng.random() < 0.5:
        return sub("https://sqs.${AWS::Region}.amazonaws.com/${AWS::AccountId}/" + stack.name + "-jobs")
    return make(rng)


def _environment(rng: random.Random, stack: Stack, main: bool, plant: set[str]) -> list[dict[str, Any]]:
    variables: dict[str, Any] = {}
    for name, make in rng.sample(ORDINARY_VARIABLES, rng.randint(2, 9) if main else rng.randint(0, 3)):
        variables[name] = _ordinary_value(rng, stack, name, make)
    for name, make in rng.sample(HARMLESS_SECRET_LIKE_VARIABLES, rng.randint(0, 2) if main else 0):
        variables[name] = make(rng)
    if PLAINTEXT in plant:
        name, make = rng.choice(PLAINTEXT_SECRET_VARIABLES)
        variables[name] = value = make(rng)
        stack.secrets.append(value)
    if CREDENTIAL in plant:
        name, make = rng.choice(CREDENTIAL_VARIABLES)
        variables[name] = value = make(rng)
        stack.secrets.append(value)
    if NOECHO_DEFAULT in plant:
        variables["DB_PASSWORD"] = ref("DatabasePassword")
    if DYNAMIC_REFERENCE in plant:
        key = rng.choice(("stripe", "sendgrid", "github"))
        variables[f"{key.upper()}_API_KEY"] = f"{{{{resolve:secretsmanager:prod/{key}:SecretString:api_key}}}}"
    names = list(variables)
    rng.shuffle(names)
    return [{"Name": name, "Value": variables[name]} for name in names]


def _secrets(rng: random.Random, stack: Stack, main: bool) -> list[dict[str, Any]]:
    secrets: list[dict[str, Any]] = []
    for index in range(rng.choice((0, 1, 1, 2, 3)) if main else rng.choice((0, 0, 1))):
        roll = rng.random()
        if "DatabaseSecret" in stack.resources and roll < 0.5:
            value_from: Any = (
                ref("DatabaseSecret")
                if roll < 0.3
                else sub("${DatabaseSecret}:" + rng.choice(("password", "username")) + "::")
            )
        elif roll < 0.7:
            value_from = sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${Environment}/"
                + rng.choice(("api-key", "jwt-signing-key", "smtp-password"))
            )
        else:
            value_from = _managed_value_from(rng)
        name = rng.choice(("DB_CREDENTIALS", "API_KEY", "JWT_SECRET", "SMTP_PASSWORD", "DD_API_KEY"))
        secrets.append({"Name": f"{name}_{index}" if index else name, "ValueFrom": value_from})
    return secrets


def _main_image(rng: random.Random, stack: Stack, repository: str) -> Any:
    tag = rng.choice(("1.4.2", "latest", f"sha-{_hex(rng, 7)}", f"v2026.{rng.randrange(1, 13):02d}"))
    roll = rng.random()
    if "Repository" in stack.resources:
        return sub("${Repository.RepositoryUri}:" + ("${ImageTag}" if "ImageTag" in stack.parameters else tag))
    if roll < 0.6:
        reference = "${ImageTag}" if "ImageTag" in stack.parameters else tag
        return sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + f"{repository}:{reference}")
    if roll < 0.75:
        return sub(
            "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/" + f"{repository}@sha256:{_hex(rng, 64)}"
        )
    if roll < 0.93:
        return f"{rng.choice(ACCOUNTS)}.dkr.ecr.{rng.choice(REGIONS)}.amazonaws.com/{repository}:{tag}"
    return Fn(
        "Join",
        ["", [ref("AWS::AccountId"), ".dkr.ecr.", ref("AWS::Region"), f".amazonaws.com/{repository}:{tag}"]],
    )


def _container(
    rng: random.Random, stack: Stack, name: str, image: Any, main: bool, plant: set[str], efs: bool
) -> dict[str, Any]:
    container: dict[str, Any] = {"Name": name, "Image": image, "Essential": main}
    if rng.random() < 0.4:
        container["Cpu"] = rng.choice((0, 128, 256, 512))
    roll = rng.random()
    if roll < 0.55:
        container["Memory"] = rng.choice((256, 512, 1024, 2048))
    elif roll < 0.8:
        container["MemoryReservation"] = rng.choice((128, 256, 512))
    if main:
        container["PortMappings"] = [{"ContainerPort": rng.choice((80, 3000, 8080, 9000)), "Protocol": "tcp"}]
    environment = _environment(rng, stack, main, plant)
    if environment:
        container["Environment"] = environment
    secrets = _secrets(rng, stack, main)
    if secrets:
        container["Secrets"] = secrets
    if rng.random() < 0.35:
        container["ReadonlyRootFilesystem"] = True
    if rng.random() < 0.3:
        container["User"] = rng.choice(("1000", "1000:1000", "nobody", "app"))
    if PRIVILEGED in plant:
        container["Privileged"] = True
    if efs and main:
        container["MountPoints"] = [{"SourceVolume": "data", "ContainerPath": "/mnt/data", "ReadOnly": False}]
    if main and rng.random() < 0.4:
        container["HealthCheck"] = {
            "Command": ["CMD-SHELL", "curl -f http://localhost/health || exit 1"],
            "Interval": 30,
            "Timeout": 5,
            "Retries": 3,
            "StartPeriod": 10,
        }
    if rng.random() < 0.2:
        container["LinuxParameters"] = {"InitProcessEnabled": True}
    container["LogConfiguration"] = {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": ref("LogGroup"),
            "awslogs-region": ref("AWS::Region"),
            "awslogs-stream-prefix": name,
        },
    }
    return container


def _task_definition(rng: random.Random, stack: Stack, family: str, plant: set[str], efs: bool) -> dict[str, Any]:
    repository = rng.choice(REPOSITORIES)
    count = rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]
    sidecars = rng.sample(SIDECARS, count - 1)
    members: list[tuple[str, Any]] = [(family, _main_image(rng, stack, repository))]
    for name, image in sidecars:
        members.append((name, image or _main_image(rng, stack, repository)))
    # Where each of this task definition's flaws goes: one container each (the main one for the environment's).
    placed: dict[int, set[str]] = defaultdict(set)
    for flaw in sorted(plant):
        placed[0 if flaw in (PLAINTEXT, CREDENTIAL, NOECHO_DEFAULT) else rng.randrange(count)].add(flaw)
    containers = []
    for index, (name, image) in enumerate(members):
        flaws = placed[index]
        chosen = rng.choice(DOCKER_HUB_IMAGES) if DOCKER_HUB in flaws else image
        if isinstance(chosen, str) and chosen.startswith("public.ecr.aws/"):
            stack.flaws.add(ECR_PUBLIC)
        containers.append(_container(rng, stack, name, chosen, index == 0, flaws, efs))
    properties: dict[str, Any] = {
        "Family": sub("${AWS::StackName}-" + family) if rng.random() < 0.3 else family,
        "Cpu": rng.choice(("256", "512", "1024")),
        "Memory": rng.choice(("512", "1024", "2048")),
        "NetworkMode": "awsvpc",
        "RequiresCompatibilities": ["FARGATE"],
        "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
    }
    if "TaskRole" in stack.resources:
        properties["TaskRoleArn"] = rng.choice((get_att("TaskRole", "Arn"), ref("TaskRole")))
    if rng.random() < 0.15:
        properties["RuntimePlatform"] = {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    properties["ContainerDefinitions"] = containers
    if efs:
        configuration: dict[str, Any] = {"FilesystemId": ref("FileSystem"), "RootDirectory": "/"}
        if EFS_PLAINTEXT in plant:
            if rng.random() < 0.5:
                configuration["TransitEncryption"] = "DISABLED"
        else:
            configuration["TransitEncryption"] = "ENABLED"
            if rng.random() < 0.5:
                configuration["AuthorizationConfig"] = {"IAM": "ENABLED"}
        properties["Volumes"] = [{"Name": "data", "EFSVolumeConfiguration": configuration}]
    if rng.random() < 0.4:
        properties["Tags"] = [{"Key": "team", "Value": rng.choice(("payments", "platform", "growth"))}]
    stack.containers += count
    return {"Type": "AWS::ECS::TaskDefinition", "Properties": properties}


def _service(rng: random.Random, stack: Stack, name: str, task_definition: str, plant: set[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "ServiceName": sub("${AWS::StackName}-" + name) if rng.random() < 0.5 else name,
        "Cluster": ref("Cluster"),
        "TaskDefinition": ref(task_definition),
    }
    if rng.random() < 0.9:
        properties["LaunchType"] = "FARGATE"
    else:
        properties["CapacityProviderStrategy"] = [
            {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
            {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
        ]
    if PINNED_PLATFORM in plant:
        properties["PlatformVersion"] = rng.choice(("1.4.0", "1.4.0", "1.3.0"))
    elif rng.random() < 0.7:
        properties["PlatformVersion"] = "LATEST"
    if "IsProd" in stack.conditions and rng.random() < 0.6:
        properties["DesiredCount"] = Fn("If", ["IsProd", 3, 1])
    elif "DesiredCount" in stack.parameters:
        properties["DesiredCount"] = ref("DesiredCount")
    else:
        properties["DesiredCount"] = rng.choice((1, 2, 3))
    if rng.random() < 0.5:
        properties["DeploymentConfiguration"] = {
            "MinimumHealthyPercent": 100,
            "MaximumPercent": 200,
            "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        }
    if rng.random() < 0.3:
        properties["EnableExecuteCommand"] = True
    groups = [rng.choice((ref("ServiceSecurityGroup"), get_att("ServiceSecurityGroup", "GroupId")))]
    properties["NetworkConfiguration"] = {
        "AwsvpcConfiguration": {
            "AssignPublicIp": "ENABLED" if PUBLIC_IP in plant else "DISABLED",
            "Subnets": ref("SubnetIds"),
            "SecurityGroups": groups,
        }
    }
    if rng.random() < 0.5:
        properties["PropagateTags"] = "SERVICE"
        properties["Tags"] = [{"Key": "service", "Value": name}]
    return {"Type": "AWS::ECS::Service", "Properties": properties}


def build_stack(rng: random.Random, serial: int) -> Stack:
    family = rng.choice(FAMILIES)
    stack = Stack(name=f"{family}-{serial:04d}")
    plant = stack.flaws = {flaw for flaw in SHARE if SHARE[flaw] and _roll(rng, flaw)}
    efs = rng.random() < EFS_SHARE
    if efs and rng.random() < EFS_PLAINTEXT_SHARE:
        plant.add(EFS_PLAINTEXT)
    if rng.random() < 0.3:
        plant.add(PINNED_PLATFORM)

    stack.parameters["Environment"] = {
        "Type": "String",
        "AllowedValues": ["dev", "staging", "prod"],
        "Default": "prod",
    }
    stack.parameters["VpcId"] = {"Type": "AWS::EC2::VPC::Id"}
    stack.parameters["SubnetIds"] = {"Type": "List<AWS::EC2::Subnet::Id>"}
    if rng.random() < 0.5:
        stack.parameters["ImageTag"] = {"Type": "String", "Default": rng.choice(("1.4.2", "latest", "2026.11.3"))}
    if rng.random() < 0.4:
        stack.parameters["DesiredCount"] = {"Type": "Number", "Default": 2, "MinValue": 1}
    if NOECHO_DEFAULT in plant:
        password = _token(rng, 20, string.ascii_letters + string.digits + "!#%-_")
        stack.parameters["DatabasePassword"] = {"Type": "String", "NoEcho": True, "Default": password}
        stack.secrets.append(password)
    if rng.random() < 0.3:
        stack.conditions["IsProd"] = Fn("Equals", [ref("Environment"), "prod"])

    insights = "disabled" if NO_INSIGHTS in plant else rng.choice(("enabled", "enabled", "enhanced", None))
    cluster: dict[str, Any] = {"ClusterName": rng.choice((sub("${AWS::StackName}-cluster"), stack.name))}
    if insights:
        cluster["ClusterSettings"] = [{"Name": "containerInsights", "Value": insights}]
    stack.resources["Cluster"] = {"Type": "AWS::ECS::Cluster", "Properties": cluster}
    stack.resources["ExecutionRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "ManagedPolicyArns": [
                sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            ],
        },
    }
    if rng.random() < 0.6:
        stack.resources["TaskRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "app",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:GetObject", "s3:PutObject"],
                                    "Resource": rng.choice(
                                        (
                                            sub("arn:${AWS::Partition}:s3:::${AWS::StackName}-uploads/*"),
                                            Fn(
                                                "Sub",
                                                [
                                                    "arn:${AWS::Partition}:s3:::${Bucket}/*",
                                                    {"Bucket": sub("${AWS::StackName}-uploads")},
                                                ],
                                            ),
                                        )
                                    ),
                                }
                            ],
                        },
                    }
                ],
            },
        }
    stack.resources["LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/ecs/{stack.name}", "RetentionInDays": rng.choice((7, 14, 30, 90))},
    }
    ingress = (
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
        if rng.random() < 0.3
        else {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "CidrIp": "10.0.0.0/16"}
    )
    stack.resources["ServiceSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": f"{stack.name} tasks",
            "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [ingress],
        },
    }
    if rng.random() < 0.4:
        stack.resources["DatabaseSecret"] = {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": f"{stack.name} database credentials",
                "GenerateSecretString": {
                    "SecretStringTemplate": json.dumps({"username": "app"}),
                    "GenerateStringKey": "password",
                    "PasswordLength": 32,
                    "ExcludeCharacters": '"@/\\',
                },
            },
        }
    if rng.random() < 0.1:
        stack.resources["Repository"] = {
            "Type": "AWS::ECR::Repository",
            "Properties": {"ImageScanningConfiguration": {"ScanOnPush": True}, "ImageTagMutability": "IMMUTABLE"},
        }
    if efs:
        stack.resources["FileSystem"] = {
            "Type": "AWS::EFS::FileSystem",
            "Properties": {"Encrypted": True, "PerformanceMode": "generalPurpose"},
        }

    # One or two task definitions, a service each; the flaws go to the first (or either, at random).
    pairs = [("TaskDefinition", "Service", family)]
    if rng.random() < 0.3:
        pairs.append(("WorkerTaskDefinition", "WorkerService", f"{family}-worker"))
    spread: dict[str, set[str]] = defaultdict(set)
    for flaw in sorted(plant):  # before the task definitions add what their images are
        spread[rng.choice(pairs)[0] if flaw not in (EFS_PLAINTEXT,) else pairs[0][0]].add(flaw)
    for task_id, service_id, name in pairs:
        flaws = spread[task_id]
        stack.resources[task_id] = _task_definition(rng, stack, name, flaws, efs and task_id == pairs[0][0])
        stack.resources[service_id] = _service(rng, stack, name, task_id, flaws)
        if task_id != pairs[0][0] and "IsProd" in stack.conditions and rng.random() < 0.5:
            for logical_id in (task_id, service_id):  # the worker runs in production only
                resource = stack.resources[logical_id]
                stack.resources[logical_id] = {"Type": resource["Type"], "Condition": "IsProd", **resource}
        if rng.random() < 0.2:
            stack.resources[service_id]["DependsOn"] = ["LogGroup"]
    if rng.random() < 0.2:
        stack.metadata["AWS::CloudFormation::Interface"] = {
            "ParameterGroups": [
                {"Label": {"default": "Network"}, "Parameters": ["VpcId", "SubnetIds"]},
                {"Label": {"default": "Deployment"}, "Parameters": ["Environment"]},
            ]
        }
    stack.outputs["ClusterName"] = {"Value": ref("Cluster")}
    stack.outputs["ServiceName"] = {"Value": get_att("Service", "Name")}
    return stack


def write_templates(folder: Path, count: int, seed: int) -> Planted:
    rng = random.Random(seed)
    planted = Planted(templates=count)
    folder.mkdir(parents=True)
    for serial in range(count):
        stack = build_stack(rng, serial)
        document = stack.document(f"{stack.name}: a Fargate service and its cluster, as a team writes it by hand.")
        roll = rng.random()
        if roll < 0.7:
            header = (
                f"# {stack.name}: owned by the {stack.name.rsplit('-', 1)[0]} team.\n" if rng.random() < 0.5 else ""
            )
            kind, suffix, text = (
                "YAML, short-form intrinsics",
                rng.choice((".yaml", ".yaml", ".yml")),
                header + to_yaml(document),
            )
        elif roll < 0.8:
            kind, suffix, text = "YAML, long-form intrinsics", ".yaml", to_yaml(long_form(document))
        else:
            kind, suffix, text = "JSON", ".json", json.dumps(long_form(document), indent=rng.choice((2, 4))) + "\n"
        name = f"{stack.name}{suffix}"
        (folder / name).write_text(text, encoding="utf-8")
        planted.bytes += len(text.encode("utf-8"))
        planted.formats[kind] += 1
        planted.resources.update(resource["Type"] for resource in stack.resources.values())
        planted.containers += stack.containers
        for flaw in stack.flaws:
            planted.flaws[flaw].add(name)
        for secret in stack.secrets:
            planted.secrets[secret] = name
    return planted


# --- Checkov, in its own virtual environment ----------------------------------------------------------------------


class SetupFailed(Exception):
    pass


def _installed_checkov(python: Path) -> str | None:
    if not python.is_file():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('checkov'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_checkov(venv: Path) -> Path:
    """The ``checkov`` script of ``venv``, holding Checkov ``CHECKOV_VERSION`` (created or updated if need be)."""
    python = venv / "bin" / "python"
    if _installed_checkov(python) != CHECKOV_VERSION:
        print(f"bench: installing checkov=={CHECKOV_VERSION} into {venv} ...", file=sys.stderr, flush=True)
        if not python.is_file():
            base = getattr(sys, "_base_executable", sys.executable)  # not this venv: Checkov gets its own
            done = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
            if done.returncode:
                raise SetupFailed(f"python -m venv {venv} exited {done.returncode}: {done.stderr[-2000:]}")
        command = [str(python), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode or _installed_checkov(python) != CHECKOV_VERSION:
            raise SetupFailed(f"pip install checkov=={CHECKOV_VERSION} exited {done.returncode}: {done.stderr[-2000:]}")
    return venv / "bin" / "checkov"


# --- running ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    wall: float  # seconds, launch to exit as seen from here
    cpu: float  # user + system seconds of the process and the children it waited for
    rss_kib: int  # peak resident set of the largest of those processes


@dataclass
class Command:
    label: str
    tool: str  # ecsguard or checkov
    argv: list[str]
    env: dict[str, str]
    output: Path
    runs: list[Measured] = field(default_factory=list)

    def run(self, trace: Path | None = None) -> Measured:
        """Run once, stdout to ``output``; under strace (connect calls to ``trace``) when given."""
        argv = list(self.argv)
        if trace is not None:
            argv = ["strace", "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(trace), *argv]
        stats = self.output.with_suffix(".time")
        if GNU_TIME.is_file():
            argv = [str(GNU_TIME), "-f", "%U %S %M", "-o", str(stats), *argv]
        stderr_path = self.output.with_suffix(".stderr")
        with self.output.open("wb") as stdout, stderr_path.open("wb") as stderr:
            start = time.perf_counter()
            process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=self.env)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # 1: something failed a check, which is the point
            tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"{self.label} exited {code}: {tail}")
        if GNU_TIME.is_file():
            user, system, peak = stats.read_text(encoding="utf-8").split()[-3:]
            return Measured(wall, float(user) + float(system), int(peak))
        return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)

    def document(self) -> Any:
        return json.loads(self.output.read_text(encoding="utf-8"))

    @property
    def median(self) -> float:
        return statistics.median(run.wall for run in self.runs)

    @property
    def best(self) -> float:
        return min(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)

    @property
    def rss_mb(self) -> float:
        return statistics.median(run.rss_kib for run in self.runs) / 1024


def ecsguard_environment() -> dict[str, str]:
    """This environment without ECSGUARD_* settings (a pack or parameter override would change the verdicts)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("ECSGUARD_")}


def checkov_environment() -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in CHECKOV_DROPPED_VARIABLES and not name.startswith(("ECSGUARD_", "CKV_", "CHECKOV_"))
    }
    return {**environment, **CHECKOV_OFFLINE_ENVIRONMENT}


_CONNECT = re.compile(r"connect\([0-9]+, \{sa_family=(AF_[A-Z0-9]+)(.*?)\}")
_ADDRESS = re.compile(r'htons\(([0-9]+)\).*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


def network_calls(trace: Path) -> tuple[list[str], Counter[str]]:
    """The internet (AF_INET, AF_INET6) destinations a traced run connected to, and its other connects."""
    inet: list[str] = []
    other: Counter[str] = Counter()
    for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _CONNECT.search(line)
        if not match:
            continue
        if match[1] in ("AF_INET", "AF_INET6"):
            address = _ADDRESS.search(match[2])
            inet.append(f"{address[2] or address[3]}:{address[1]}" if address else match[1])
        else:
            path = re.search(r'sun_path="([^"]*)"', match[2])
            other[path[1] if path else match[1]] += 1
    return inet, other


# --- reading the reports ------------------------------------------------------------------------------------------


@dataclass
class Verdicts:
    """One report's figures on the ECS resources, and what it flags per file."""

    checks: set[str] = field(default_factory=set)  # the ECS check (policy) ids that gave a verdict
    failing_checks: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)  # of results on AWS::ECS::* resources
    resources: set[tuple[str, str]] = field(default_factory=set)  # (file, resource) judged, ECS only
    failed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # check id -> files failing it
    other_statuses: Counter[str] = field(default_factory=Counter)  # results on the other resource types
    other_checks: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # input or parsing errors
    files: int | None = None


def ecsguard_verdicts(document: Mapping[str, Any]) -> Verdicts:
    verdicts = Verdicts()
    for result in document["results"]:
        policy, status = result["policy_id"], result["status"]
        file = Path(result["source"]).name
        if not result["resource"]["type"].startswith(ECS_PREFIX):
            verdicts.other_statuses[status] += 1
            verdicts.other_checks.add(policy)
            continue
        verdicts.checks.add(policy)
        verdicts.statuses[status] += 1
        verdicts.resources.add((file, result["resource"]["id"]))
        if status == "FAIL":
            verdicts.failing_checks.add(policy)
            verdicts.failed[policy].add(file)
    summary = document["summary"]
    verdicts.errors = [_input_error(problem) for problem in summary.get("input_errors", [])]
    verdicts.files = summary.get("files")
    return verdicts


def _input_error(problem: Any) -> str:
    if isinstance(problem, Mapping):
        return ": ".join(str(problem[key]) for key in ("source", "message") if key in problem) or json.dumps(problem)
    return str(problem)


def checkov_verdicts(document: Any) -> Verdicts:
    verdicts = Verdicts()
    reports = document if isinstance(document, list) else [document]
    for report in reports:
        if not isinstance(report, Mapping) or "results" not in report:  # no file of the framework: a summary alone
            continue
        results = report["results"]
        for key, status in (("passed_checks", "PASSED"), ("failed_checks", "FAILED"), ("skipped_checks", "SKIPPED")):
            for check in results.get(key, []):
                resource_type, _, name = check["resource"].partition(".")
                file = Path(check["file_path"]).name
                if not resource_type.startswith(ECS_PREFIX):
                    verdicts.other_statuses[status] += 1
                    verdicts.other_checks.add(check["check_id"])
                    continue
                verdicts.checks.add(check["check_id"])
                verdicts.statuses[status] += 1
                verdicts.resources.add((file, name))
                if status == "FAILED":
                    verdicts.failing_checks.add(check["check_id"])
                    verdicts.failed[check["check_id"]].add(file)
        verdicts.errors += [str(error) for error in results.get("parsing_errors", [])]
    return verdicts


def guidelines(document: Any) -> int:
    """Checks in a Checkov report that carry a guideline link: the platform's metadata, downloaded."""
    reports = document if isinstance(document, list) else [document]
    return sum(
        1
        for report in reports
        if isinstance(report, Mapping)
        for checks in report.get("results", {}).values()
        if isinstance(checks, list)
        for check in checks
        if isinstance(check, Mapping) and check.get("guideline")
    )


def leaked(output: Path, secrets: Mapping[str, str]) -> tuple[set[str], list[str]]:
    """The planted secret values a report holds (as written or JSON-escaped), and where in its JSON they are."""
    text = output.read_text(encoding="utf-8")
    found = {secret for secret in secrets if secret in text or json.dumps(secret)[1:-1] in text}
    places: Counter[str] = Counter()
    if found:
        for path in _string_paths(json.loads(text), ""):
            if any(secret in path[1] for secret in found):
                places[path[0]] += 1
    return found, [place for place, _ in places.most_common(3)]


def _string_paths(node: Any, path: str) -> Iterable[tuple[str, str]]:
    """Every string of a JSON document with its path, list indexes left out (``results.failed_checks[].x``)."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _string_paths(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for item in node:
            yield from _string_paths(item, f"{path}[]")


# --- main ---------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--templates", type=int, default=1000, help="templates to write (default 1000)")
    parser.add_argument("--seed", type=int, default=29, help="random seed of the templates (default 29)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of each command (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the folder of templates and reports")
    parser.add_argument(
        "--checkov-venv",
        type=Path,
        default=DEFAULT_CHECKOV_VENV,
        help=f"Checkov's venv (default {DEFAULT_CHECKOV_VENV})",
    )
    args = parser.parse_args(argv)
    if args.templates < 2 or args.repeat < 1:
        parser.error("--templates must be at least 2 and --repeat at least 1")
    if not ECSGUARD.is_file():
        print(f"bench: no ecsguard script next to {sys.executable}; run with the venv's python", file=sys.stderr)
        return 2
    try:
        checkov = ensure_checkov(args.checkov_venv.expanduser())
    except SetupFailed as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="ecsguard-bench-templates-"))
    try:
        return run(args, work, checkov)
    finally:
        if args.keep:
            print(f"\nkept: {work} (templates in inputs/, reports and their stderr beside)")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, checkov: Path) -> int:
    started = time.perf_counter()
    planted = write_templates(work / "inputs", args.templates, args.seed)
    write_seconds = time.perf_counter() - started
    inputs = work / "inputs"
    first = min(inputs.iterdir())
    (work / "one").mkdir()
    shutil.copyfile(first, work / "one" / first.name)
    one = work / "one"

    guard_env, checkov_env = ecsguard_environment(), checkov_environment()

    def ecsguard(label: str, folder: Path, output: str, *options: str) -> Command:
        argv = [str(ECSGUARD), "scan", "--format", "json", *options, str(folder)]
        return Command(label, "ecsguard", argv, guard_env, work / output)

    def checkov_run(label: str, folder: Path, output: str, *options: str) -> Command:
        argv = [str(checkov), "-d", str(folder), "--framework", "cloudformation", "--output", "json", *options]
        return Command(label, "checkov", [*argv, "--skip-download"], checkov_env, work / output)

    lean = ("--quiet", "--compact")
    guard = ecsguard("ecsguard scan (default packs)", inputs, "ecsguard.json")
    guard_all = ecsguard("ecsguard scan --pack all", inputs, "ecsguard-all.json", "--pack", "all")
    check_lean = checkov_run("checkov --quiet --compact", inputs, "checkov.json", *lean)
    check_full = checkov_run("checkov (passed checks, code blocks)", inputs, "checkov-full.json")
    guard_one = ecsguard("ecsguard scan, 1 template", one, "ecsguard-one.json")
    check_one = checkov_run("checkov --quiet --compact, 1 template", one, "checkov-one.json", *lean)
    whole = [guard, guard_all, check_lean, check_full]
    commands = [*whole, guard_one, check_one]

    traced = shutil.which("strace") is not None
    network: dict[str, tuple[list[str], Counter[str]]] = {}
    try:
        for command in commands:  # warm-up, untimed, under strace: its output is the one read below
            print(f"bench: warm-up: {command.label} ...", file=sys.stderr, flush=True)
            trace = command.output.with_suffix(".strace") if traced else None
            command.run(trace)
            if trace is not None:
                network[command.label] = network_calls(trace)
        documents = {command.label: command.document() for command in commands}
        stderr_lines = {
            command.label: len(command.output.with_suffix(".stderr").read_text(errors="replace").splitlines())
            for command in commands
        }
        for round_number in range(args.repeat):
            print(f"bench: round {round_number + 1} of {args.repeat} ...", file=sys.stderr, flush=True)
            for command in commands:
                command.runs.append(command.run())
    except RuntimeError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1

    ours_default = ecsguard_verdicts(documents[guard.label])
    ours = ecsguard_verdicts(documents[guard_all.label])
    theirs = checkov_verdicts(documents[check_full.label])
    theirs_lean = checkov_verdicts(documents[check_lean.label])
    report = Report(args, planted, write_seconds, checkov, whole, guard, check_lean, guard_one, check_one)
    report.inputs()
    report.timings()
    report.sanity(ours_default, ours, theirs, theirs_lean, documents[check_full.label])
    report.flaws(ours, theirs)
    leaks = report.leaks([guard, guard_all, check_lean, check_full])
    report.offline(traced, network, stderr_lines, documents[check_full.label])

    problems = []
    for label, verdicts in ((guard.label, ours_default), (guard_all.label, ours)):
        if verdicts.errors:
            problems.append(f"{label}: {len(verdicts.errors)} input error(s) on generated templates")
    problems += [f"{label}: connected to {', '.join(inet)}" for label, (inet, _) in network.items() if inet]
    problems += [f"{label}: holds planted secrets" for label in leaks if label.startswith("ecsguard")]
    if problems:
        print("\nPROBLEMS")
        for line in problems:
            print(f"  {line}")
        return 1
    return 0


@dataclass
class Report:
    args: argparse.Namespace
    planted: Planted
    write_seconds: float
    checkov: Path
    whole: list[Command]
    guard: Command
    check: Command
    guard_one: Command
    check_one: Command

    def inputs(self) -> None:
        planted, n = self.planted, self.planted.templates
        print("ecsguard scan on CloudFormation templates, next to Checkov, whole processes")
        print(
            f"  Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
            f"{os.cpu_count()} CPUs; ecsguard {ECSGUARD}; Checkov {CHECKOV_VERSION} ({self.checkov}); "
            f"seed {self.args.seed}; median and best of {self.args.repeat} rounds after one untimed warm-up each, "
            "the commands taking turns"
        )
        print(
            f"  inputs: {n:,} templates ({planted.bytes / 1e6:.1f} MB, written in {self.write_seconds:.1f} s): "
            + ", ".join(f"{count:,} {kind}" for kind, count in planted.formats.most_common())
        )
        ecs = sum(count for kind, count in planted.resources.items() if kind.startswith(ECS_PREFIX))
        print(
            f"  {sum(planted.resources.values()):,} resources, {ecs:,} of them AWS::ECS::* ("
            + ", ".join(
                f"{count:,} {kind.removeprefix(ECS_PREFIX)}"
                for kind, count in planted.resources.most_common()
                if kind.startswith(ECS_PREFIX)
            )
            + f"), {planted.containers:,} containers"
        )
        print(
            "  planted: "
            + ", ".join(f"{len(files) / n:.0%} {flaw}" for flaw, files in sorted(planted.flaws.items()))
            + f"; {planted.flawed / n:.0%} of the templates with at least one; {len(planted.secrets):,} secret values"
        )

    def timings(self) -> None:
        n = self.planted.templates
        print()
        columns = f"{'median s':>10}{'best s':>8}{'CPU s':>8}{'templates/s':>13}{'peak RSS MB':>13}{'report MB':>11}"
        print(f"  {'whole process, launch to exit, ' + str(n) + ' templates':<48}{columns}")
        for command in self.whole:
            self._row(command, n)
        for command in (self.guard_one, self.check_one):
            self._row(command, None)
        if not GNU_TIME.is_file():
            floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  (peak RSS from os.wait4: at least this process's own {floor:.0f} MB; no /usr/bin/time)")
        print()
        print("Ratio: ecsguard's templates per second / Checkov's, medians (how many times as fast)")
        checkovs = [command for command in self.whole if command.tool == "checkov"]
        for ours in (command for command in self.whole if command.tool == "ecsguard"):
            for theirs in checkovs:
                print(f"  {ours.label + ' / ' + theirs.label:<78}{theirs.median / ours.median:>8.1f}x")
        print()
        print(f"Fixed and per-template costs (start-up: the 1-template run; per template: (N run - that) / {n - 1})")
        costs = {}
        for full, single in ((self.guard, self.guard_one), (self.check, self.check_one)):
            per = costs[full.tool] = (full.median - single.median) / (n - 1)
            beyond = (
                f"{per * 1000:>7.2f} ms per template beyond it ({1 / per:,.0f} templates/s)"
                if per > 0
                else f"per template not measurable (the {n}-template run was no slower)"
            )
            print(f"  {full.label:<34} start-up {single.median:>6.2f} s, {beyond}, {single.rss_mb:.0f} MB peak on 1")
        if costs["ecsguard"] > 0:
            print(f"  per-template cost, Checkov / ecsguard: {costs['checkov'] / costs['ecsguard']:.1f}x")

    @staticmethod
    def _row(command: Command, templates: int | None) -> None:
        size = command.output.stat().st_size / 1e6
        rate = f"{templates / command.median:,.1f}" if templates else "-"
        print(
            f"  {command.label:<48}{command.median:>10.2f}{command.best:>8.2f}{command.cpu:>8.2f}"
            f"{rate:>13}{command.rss_mb:>13.0f}{size:>11.1f}"
        )

    def sanity(
        self, default: Verdicts, ours: Verdicts, theirs: Verdicts, theirs_lean: Verdicts, checkov_report: Any
    ) -> None:
        n = self.planted.templates
        print()
        print("Sanity: checks on AWS::ECS::* resources (ecsguard results / Checkov checks)")
        for label, verdicts in (("ecsguard, default packs", default), ("ecsguard --pack all", ours)):
            print(
                f"  {label:<26} {len(verdicts.checks):>3} policies ran, {len(verdicts.failing_checks):>3} failed "
                f"somewhere; {len(verdicts.resources):,} resources judged; results "
                + _statuses(verdicts.statuses)
                + f"; files read {verdicts.files if verdicts.files is not None else '?'} of {n:,}; "
                f"input errors {len(verdicts.errors)}"
            )
        print(
            f"  {'Checkov':<26} {len(theirs.checks):>3} checks ran ({', '.join(sorted(theirs.checks)) or 'none'}), "
            f"{len(theirs.failing_checks):>3} failed somewhere; {len(theirs.resources):,} resources judged; results "
            + _statuses(theirs.statuses)
            + f"; parsing errors {len(theirs.errors)}"
        )
        summary = _checkov_summary(checkov_report)
        print(
            f"  {'':<26} on every resource type: {len(theirs.checks | theirs.other_checks)} checks, "
            + _statuses(theirs.statuses + theirs.other_statuses)
            + f"; resources {summary.get('resource_count', '?')} of {sum(self.planted.resources.values()):,} planted"
        )
        if theirs_lean.statuses["FAILED"] != theirs.statuses["FAILED"]:
            print(
                f"  NOTE: Checkov --quiet --compact reported {theirs_lean.statuses['FAILED']:,} ECS failures, "
                f"the full report {theirs.statuses['FAILED']:,}"
            )
        for label, verdicts in (("ecsguard", default), ("ecsguard --pack all", ours)):
            for error in verdicts.errors[:10]:
                print(f"  {label} input error: {error}")
        for error in theirs.errors[:10]:
            print(f"  Checkov parsing error: {error}")

    def flaws(self, ours: Verdicts, theirs: Verdicts) -> None:
        print()
        print(
            "Planted flaws: templates planted; of those with no other plant the tool's checks for it cover, how many "
            "they flag (ecsguard --pack all, Checkov); 'also': templates they flag holding nothing they cover"
        )
        print(f"  {'flaw':<46}{'planted':>8}  {'ecsguard':<30}{'Checkov':<30}")
        for flaw in FLAWS:
            files = self.planted.flaws.get(flaw.name, set())
            if not files:
                continue
            cells = [self._caught(flaw, "ecsguard", ours), self._caught(flaw, "checkov", theirs)]
            print(f"  {flaw.name:<46}{len(files):>8}  {cells[0]:<30}{cells[1]}")

    def _caught(self, flaw: Flaw, tool: str, verdicts: Verdicts) -> str:
        """Of the templates planted with ``flaw`` and nothing else the tool's checks for it cover, how many they
        flag; and how many templates they flag that hold none of what they cover."""
        checks = flaw.ecsguard if tool == "ecsguard" else flaw.checkov
        if not checks:
            return "no check"
        present = [check for check in checks if check in verdicts.checks]
        if not present:
            return "check did not run"
        files = self.planted.flaws.get(flaw.name, set())
        others: set[str] = set()
        for other in FLAWS:
            if other is not flaw and checks & (other.ecsguard if tool == "ecsguard" else other.checkov):
                others |= self.planted.flaws.get(other.name, set())
        alone = files - others
        flagged = set().union(*(verdicts.failed.get(check, set()) for check in present))
        share = f" ({len(alone & flagged) / len(alone):.0%})" if alone else ""
        return f"{len(alone & flagged):,} of {len(alone):,}{share}, also {len(flagged - files - others):,}"

    def leaks(self, commands: Sequence[Command]) -> list[str]:
        print()
        secrets = self.planted.secrets
        print(
            f"Planted secret values in the JSON reports ({len(secrets):,} values from "
            f"{len(set(secrets.values())):,} templates: plaintext secrets, credential-shaped values, NoEcho defaults)"
        )
        holding = []
        for command in commands:
            found, places = leaked(command.output, secrets)
            if found:
                holding.append(command.label)
                files = {secrets[secret] for secret in found}
                print(
                    f"  {command.label:<44} YES: {len(found):,} values from {len(files):,} templates, in "
                    + ", ".join(places)
                )
            else:
                print(f"  {command.label:<44} no")
        return holding

    def offline(
        self,
        traced: bool,
        network: Mapping[str, tuple[list[str], Counter[str]]],
        stderr_lines: Mapping[str, int],
        checkov_report: Any,
    ) -> None:
        print()
        print(
            "Offline: Checkov ran with --skip-download, "
            + ", ".join(f"{name}={value}" for name, value in CHECKOV_OFFLINE_ENVIRONMENT.items())
            + f", without {', '.join(CHECKOV_DROPPED_VARIABLES)}"
        )
        if not traced:
            print("  not verified: no strace on this machine")
        for label, (inet, other) in network.items():
            verdict = "none" if not inet else f"{len(inet)}: {', '.join(sorted(set(inet)))}"
            local = ", ".join(f"{path} {count}" for path, count in sorted(other.items())) or "none"
            print(f"  {label:<44} internet connect() calls (warm-up, strace -f): {verdict}; local sockets: {local}")
        print(f"  Checkov's full report: {guidelines(checkov_report)} checks with a guideline link (platform metadata)")
        noisy = {label: lines for label, lines in stderr_lines.items() if lines}
        if noisy:
            print("  stderr lines in the warm-up: " + ", ".join(f"{label} {lines}" for label, lines in noisy.items()))


def _statuses(statuses: Counter[str]) -> str:
    return ", ".join(f"{status} {count:,}" for status, count in sorted(statuses.items())) or "none"


def _checkov_summary(document: Any) -> dict[str, Any]:
    reports = document if isinstance(document, list) else [document]
    for report in reports:
        if isinstance(report, Mapping) and isinstance(report.get("summary"), dict):
            return dict(report["summary"])
    return {}


if __name__ == "__main__":
    sys.exit(main())
