"""The Lambda handler when AWS misbehaves: throttling, partial and persistent rejection, denial, no network,
and unreadable events. Every fault is real HTTP from fault_proxy in front of moto; botocore is not mocked.

What must hold in each case: nothing is reported as evaluated that was not, everything that could be
done is done, and an event that was not fully processed raises (so Lambda retries it and the
dead-letter queue keeps it) with a message that names the AWS call and the error code.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, register_sample_task_definitions
from fault_proxy import BATCH_IMPORT_FINDINGS, FaultProxy

from ecsguard.adapters import aws as aws_adapter
from ecsguard.errors import EventFailed
from ecsguard.events import MalformedEvent
from ecsguard.handlers import scanner as scanner_handler
from ecsguard.handlers.scanner import handler
from ecsguard.observability import logger
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

SECRET_EVENT = "ecs-register-task-definition-plaintext-secret.json"
SECRET_EVENT_ID = "00000000-0000-0000-0000-000000000002"
TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/billing-worker:4"
SECRETS_ID = f"ecsguard/ecs-secrets-managed/{TD_ARN}"
IMAGES_ID = f"ecsguard/ecs-images-ecr-only/{TD_ARN}"
NETWORK_ID = f"ecsguard/ecs-network-awsvpc/{TD_ARN}"
ALL_FINDINGS = {(SECRETS_ID, "FAILED"), (IMAGES_ID, "PASSED"), (NETWORK_ID, "PASSED")}
IMPORT_ORDER = [IMAGES_ID, NETWORK_ID, SECRETS_ID]  # policies in catalog order
FAILED_BY_PUBLISHER = f"event {SECRET_EVENT_ID} (RegisterTaskDefinition) on {TD_ARN}: "

SERVICE_EVENT = "ecs-create-service-fargate-efs-1.3.0.json"
SERVICE_EVENT_ID = "00000000-0000-0000-0000-000000000007"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/reports"
SERVICE_TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/reports-efs:3"

SECURITY_HUB_REJECTION = "Finding does not adhere to Amazon Security Finding Format."
PLANTED = "PLANTED-m4lf0rmed-7d2a-NEVER-PRINT"


@pytest.fixture
def policy_dir() -> Path:
    """The handler loads the sample events' policies, which this module's expectations are about."""
    return narrowed_policy_dir(SAMPLE_EVENT_POLICIES)


@pytest.fixture
def unreachable(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The scanner's AWS endpoint is a closed port on 127.0.0.1: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    aws_adapter.client.cache_clear()
    yield endpoint
    aws_adapter.client.cache_clear()
    scanner_handler.scanner.cache_clear()


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """The handler's structured log lines, read from file descriptor 2 as Lambda's runtime would.

    Powertools' handler kept the sys.stderr of import time, which under pytest is the session's capture
    file, not descriptor 2; write to descriptor 2 for the test so capfd sees what CloudWatch would.
    """
    monkeypatch.setattr(logger.registered_handler, "stream", sys.__stderr__)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]

    return read


def compliance(aws: Aws) -> set[tuple[str, str]]:
    return {(finding["Id"], finding["Compliance"]["Status"]) for finding in aws.findings().values()}


# --- Security Hub ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ThrottlingException", "LimitExceededException"])
def test_handler_import_throttled_twice_is_retried_by_botocore_and_findings_land(
    aws: Aws, configure: Callable[..., None], proxy: FaultProxy, code: str
) -> None:
    # GIVEN Security Hub answers 429 to the first two imports (LimitExceededException is its modeled 429)
    configure(aws_max_attempts="4")
    proxy.fail(BATCH_IMPORT_FINDINGS, status=429, code=code, message="Rate exceeded", times=2)

    # WHEN
    answer = handler(load_event(SECRET_EVENT), None)

    # THEN botocore's standard mode retried the same request and the findings landed once
    imports = proxy.calls(BATCH_IMPORT_FINDINGS)
    assert [(call.status, call.finding_ids()) for call in imports] == [
        (429, IMPORT_ORDER),
        (429, IMPORT_ORDER),
        (200, IMPORT_ORDER),
    ]
    assert (answer["findings_imported"], answer["notifications_sent"]) == (3, 1)
    assert compliance(aws) == ALL_FINDINGS
    assert len(aws.messages()) == 1


def test_handler_import_rejects_some_findings_once_resends_only_those_and_succeeds(aws: Aws, proxy: FaultProxy) -> None:
    # GIVEN the first import lists two of the three findings in FailedFindings
    proxy.reject_findings({SECRETS_ID, NETWORK_ID}, times=1)

    # WHEN
    answer = handler(load_event(SECRET_EVENT), None)

    # THEN the publisher re-sent exactly the rejected two, and all three landed
    assert [call.finding_ids() for call in proxy.calls(BATCH_IMPORT_FINDINGS)] == [
        IMPORT_ORDER,
        [NETWORK_ID, SECRETS_ID],
    ]
    assert (answer["failed_policies"], answer["findings_imported"], answer["notifications_sent"]) == (
        ["ecs-secrets-managed"],
        3,
        1,
    )
    assert compliance(aws) == ALL_FINDINGS


def test_handler_import_rejects_a_finding_every_attempt_raises_after_sending_the_rest(
    aws: Aws, proxy: FaultProxy, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    # GIVEN Security Hub rejects the FAILED finding on all four of the publisher's attempts
    proxy.reject_findings({SECRETS_ID}, times=4)
    event = load_event(SECRET_EVENT)

    # WHEN
    with pytest.raises(EventFailed) as failure:
        handler(event, None)

    # THEN the invocation fails (so Lambda retries it) with the call, the count and the error code ...
    assert str(failure.value) == (
        FAILED_BY_PUBLISHER + "securityhub:BatchImportFindings rejected 1 finding(s) after 4 attempts: "
        f"{SECRETS_ID} (InvalidInput: {SECURITY_HUB_REJECTION})"
    )
    assert [call.finding_ids() for call in proxy.calls(BATCH_IMPORT_FINDINGS)] == [
        IMPORT_ORDER,
        [SECRETS_ID],
        [SECRETS_ID],
        [SECRETS_ID],
    ]
    # ... after everything else was done: the other findings landed and the notification went out
    assert compliance(aws) == {(IMAGES_ID, "PASSED"), (NETWORK_ID, "PASSED")}
    (message,) = aws.messages()
    assert json.loads(message["Body"])["failures"][0]["finding_id"] == SECRETS_ID
    assert [(line["level"], line["error_type"], line["problem"]) for line in log_lines()] == [
        ("ERROR", "EventFailed", str(failure.value))
    ]

    # AND WHEN Lambda retries the event once Security Hub accepts it, nothing is missing or duplicated
    answer = handler(event, None)
    assert answer["findings_imported"] == 3
    assert compliance(aws) == ALL_FINDINGS


@pytest.mark.parametrize("attempts", [1, 2])
def test_handler_import_throttled_beyond_max_attempts_raises_naming_the_call(
    aws: Aws, configure: Callable[..., None], proxy: FaultProxy, attempts: int
) -> None:
    # GIVEN Security Hub throttles every import, and ECSGUARD_AWS_MAX_ATTEMPTS ("attempts per AWS call") is set
    configure(aws_max_attempts=str(attempts))
    proxy.fail(BATCH_IMPORT_FINDINGS, status=429, code="ThrottlingException", message="Rate exceeded")

    # WHEN
    with pytest.raises(EventFailed) as failure:
        handler(load_event(SECRET_EVENT), None)

    # THEN the call was made exactly that many times, the event fails naming it, and the rest was done
    assert str(failure.value) == (
        FAILED_BY_PUBLISHER
        + "securityhub:BatchImportFindings failed for 3 finding(s): ThrottlingException: Rate exceeded"
    )
    assert proxy.counts() == {"securityhub:GetFindings": 1, BATCH_IMPORT_FINDINGS: attempts, "sns:Publish": 1}
    assert aws.findings() == {}
    assert len(aws.messages()) == 1


# --- SNS ---------------------------------------------------------------------------------------


def test_handler_sns_publish_denied_raises_naming_the_call_and_keeps_the_announced_finding_for_the_retry(
    aws: Aws, proxy: FaultProxy
) -> None:
    # GIVEN the function's role may not publish to the topic (SNS is a query-protocol service: XML errors)
    denial = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ecsguard-scanner/ecsguard is not authorized to perform: "
        f"SNS:Publish on resource: {aws.topic_arn} because no identity-based policy allows the SNS:Publish action"
    )
    proxy.fail("sns:Publish", status=403, code="AuthorizationError", message=denial)

    # WHEN
    with pytest.raises(EventFailed) as failure:
        handler(load_event(SECRET_EVENT), None)

    # THEN
    assert str(failure.value) == (
        FAILED_BY_PUBLISHER + f"sns:Publish to {aws.topic_arn} failed: AuthorizationError: {denial}"
    )
    assert proxy.counts() == {"securityhub:GetFindings": 1, "sns:Publish": 1, BATCH_IMPORT_FINDINGS: 1}
    # The failure the message was to announce is not imported: the retried event finds it new and announces it.
    assert compliance(aws) == ALL_FINDINGS - {(SECRETS_ID, "FAILED")}
    assert aws.messages() == []


# --- ECS ---------------------------------------------------------------------------------------


def test_handler_describe_task_definition_denied_raises_and_reports_nothing_for_the_service(
    aws: Aws, proxy: FaultProxy
) -> None:
    # GIVEN a CreateService event whose task definition the scanner may not describe
    register_sample_task_definitions(aws.ecs)
    denial = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ecsguard-scanner/ecsguard is not authorized to perform: "
        "ecs:DescribeTaskDefinition on resource: * because no identity-based policy allows the "
        "ecs:DescribeTaskDefinition action"
    )
    proxy.fail("ecs:DescribeTaskDefinition", status=400, code="AccessDeniedException", message=denial)

    # WHEN
    with pytest.raises(EventFailed) as failure:
        handler(load_event(SERVICE_EVENT), None)

    # THEN the event fails, naming the call and the code, and no verdict on the service is published
    assert str(failure.value) == (
        f"event {SERVICE_EVENT_ID} (CreateService): ecs:DescribeTaskDefinition for {SERVICE_TD_ARN} failed: "
        f"AccessDeniedException: {denial}"
    )
    assert proxy.counts() == {"ecs:DescribeTaskDefinition": 1}
    assert [finding_id for finding_id in aws.findings() if SERVICE_ARN in finding_id] == []
    assert aws.messages() == []


# --- no network --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "expected"),
    [
        pytest.param(
            SECRET_EVENT,
            FAILED_BY_PUBLISHER + "securityhub:GetFindings failed: EndpointConnectionError: "
            'Could not connect to the endpoint URL: "{endpoint}/findings"; '
            "sns:Publish to {topic} failed: EndpointConnectionError: "
            'Could not connect to the endpoint URL: "{endpoint}/"',
            id="register-task-definition",
        ),
        pytest.param(
            SERVICE_EVENT,
            f"event {SERVICE_EVENT_ID} (CreateService): ecs:DescribeTaskDefinition for {SERVICE_TD_ARN} failed: "
            'EndpointConnectionError: Could not connect to the endpoint URL: "{endpoint}/"',
            id="create-service",
        ),
    ],
)
def test_handler_endpoint_unreachable_raises_naming_the_call_within_seconds(
    aws: Aws, configure: Callable[..., None], unreachable: str, event_name: str, expected: str
) -> None:
    # GIVEN no AWS endpoint answers, and botocore may try twice
    configure(aws_max_attempts="2")

    # WHEN
    started = time.monotonic()
    with pytest.raises(EventFailed) as failure:
        handler(load_event(event_name), None)
    elapsed = time.monotonic() - started

    # THEN
    assert str(failure.value) == expected.format(endpoint=unreachable, topic=aws.topic_arn)
    assert elapsed < 5, f"took {elapsed:.1f} s"


# --- unreadable events -------------------------------------------------------------------------


def _without_detail() -> dict[str, Any]:
    event = load_event(SECRET_EVENT)
    del event["detail"]
    event["resources"] = [PLANTED]
    return event


def _without_event_name() -> dict[str, Any]:
    event = load_event(SECRET_EVENT)
    del event["detail"]["eventName"]
    event["detail"]["requestParameters"]["family"] = PLANTED
    return event


def _event_name_not_a_string() -> dict[str, Any]:
    event = load_event(SECRET_EVENT)
    event["detail"]["eventName"] = {"RegisterTaskDefinition": PLANTED}
    return event


def _register_without_definition_or_family() -> dict[str, Any]:
    event = load_event(SECRET_EVENT)
    event["detail"]["responseElements"] = None
    request = event["detail"]["requestParameters"]
    del request["family"]
    request["containerDefinitions"][0]["environment"][1]["value"] = PLANTED
    return event


@pytest.mark.parametrize(
    ("make_event", "expected"),
    [
        pytest.param(lambda: [PLANTED], "an event must be a JSON object, not list", id="not-an-object"),
        pytest.param(
            _without_detail, "not an EventBridge CloudTrail event: detail: Field required", id="missing-detail"
        ),
        pytest.param(
            _without_event_name,
            "not an EventBridge CloudTrail event: detail.eventName: Field required",
            id="detail-without-event-name",
        ),
        pytest.param(
            _event_name_not_a_string,
            "not an EventBridge CloudTrail event: detail.eventName: Input should be a valid string",
            id="event-name-not-a-string",
        ),
        pytest.param(
            _register_without_definition_or_family,
            "RegisterTaskDefinition event has neither responseElements.taskDefinition nor requestParameters.family",
            id="register-without-definition-or-family",
        ),
    ],
)
def test_handler_malformed_event_raises_naming_the_problem_without_values(
    proxy: FaultProxy,
    log_lines: Callable[[], list[dict[str, Any]]],
    make_event: Callable[[], object],
    expected: str,
) -> None:
    event = make_event()
    assert PLANTED in json.dumps(event)

    with pytest.raises(MalformedEvent) as failure:
        handler(event, None)

    assert str(failure.value) == expected
    lines = log_lines()
    assert [(line["level"], line["error_type"], line["problem"]) for line in lines] == [
        ("ERROR", "MalformedEvent", expected)
    ]
    assert PLANTED not in json.dumps(lines)
    assert proxy.counts() == {}
