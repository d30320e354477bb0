"""`ecsguard replay QUEUE_URL [--delete]` as an operator runs it: a separate process, configured only by its
environment, against moto's server. Listing touches nothing; --delete runs the readable events through the
scanner handler and deletes exactly those it processed. No output ever shows a message's content.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, REPO, Aws, cli_environment, load_event, register_sample_task_definitions
from fault_proxy import FaultProxy

from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

# Planted in the queued events' environment values and in the unreadable body: no output may show it.
SECRET = "Planted-Replay-s3cr3t-5Jq9"
LEDGER_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/ledger-api:7"
PAYMENTS_SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/payments-api"
SENT_AT = r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
SCANNER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecsguard-scanner"


def environment(aws: Aws, tmp_path: Path, **variables: str) -> dict[str, str]:
    """The sample events' policies, and this checkout's code first on the path: the subprocess runs the tree
    under test, whatever checkout the installed ``ecsguard`` points at."""
    policies = str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES))
    env = cli_environment(aws, tmp_path, **{"ECSGUARD_POLICY_DIR": policies, **variables})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def replay(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecsguard", "replay", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_planted_secret(event: dict[str, Any]) -> dict[str, Any]:
    for parameters in (
        event["detail"]["requestParameters"],
        (event["detail"]["responseElements"] or {}).get("taskDefinition"),
    ):
        if parameters:
            parameters["containerDefinitions"][0]["environment"].append({"name": "DB_PASSWORD", "value": SECRET})
    return event


def destination_record(event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends the on-failure destination when the scanner kept failing an event."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-20T09:25:03.511Z",
        "requestContext": {
            "requestId": "5b2b7ac1-3d5f-4a52-9f0e-6c1d2e3f4a5b",
            "functionArn": f"{SCANNER_ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "sns:Publish to arn:aws:sns:us-east-1:123456789012:ecsguard-findings failed: ...",
            "errorType": "PublishFailed",
            "requestId": "5b2b7ac1-3d5f-4a52-9f0e-6c1d2e3f4a5b",
            "stackTrace": [],
        },
    }


def dead_letter_attributes() -> dict[str, Any]:
    """The message attributes EventBridge adds to an event it could not deliver."""
    values = {
        "RULE_ARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/ecsguard-ecs-changes",
        "TARGET_ARN": SCANNER_ARN,
        "ERROR_CODE": "SDK_CLIENT_ERROR",
        "ERROR_MESSAGE": "Lambda could not be invoked: rate exceeded",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "185",
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def good_register_event() -> dict[str, Any]:
    """ledger-api:7, carried whole in the event (so nothing is described), with a plaintext secret."""
    event = load_event("ecs-register-task-definition.json")
    event["id"] = "10000000-0000-0000-0000-000000000001"
    event["detail"]["requestParameters"]["family"] = "ledger-api"
    definition = event["detail"]["responseElements"]["taskDefinition"]
    definition.update({"family": "ledger-api", "revision": 7, "taskDefinitionArn": LEDGER_TD})
    return with_planted_secret(event)


def malformed_register_event() -> dict[str, Any]:
    """Neither the definition nor its family: the handler raises MalformedEvent."""
    event = with_planted_secret(load_event("ecs-register-task-definition.json"))
    event["id"] = "10000000-0000-0000-0000-000000000003"
    event["detail"]["responseElements"] = None
    del event["detail"]["requestParameters"]["family"]
    return event


@pytest.fixture
def failure_queue(aws: Aws) -> tuple[str, dict[str, str]]:
    """A queue holding a good destination record, a good dead-lettered event, a failing event and an unreadable
    message; and the message id of each."""
    register_sample_task_definitions(aws.ecs)
    url = str(aws.sqs.create_queue(QueueName="ecsguard-FailureQueue-1A2B3C")["QueueUrl"])

    def send(body: str, **attributes: Any) -> str:
        return str(aws.sqs.send_message(QueueUrl=url, MessageBody=body, **attributes)["MessageId"])

    service_event = load_event("ecs-create-service.json")
    ids = {
        "record": send(json.dumps(destination_record(good_register_event()))),
        "dead-letter": send(json.dumps(service_event), MessageAttributes=dead_letter_attributes()),
        "failing": send(json.dumps(destination_record(malformed_register_event()))),
        "unreadable": send(json.dumps(destination_record(good_register_event()))[:400] + f" DB_PASSWORD={SECRET}"),
    }
    return url, ids


def queue_counts(aws: Aws, url: str) -> tuple[int, int]:
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def receivable(aws: Aws, url: str) -> set[str]:
    """The ids of the messages another consumer can receive now (they are hidden afterwards: check last)."""
    found: set[str] = set()
    while True:
        batch = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages")
        if not batch:
            return found
        found |= {message["MessageId"] for message in batch}


def by_message(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        message["message_id"]: (
            message["kind"],
            message["event_id"],
            message["api_call"],
            message["readable"],
            message["outcome"],
            message["deleted"],
        )
        for message in document["messages"]
    }


def test_replay_lists_every_message_and_leaves_the_queue_as_it_was(
    aws: Aws, tmp_path: Path, failure_queue: tuple[str, dict[str, str]]
) -> None:
    # GIVEN a queue of four failed messages
    url, ids = failure_queue

    # WHEN it is listed
    completed = replay(environment(aws, tmp_path), url, "--format", "json")

    # THEN each message is described, nothing was processed, and all four are in the queue, receivable now
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["mode"] == "list"
    assert by_message(document) == {
        ids["record"]: (
            "lambda-destination-record",
            "10000000-0000-0000-0000-000000000001",
            "RegisterTaskDefinition",
            True,
            "listed",
            False,
        ),
        ids["dead-letter"]: (
            "eventbridge-event",
            "00000000-0000-0000-0000-000000000006",
            "CreateService",
            True,
            "listed",
            False,
        ),
        ids["failing"]: (
            "lambda-destination-record",
            "10000000-0000-0000-0000-000000000003",
            "RegisterTaskDefinition",
            True,
            "listed",
            False,
        ),
        ids["unreadable"]: ("unreadable", None, None, False, "unreadable", False),
    }
    queued_because = {message["message_id"]: message["queued_because"] for message in document["messages"]}
    assert queued_because[ids["record"]] == "RetriesExhausted after 3 attempts: PublishFailed"
    assert queued_because[ids["dead-letter"]] == "SDK_CLIENT_ERROR"
    assert all(re.fullmatch(SENT_AT, message["sent_at"]) for message in document["messages"])
    assert {message["receive_count"] for message in document["messages"]} == {1}
    assert SECRET not in completed.stdout + completed.stderr
    assert aws.findings() == {}
    assert aws.messages() == []
    assert queue_counts(aws, url) == (4, 0)
    assert receivable(aws, url) == set(ids.values())


def test_replay_text_lists_a_table_of_the_messages(
    aws: Aws, tmp_path: Path, failure_queue: tuple[str, dict[str, str]]
) -> None:
    url, ids = failure_queue

    completed = replay(environment(aws, tmp_path), url)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == f"{url}: 4 messages listed (3 can be replayed, 1 cannot); nothing was processed or deleted"
    assert {line.split()[0] for line in lines[2:]} == set(ids.values())
    assert SECRET not in completed.stdout + completed.stderr
    assert queue_counts(aws, url) == (4, 0)


def test_replay_delete_replays_the_readable_events_and_deletes_exactly_those_processed(
    aws: Aws, tmp_path: Path, failure_queue: tuple[str, dict[str, str]]
) -> None:
    # GIVEN the queue of four failed messages
    url, ids = failure_queue

    # WHEN it is replayed
    completed = replay(environment(aws, tmp_path), url, "--delete", "--format", "json")

    # THEN the two good events were processed and deleted; the failing and unreadable ones stay; exit 1
    assert completed.returncode == 1, completed.stderr
    document = json.loads(completed.stdout)
    outcomes = {message_id: entry[4:] for message_id, entry in by_message(document).items()}
    assert outcomes == {
        ids["record"]: ("replayed", True),
        ids["dead-letter"]: ("replayed", True),
        ids["failing"]: ("failed", False),
        ids["unreadable"]: ("unreadable", False),
    }
    errors = {message["message_id"]: message["error"] for message in document["messages"]}
    assert errors[ids["failing"]] == (
        "MalformedEvent: RegisterTaskDefinition event has neither responseElements.taskDefinition "
        "nor requestParameters.family"
    )
    assert document["summary"] == {
        "messages": 4,
        "by_outcome": {"replayed": 2, "failed": 1, "unreadable": 1},
        "deleted": 2,
        "queue_errors": [],
    }
    # (the service's task definition is read for the service's policies, not evaluated as a resource of its own)
    assert {finding["Resources"][0]["Id"] for finding in aws.findings().values()} == {LEDGER_TD, PAYMENTS_SERVICE}
    assert [json.loads(m["Body"])["resource"]["id"] for m in aws.messages()] == [LEDGER_TD]
    assert SECRET not in completed.stdout + completed.stderr
    assert queue_counts(aws, url) == (2, 0)
    assert receivable(aws, url) == {ids["failing"], ids["unreadable"]}


def test_replay_delete_of_a_queue_of_good_events_exits_0_and_empties_it(aws: Aws, tmp_path: Path) -> None:
    url = str(aws.sqs.create_queue(QueueName="ecsguard-EventsDeadLetterQueue")["QueueUrl"])
    aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(good_register_event()))

    completed = replay(environment(aws, tmp_path), url, "--delete")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == f"{url}: 1 message: 1 replayed and deleted; 0 kept in the queue"
    assert queue_counts(aws, url) == (0, 0)


def test_replay_receive_denied_by_kms_exits_2_naming_the_call_and_the_queue(
    aws: Aws, tmp_path: Path, failure_queue: tuple[str, dict[str, str]]
) -> None:
    # GIVEN the queue's key does not let the caller decrypt
    url, _ = failure_queue
    denial = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: kms:Decrypt"
    with FaultProxy(aws.endpoint) as proxy:
        proxy.fail("sqs:ReceiveMessage", status=400, code="KMS.AccessDeniedException", message=denial)

        # WHEN it is replayed
        completed = replay(environment(aws, tmp_path, AWS_ENDPOINT_URL=proxy.url), url, "--delete")

    # THEN the run fails as an AWS error naming the call and the queue, and nothing was processed
    assert completed.returncode == 2
    assert (
        f"ecsguard: error: sqs:ReceiveMessage for {url} failed: KMS.AccessDeniedException: {denial}"
        in completed.stderr.splitlines()
    )
    assert "Traceback" not in completed.stderr
    assert aws.findings() == {}
    assert queue_counts(aws, url) == (4, 0)


def test_replay_delete_denied_exits_2_and_keeps_the_message(aws: Aws, tmp_path: Path) -> None:
    # GIVEN a queue of one good event, and a caller who may not delete from it
    url = str(aws.sqs.create_queue(QueueName="ecsguard-EventsDeadLetterQueue")["QueueUrl"])
    message_id = aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(good_register_event()))["MessageId"]
    denial = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: sqs:DeleteMessage"
    with FaultProxy(aws.endpoint) as proxy:
        proxy.fail("sqs:DeleteMessage", status=400, code="AccessDenied", message=denial)

        # WHEN it is replayed
        completed = replay(environment(aws, tmp_path, AWS_ENDPOINT_URL=proxy.url), url, "--delete", "--format", "json")

    # THEN the event was processed, the message stays in the queue, visible, and the run exits 2 naming the call
    assert completed.returncode == 2
    assert f"ecsguard: error: sqs:DeleteMessage for {url} failed: AccessDenied: {denial}" in completed.stderr
    assert by_message(json.loads(completed.stdout))[message_id][4:] == ("replayed", False)
    assert {finding["Resources"][0]["Id"] for finding in aws.findings().values()} == {LEDGER_TD}
    assert queue_counts(aws, url) == (1, 0)


@pytest.mark.parametrize("url", ["ecsguard-FailureQueue", "arn:aws:sqs:us-east-1:123456789012:ecsguard-FailureQueue"])
def test_replay_argument_that_is_not_a_queue_url_exits_2(aws: Aws, tmp_path: Path, url: str) -> None:
    completed = replay(environment(aws, tmp_path), url)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "ecsguard: error: QUEUE_URL must be a queue URL" in completed.stderr
