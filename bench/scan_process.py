"""Whole-process scan benchmark: `ecsguard scan --format json` on a folder of task definition files, against a
hand-written Python script doing the same four checks, each a fresh process.

Writes ``--count`` (default 10,000) task definition files into a temporary folder, deterministically from
``--seed``: half as ``aws ecs describe-task-definition`` output, half as RegisterTaskDefinition requests; 1 to 4
containers with several environment variables each, ``secrets`` from Secrets Manager and SSM, log
configurations. About a third hold a plaintext password in a container's environment, some use a Docker Hub
image, some the bridge network mode, so that about half fail at least one policy.

Then, in the same run, it times whole processes (launch to exit, seen from here; the best and the median of
``--repeat`` rounds after one untimed warm-up each, the commands taking turns):

- the real CLI: ``ecsguard scan --format json --policies policies/ <folder>``, its stdout written to a file;
- a hand-written script, written into the temporary folder and run as ``python script.py <folder>`` by the same
  interpreter: it reads the same files, applies the hand-written twins of the secrets, ECR-only and awsvpc
  policies (``handwritten.py``, shared with ``throughput.py``; they read their patterns and defaults from the
  policy files) and prints a JSON document of results, also to a file.

When ``policies/`` holds policies without a hand-written twin, ``ecsguard scan`` is also timed with only the
twinned policies (a folder holding copies of their files): that run is the like-for-like one the target applies
to. The FAIL sets of the twinned policies must agree between ecsguard and the script (the benchmark is a
cross-check too). Target: ecsguard at most 2.0 times the script's time (aim: 1.5).

Exit status: 0 when the FAIL sets agree (a missed target is a measurement, not a failure); 1 on a disagreement
or when a process failed; 2 when a twinned policy is missing from ``policies/``.

Run: ``.venv/bin/python bench/scan_process.py [--count 10000] [--seed 13] [--repeat 3] [--profile]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecsguard.catalog import load_policy_set
from handwritten import FAIL, POLICY_DIR, TASK_DEFINITION_POLICIES, TWINNED, Raw
from throughput import (
    ACCOUNTS,
    FAMILIES,
    HARMLESS_SECRET_LIKE_VARIABLES,
    ORDINARY_VARIABLES,
    REGIONS,
    REPOSITORIES,
    _hex,
    _managed_value_from,
    _token,
)

BENCH_DIR = Path(__file__).resolve().parent
ECSGUARD = Path(sys.executable).with_name("ecsguard")
TASK_DEFINITION_TYPE = "AWS::ECS::TaskDefinition"

TARGET_RATIO = 2.0  # ecsguard scan's time / the hand-written script's, whole processes
AIM_RATIO = 1.5

PASSWORD_SHARE = 1 / 3  # task definitions with a plaintext password in a container's environment
DOCKER_HUB_SHARE = 0.15  # with one container's image from Docker Hub
BRIDGE_SHARE = 0.12  # in the bridge network mode
PASSWORD_NAMES = ("DB_PASSWORD", "POSTGRES_PASSWORD", "ADMIN_PASSWORD", "SMTP_PASSWORD", "REDIS_PASSWORD")
DOCKER_HUB_IMAGES = (
    "nginx:1.27",
    "redis:7-alpine",
    "postgres:16",
    "grafana/grafana:11.0.0",
    "docker.io/library/busybox:1.36",
    "datadog/agent:7",
)
SIDECARS = ("log-router", "datadog-agent", "envoy", "migrations", "otel-collector")


# --- the files ----------------------------------------------------------------------------------


@dataclass
class Planted:
    """What was put into the files, for the report (the verdicts come from the two scans)."""

    files: int = 0
    bytes: int = 0
    containers: int = 0
    variables: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    flaws: Counter[str] = field(default_factory=Counter)
    flawed: int = 0


def _ecr_image(rng: random.Random) -> str:
    account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
    tag = rng.choice(
        (f":{rng.randrange(1, 4)}.{rng.randrange(20)}.{rng.randrange(10)}", ":latest", f"@sha256:{_hex(rng, 64)}")
    )
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{rng.choice(REPOSITORIES)}{tag}"


def _container(rng: random.Random, name: str, essential: bool, family: str, region: str) -> Raw:
    variables: dict[str, str] = {}
    for variable, make in rng.sample(HARMLESS_SECRET_LIKE_VARIABLES, rng.randint(0, 2)):
        variables[variable] = make(rng)
    for variable, make in rng.sample(ORDINARY_VARIABLES, rng.randint(3, 10)):
        variables[variable] = make(rng)
    container: Raw = {
        "name": name,
        "image": _ecr_image(rng),
        "cpu": rng.choice((0, 128, 256, 512)),
        "memory": rng.choice((256, 512, 1024, 2048)),
        "essential": essential,
        "portMappings": [{"containerPort": rng.choice((80, 8080, 9000)), "protocol": "tcp"}] if essential else [],
        "environment": [{"name": key, "value": value} for key, value in variables.items()],
        "mountPoints": [],
        "volumesFrom": [],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": f"/ecs/{family}", "awslogs-region": region, "awslogs-stream-prefix": name},
        },
    }
    secrets = [{"name": f"SECRET_{n}", "valueFrom": _managed_value_from(rng)} for n in range(rng.choice((0, 1, 1, 2)))]
    if secrets:
        container["secrets"] = secrets
    return container


def task_definition_file(rng: random.Random, serial: int, planted: Planted) -> Raw:
    """One file's document: a describe-task-definition output or a RegisterTaskDefinition request."""
    family = f"{rng.choice(FAMILIES)}-{serial:05d}"
    account, region = rng.choice(ACCOUNTS), rng.choice(REGIONS)
    count = rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0]
    names = [family, *rng.sample(SIDECARS, count - 1)]
    containers = [_container(rng, name, index == 0, family, region) for index, name in enumerate(names)]
    flaws = []
    if rng.random() < PASSWORD_SHARE:
        container = rng.choice(containers)
        value = _token(rng, rng.randint(12, 24), string.ascii_letters + string.digits + "!#%-_")
        container["environment"].insert(
            rng.randrange(len(container["environment"]) + 1), {"name": rng.choice(PASSWORD_NAMES), "value": value}
        )
        flaws.append("plaintext password")
    if rng.random() < DOCKER_HUB_SHARE:
        rng.choice(containers)["image"] = rng.choice(DOCKER_HUB_IMAGES)
        flaws.append("Docker Hub image")
    network_mode = "awsvpc"
    if rng.random() < BRIDGE_SHARE:
        network_mode = "bridge"
        flaws.append("bridge network mode")
    definition: Raw = {
        "family": family,
        "taskRoleArn": f"arn:aws:iam::{account}:role/{family}-task",
        "executionRoleArn": f"arn:aws:iam::{account}:role/ecsTaskExecutionRole",
        "networkMode": network_mode,
        "containerDefinitions": containers,
        "requiresCompatibilities": ["FARGATE"] if network_mode == "awsvpc" else ["EC2"],
        "cpu": rng.choice(("256", "512", "1024")),
        "memory": rng.choice(("512", "1024", "2048")),
    }
    tags = [{"key": "team", "value": rng.choice(("payments", "platform", "growth"))}]
    planted.containers += len(containers)
    planted.variables += sum(len(c["environment"]) for c in containers)
    planted.flaws.update(flaws)
    planted.flawed += bool(flaws)
    if serial % 2:
        planted.shapes["RegisterTaskDefinition request"] += 1
        return {**definition, "tags": tags}
    revision = rng.randrange(1, 120)
    planted.shapes["describe-task-definition output"] += 1
    described = {
        "taskDefinitionArn": f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}",
        **definition,
        "revision": revision,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": "2026-11-20T09:21:40.123000+00:00",
        "registeredBy": f"arn:aws:sts::{account}:assumed-role/deployer/ci",
    }
    return {"taskDefinition": described, "tags": tags}


