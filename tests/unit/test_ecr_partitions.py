"""``ecs-images-ecr-only`` accepts private ECR in every AWS partition that botocore knows, and nothing else.

botocore ships each partition's DNS suffixes (``partitions.json``): for every partition, the test takes its
``dnsSuffix``, its ``dualStackDnsSuffix``, whether it supports FIPS and dual-stack, and its Regions (those
matching the partition's ``regionRegex``, which leaves out pseudo-Regions such as ``aws-cn-global``). It
builds the private ECR image references a task definition can use there and asserts the policy PASSes them,
and that look-alikes FAIL. When AWS adds a partition and botocore is upgraded, the test fails until the
policy knows the new suffixes.

The registry hosts are (https://docs.aws.amazon.com/general/latest/gr/ecr.html):

- ``<account>.dkr.ecr.<region>.<dnsSuffix>`` and, FIPS, ``<account>.dkr.ecr-fips.<region>.<dnsSuffix>``;
- dual-stack, ``<account>.dkr-ecr[-fips].<region>.on.aws`` (``on.amazonwebservices.com.cn`` in China), which ECR
  documents for Docker and OCI clients, and the same names on the partition's ``dualStackDnsSuffix``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.loaders
import pytest

from ecsguard.catalog import load_policy_set
from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.engine import evaluate_policy
from ecsguard.core.resources import build_task_definition
from ecsguard.core.results import Status
from policy_catalog import narrowed_policy_dir

POLICY = "ecs-images-ecr-only"
ACCOUNT = "123456789012"
REPOSITORY = "team/app:1.0"
DIGEST = "@sha256:" + "bcb22394a7993f9a978f181385ff0400a27fd6bc28394f8dfd9bda1b0d339bea"
# ECR's documented dual-stack hosts for Docker and OCI clients, by partition; every partition also gets
# the dual-stack names on its botocore dualStackDnsSuffix.
DOCUMENTED_DUAL_STACK = {"aws": "on.aws", "aws-us-gov": "on.aws", "aws-cn": "on.amazonwebservices.com.cn"}
FULL_WIDTH_ACCOUNT = "".join(chr(ord("０") + int(digit)) for digit in ACCOUNT)
ARABIC_INDIC_ACCOUNT = "".join(chr(ord("٠") + int(digit)) for digit in ACCOUNT)


@dataclass(frozen=True)
class Partition:
    id: str
    dns_suffix: str
    dual_stack_suffix: str | None
    fips: bool
    regions: tuple[str, ...]


def _partitions() -> list[Partition]:
    data: Mapping[str, Any] = botocore.loaders.create_loader().load_data("partitions")
    partitions = []
    for entry in data["partitions"]:
        outputs = entry["outputs"]
        region_name = re.compile(entry["regionRegex"])
        regions = tuple(sorted(name for name in entry["regions"] if region_name.match(name)))
        dual_stack = outputs.get("dualStackDnsSuffix") if outputs.get("supportsDualStack") else None
        partitions.append(
            Partition(entry["id"], outputs["dnsSuffix"], dual_stack, bool(outputs["supportsFIPS"]), regions)
        )
    return partitions


PARTITIONS = _partitions()


def expected_images(partition: Partition, region: str) -> Iterator[str]:
    """The private ECR image references of one Region: standard, FIPS, dual-stack, each with a tag and a digest."""
    fips = ("", "-fips") if partition.fips else ("",)
    hosts = [f"{ACCOUNT}.dkr.ecr{variant}.{region}.{partition.dns_suffix}" for variant in fips]
    dual_stack = {partition.dual_stack_suffix, DOCUMENTED_DUAL_STACK.get(partition.id)} - {None}
    hosts += [f"{ACCOUNT}.dkr-ecr{variant}.{region}.{suffix}" for suffix in sorted(dual_stack) for variant in fips]
    for host in hosts:
        yield f"{host}/{REPOSITORY}"
        yield f"{host}/team/app{DIGEST}"


def look_alikes(partition: Partition, region: str) -> Iterator[str]:
    """Image references that name a partition's ECR host but are not from it."""
    host = f"{ACCOUNT}.dkr.ecr.{region}.{partition.dns_suffix}"
    yield f"{host}.evil.example/app"  # the ECR host as the prefix of another domain
    yield f"{ACCOUNT}.dkr.ecr.{region}.{partition.dns_suffix}-evil.example/app"
    yield f"{ACCOUNT}.dkr.ecr.{region}.evil.example/app"  # dkr.ecr. on a domain that is not AWS's
    yield f"{ACCOUNT}.dkr.ecr.{region}.{partition.dns_suffix.replace('.', '-')}.example/app"  # a wrong suffix
    yield f"evil.example/{host}/app"  # the ECR host inside another registry's repository path
    yield f"dkr.ecr.{region}.{partition.dns_suffix}/app"  # no account
    yield f"{ACCOUNT[:-1]}.dkr.ecr.{region}.{partition.dns_suffix}/app"  # an 11-digit account
    yield f"{FULL_WIDTH_ACCOUNT}.dkr.ecr.{region}.{partition.dns_suffix}/app"
    yield f"{ARABIC_INDIC_ACCOUNT}.dkr.ecr.{region}.{partition.dns_suffix}/app"
    yield f"deploy:hunter2@{host}/app"  # credentials before the host
    if partition.dual_stack_suffix is not None:
        dual = f"{ACCOUNT}.dkr-ecr.{region}.{partition.dual_stack_suffix}"
        yield f"{dual}.evil.example/app"
        yield f"{ACCOUNT}.dkr-ecr.{region}.evil.example/app"


