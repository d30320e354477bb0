"""The ``ecsguard`` command line: scan files offline and manage policy sets.

Exit status: 0 when nothing at or above ``--fail-on`` failed, 1 when something did,
2 for bad usage, an invalid policy set or unreadable input.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecsguard import report
from ecsguard.catalog import (
    EXEMPTIONS_FILE,
    PolicyLoadError,
    default_policy_dir,
    load_overrides,
    load_policy_set,
)
from ecsguard.core.engine import PolicySet
from ecsguard.core.exemptions import ExemptionSet
from ecsguard.core.models import Severity
from ecsguard.core.packs import DEFAULT_PACKS, EVERY_PACK
from ecsguard.exemptions_file import DEFAULT_MAX_LIFETIME_DAYS, exemptions_in_effect
from ecsguard.scan import locate, read_inputs

if TYPE_CHECKING:
    from ecsguard.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SEVERITY_NAMES = [severity.value for severity in Severity]


class UsageError(Exception):
    pass


def _parse_setting(text: str) -> tuple[str, str, Any]:
    target, separator, raw = text.partition("=")
    policy_id, dot, name = target.partition(".")
    if not separator or not dot or not policy_id or not name:
        raise UsageError(f"--set expects POLICY_ID.PARAMETER=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # a bare string needs no quotes
    return policy_id, name, value


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    environment = os.environ.get("ECSGUARD_PARAMETERS")
    if environment:
        try:
            parsed = json.loads(environment)
        except ValueError as error:
            raise UsageError(f"ECSGUARD_PARAMETERS is not valid JSON: {error}") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
            raise UsageError('ECSGUARD_PARAMETERS must be {"<policy-id>": {"<parameter>": <value>}}')
        overrides.update(parsed)
    for path in getattr(args, "parameters", None) or []:
        for policy_id, values in load_overrides(Path(path)).items():
            overrides.setdefault(policy_id, {}).update(values)
    for setting in getattr(args, "set", None) or []:
        policy_id, name, value = _parse_setting(setting)
        overrides.setdefault(policy_id, {})[name] = value
    return overrides


def _policy_dir(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "policies", None) or os.environ.get("ECSGUARD_POLICY_DIR")
    return Path(chosen) if chosen else default_policy_dir()


def _packs(args: argparse.Namespace, default: Sequence[str] | None) -> list[str] | None:
    """The packs to load: --pack, else $ECSGUARD_PACKS, else ``default``; None means every pack."""
    chosen = getattr(args, "pack", None) or [
        part.strip() for part in os.environ.get("ECSGUARD_PACKS", "").split(",") if part.strip()
    ]
    packs = list(chosen) if chosen else (list(default) if default is not None else None)
    return None if packs is None or EVERY_PACK in packs else packs


def _load(args: argparse.Namespace, default_packs: Sequence[str] | None = DEFAULT_PACKS) -> PolicySet:
    return load_policy_set(_policy_dir(args), _overrides(args), _packs(args, default_packs))


# A scan allocates millions of small acyclic objects (documents, results) that all live until the report, and the
# cyclic collector kept traversing them: a quarter of a 10,000-file scan. Collect rarely, as mypy does for its build.
SCAN_GC_THRESHOLD = (200_000, 30, 30)


def _scan(args: argparse.Namespace) -> int:
    previous = gc.get_threshold()
    gc.set_threshold(*SCAN_GC_THRESHOLD)
    try:
        return _scan_files(args)
    finally:
        gc.set_threshold(*previous)


def _today() -> date:
    return datetime.now(UTC).date()


def _exemptions(args: argparse.Namespace) -> ExemptionSet:
    """The exemptions in effect: --exemptions, else $ECSGUARD_EXEMPTIONS, else the policy folder's
    exemptions.yaml; none when there is no such file."""
    return _exemptions_in_effect(args, getattr(args, "exemptions", None))[1]


def _max_lifetime_days() -> int:
    text = os.environ.get("ECSGUARD_EXEMPTIONS_MAX_LIFETIME_DAYS", "")
    if not text:
        return DEFAULT_MAX_LIFETIME_DAYS
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise UsageError("ECSGUARD_EXEMPTIONS_MAX_LIFETIME_DAYS must be a number of days from 1 to 3650")
    return int(text)


def _scan_files(args: argparse.Namespace) -> int:
    policy_set = _load(args)
    exemptions = _exemptions(args)
    today = _today()
    inputs = read_inputs((Path(p) for p in args.paths), skip_unrecognised=args.skip_unrecognised)
    results, sources = [], []
    for resource, source, locator in zip(inputs.resources, inputs.sources, inputs.locators, strict=True):
        evaluated = exemptions.apply(locate(policy_set.evaluate([resource]), locator), today)
        results.extend(evaluated)
        sources.extend([source] * len(evaluated))
    fail_on = Severity(args.fail_on)
    summary = report.summary(results, inputs.problems, inputs.skipped, inputs.files, fail_on)
    print(report.FORMATS[args.format](results, sources, summary, policy_set.by_id))
    for problem in inputs.problems:
        print(f"ecsguard: error: {problem}", file=sys.stderr)
    if inputs.problems:
        return EXIT_USAGE
    return EXIT_FAILED if report.breaches(results, fail_on) else EXIT_OK


def _policies_list(args: argparse.Namespace) -> int:
    policy_set = _load(args, default_packs=None)
    if args.format == "json":
        documents = [
            {
                "id": p.id,
                "title": p.title,
                "severity": p.severity.value,
                "resource": p.resource_type.value,
                "also_judges": [kind.value for kind in p.judges[1:]],
                "packs": list(p.document.packs),
                "parameters": dict(p.parameters),
                "references": p.document.references.model_dump(),
                "source": p.source,
            }
            for p in policy_set.policies
        ]
        print(json.dumps(documents, indent=2))
        return EXIT_OK
    width = max(len(p.id) for p in policy_set.policies)
    packs = {p.id: ",".join(p.document.packs) for p in policy_set.policies}
    pack_width = max(len(text) for text in packs.values())
    for policy in policy_set.policies:
        references = policy.document.references
        controls = ", ".join([*references.security_hub_controls, *references.control_tower_controls]) or "-"
        columns = (f"{policy.id:<{width}}", f"{policy.severity.value:<8}", f"{policy.resource_type.value:<24}")
        print("  ".join((*columns, f"{packs[policy.id]:<{pack_width}}", f"{controls:<6}", policy.title)))
    return EXIT_OK


def _policies_validate(args: argparse.Namespace) -> int:
    directory = Path(args.directory) if args.directory else _policy_dir(args)
    policy_set = load_policy_set(directory, _overrides(args), _packs(args, None))
    print(f"{directory}: {len(policy_set.policies)} policies valid")
    return EXIT_OK


def _policies_controls(args: argparse.Namespace) -> int:
    from ecsguard.policy_docs import load_controls, render_control_table

    print(render_control_table(_load(args, default_packs=None), load_controls()), end="")
    return EXIT_OK


def _policies_docs(args: argparse.Namespace) -> int:
    from ecsguard.policy_docs import load_controls, render_control_table, render_policy_reference, with_control_table

    policy_set, controls = _load(args, default_packs=None), load_controls()
    reference = render_policy_reference(policy_set, controls)
    if not args.write:
        print(reference, end="")
        return EXIT_OK
    # From a checkout's root: the reference, and the README's control table, regenerated in place.
    readme, docs = Path("README.md"), Path("docs") / "policies.md"
    if not readme.is_file() or not docs.parent.is_dir():
        raise UsageError("--write runs in the repository's root folder (README.md and docs/)")
    docs.write_text(reference, encoding="utf-8")
    try:
        updated = with_control_table(readme.read_text(encoding="utf-8"), render_control_table(policy_set, controls))
    except ValueError as error:
        raise UsageError(f"README.md: {error}") from None
    readme.write_text(updated, encoding="utf-8")
    print(f"wrote {docs} and the control table of {readme}")
    return EXIT_OK


class _LocalContext:
    """What the handler may read from a Lambda context, for a local run."""

    function_name = "ecsguard-local"
    function_version = "$LATEST"
    invoked_function_arn = ""  # no function ARN: the handler asks STS which account it runs in
    memory_limit_in_mb = 128
    aws_request_id = "local-invocation"
    log_group_name = "local"
    log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def _environment_settings() -> Settings:
    """The ECSGUARD_* settings, read as the Lambda reads them at cold start; a bad one is a usage error."""
    from ecsguard.settings import SettingsError
    from ecsguard.wiring import environment_settings

    try:
        return environment_settings()
    except SettingsError as error:
        raise UsageError(str(error)) from None


def _invoke(args: argparse.Namespace) -> int:
    import contextlib

    path = Path(args.event)
    try:
        event = json.loads(path.read_bytes())  # bytes: a byte-order mark and UTF-16 are read too
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: cannot read the event: not UTF-8, UTF-16 or UTF-32 (byte {error.start})") from None
    except RecursionError:
        raise UsageError(f"{path}: cannot read the event: nested too deeply") from None
    except (OSError, ValueError) as error:
        # json's message names the line and column; an OSError's, the file.
        raise UsageError(f"{path}: cannot read the event: {type(error).__name__}: {error}") from None
    from ecsguard.events import MalformedEvent

    _environment_settings()  # a bad variable is a usage error; the handler module reads them at its import
    # `invoke` and `replay` import the handler itself: they run the real function, as `sam local invoke` does.
    from ecsguard.handlers.scanner import handler

    # Powertools prints metrics on stdout; keep stdout for the handler's answer.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            answer = handler(event, _LocalContext())
        except MalformedEvent as error:
            raise UsageError(f"{path}: {error}") from None
        except Exception as error:  # noqa: BLE001 - reported like Lambda would, then a failing exit status
            print(f"ecsguard: the handler failed: {type(error).__name__}: {error}", file=sys.stderr)
            return EXIT_FAILED
    print(json.dumps(answer, indent=2))
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from ecsguard import wiring
    from ecsguard.sweep import sweep_regions

    settings = _environment_settings()
    settings = settings.model_copy(
        update={
            "policy_dir": _policy_dir(args),
            "parameters": _overrides(args),
            "packs": args.pack or settings.packs,
        }
    )
    regions = wiring.regions_to_sweep(settings, args.region)
    sweeper = wiring.build_sweeper(settings, publish=args.publish, all_revisions=args.all_revisions)
    try:
        account = wiring.own_account(settings)
    except Exception as error:  # noqa: BLE001 - botocore's own message names the problem (no credentials, ...)
        raise UsageError(f"sts:GetCallerIdentity failed, so the account to sweep is unknown: {error}") from None
    reports, failures = sweep_regions(sweeper, account, regions)
    results = [result for sweep_report in reports for result in sweep_report.results]
    fail_on = Severity(args.fail_on)
    summary = report.summary(results, [], [], 0, fail_on)
    summary["regions"] = [sweep_report.summary() for sweep_report in reports]
    summary["input_errors"] = failures
    print(report.FORMATS[args.format](results, [""] * len(results), summary, sweeper.policies))
    for failure in failures:
        print(f"ecsguard: sweep failed in {failure}", file=sys.stderr)
    for sweep_report in reports:
        for problem in sweep_report.problems:
            print(f"ecsguard: {sweep_report.region}: {problem}", file=sys.stderr)
    if failures or any(sweep_report.publish_failures for sweep_report in reports):
        return EXIT_USAGE
    return EXIT_FAILED if report.breaches(results, fail_on) else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    import contextlib
    import time

    from botocore.exceptions import BotoCoreError

    from ecsguard import replay
    from ecsguard.adapters import aws
    from ecsguard.adapters.sqs import SqsQueue

    if not replay.is_queue_url(args.queue_url):
        raise UsageError("QUEUE_URL must be a queue URL: https://sqs.<region>.amazonaws.com/<account>/<queue name>")
    settings = _environment_settings()  # a bad variable is a usage error; the handler module reads them at its import
    try:
        # An emulator's URL names no Region: the client then takes AWS_REGION, as every other command does.
        client = aws.client("sqs", region=replay.queue_region(args.queue_url), max_attempts=settings.aws_max_attempts)
    except BotoCoreError as error:
        raise UsageError(f"cannot set up the SQS client: {error}") from None
    run = None
    if args.delete:
        from ecsguard.errors import AwsCallFailed, EventFailed, PolicyLoadError, PublishFailed
        from ecsguard.events import MalformedEvent

        # A replay runs the real function, as `invoke` does (settings validated above: the module reads them).
        from ecsguard.handlers.scanner import handler

        own_errors = (EventFailed, MalformedEvent, AwsCallFailed, PublishFailed, PolicyLoadError)

        def run(event: dict[str, Any]) -> str | None:
            # Powertools prints metrics on stdout; keep stdout for the report.
            with contextlib.redirect_stdout(sys.stderr):
                try:
                    handler(event, _LocalContext())
                except own_errors as error:  # their messages name fields and calls, never the event's values
                    return f"{type(error).__name__}: {error}"
                except Exception as error:  # noqa: BLE001 - reported per message; the others are still replayed
                    return f"{type(error).__name__} (its message is withheld because it may quote the event)"
            return None

    report = replay.replay(SqsQueue(client, args.queue_url), run, time.monotonic)
    print(replay.FORMATS[args.format](report))
    for problem in report.queue_errors:
        print(f"ecsguard: error: {problem}", file=sys.stderr)
    if report.queue_errors:
        return EXIT_USAGE
    return EXIT_OK if report.succeeded() else EXIT_FAILED


def _days(text: str) -> int:
    """A number of days: 30 or 30d."""
    digits = text[:-1] if text.endswith("d") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError("expected a number of days, such as 30d")
    return int(digits)


def _exemptions_in_effect(args: argparse.Namespace, explicit: str | None) -> tuple[Path | None, ExemptionSet]:
    named = explicit or os.environ.get("ECSGUARD_EXEMPTIONS")
    return exemptions_in_effect(Path(named) if named else None, _policy_dir(args), _today(), _max_lifetime_days())


def _exemptions_validate(args: argparse.Namespace) -> int:
    path, exemptions = _exemptions_in_effect(args, args.file)
    if path is None:
        print(
            f"ecsguard: error: no exemptions file: {_policy_dir(args) / EXEMPTIONS_FILE} does not exist",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(f"{path}: {len(exemptions.exemptions)} exemption(s) valid")
    return EXIT_OK


def _unused_in_sweep(path: str) -> set[str]:
    """The exemptions a saved `ecsguard sweep --format json` output found unused in every Region it swept."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        regions = document["summary"]["regions"]
        unused = [set(region["unused_exemptions"]) for region in regions]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not the JSON output of `ecsguard sweep` ({type(error).__name__})") from None
    return set.intersection(*unused) if unused else set()


