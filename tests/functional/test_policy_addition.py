"""Adding a policy is three files: the policy in policies/, its case file in tests/policy_cases/, and
docs/policies.md regenerated with `ecsguard policies docs`. Nothing else in the repository may need to change.

GIVEN a copy of the repository with the fixture policies of tests/fixtures/extra_policy/ (one on task
definitions, one on services) added in those three steps
WHEN the test suite and the benchmarks run in that copy
THEN every one of them passes.

The copy's suite runs in a pytest subprocess whose PYTHONPATH puts the copy's src/ first, so the ecsguard it
imports (and the `ecsguard` console script it starts, whose interpreter gets the same PYTHONPATH) is the copy's,
and its built-in policy folder is the copy's policies/: exactly as if the policies had been added to this
checkout. An environment variable telling the suite where the policies are would prove less: a test or a code
path that found the built-in set another way would still see the old one.

What runs in the copy:
- every test module of tests/unit/ and tests/functional/ but this one, in two pytest processes side by side;
  tests/infra/ is left out: it builds the SAM application (slow), its template names no policy, and
  test_sam.py's check of the layer compares it with whatever policies/ holds;
- every benchmark of bench/ (BENCHMARKS), on small inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from policy_catalog import REPOSITORY, policy_ids

FIXTURE = REPOSITORY / "tests" / "fixtures" / "extra_policy"
COPIED = (
    *("pyproject.toml", "requirements.txt", "README.md", "src", "policies", "events", "docs", "tests", "bench"),
    *("template.yaml", "statemachine"),  # the organization sweep's tests run the state machine template.yaml deploys
)
THIS = Path(__file__).name
# Each benchmark on small inputs: they must run and exit 0 (agree with their hand-written or planted models).
BENCHMARKS = {
    "throughput": ["bench/throughput.py", "--count", "300", "--repeat", "1"],
    "scan_process": ["bench/scan_process.py", "--count", "200", "--repeat", "1"],
    "sweep": [
        "bench/sweep.py",
        *("--task-definitions", "60", "--services", "20", "--clusters", "3", "--churn", "5"),
        *("--estimate-task-definitions", "200", "--estimate-services", "40"),
    ],
    "cold_start": ["bench/cold_start.py", "--rounds", "1", "--top", "3"],
}
TIMEOUT = 600


def added_policy_ids() -> dict[str, str]:
    """Each fixture policy's id in the copy: its own, or, once policies/ holds that id (someone adopted the
    fixture), a fresh one, so the test still adds policies the catalog does not have."""
    taken = set(policy_ids())
    added: dict[str, str] = {}
    for path in sorted((FIXTURE / "policies").glob("*.yaml")):
        new_id = path.stem
        while new_id in taken:
            new_id += "-added"
        taken.add(new_id)
        added[path.stem] = new_id
    return added


def _renamed(text: str, key: str, old_id: str, new_id: str) -> str:
    renamed = re.sub(rf"^{key}: {re.escape(old_id)}$", f"{key}: {new_id}", text, count=1, flags=re.MULTILINE)
    assert renamed != text or old_id == new_id, f"no '{key}: {old_id}' line to rename"
    return renamed


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The copy with the fixture policies added, and the environment that runs the copy's ecsguard."""
    copy = tmp_path_factory.mktemp("repository-with-added-policies")
    ignored = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
    for name in COPIED:
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=ignored)
        else:
            shutil.copy2(source, copy / name)
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("ECSGUARD_", "PYTEST_"))}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(copy / "src"), *([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else [])]
    )
    # The three steps of adding a policy.
    for old_id, new_id in added_policy_ids().items():
        policy = (FIXTURE / "policies" / f"{old_id}.yaml").read_text(encoding="utf-8")
        (copy / "policies" / f"{new_id}.yaml").write_text(_renamed(policy, "id", old_id, new_id), encoding="utf-8")
        cases = (FIXTURE / "policy_cases" / f"{old_id}.yaml").read_text(encoding="utf-8")
        (copy / "tests" / "policy_cases" / f"{new_id}.yaml").write_text(
            _renamed(cases, "policy", old_id, new_id), encoding="utf-8"
        )
    docs = subprocess.run(
        [sys.executable, "-m", "ecsguard", "policies", "docs"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert docs.returncode == 0, docs.stderr
    (copy / "docs" / "policies.md").write_text(docs.stdout, encoding="utf-8")
    return copy, environment


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def test_added_policies_are_seen_by_the_copy_s_ecsguard(extended: tuple[Path, dict[str, str]]) -> None:
    # GIVEN the copy with the fixture policies added
    copy, environment = extended
    added = set(added_policy_ids().values())
    expected = sorted(policy_ids() | added)
    assert added
    assert added.isdisjoint(policy_ids())

    # WHEN its ecsguard is imported, and its console script lists the built-in policies
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, ecsguard.catalog as c; print(json.dumps([c.__file__, str(c.default_policy_dir()), "
            "sorted(p.id for p in c.load_policy_set().policies)]))",
        ],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("ecsguard")), "policies", "list", "--format", "json"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # THEN both are the copy's, with the added policies among the built-in ones
    assert probe.returncode == 0, probe.stderr
    module, policy_dir, loaded = json.loads(probe.stdout)
    assert Path(module).is_relative_to(copy / "src")
    assert Path(policy_dir) == copy / "policies"
    assert loaded == expected
    assert listing.returncode == 0, listing.stderr
    assert sorted(p["id"] for p in json.loads(listing.stdout)) == expected


def test_suite_and_benchmarks_pass_with_added_policies(extended: tuple[Path, dict[str, str]]) -> None:
    # GIVEN the copy's test modules (but this one) in two halves, and its benchmarks
    copy, environment = extended
    modules = [
        str(path.relative_to(copy))
        for folder in ("unit", "functional")
        for path in sorted((copy / "tests" / folder).glob("test_*.py"))
        if path.name != THIS
    ]
    assert len(modules) > 10
    halves = {"pytest-1": modules[0::2], "pytest-2": modules[1::2]}
    logs = copy / "logs"
    logs.mkdir()

    # WHEN they run: the two pytest processes side by side, the benchmarks one after the other meanwhile
    started = time.monotonic()
    running = {}
    for name, half in halves.items():
        with (logs / f"{name}.log").open("w", encoding="utf-8") as log:
            running[name] = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "--tb=short", *half],
                cwd=copy,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    statuses = {}
    for name, argv in BENCHMARKS.items():
        with (logs / f"{name}.log").open("w", encoding="utf-8") as log:
            done = subprocess.run(
                [sys.executable, *argv], cwd=copy, env=environment, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        statuses[name] = done.returncode
    for name, process in running.items():
        try:
            statuses[name] = process.wait(timeout=max(1.0, TIMEOUT - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            statuses[name] = "timed out"

    # THEN every one of them passed
    failed = {name: status for name, status in statuses.items() if status != 0}
    report = "\n\n".join(
        f"--- {name} (exit {status}) ---\n{_tail(logs / f'{name}.log')}" for name, status in failed.items()
    )
    assert failed == {}, report
    for name in halves:
        assert " passed" in _tail(logs / f"{name}.log", 3)