@cache
def _policy(allow_ecr_public: bool) -> CompiledPolicy:
    policy_set = load_policy_set(
        narrowed_policy_dir([POLICY]), overrides={POLICY: {"allow_ecr_public": allow_ecr_public}}
    )
    policy = policy_set.get(POLICY)
    assert policy is not None
    return policy


def _status(image: str, allow_ecr_public: bool = False) -> Status:
    resource = build_task_definition({"containerDefinitions": [{"name": "app", "image": image}]}, "partitions")
    return evaluate_policy(_policy(allow_ecr_public), resource).status


def test_botocore_partitions_include_every_known_one() -> None:
    # GIVEN the partitions botocore ships
    known = {partition.id for partition in PARTITIONS}

    # THEN they include at least the partitions the policy was written for, and each has a real Region
    assert known >= {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
    assert [partition.id for partition in PARTITIONS if not partition.regions] == []


@pytest.mark.parametrize("partition", PARTITIONS, ids=lambda partition: partition.id)
def test_ecr_images_of_every_botocore_partition_pass(partition: Partition) -> None:
    # GIVEN every private ECR image reference of every Region of the partition
    images = [image for region in partition.regions for image in expected_images(partition, region)]

    # WHEN the policy evaluates each
    failing = [image for image in images if _status(image) is not Status.PASS]

    # THEN every one passes
    assert failing == []


@pytest.mark.parametrize("partition", PARTITIONS, ids=lambda partition: partition.id)
def test_ecr_look_alikes_of_every_botocore_partition_fail(partition: Partition) -> None:
    # GIVEN image references that look like the partition's ECR hosts, in one of its Regions
    region = partition.regions[0]
    images = list(look_alikes(partition, region))

    # WHEN the policy evaluates each, with ECR Public allowed too (none of them is ECR Public)
    passing = [image for image in images if _status(image, allow_ecr_public=True) is not Status.FAIL]

    # THEN every one fails
    assert passing == []


@pytest.mark.parametrize("host", ["public.ecr.aws", "ecr-public.aws.com"])
@pytest.mark.parametrize(("allow_ecr_public", "expected"), [(False, Status.FAIL), (True, Status.PASS)])
def test_ecr_public_hosts_pass_only_with_allow_ecr_public(host: str, allow_ecr_public: bool, expected: Status) -> None:
    # GIVEN an ECR Public image on its IPv4 or dual-stack host
    image = f"{host}/nginx/nginx:1.27"

    # WHEN the policy evaluates it with allow_ecr_public set or not
    observed = _status(image, allow_ecr_public)

    # THEN it passes only when ECR Public is allowed
    assert observed is expected


@pytest.mark.parametrize(
    "image",
    [
        "public.ecr.aws.evil.example/nginx/nginx:1.27",
        "ecr-public.aws.com.evil.example/nginx/nginx:1.27",
        "deploy:hunter2@public.ecr.aws/nginx/nginx:1.27",
        "evil.example/public.ecr.aws/nginx/nginx:1.27",
    ],
)
def test_ecr_public_look_alikes_fail_with_allow_ecr_public(image: str) -> None:
    assert _status(image, allow_ecr_public=True) is Status.FAIL