def _exemptions_list(args: argparse.Namespace) -> int:
    path, exemptions = _exemptions_in_effect(args, args.exemptions)
    today = _today()
    unused = _unused_in_sweep(args.sweep) if args.sweep else None
    rows: list[dict[str, Any]] = []
    for exemption in exemptions.exemptions:
        document = exemption.document
        left = (document.expires - today).days
        state = exemption.state(today)
        if args.expiring_within is not None and not 0 <= left <= args.expiring_within:
            continue
        rows.append(
            {
                "id": document.id,
                "state": state,
                "expires": document.expires.isoformat(),
                "days_left": left,
                "policies": list(document.policies),
                "resources": document.resources.given(),
                "owner": document.owner,
                "reason": document.reason,
                **({"ticket": document.ticket} if document.ticket else {}),
                **({"unused": document.id in unused} if unused is not None else {}),
            }
        )
    if args.format == "json":
        print(json.dumps({"file": str(path) if path else None, "exemptions": rows}, indent=2))
        return EXIT_OK
    if path is None:
        print("no exemptions file")
    for row in rows:
        state = f"{row['state']}, unused" if row.get("unused") else row["state"]
        print(f"{row['id']:<32} {state:<17} {row['expires']}  {', '.join(row['policies'])}  ({row['owner']})")
    return EXIT_OK


