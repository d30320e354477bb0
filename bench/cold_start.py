"""Cold-start benchmark: a fresh Python process imports the Lambda handler and handles one event against moto.

The parent starts moto's ThreadedMotoServer on 127.0.0.1 (with an SNS topic and Security Hub enabled, so
the event goes all the way: policies loaded, clients built, findings imported, a notification published when a
policy fails), then for each of ``--rounds`` rounds runs fresh child processes of the same interpreter, with the
same environment and flags:

- ``python``: nothing imported, the interpreter's own start-up (a reference for the whole-process figures);
- ``boto3``: ``import boto3`` alone, timed with ``time.perf_counter`` around the import statement;
- ``handler``: ``import ecsguard.handlers.scanner`` timed the same way, then the first ``handler(event, None)``
  on ``events/ecs-register-task-definition.json`` (or ``--event``; and, for reference, a second, warm call),
  then the peak resident memory of the process.

Each child also reports the time from its launch (taken by the parent just before starting it, on the
system-wide monotonic clock) to the end of its import: the whole-process figure, start-up included.

One untimed warm-up run of each kind comes first, so every timed run finds warm bytecode caches. Children run
with ``python -I`` (no PYTHON* variables, no user site, no current directory on sys.path), so no variable such
as PYTHONDONTWRITEBYTECODE differs between them. Peak memory is VmHWM from /proc/self/status: on Linux,
``ru_maxrss`` carries the parent's peak over fork/exec, and the parent here hosts moto.

By default the children see the variables the Lambda runtime sets (``--environment lambda``): Powertools'
Tracer is then active, imports the X-Ray SDK's Lambda sampler and patches botocore and friends, as in a
deployed function with active tracing (segments go to a local UDP socket). ``--environment local`` leaves them
out: the Tracer is disabled, but the X-Ray SDK then builds its centralised sampler, which creates a botocore
client at import.

Finally one more handler child runs under ``python -X importtime`` to show what the import pays for, and what
the first event imports lazily.

Exit status: 0 when every child succeeded (a missed target is a measurement, not a failure), 1 when a child
failed, 2 when moto could not be prepared.

Run: ``.venv/bin/python bench/cold_start.py [--rounds 7] [--environment lambda|local] [--event FILE]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
EVENT = REPOSITORY / "events" / "ecs-register-task-definition.json"
POLICY_DIR = REPOSITORY / "policies"
REGION = "us-east-1"
HANDLER_MODULE = "ecsguard.handlers.scanner"

TARGET_IMPORT_RATIO = 1.5  # handler import / `import boto3` alone
TARGET_PEAK_MB = 128.0  # Lambda's smallest memory size

KINDS = ("python", "boto3", "handler")
RESULT_TAG = "cold-start-result "
EVENT_MARKER = "cold-start: first event"
EVENT_DONE_MARKER = "cold-start: first event done"
LAUNCHED_VARIABLE = "COLD_START_BENCH_LAUNCHED"  # not ECSGUARD_*: the handler rejects unknown ECSGUARD_ variables
CHILD_TIMEOUT = 300

# Runs as `python -I -c CHILD_CODE <kind> <event file>`. Only builtins and modules the interpreter has already
# loaded at start-up (sys, os, time) are touched before the timed import.
CHILD_CODE = f"""
import os, sys, time
kind = sys.argv[1]
start = time.perf_counter()
start_cpu = time.process_time()
if kind == "boto3":
    import boto3
elif kind == "handler":
    import {HANDLER_MODULE} as scanner
imported = time.perf_counter()
imported_cpu = time.process_time()
imported_at = time.monotonic()
import json, resource

def peak_kib():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1

