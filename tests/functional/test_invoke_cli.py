"""`ecsguard invoke EVENT_FILE` as a user runs it: a separate process, configured only by its environment,
sending to moto in server mode."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from emulated_aws import ACCOUNT, EVENTS, REGION, Aws, cli_environment, load_event

from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

ECSGUARD = Path(sys.executable).with_name("ecsguard")
LEGACY_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/legacy-proxy:12"
NON_ECR_EVENT = EVENTS / "ecs-register-task-definition-non-ecr-image.json"
# Values planted in the bundled sample events; no error message may repeat them.
PLANTED_IN_EVENTS = ("Tr0ub4dor-and-3-horses", "AKIAZ7EXAMPLEKEYQ2XW")


def environment(aws: Aws, tmp_path: Path, **variables: str) -> dict[str, str]:
    """The scanner loads the sample events' policies, which this module's expectations are about."""
    policies = str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES))
    return cli_environment(aws, tmp_path, **{"ECSGUARD_POLICY_DIR": policies, **variables})


def invoke(event_file: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert ECSGUARD.is_file(), f"the ecsguard script is not installed next to {sys.executable}"
    return subprocess.run(
        [str(ECSGUARD), "invoke", str(event_file)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_invoke_event_file_prints_only_the_answer_and_lands_findings(aws: Aws, tmp_path: Path) -> None:
    # AWS_DEFAULT_REGION too, as the Lambda runtime sets both (see the AWS_REGION-only test below)
    env = environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION)

    completed = invoke(NON_ECR_EVENT, env)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "event_id": "00000000-0000-0000-0000-000000000003",
        "api_call": "RegisterTaskDefinition",
        "action": "evaluated",
        "resource": LEGACY_TD,
        "results": {"FAIL": 2, "PASS": 1},
        "failed_policies": ["ecs-images-ecr-only", "ecs-network-awsvpc"],
        "error_policies": [],
        "exempt_policies": [],
        "exemptions": [],
        "findings_imported": 3,
        "notifications_sent": 1,
        "older_than_known": 0,
        "reason": None,
    }
    assert {(f["Id"], f["Compliance"]["Status"], f["RecordState"]) for f in aws.findings().values()} == {
        (f"ecsguard/ecs-images-ecr-only/{LEGACY_TD}", "FAILED", "ACTIVE"),
        (f"ecsguard/ecs-network-awsvpc/{LEGACY_TD}", "FAILED", "ACTIVE"),
        (f"ecsguard/ecs-secrets-managed/{LEGACY_TD}", "PASSED", "ACTIVE"),
    }
    assert [json.loads(m["Body"])["resource"]["id"] for m in aws.messages()] == [LEGACY_TD]


def test_invoke_region_from_aws_region_alone_lands_findings(aws: Aws, tmp_path: Path) -> None:
    # `ecsguard invoke --help` names AWS_REGION, the variable the Lambda runtime and the AWS CLI use;
    # botocore itself reads only AWS_DEFAULT_REGION.
    env = environment(aws, tmp_path)

    completed = invoke(NON_ECR_EVENT, env)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["findings_imported"] == 3
    assert len(aws.findings()) == 3


def test_invoke_file_not_json_exits_2_naming_file_and_problem(aws: Aws, tmp_path: Path) -> None:
    event_file = tmp_path / "truncated-copy.json"
    event_file.write_text(NON_ECR_EVENT.read_text(encoding="utf-8")[:200], encoding="utf-8")

    completed = invoke(event_file, environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION))

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert f"{event_file}: cannot read the event: JSONDecodeError" in completed.stderr
    assert aws.findings() == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"id": "\xff\xfaSummer2024PLANTEDx9"}', "not UTF-8, UTF-16 or UTF-32"),
    ],
    ids=["deeply nested", "not text"],
)
def test_invoke_unreadable_event_exits_2_naming_the_problem_without_its_text(
    aws: Aws, tmp_path: Path, content: bytes, problem: str
) -> None:
    event_file = tmp_path / "odd.json"
    event_file.write_bytes(content)

    completed = invoke(event_file, environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION))

    assert completed.returncode == 2
    assert f"{event_file}: cannot read the event: {problem}" in completed.stderr
    assert "PLANTED" not in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr


def test_invoke_event_with_a_byte_order_mark_is_read(aws: Aws, tmp_path: Path) -> None:
    event_file = tmp_path / "windows.json"
    event_file.write_bytes(NON_ECR_EVENT.read_text(encoding="utf-8").encode("utf-16"))

    completed = invoke(event_file, environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION))

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["action"] == "evaluated"


def test_invoke_event_without_definition_or_family_fails_naming_field_not_secrets(aws: Aws, tmp_path: Path) -> None:
    # GIVEN the plaintext-secret event with no responseElements and no requestParameters.family
    event = copy.deepcopy(load_event("ecs-register-task-definition-plaintext-secret.json"))
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"]["family"]
    event_file = tmp_path / "no-family.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")

    # WHEN it is invoked
    completed = invoke(event_file, environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION))

    # THEN the run fails as bad input, stderr names the file and the missing field, and repeats no value
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert (
        f"ecsguard: error: {event_file}: RegisterTaskDefinition event has neither "
        "responseElements.taskDefinition nor requestParameters.family"
    ) in completed.stderr.splitlines()
    assert [secret for secret in PLANTED_IN_EVENTS if secret in completed.stderr] == []
    assert aws.findings() == {}
    assert aws.messages() == []


@pytest.mark.parametrize("value", ["SEVERE", "high-ish"])
def test_invoke_invalid_notify_min_severity_exits_2_naming_variable(aws: Aws, tmp_path: Path, value: str) -> None:
    env = environment(aws, tmp_path, AWS_DEFAULT_REGION=REGION, ECSGUARD_NOTIFY_MIN_SEVERITY=value)

    completed = invoke(NON_ECR_EVENT, env)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "ECSGUARD_NOTIFY_MIN_SEVERITY" in completed.stderr
    assert aws.findings() == {}