def _add_parameter_options(parser: argparse.ArgumentParser, packs: str = "mission and fsbp") -> None:
    parser.add_argument(
        "--policies", metavar="DIR", help="policy folder (default: $ECSGUARD_POLICY_DIR or the built-in set)"
    )
    parser.add_argument(
        "--pack",
        action="append",
        metavar="PACK",
        help=f"load the policies of this pack (repeatable; 'all' for every pack; default: $ECSGUARD_PACKS or {packs})",
    )
    parser.add_argument(
        "--parameters",
        metavar="FILE",
        action="append",
        help="YAML or JSON file: {parameters: {<policy-id>: {<name>: <value>}}}",
    )
    parser.add_argument(
        "--set",
        metavar="POLICY.PARAM=VALUE",
        action="append",
        help="override one policy parameter (VALUE is JSON, or a bare string)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecsguard", description="Policy-as-code compliance scanner for Amazon ECS.")
    commands = parser.add_subparsers(dest="command", required=True)

    scan = commands.add_parser("scan", help="evaluate task definitions, services and ECS CloudTrail events in files")
    scan.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or folders (.json, .yaml, .yml): API shapes, events, templates"
    )
    scan.add_argument("--format", choices=list(report.FORMATS), default="text")
    scan.add_argument(
        "--skip-unrecognised",
        action="store_true",
        help="list a file that holds no ECS document, template or plan as skipped, not as an input error (for "
        "pre-commit, which passes every YAML and JSON file of a commit)",
    )
    scan.add_argument(
        "--fail-on",
        choices=SEVERITY_NAMES,
        default=Severity.LOW.value,
        type=str.upper,
        help="exit 1 when a FAIL or ERROR is at or above this severity (default LOW)",
    )
    _add_parameter_options(scan)
    scan.add_argument(
        "--exemptions",
        metavar="FILE",
        help="exemptions file (default: $ECSGUARD_EXEMPTIONS, else the policy folder's exemptions.yaml if any)",
    )
    scan.set_defaults(handler=_scan)

    invoke = commands.add_parser(
        "invoke",
        help="run the Lambda handler locally on an event file (like sam local invoke -e, without Docker)",
        description="Settings come from ECSGUARD_* variables; AWS calls go wherever boto3 is configured "
        "to send them (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL for an emulator).",
    )
    invoke.add_argument("event", metavar="EVENT_FILE")
    invoke.set_defaults(handler=_invoke)

    sweep = commands.add_parser(
        "sweep",
        help="evaluate every ACTIVE task definition and service of the account (read-only unless --publish)",
    )
    sweep.add_argument("--region", action="append", metavar="REGION", help="Region to sweep (repeatable)")
    sweep.add_argument("--publish", action="store_true", help="import findings, archive stale ones, notify")
    sweep.add_argument("--all-revisions", action="store_true", help="every ACTIVE revision, not only the latest")
    sweep.add_argument("--format", choices=list(report.FORMATS), default="text")
    sweep.add_argument("--fail-on", choices=SEVERITY_NAMES, default=Severity.LOW.value, type=str.upper)
    _add_parameter_options(sweep)
    sweep.set_defaults(handler=_sweep)

    replaying = commands.add_parser(
        "replay",
        help="list the events a failure queue keeps; with --delete, run them through the scanner again",
        description="Reads every message of the scanner's FailureQueue or EventsDeadLetterQueue. Without --delete "
        "it only lists them and leaves them in the queue; with --delete it runs each readable event through the "
        "same handler as `ecsguard invoke` (ECSGUARD_* settings from the environment) and deletes the messages "
        "whose event was processed. Message bodies are never printed: only event ids and API calls.",
    )
    replaying.add_argument(
        "queue_url", metavar="QUEUE_URL", help="the stack's FailureQueueUrl or EventsDeadLetterQueueUrl"
    )
    replaying.add_argument("--delete", action="store_true", help="replay each event; delete those that succeed")
    replaying.add_argument("--format", choices=["text", "json"], default="text")
    replaying.set_defaults(handler=_replay)

    exemptions = commands.add_parser("exemptions", help="list or check the exemptions (accepted risks)")
    exemption_commands = exemptions.add_subparsers(dest="exemptions_command", required=True)
    listing = exemption_commands.add_parser("list", help="list the exemptions with their state")
    listing.add_argument("--exemptions", metavar="FILE", help="default: $ECSGUARD_EXEMPTIONS, else the policy folder's")
    listing.add_argument("--policies", metavar="DIR", help="policy folder whose policy ids the exemptions name")
    listing.add_argument(
        "--expiring-within", metavar="DAYS", type=_days, help="only the active ones that expire within DAYS (30d)"
    )
    listing.add_argument(
        "--sweep",
        metavar="FILE",
        help="a saved `ecsguard sweep --format json` output: mark the exemptions it found unused in every Region",
    )
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.set_defaults(handler=_exemptions_list)
    checking = exemption_commands.add_parser("validate", help="check an exemptions file and report every problem")
    checking.add_argument("file", nargs="?", metavar="FILE")
    checking.add_argument("--policies", metavar="DIR", help="policy folder whose policy ids the exemptions name")
    checking.set_defaults(handler=_exemptions_validate)

    policies = commands.add_parser("policies", help="show or check a policy set")
    policy_commands = policies.add_subparsers(dest="policies_command", required=True)
    listing = policy_commands.add_parser("list", help="list the policies")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    _add_parameter_options(listing, packs="every pack")
    listing.set_defaults(handler=_policies_list)
    validate = policy_commands.add_parser("validate", help="check a policy folder and report every problem")
    validate.add_argument("directory", nargs="?", metavar="DIR")
    _add_parameter_options(validate, packs="every pack")
    validate.set_defaults(handler=_policies_validate)
    docs = policy_commands.add_parser("docs", help="print the Markdown policy reference (docs/policies.md)")
    docs.add_argument(
        "--write", action="store_true", help="write docs/policies.md and the README's control table, from the repo root"
    )
    _add_parameter_options(docs, packs="every pack")
    docs.set_defaults(handler=_policies_docs)
    controls = policy_commands.add_parser(
        "controls",
        help="print the table of Security Hub and Control Tower ECS controls and the policy judging each (README)",
    )
    _add_parameter_options(controls, packs="every pack")
    controls.set_defaults(handler=_policies_controls)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except PolicyLoadError as error:
        print(f"ecsguard: {error}", file=sys.stderr)
    except UsageError as error:
        print(f"ecsguard: error: {error}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