result = {{
    "kind": kind,
    "import_s": imported - start,
    "import_cpu_s": imported_cpu - start_cpu,
    "launch_to_import_s": imported_at - float(os.environ["{LAUNCHED_VARIABLE}"]),
    "modules_after_import": len(sys.modules),
    "peak_after_import_kib": peak_kib(),
}}
if kind == "handler":
    with open(sys.argv[2], encoding="utf-8") as file:
        event = json.load(file)
    print("{EVENT_MARKER}", file=sys.stderr, flush=True)
    before = time.perf_counter()
    summary = scanner.handler(event, None)
    after = time.perf_counter()
    print("{EVENT_DONE_MARKER}", file=sys.stderr, flush=True)
    result["first_event_s"] = after - before
    result["launch_to_first_event_s"] = time.monotonic() - float(os.environ["{LAUNCHED_VARIABLE}"])
    result["peak_after_event_kib"] = peak_kib()
    result["modules_after_event"] = len(sys.modules)
    result["summary"] = summary
    before = time.perf_counter()
    scanner.handler(event, None)
    result["second_event_s"] = time.perf_counter() - before
    if summary.get("action") != "evaluated" or not summary.get("findings_imported"):
        print(f"the event did not go all the way: {{summary}}", file=sys.stderr)
        sys.exit(3)
