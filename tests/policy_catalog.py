"""The policy catalog the tests run against, derived from ``policies/`` and never written out (STYLE habit 17).

Two kinds of test use it:

- tests about the whole catalog (the registry meta-tests, the policy cases, ``ecsguard scan`` and the Lambda
  over the shipped set) derive the set: ``catalog()`` and ``policy_ids()``, and assert exact sets over it, or
  over the results of the policies they are about, filtered;
- tests about something else (the scanner's publishing, faults, sweeps, settings) that state exact verdicts,
  counts, import orders and messages for the sample events select the policies they are about: ``narrowed()``
  loads only those files of ``policies/``, and ``narrowed_policy_dir()`` is a folder holding only them, for
  ``ECSGUARD_POLICY_DIR``. A policy added to ``policies/`` then changes nothing they check.

tests/functional/test_policy_addition.py proves both by running the suite in a copy of the repository with two
more policies in its ``policies/`` (tests/fixtures/extra_policy/).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from ecsguard.catalog import load_policy_set
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import ResourceType

REPOSITORY = Path(__file__).resolve().parents[1]
POLICY_DIR = REPOSITORY / "policies"
CASE_DIR = REPOSITORY / "tests" / "policy_cases"

# The policies the sample events of events/ were written for, and that the tests' expectations about those
# events (verdicts, evidence, findings, messages) describe. Naming them selects what a test is about; it is not
# the catalog, which policy_ids() derives.
SAMPLE_EVENT_POLICIES = (
    "ecs-efs-fargate-platform",
    "ecs-images-ecr-only",
    "ecs-network-awsvpc",
    "ecs-secrets-managed",
)


@cache
def catalog() -> PolicySet:
    """Every policy in policies/, loaded as ecsguard loads its built-in set."""
    return load_policy_set(POLICY_DIR)


def policy_ids(resource_type: ResourceType | None = None) -> frozenset[str]:
    """The ids of the catalog's policies, or of those on one resource type."""
    policies = catalog().policies if resource_type is None else catalog().for_type(resource_type)
    return frozenset(policy.id for policy in policies)


def catalog_order(selected: Iterable[str]) -> list[str]:
    """``selected`` in the order the catalog evaluates (and imports) its policies."""
    wanted = set(selected)
    return [policy.id for policy in catalog().policies if policy.id in wanted]


_NARROWED_ROOT: list[Path] = []


def _narrowed_root() -> Path:
    if not _NARROWED_ROOT:
        root = Path(tempfile.mkdtemp(prefix="ecsguard-narrowed-policies-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _NARROWED_ROOT.append(root)
    return _NARROWED_ROOT[0]


@cache
def _narrowed_policy_dir(selected: tuple[str, ...]) -> Path:
    sources = {policy.id: Path(policy.source) for policy in catalog().policies}
    missing = sorted(set(selected) - set(sources))
    assert missing == [], f"not in {POLICY_DIR}: {missing}"
    directory = _narrowed_root() / "-".join(selected)
    directory.mkdir()
    for policy_id in selected:
        shutil.copyfile(sources[policy_id], directory / sources[policy_id].name)
    return directory


def narrowed_policy_dir(selected: Iterable[str] = SAMPLE_EVENT_POLICIES) -> Path:
    """A folder holding only the named policies' files, copied from policies/ (each must be there)."""
    return _narrowed_policy_dir(tuple(sorted(set(selected))))


@cache
def _narrowed(selected: tuple[str, ...]) -> PolicySet:
    return load_policy_set(_narrowed_policy_dir(selected))


def narrowed(selected: Iterable[str] = SAMPLE_EVENT_POLICIES) -> PolicySet:
    """The catalog narrowed to the named policies, loaded from their files in policies/."""
    return _narrowed(tuple(sorted(set(selected))))
