"""Secrets found in a task definition never leave the Lambda: not in logs, metrics, findings, notifications,
exceptions, the return value, or any request sent to AWS, whether the event succeeds or fails.

Values are planted in a RegisterTaskDefinition event: a plaintext DB_PASSWORD, an AWS access key id under an
innocent name, a secrets[].valueFrom that is a URL with a password, and one in each other field where a secret
can hide (a log option, a label, command, entryPoint and health check arguments, a volume's driver options,
an image's userinfo). The whole Lambda path runs
against moto through fault_proxy (which records every request body), with file descriptors 1 and 2
captured as Lambda's runtime would. The findings must still name each variable and where it is, so
redaction by dropping everything would fail these tests. The handler loads the whole catalog (policies/), so
every policy's findings and messages are checked for leaks.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event
from fault_proxy import BATCH_IMPORT_FINDINGS, FaultProxy

from ecsguard.adapters.securityhub import ID_FILTER_SIZE
from ecsguard.core.models import ResourceType
from ecsguard.errors import EventFailed
from ecsguard.handlers.scanner import handler
from ecsguard.observability import logger
from policy_catalog import policy_ids

PLANTED_PASSWORD = "PLANTED-s3cr3t-9c1e-NEVER-PRINT"
PLANTED_KEY_ID = "AKIAPLANTED9C1EKEYQ2"  # AWS access key id shape, under the name LEGACY_UPLOAD_ID
PLANTED_VALUE_FROM_PASSWORD = "PLANTED-vf-9c1e-NEVER-PRINT"
PLANTED_VALUE_FROM = f"https://deploy:{PLANTED_VALUE_FROM_PASSWORD}@git.example.com/billing.git"
# One more in each other field where a secret can hide: log options, labels, the three kinds of arguments, a
# volume's driver options, and the userinfo of an image reference.
PLANTED_ELSEWHERE = {
    "log option": "PLANTED-log-9c1e",
    "label": "PLANTED-label-9c1e",
    "command": "PLANTED-cmd-9c1e",
    "entryPoint": "PLANTED-ep-9c1e",
    "health check": "PLANTED-hc-9c1e",
    "driver option": "PLANTED-drv-9c1e",
    "image": "PLANTED-img-9c1e",
}
PLANTED = (
    PLANTED_PASSWORD,
    PLANTED_KEY_ID,
    PLANTED_VALUE_FROM,
    PLANTED_VALUE_FROM_PASSWORD,
    *PLANTED_ELSEWHERE.values(),
)
MARKER = "PLANTED"  # in every planted value: catches a clipped or partial copy too

EVENT_ID = "00000000-0000-0000-0000-000000000002"
TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/billing-worker:4"
SECRETS_POLICY = "ecs-secrets-managed"
SECRETS_ID = f"ecsguard/{SECRETS_POLICY}/{TD_ARN}"
# Where each planted value is, and the variable the evidence must name there (the wording is the policy's).
EVIDENCE = {
    "containerDefinitions[0].environment[1]": "environment variable DB_PASSWORD",
    "containerDefinitions[0].environment[2].value": "environment variable LEGACY_UPLOAD_ID",
    "containerDefinitions[0].secrets[0].valueFrom": "secret GIT_CREDENTIALS",
    "containerDefinitions[0].logConfiguration.options[1]": "log option splunk-token",
    "containerDefinitions[0].dockerLabels[0]": "Docker label deploy_token",
    "containerDefinitions[0].command[1]": "a command argument",
    "containerDefinitions[0].entryPoint[1]": "an entryPoint argument",
    "containerDefinitions[0].healthCheck.command[1]": "a health check argument",
    "volumes[0].dockerVolumeConfiguration.driverOpts[0].value": "Docker volume driver option o",
}


def named_evidence(evidence: list[tuple[str, str]]) -> dict[str, str]:
    """Evidence path -> the part of EVIDENCE its message names ("?" when it names none)."""
    return {path: next((name for name in EVIDENCE.values() if name in message), "?") for path, message in evidence}


def planted_event() -> dict[str, Any]:
    """The plaintext-secret sample event with the planted values, in the request and in the response."""
    event = load_event("ecs-register-task-definition-plaintext-secret.json")
    detail = event["detail"]
    for definition in (detail["requestParameters"], detail["responseElements"]["taskDefinition"]):
        (container,) = definition["containerDefinitions"]
        assert [variable["name"] for variable in container["environment"]] == [
            "QUEUE_URL",
            "DB_PASSWORD",
            "LEGACY_UPLOAD_ID",
        ]
        container["environment"][1]["value"] = PLANTED_PASSWORD
        container["environment"][2]["value"] = PLANTED_KEY_ID
        container["secrets"] = [{"name": "GIT_CREDENTIALS", "valueFrom": PLANTED_VALUE_FROM}]
        planted = PLANTED_ELSEWHERE
        container["logConfiguration"] = {
            "logDriver": "splunk",
            "options": {"splunk-url": "https://splunk.example.com:8088", "splunk-token": planted["log option"]},
        }
        container["dockerLabels"] = {"deploy_token": planted["label"]}
        container["command"] = ["serve-billing", f"--db-password={planted['command']}"]
        container["entryPoint"] = ["/usr/local/bin/run-shell", f"PGPASSWORD={planted['entryPoint']} psql -h db"]
        container["healthCheck"] = {"command": ["CMD-SHELL", f"curl -f https://ops:{planted['health check']}@h/"]}
        container["image"] = f"deploy:{planted['image']}@{container['image']}"
        definition["volumes"] = [
            {
                "name": "share",
                "dockerVolumeConfiguration": {"driverOpts": {"o": f"username=svc,password={planted['driver option']}"}},
            }
        ]
    return event


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Callable[[], tuple[str, str]]:
    """What the invocation wrote to file descriptors 1 (metrics) and 2 (logs).

    Powertools' handler kept the sys.stderr of import time, which under pytest is the session's capture
    file, not descriptor 2; write to descriptor 2 for the test so capfd sees what CloudWatch would.
    """
    monkeypatch.setattr(logger.registered_handler, "stream", sys.__stderr__)

    def read() -> tuple[str, str]:
        captured = capfd.readouterr()
        return captured.out, captured.err

    return read


def leaks(text: str) -> list[str]:
    """The planted values, or the marker, that ``text`` contains."""
    return [value for value in (*PLANTED, MARKER) if value in text]


def wire_leaks(proxy: FaultProxy) -> dict[str, list[str]]:
    """Planted values in any request body sent to AWS (query-protocol bodies are form-encoded)."""
    found = {}
    for index, call in enumerate(proxy.calls()):
        text = unquote_plus(call.body.decode("utf-8"))
        if leaks(text):
            found[f"{index}:{call.operation}"] = leaks(text)
    return found


def calls_for_the_event(proxy: FaultProxy) -> dict[str, int]:
    """Calls by operation, leaving out sts:GetCallerIdentity: the scanner asks STS for its own account once per
    process and remembers it, so whether this test makes that call depends on the tests that ran before it."""
    return {operation: count for operation, count in proxy.counts().items() if operation != "sts:GetCallerIdentity"}


def lookups() -> int:
    """GetFindings calls for one task definition's findings: one per ID_FILTER_SIZE of the catalog's policies."""
    return math.ceil(len(policy_ids(ResourceType.TASK_DEFINITION)) / ID_FILTER_SIZE)


def log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_handler_planted_secrets_are_named_by_location_and_never_output(
    aws: Aws, proxy: FaultProxy, output: Callable[[], tuple[str, str]]
) -> None:
    # GIVEN
    event = planted_event()
    assert all(value in json.dumps(event) for value in PLANTED)

    # WHEN
    answer = handler(event, None)

    # THEN the finding and the notification name every variable and where it is ...
    out, err = output()
    findings = aws.findings()
    messages = aws.messages()
    secrets_finding = findings[SECRETS_ID]
    assert secrets_finding["Compliance"]["Status"] == "FAILED"
    evidence_fields = [
        value.split(": ", 1)
        for name, value in secrets_finding["ProductFields"].items()
        if name.startswith("ecsguard/Evidence/")
    ]
    assert named_evidence([(path, message) for path, message in evidence_fields]) == EVIDENCE
    (message,) = messages
    (failure,) = [item for item in json.loads(message["Body"])["failures"] if item["policy_id"] == SECRETS_POLICY]
    assert named_evidence([(item["path"], item["message"]) for item in failure["evidence"]]) == EVIDENCE
    # ... the output streams were captured (so their checks below are not vacuous) ...
    assert [line["message"] for line in log_lines(err)] == ["event processed"]
    assert f'"FindingsImported":[{float(len(policy_ids(ResourceType.TASK_DEFINITION)))}]' in out
    # ... and no planted value is anywhere
    assert leaks(err) == []
    assert leaks(out) == []
    assert leaks(json.dumps(findings)) == []
    assert leaks(json.dumps(messages)) == []  # body and attributes
    assert leaks(json.dumps(answer)) == []
    assert wire_leaks(proxy) == {}
    assert calls_for_the_event(proxy) == {
        "securityhub:GetFindings": lookups(),
        BATCH_IMPORT_FINDINGS: 1,
        "sns:Publish": 1,
    }


def test_handler_planted_secrets_with_security_hub_failing_stay_out_of_exception_and_logs(
    aws: Aws, proxy: FaultProxy, output: Callable[[], tuple[str, str]]
) -> None:
    # GIVEN Security Hub rejects the failed finding on every attempt
    proxy.reject_findings({SECRETS_ID})

    # WHEN
    with pytest.raises(EventFailed) as failure:
        handler(planted_event(), None)

    # THEN the exception names the call and the finding, and nothing planted appears anywhere
    error = failure.value
    assert str(error).startswith(
        f"event {EVENT_ID} (RegisterTaskDefinition) on {TD_ARN}: "
        f"securityhub:BatchImportFindings rejected 1 finding(s) after 4 attempts: {SECRETS_ID} (InvalidInput: "
    )
    out, err = output()
    assert [(line["level"], line["problem"]) for line in log_lines(err)] == [("ERROR", str(error))]
    assert leaks(str(error)) == []
    assert leaks("".join(traceback.format_exception(error))) == []  # what Lambda's runtime would print
    assert leaks(err) == []
    assert leaks(out) == []
    assert leaks(json.dumps(aws.findings())) == []
    assert leaks(json.dumps(aws.messages())) == []
    assert wire_leaks(proxy) == {}
    assert calls_for_the_event(proxy) == {
        "securityhub:GetFindings": lookups(),
        BATCH_IMPORT_FINDINGS: 4,
        "sns:Publish": 1,
    }


def test_handler_unreadable_task_definition_with_planted_secret_reports_errors_without_it(
    aws: Aws, proxy: FaultProxy, output: Callable[[], tuple[str, str]]
) -> None:
    # GIVEN a variable whose value is not a string, and carries a secret (validation errors quote input)
    event = planted_event()
    for definition in (event["detail"]["requestParameters"], event["detail"]["responseElements"]["taskDefinition"]):
        definition["containerDefinitions"][0]["environment"][1]["value"] = {"password": PLANTED_PASSWORD}

    # WHEN
    answer = handler(event, None)

    # THEN every policy reports ERROR, never PASS, and says which field could not be read, but not its value
    findings = aws.findings()
    reason = (
        "not a readable task definition: containerDefinitions.0.environment.1.value: Input should be a valid string"
    )
    assert {
        (finding_id, finding["Compliance"]["Status"], finding["ProductFields"]["ecsguard/ErrorReason"])
        for finding_id, finding in findings.items()
    } == {
        (f"ecsguard/{policy_id}/{TD_ARN}", "NOT_AVAILABLE", reason)
        for policy_id in policy_ids(ResourceType.TASK_DEFINITION)
    }
    assert answer["error_policies"] == sorted(policy_ids(ResourceType.TASK_DEFINITION))
    out, err = output()
    assert [line["message"] for line in log_lines(err)] == ["event processed"]
    assert leaks(err) == []
    assert leaks(out) == []
    assert leaks(json.dumps(findings)) == []
    assert leaks(json.dumps(aws.messages())) == []
    assert leaks(json.dumps(answer)) == []
    assert wire_leaks(proxy) == {}