result["peak_kib"] = peak_kib()
result["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("{RESULT_TAG}" + json.dumps(result), flush=True)
"""


class ChildFailed(Exception):
    pass


class EmulatorFailed(Exception):
    pass


# --- the emulated account ---------------------------------------------------------------


@dataclass
class Emulator:
    endpoint: str
    topic_arn: str
    stop: Callable[[], None]


def start_moto() -> Emulator:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # Explicit credentials and endpoint: this process's own environment is left alone.
        session = boto3.session.Session("testing", "testing", region_name=REGION)
        topic_arn = session.client("sns", endpoint_url=endpoint).create_topic(Name="ecsguard-findings")["TopicArn"]
        session.client("securityhub", endpoint_url=endpoint).enable_security_hub()
    except Exception as error:
        server.stop()
        raise EmulatorFailed(f"could not prepare moto: {error}") from error
    return Emulator(endpoint, topic_arn, server.stop)


def child_environment(emulator: Emulator, environment: str, xray_port: int) -> dict[str, str]:
    """The parent's environment without AWS, Lambda, Powertools or ecsguard settings, then the benchmark's."""
    dropped = ("AWS_", "ECSGUARD_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN_", "_HANDLER")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    env.update(
        {
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ECSGUARD_TOPIC_ARN": emulator.topic_arn,
            # This checkout's policies, whatever ecsguard the venv imports (the deployed function also names its
            # policy folder, the layer's, in ECSGUARD_POLICY_DIR).
            "ECSGUARD_POLICY_DIR": str(POLICY_DIR),
            # The whole catalog, every pack: the most a deployment can load, so the figure bounds them all.
            "ECSGUARD_PACKS": "all",
        }
    )
    if environment == "lambda":
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(REPOSITORY),
                "LAMBDA_RUNTIME_DIR": str(REPOSITORY),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
                "AWS_LAMBDA_FUNCTION_NAME": "ecsguard-scanner",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ecsguard-scanner",
                "_HANDLER": f"{HANDLER_MODULE}.handler",
                "_X_AMZN_TRACE_ID": "Root=1-6761f3a2-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}",
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            }
        )
    return env


# --- children ---------------------------------------------------------------------------


def run_child(
    kind: str, env: Mapping[str, str], event: Path = EVENT, flags: Sequence[str] = ()
) -> tuple[dict[str, Any], str, float]:
    """Run one fresh child; its result, its stderr and its wall time as seen from here (launch to exit)."""
    command = [sys.executable, "-I", *flags, "-c", CHILD_CODE, kind, str(event)]
    child_env = dict(env)
    launched = time.monotonic()
    child_env[LAUNCHED_VARIABLE] = repr(launched)
    try:
        done = subprocess.run(
            command, env=child_env, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=REPOSITORY, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ChildFailed(f"{kind} child did not finish within {CHILD_TIMEOUT} s") from error
    wall = time.monotonic() - launched
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if done.returncode != 0 or len(results) != 1:
        tail = "\n".join(done.stderr.strip().splitlines()[-25:])
        raise ChildFailed(f"{kind} child failed with exit status {done.returncode}:\n{tail}")
    return json.loads(results[0][len(RESULT_TAG) :]), done.stderr, wall


@dataclass
class Runs:
    by_kind: dict[str, list[dict[str, Any]]]

    def values(self, kind: str, key: str) -> list[float]:
        return [float(run[key]) for run in self.by_kind[kind]]


def measure(rounds: int, env: Mapping[str, str], event: Path, progress: Callable[[str], None]) -> Runs:
    for kind in KINDS:  # untimed warm-up: bytecode caches, the OS page cache, moto's first requests
        run_child(kind, env, event)
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for number in range(rounds):
        order = KINDS if number % 2 == 0 else tuple(reversed(KINDS))  # no kind always runs first
        for kind in order:
            result, _, wall = run_child(kind, env, event)
            result["wall_s"] = wall
            by_kind[kind].append(result)
        progress(f"  round {number + 1}/{rounds} done")
    return Runs(by_kind)


# --- python -X importtime ----------------------------------------------------------------

IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")


@dataclass
class Imported:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: str | None = None  # the module whose import imported this one first


def parse_importtime(stderr: str) -> tuple[list[Imported], list[Imported]]:
    """The handler module's import tree, and what the first event imported (lazy imports), in order."""
    phases: tuple[list[Imported], list[Imported], list[Imported]] = ([], [], [])
    phase = 0
    waiting: dict[int, list[Imported]] = defaultdict(list)  # by depth: imports whose parent is not printed yet
    for line in stderr.splitlines():
        if line.strip() in (EVENT_MARKER, EVENT_DONE_MARKER):
            phase = 1 if line.strip() == EVENT_MARKER else 2
            continue
        match = IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            item = Imported(module, int(self_us), int(cumulative_us), len(indent) // 2)
            for child in waiting.pop(item.depth + 1, []):  # a module is printed after everything it imported
                child.parent = module
            waiting[item.depth].append(item)
            phases[phase].append(item)
    # Before the first event: the interpreter's start-up, then the handler's tree (ending with the handler module
    # itself, at depth 0), then the child's own bookkeeping imports. Keep the handler's tree only.
    before = phases[0]
    end = next((i for i, item in enumerate(before) if item.depth == 0 and item.module == HANDLER_MODULE), None)
    if end is None:
        return [], phases[1]
    start = end
    while start > 0 and before[start - 1].depth > 0:
        start -= 1
    return before[start : end + 1], phases[1]


def top_level_package(module: str) -> str:
    return module.split(".", 1)[0]


def by_package(imported: Sequence[Imported]) -> list[tuple[str, int, int]]:
    """(package, self time in µs, modules), most expensive first."""
    self_us: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for item in imported:
        package = top_level_package(item.module)
        self_us[package] += item.self_us
        count[package] += 1
    return sorted(((name, self_us[name], count[name]) for name in self_us), key=lambda row: -row[1])


# --- report -----------------------------------------------------------------------------


def _shown(path: Path) -> str:
    return str(path.relative_to(REPOSITORY)) if path.is_relative_to(REPOSITORY) else str(path)


def _mark(met: bool) -> str:
    return "PASS" if met else "MISS"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:>9.1f} ms"


def _mb(kib: float) -> str:
    return f"{kib / 1024:>9.1f} MB"


def _ratio(value: float) -> str:
    return f"{value:>9.2f} x "


def row(label: str, values: Sequence[float], unit: Callable[[float], str]) -> str:
    median = statistics.median(values)
    return f"  {label:<48}{unit(median)}{unit(min(values))}{unit(max(values))}"


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per round: the two children of one round ran back to back, so their ratio is the least noisy."""
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def print_report(runs: Runs, rounds: int, environment: str, emulator: Emulator, event: Path) -> None:
    boto3_import = runs.values("boto3", "import_s")
    handler_import = runs.values("handler", "import_s")
    import_ratio = ratios(handler_import, boto3_import)
    python_launch = runs.values("python", "launch_to_import_s")
    boto3_launch = runs.values("boto3", "launch_to_import_s")
    handler_launch = runs.values("handler", "launch_to_import_s")
    peak = runs.values("handler", "peak_after_event_kib")
    summary = runs.by_kind["handler"][0]["summary"]

    print("ecsguard cold-start benchmark")
    print(
        f"  Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
        f"{platform.system()}; {os.cpu_count()} CPUs; {rounds} rounds of fresh `python -I` processes, "
        "after one warm-up run of each kind"
    )
    tracer = (
        "Lambda runtime variables set, Powertools Tracer active"
        if environment == "lambda"
        else "no Lambda runtime variables, Powertools Tracer disabled"
    )
    print(f"  environment: {environment} ({tracer}); moto at {emulator.endpoint}")
    print(
        f"  event: {_shown(event)} -> {summary['action']}, {summary['findings_imported']} findings "
        f"imported, {summary['notifications_sent']} notification(s) sent, failed: {summary['failed_policies']}; "
        f"policies from {_shown(POLICY_DIR)}"
    )
    print()
    print(f"  {'':<48}{'median':>12}{'min':>12}{'max':>12}")
    print("Import (time.perf_counter around the import statement)")
    print(row("import boto3 alone", boto3_import, _ms))
    print(row(f"import {HANDLER_MODULE}", handler_import, _ms))
    print(row("ratio handler / boto3 (per round)", import_ratio, _ratio))
    cpu_ratio = ratios(runs.values("handler", "import_cpu_s"), runs.values("boto3", "import_cpu_s"))
    print(row("ratio in CPU time (steadier on a busy machine)", cpu_ratio, _ratio))
    print("Whole process: launch to import done (start-up included)")
    print(row("python start-up alone (nothing imported)", python_launch, _ms))
    print(row("import boto3 alone", boto3_launch, _ms))
    print(row(f"import {HANDLER_MODULE}", handler_launch, _ms))
    print(row("ratio handler / boto3 (per round)", ratios(handler_launch, boto3_launch), _ratio))
    print("Whole process: launch to exit, from the parent")
    print(row("import boto3 alone", runs.values("boto3", "wall_s"), _ms))
    print(row("handler: import, two events", runs.values("handler", "wall_s"), _ms))
    print("First invocation")
    print(row("first handler(event, None)", runs.values("handler", "first_event_s"), _ms))
    print(row("second handler(event, None), for reference", runs.values("handler", "second_event_s"), _ms))
    print(row("launch to first event returned", runs.values("handler", "launch_to_first_event_s"), _ms))
    print("Peak resident memory (VmHWM)")
    print(row("python start-up alone", runs.values("python", "peak_kib"), _mb))
    print(row("import boto3 alone", runs.values("boto3", "peak_kib"), _mb))
    print(row("handler, after import", runs.values("handler", "peak_after_import_kib"), _mb))
    print(row("handler, after the first event", peak, _mb))
    modules = runs.by_kind
    print(
        f"  modules loaded: python {modules['python'][0]['modules_after_import']}, "
        f"boto3 {modules['boto3'][0]['modules_after_import']}, "
        f"handler {modules['handler'][0]['modules_after_import']} after import, "
        f"{modules['handler'][0]['modules_after_event']} after the first event"
    )
    inherited = statistics.median(runs.values("handler", "ru_maxrss_kib"))
    if abs(inherited - statistics.median(runs.values("handler", "peak_kib"))) > 4096:
        print(
            f"  (ru_maxrss said {inherited / 1024:.1f} MB: on Linux it keeps the parent's peak across fork/exec, "
            "and the parent hosts moto; VmHWM is the child's own)"
        )
    print()
    ratio, peak_mb = statistics.median(import_ratio), statistics.median(peak) / 1024
    print("Targets (medians)")
    print(
        f"  handler import <= {TARGET_IMPORT_RATIO:.1f}x `import boto3` alone:{'':<9}"
        f"{ratio:>9.2f} x    {_mark(ratio <= TARGET_IMPORT_RATIO)}"
    )
    print(
        f"  cold invocation peak RSS < {TARGET_PEAK_MB:.0f} MB:{'':<16}{peak_mb:>9.1f} MB   "
        f"{_mark(peak_mb < TARGET_PEAK_MB)}"
    )


def runtime_requirements() -> set[str]:
    """Distribution names of requirements.txt (what a deployed function contains), normalised."""
    names = set()
    for line in (REPOSITORY / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name = re.split(r"[=<>!~;\[ ]", line.split("#", 1)[0].strip(), maxsplit=1)[0]
        if name:
            names.add(_normalise(name))
    return names


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def outside_requirements(imported: Sequence[Imported]) -> list[tuple[str, int, int]]:
    """Packages imported from distributions that requirements.txt does not list (here only as dev dependencies)."""
    import importlib.metadata

    required = runtime_requirements() | {"ecsguard"}
    distributions = importlib.metadata.packages_distributions()
    return [
        row
        for row in by_package(imported)
        if row[0] in distributions
        and row[0] not in sys.stdlib_module_names
        and not any(_normalise(name) in required for name in distributions[row[0]])
    ]


def print_importtime(stderr: str, top: int) -> None:
    at_import, at_event = parse_importtime(stderr)
    total = max((item.cumulative_us for item in at_import if item.module == HANDLER_MODULE), default=0)
    print()
    print(
        f"What `import {HANDLER_MODULE}` pays for (python -X importtime, one run, {total / 1000:.1f} ms in all; "
        "importtime's own overhead included)"
    )
    print(f"  top {top} by cumulative time")
    print(f"  {'cumulative':>11}{'self':>10}  {'module':<40}imported by")
    for item in sorted(at_import, key=lambda item: -item.cumulative_us)[:top]:
        times = f"{item.cumulative_us / 1000:>8.1f} ms{item.self_us / 1000:>7.1f} ms"
        print(f"  {times}  {item.module:<40}{item.parent or '-'}")
    print(f"  self time by top-level package ({len(at_import)} modules)")
    for name, self_us, count in by_package(at_import)[:top]:
        print(f"  {self_us / 1000:>8.1f} ms  {name} ({count} modules)")
    extra = outside_requirements(at_import)
    if extra:
        listed = ", ".join(f"{name} {self_us / 1000:.1f} ms" for name, self_us, _ in extra)
        print(
            f"  not in requirements.txt, so absent from a deployed function (dev dependencies here): {listed}; "
            f"{sum(row[1] for row in extra) / 1000:.1f} ms of self time in all"
        )
    if at_event:
        lazy = sum(item.cumulative_us for item in at_event if item.depth == 0)
        print()
        print(f"Imported during the first event ({len(at_event)} modules, {lazy / 1000:.1f} ms), self time by package")
        for name, self_us, count in by_package(at_event)[:10]:
            print(f"  {self_us / 1000:>8.1f} ms  {name} ({count} modules)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds, each one fresh child per kind (default 7)")
    parser.add_argument(
        "--environment",
        choices=("lambda", "local"),
        default="lambda",
        help="lambda: the Lambda runtime's variables, Tracer active (default); local: without them",
    )
    parser.add_argument(
        "--event", type=Path, default=EVENT, help=f"the event to handle (default {EVENT.relative_to(REPOSITORY)})"
    )
    parser.add_argument("--top", type=int, default=15, help="importtime rows to show (default 15)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    event = args.event.resolve()
    if not event.is_file():
        parser.error(f"--event {args.event}: no such file")

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    progress("starting moto ...")
    try:
        emulator = start_moto()
    except EmulatorFailed as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    # A sink for the X-Ray segments of the Lambda environment (the daemon's place); nothing reads it.
    xray_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        xray_sink.bind(("127.0.0.1", 0))
        env = child_environment(emulator, args.environment, xray_sink.getsockname()[1])
        progress(f"warm-up, then {args.rounds} rounds ...")
        runs = measure(args.rounds, env, event, progress)
        _, importtime_stderr, _ = run_child("handler", env, event, ("-X", "importtime"))
    except ChildFailed as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        xray_sink.close()
        emulator.stop()
    print_report(runs, args.rounds, args.environment, emulator, event)
    print_importtime(importtime_stderr, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