def write_files(folder: Path, count: int, seed: int) -> Planted:
    rng = random.Random(seed)
    planted = Planted(files=count)
    folder.mkdir()
    for serial in range(count):
        text = json.dumps(task_definition_file(rng, serial, planted), indent=2)
        (folder / f"task-definition-{serial:05d}.json").write_text(text, encoding="utf-8")
        planted.bytes += len(text)
    return planted


# --- the hand-written script -------------------------------------------------------------------

SCRIPT = '''"""Hand-written baseline of `ecsguard scan --format json FOLDER`, written by bench/scan_process.py:
read every .json file under FOLDER, apply the hand-written twins of the task definition policies, and print a
JSON document of the results."""

import json
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, {bench_dir!r})
from handwritten import POLICY_DIR, HandWritten  # noqa: E402


def main():
    root = Path(sys.argv[1])
    hand = HandWritten()
    described = {{}}
    for policy_id in {policies!r}:
        document = yaml.safe_load((POLICY_DIR / (policy_id + ".yaml")).read_text(encoding="utf-8"))
        described[policy_id] = (document["severity"], document["title"])
    files = sorted(path for path in root.rglob("*") if path.is_file() and path.suffix == ".json")
    results = []
    for path in files:
        source = str(path)
        document = json.loads(path.read_text(encoding="utf-8"))
        task = document["taskDefinition"] if isinstance(document.get("taskDefinition"), dict) else document
        family, revision = task.get("family"), task.get("revision")
        fallback = f"{{source}}#{{family or 'task-definition'}}"
        resource_id = task.get("taskDefinitionArn") or (
            f"{{family}}:{{revision}}" if family and revision is not None else fallback
        )
        for result in hand.task_definition(task):
            severity, title = described[result.policy_id]
            results.append(
                {{
                    "policy_id": result.policy_id,
                    "resource": {{"type": "{resource_type}", "id": resource_id}},
                    "status": result.status,
                    "severity": severity,
                    "title": title,
                    "evidence": [{{"path": path, "message": message}} for path, message in result.evidence],
                    "source": source,
                }}
            )
    statuses = Counter(result["status"] for result in results)
    summary = {{"files": len(files), "results": len(results), "by_status": dict(statuses)}}
    print(json.dumps({{"results": results, "summary": summary}}, indent=2))
    return 1 if statuses["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def write_script(path: Path) -> None:
    text = SCRIPT.format(
        bench_dir=str(BENCH_DIR), policies=list(TASK_DEFINITION_POLICIES), resource_type=TASK_DEFINITION_TYPE
    )
    path.write_text(text, encoding="utf-8")


# --- running ------------------------------------------------------------------------------------


@dataclass
class Command:
    label: str
    argv: list[str]
    output: Path
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    def run(self, env: dict[str, str]) -> tuple[float, float]:
        """Run once, stdout to ``output``; return wall and CPU (user + system) seconds; raise when it failed."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with self.output.open("wb") as stdout:
            start = time.perf_counter()
            done = subprocess.run(self.argv, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
            wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode not in (0, 1):  # 1: something failed a policy, which is the point
            stderr = done.stderr.decode("utf-8", "replace")
            raise RuntimeError(f"{self.label} exited {done.returncode}: {stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu

    def document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.output.read_text(encoding="utf-8"))
        return loaded

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def child_environment() -> dict[str, str]:
    """This environment without ECSGUARD_* settings (a parameter override would change the verdicts)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("ECSGUARD_")}


def fail_set(document: dict[str, Any], policies: frozenset[str]) -> set[tuple[str, str, str]]:
    return {
        (r["policy_id"], r["source"], r["resource"]["id"])
        for r in document["results"]
        if r["policy_id"] in policies and r["status"] == FAIL
    }


def evaluated(document: dict[str, Any], policies: frozenset[str]) -> set[tuple[str, str, str]]:
    return {
        (r["policy_id"], r["source"], r["resource"]["id"]) for r in document["results"] if r["policy_id"] in policies
    }


def disagreements(name: str, ours: set[tuple[str, str, str]], theirs: set[tuple[str, str, str]]) -> list[str]:
    lines = [
        f"  {name}: only ecsguard: {policy} on {rid} ({Path(source).name})"
        for policy, source, rid in sorted(ours - theirs)
    ]
    lines += [
        f"  {name}: only hand-written: {policy} on {rid} ({Path(source).name})"
        for policy, source, rid in sorted(theirs - ours)
    ]
    return lines


# --- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="task definition files to write (default 10000)")
    parser.add_argument("--seed", type=int, default=13, help="random seed of the files (default 13)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of each command (default 3)")
    parser.add_argument("--profile", action="store_true", help="also run the ecsguard scan under cProfile")
    parser.add_argument("--top", type=int, default=25, help="profile entries to print (default 25)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")
    if not ECSGUARD.is_file():
        print(f"bench: no ecsguard script next to {sys.executable}; run with the venv's python", file=sys.stderr)
        return 2

    policy_set = load_policy_set(POLICY_DIR)
    loaded = [policy.id for policy in policy_set.policies]
    missing = sorted(TWINNED - set(loaded))
    if missing:
        print(f"bench: the hand-written code twins {missing}, not in {POLICY_DIR} (found {loaded})", file=sys.stderr)
        return 2
    untwinned = [policy_id for policy_id in loaded if policy_id not in TWINNED]
    checked = frozenset(TASK_DEFINITION_POLICIES)

    with tempfile.TemporaryDirectory(prefix="ecsguard-scan-process-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        planted = write_files(work / "inputs", args.count, args.seed)
        write_seconds = time.perf_counter() - started
        script = work / "handwritten_scan.py"
        write_script(script)
        inputs = str(work / "inputs")

        def scan(policy_dir: Path) -> list[str]:
            # Every pack: the whole catalog (or all the twinned policies), whatever a deployment's default.
            return [str(ECSGUARD), "scan", "--format", "json", "--pack", "all", "--policies", str(policy_dir), inputs]

        ecsguard = Command("ecsguard scan", scan(POLICY_DIR), work / "ecsguard.json")
        hand = Command("hand-written script", [sys.executable, str(script), inputs], work / "handwritten.json")
        commands = [ecsguard, hand]
        twins: Command | None = None
        if untwinned:
            twins_dir = work / "twinned-policies"
            twins_dir.mkdir()
            for policy_id in sorted(TWINNED):
                shutil.copyfile(POLICY_DIR / f"{policy_id}.yaml", twins_dir / f"{policy_id}.yaml")
            twins = Command("ecsguard scan, twinned policies", scan(twins_dir), work / "ecsguard-twins.json")
            commands.insert(1, twins)

        env = child_environment()
        try:
            for command in commands:  # warm-up, untimed; its output is the one cross-checked
                command.run(env)
            documents = {command.label: command.document() for command in commands}
            for _ in range(args.repeat):
                for command in commands:
                    wall, cpu = command.run(env)
                    command.seconds.append(wall)
                    command.cpu_seconds.append(cpu)
        except RuntimeError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1

        # Cross-check: the same resources evaluated by the twinned policies, and the same failures.
        ours, theirs = documents[ecsguard.label], documents[hand.label]
        problems = disagreements("evaluated", evaluated(ours, checked), evaluated(theirs, checked))
        problems += disagreements("FAIL", fail_set(ours, checked), fail_set(theirs, checked))
        if twins is not None:
            problems += disagreements(
                "FAIL (twinned run)", fail_set(documents[twins.label], checked), fail_set(theirs, checked)
            )

        report(args, planted, write_seconds, policy_set, untwinned, commands, ecsguard, twins, hand, ours, theirs)
        if problems:
            print(f"\nDISAGREEMENTS ({len(problems)}), first 20:")
            for line in problems[:20]:
                print(line)
        if args.profile:
            profile(scan(POLICY_DIR), env, work, args.top)
    if problems:
        print(f"\nbench: ecsguard and the hand-written script disagree on {len(problems)} result(s)", file=sys.stderr)
        return 1
    return 0


def report(
    args: argparse.Namespace,
    planted: Planted,
    write_seconds: float,
    policy_set: Any,
    untwinned: list[str],
    commands: list[Command],
    ecsguard: Command,
    twins: Command | None,
    hand: Command,
    ours: dict[str, Any],
    theirs: dict[str, Any],
) -> None:
    n = planted.files
    print("ecsguard whole-process scan benchmark")
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
        f"{os.cpu_count()} CPUs; fresh processes of {sys.executable}; seed {args.seed}; best and median of "
        f"{args.repeat} rounds after one untimed warm-up each, the commands taking turns"
    )
    print(
        f"  inputs: {n:,} task definition files ({planted.bytes / 1e6:.1f} MB, written in {write_seconds:.1f} s): "
        + ", ".join(f"{count:,} {shape}" for shape, count in sorted(planted.shapes.items()))
    )
    print(
        f"  {planted.containers / n:.2f} containers and {planted.variables / planted.containers:.1f} environment "
        f"variables per container on average; planted: "
        + ", ".join(f"{count / n:.0%} {flaw}" for flaw, count in sorted(planted.flaws.items()))
        + f"; {planted.flawed / n:.0%} with at least one"
    )
    ids = [policy.id for policy in policy_set.policies]
    print(
        f"  policies: ecsguard runs the {len(ids)} of {POLICY_DIR}; the script has twins of "
        f"{', '.join(TASK_DEFINITION_POLICIES)}"
        + (f"; no twin (ecsguard only): {', '.join(untwinned)}" if untwinned else "")
    )
    print()
    print("Verdicts on the task definitions (ecsguard; the hand-written script's FAIL sets agree unless listed below)")
    print(f"  {'policy':<34}{'PASS':>8}{'FAIL':>8}{'N/A':>8}{'ERROR':>8}")
    tally = Counter((r["policy_id"], r["status"]) for r in ours["results"])
    for policy_id in ids:
        if not any(policy_id == p for p, _ in tally):
            continue
        label = policy_id if policy_id in TWINNED else f"{policy_id} *"
        counts = [tally[(policy_id, status)] for status in ("PASS", "FAIL", "NOT_APPLICABLE", "ERROR")]
        print(f"  {label:<34}" + "".join(f"{count:>8,}" for count in counts))
    failing = {r["source"] for r in theirs["results"] if r["status"] == FAIL}
    print(f"  files failing at least one twinned policy: {len(failing):,} of {n:,} ({len(failing) / n:.0%})")
    if untwinned:
        print("  * no hand-written twin: not cross-checked")
    print()
    columns = f"{'best s':>9}{'median s':>10}{'CPU s':>8}{'files/s':>10}{'vs script':>11}"
    print(f"  {'whole process, launch to exit':<44}{columns}")
    for command in commands:
        cpu = statistics.median(command.cpu_seconds)
        print(
            f"  {command.label:<44}{command.best:>9.2f}{command.median:>10.2f}{cpu:>8.2f}{n / command.best:>10,.0f}"
            f"{command.best / hand.best:>10.2f}x"
        )
    print()
    like_for_like = twins or ecsguard
    ratio = like_for_like.best / hand.best
    median_ratio = like_for_like.median / hand.median
    print(
        f"Target ({like_for_like.label} / hand-written script, best of {args.repeat}; "
        f"the ratio of the medians is {median_ratio:.2f}x)"
    )
    print(f"  ratio at most {TARGET_RATIO:.1f}x: {ratio:>6.2f}x   {_mark(ratio <= TARGET_RATIO)}")
    print(f"  aim   at most {AIM_RATIO:.1f}x: {ratio:>6.2f}x   {_mark(ratio <= AIM_RATIO)}")


def profile(argv: list[str], env: dict[str, str], work: Path, top: int) -> None:
    """The ecsguard scan once more, under cProfile (its own process), and its most expensive functions."""
    stats_file = work / "ecsguard.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *argv]
    with (work / "ecsguard-profiled.json").open("wb") as stdout:
        done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env, check=False)
    if done.returncode not in (0, 1) or not stats_file.is_file():
        print(f"\nbench: the profiled scan failed ({done.returncode}): {done.stderr.decode()[-2000:]}", file=sys.stderr)
        return
    stats = pstats.Stats(str(stats_file), stream=sys.stdout).strip_dirs()
    print(f"\nProfile of `ecsguard scan` (cProfile, one run), top {top} by cumulative time")
    stats.sort_stats("cumulative").print_stats(top)
    print(f"Top {top} by own time")
    stats.sort_stats("tottime").print_stats(top)


def _mark(met: bool) -> str:
    return "PASS" if met else "MISS"


if __name__ == "__main__":
    sys.exit(main())
