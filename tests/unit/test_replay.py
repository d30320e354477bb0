"""Replaying the failure queues on in-memory fakes: what a message holds, reading a whole queue, and what is
deleted, kept and reported."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sample_events import load
from test_core_purity import forbidden_references

import ecsguard.replay
from ecsguard.errors import AwsCallFailed
from ecsguard.replay import (
    RENEW_BEFORE,
    VISIBILITY_TIMEOUT,
    Kind,
    Outcome,
    QueueMessage,
    Recognised,
    is_queue_url,
    queue_region,
    recognise,
    render_json,
    render_text,
    replay,
)

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/ecsguard-FailureQueue-1A2B3C"
PLANTED = "PLANTED-replay-s3cr3t-7d1f"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:ecsguard-scanner:$LATEST"


def ecs_event(name: str = "ecs-register-task-definition.json") -> dict[str, Any]:
    """A sample event with a plaintext secret planted in its request's environment."""
    event = load(name)
    parameters = event["detail"]["requestParameters"]
    if "containerDefinitions" in parameters:
        parameters["containerDefinitions"][0]["environment"].append({"name": "DB_PASSWORD", "value": PLANTED})
    else:
        parameters["planted"] = PLANTED
    return event


def destination_record(payload: object, **changes: Any) -> dict[str, Any]:
    """An on-failure invocation record as Lambda sends it to an SQS destination."""
    record = {
        "version": "1.0",
        "timestamp": "2026-11-20T09:25:03.511Z",
        "requestContext": {
            "requestId": "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2",
            "functionArn": FUNCTION_ARN,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": "securityhub:BatchImportFindings for 123456789012 failed: ThrottlingException: slow down",
            "errorType": "PublishFailed",
            "requestId": "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2",
            "stackTrace": ["  File ..."],
        },
    }
    record.update(changes)
    return record


def test_replay_module_has_no_aws_sdk_powertools_or_environment() -> None:
    # The queue is a port: only ecsguard.adapters.sqs calls SQS.
    assert forbidden_references(Path(ecsguard.replay.__file__).read_text(encoding="utf-8")) == []


# --- recognising a message -----------------------------------------------------------------------


def test_recognise_destination_record_yields_its_request_payload() -> None:
    event = ecs_event()

    recognised = recognise(json.dumps(destination_record(event)))

    assert recognised == Recognised(
        Kind.DESTINATION_RECORD,
        event,
        "00000000-0000-0000-0000-000000000001",
        "RegisterTaskDefinition",
        None,
        "RetriesExhausted after 3 attempts: PublishFailed",
    )
    assert recognised.readable


def test_recognise_eventbridge_event_yields_the_event_and_its_error_code() -> None:
    event = ecs_event("ecs-create-service.json")
    attributes = {"ERROR_CODE": "SDK_CLIENT_ERROR", "ERROR_MESSAGE": "Lambda is throttled", "RULE_ARN": "arn:..."}

    recognised = recognise(json.dumps(event), attributes)

    assert recognised == Recognised(
        Kind.EVENTBRIDGE_EVENT, event, "00000000-0000-0000-0000-000000000006", "CreateService", None, "SDK_CLIENT_ERROR"
    )


def test_recognise_task_state_change_event_yields_it_for_replay() -> None:
    # ECS's own event of a stopped task reaches the scanner too (its second rule); a failed one is replayed alike.
    event = load("ecs-task-state-change-stopped.json")

    recognised = recognise(json.dumps(event))

    assert recognised == Recognised(
        Kind.EVENTBRIDGE_EVENT, event, "00000000-0000-0000-0000-000000000043", "ECS Task State Change", None, None
    )


@pytest.mark.parametrize(
    ("document", "described"),
    [([{"id": PLANTED}], "an array"), (PLANTED, "a string"), (42, "a number"), (True, "a boolean"), (None, "null")],
)
def test_recognise_json_that_is_not_an_object_is_unreadable_naming_its_type(document: object, described: str) -> None:
    recognised = recognise(json.dumps(document))

    assert recognised == Recognised(Kind.UNREADABLE, reason=f"JSON, but {described}, not an object")
    assert not recognised.readable


def test_recognise_body_that_is_not_json_is_unreadable_naming_the_position_not_the_text() -> None:
    body = json.dumps(destination_record(ecs_event()))[:300]

    recognised = recognise(body)

    assert recognised.kind is Kind.UNREADABLE
    assert recognised.reason is not None
    assert recognised.reason.startswith("not JSON (line 1, column ")
    assert PLANTED not in repr(recognised)


def test_recognise_deeply_nested_body_is_unreadable() -> None:
    assert recognise("[" * 100_000 + "]" * 100_000) == Recognised(Kind.UNREADABLE, reason="not JSON: nested too deeply")


@pytest.mark.parametrize(
    "document",
    [{"password": PLANTED}, {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ecs", "detail": {}}],
    ids=["unknown keys", "event without id"],
)
def test_recognise_object_of_unknown_shape_is_unreadable(document: dict[str, Any]) -> None:
    recognised = recognise(json.dumps(document))

    assert recognised == Recognised(
        Kind.UNREADABLE, reason="a JSON object that is neither a Lambda destination record nor an EventBridge event"
    )


@pytest.mark.parametrize(("payload", "described"), [([PLANTED], "an array"), (PLANTED, "a string"), (None, "null")])
def test_recognise_destination_record_whose_payload_is_not_an_object_cannot_be_replayed(
    payload: object, described: str
) -> None:
    recognised = recognise(json.dumps(destination_record(payload)))

    assert recognised == Recognised(
        Kind.DESTINATION_RECORD,
        reason=f"destination record whose requestPayload is {described}, not an object",
        queued_because="RetriesExhausted after 3 attempts: PublishFailed",
    )
    assert not recognised.readable


def test_recognise_destination_record_without_payload_cannot_be_replayed() -> None:
    record = destination_record(None)
    del record["requestPayload"]

    recognised = recognise(json.dumps(record))

    assert recognised.kind is Kind.DESTINATION_RECORD
    assert recognised.reason == (
        "destination record without requestPayload (Lambda leaves it out of a record too large to send)"
    )


def test_recognise_destination_record_whose_payload_is_not_an_event_cannot_be_replayed() -> None:
    recognised = recognise(json.dumps(destination_record({"regions": ["eu-west-1"], "note": PLANTED})))

    assert recognised.kind is Kind.DESTINATION_RECORD
    assert recognised.reason == "destination record whose requestPayload is not an EventBridge event"


def test_recognise_sweep_schedule_record_is_not_replayed_through_the_scanner() -> None:
    # GIVEN the record of a failed sweep: the scheduled event EventBridge gave the sweep function
    scheduled = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-20T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ecsguard-sweep"],
        "detail": {},
    }
    record = destination_record(scheduled)
    record["requestContext"]["functionArn"] = "arn:aws:lambda:us-east-1:123456789012:function:ecsguard-sweep"

    # WHEN it is recognised
    recognised = recognise(json.dumps(record))

    # THEN it is not given to the scanner (which would skip it, and the replay then delete it)
    assert recognised.kind is Kind.DESTINATION_RECORD
    assert not recognised.readable
    assert recognised.event_id == "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"
    assert recognised.reason is not None
    assert "ecsguard sweep --publish" in recognised.reason


def test_recognise_id_call_and_failure_are_shown_only_when_they_have_their_shape() -> None:
    # GIVEN an event whose id and eventName carry a value, and a record whose error type does
    event = ecs_event()
    event["id"] = f"{PLANTED} and more"
    event["detail"]["eventName"] = f"Register {PLANTED}"
    record = destination_record(event)
    record["responsePayload"]["errorType"] = f"{PLANTED}!"
    record["requestContext"]["condition"] = None

    # WHEN it is recognised
    recognised = recognise(json.dumps(record))

    # THEN it can still be replayed (the handler decides), and nothing of those values is kept to show
    assert recognised.readable
    assert (recognised.event_id, recognised.api_call, recognised.queued_because) == (
        None,
        None,
        "failed after 3 attempts",
    )


def test_recognise_dead_letter_error_code_of_another_shape_is_not_shown() -> None:
    recognised = recognise(json.dumps(ecs_event()), {"ERROR_CODE": f"{PLANTED} !"})

    assert recognised.readable
    assert recognised.queued_because is None


# --- the queue's address -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (URL, "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/failures", "cn-north-1"),
        ("https://sqs.us-gov-west-1.amazonaws.com/123456789012/failures.fifo", "us-gov-west-1"),
        ("https://ap-southeast-2.queue.amazonaws.com/123456789012/failures", "ap-southeast-2"),
        ("https://queue.amazonaws.com/123456789012/failures", "us-east-1"),
        ("https://sqs-fips.us-east-2.amazonaws.com/123456789012/failures", "us-east-2"),
        ("https://vpce-0a1b2c3d-4e5f6a7b.sqs.eu-central-1.vpce.amazonaws.com/123456789012/failures", "eu-central-1"),
        ("http://127.0.0.1:5000/123456789012/failures", None),
        ("http://localhost.localstack.cloud:4566/123456789012/failures", None),
    ],
)
def test_queue_region_comes_from_an_aws_queue_url_only(url: str, region: str | None) -> None:
    assert is_queue_url(url)
    assert queue_region(url) == region


@pytest.mark.parametrize(
    "url",
    [
        "ecsguard-FailureQueue-1A2B3C",
        "arn:aws:sqs:us-east-1:123456789012:failures",
        "https://sqs.us-east-1.amazonaws.com/failures",
        "https://sqs.us-east-1.amazonaws.com/123456789012/",
        "ftp://sqs.us-east-1.amazonaws.com/123456789012/failures",
        "https://sqs.us-east-1.amazonaws.com/123456789012/fail ures",
    ],
)
def test_is_queue_url_rejects_what_is_not_one(url: str) -> None:
    assert not is_queue_url(url)


# --- fakes ---------------------------------------------------------------------------------------


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeQueue:
    """A standard queue: a received message is hidden for its visibility timeout, then received again."""

    clock: Clock
    url: str = URL
    bodies: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    visible_at: dict[str, float] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)  # the latest receipt handle of each message
    receives: int = 0
    deleted: list[str] = field(default_factory=list)
    visibility_calls: list[tuple[list[str], int]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # call -> the call number (1-based) that fails

    def put(self, body: str, attributes: dict[str, str] | None = None) -> str:
        message_id = f"m-{len(self.bodies) + 1:02d}"
        self.bodies[message_id] = body
        self.attributes[message_id] = attributes or {}
        self.visible_at[message_id] = 0.0
        return message_id

    def _maybe_fail(self, call: str, number: int) -> None:
        if self.fail.get(call) == number:
            raise AwsCallFailed(call, self.url, "AccessDenied", "not authorized")

    def visible(self) -> list[str]:
        return [message_id for message_id, at in self.visible_at.items() if at <= self.clock.now]

    def receive(self, visibility_timeout: int, wait_seconds: int) -> list[QueueMessage]:
        self.receives += 1
        self._maybe_fail("sqs:ReceiveMessage", self.receives)
        batch = self.visible()[:10]
        for message_id in batch:
            self.visible_at[message_id] = self.clock.now + visibility_timeout
            self.handles[message_id] = f"{message_id}#{self.receives}"
        return [
            QueueMessage(message_id, self.handles[message_id], self.bodies[message_id], self.attributes[message_id])
            for message_id in batch
        ]

    def delete(self, message: QueueMessage) -> None:
        self._maybe_fail("sqs:DeleteMessage", len(self.deleted) + 1)
        assert self.handles[message.message_id] == message.receipt_handle
        self.deleted.append(message.message_id)
        del self.visible_at[message.message_id]

    def set_visibility(self, messages: Sequence[QueueMessage], timeout: int) -> None:
        self.visibility_calls.append(([message.message_id for message in messages], timeout))
        self._maybe_fail("sqs:ChangeMessageVisibility", len(self.visibility_calls))
        for message in messages:
            assert self.handles[message.message_id] == message.receipt_handle
            self.visible_at[message.message_id] = self.clock.now + timeout


@dataclass
class Handler:
    """Stands in for the scanner handler: fails the events whose id is listed, and takes time."""

    queue: FakeQueue
    failing: set[str] = field(default_factory=set)
    seconds_per_event: float = 1.0
    seen: list[str] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> str | None:
        # While an event is processed, none of the messages received comes into view of another consumer.
        assert self.queue.visible() == []
        self.queue.clock.now += self.seconds_per_event
        assert self.queue.visible() == []
        self.seen.append(event["id"])
        return "MalformedEvent: a field is missing" if event["id"] in self.failing else None


def event_with_id(event_id: str) -> dict[str, Any]:
    event = ecs_event()
    event["id"] = event_id
    return event


def filled_queue(clock: Clock) -> tuple[FakeQueue, dict[str, str]]:
    """A good destination record, a good dead-lettered event, one that fails, and an unreadable body."""
    queue = FakeQueue(clock)
    ids = {
        "good-record": queue.put(json.dumps(destination_record(event_with_id("event-good-1")))),
        "good-event": queue.put(json.dumps(event_with_id("event-good-2")), {"ERROR_CODE": "SDK_CLIENT_ERROR"}),
        "failing": queue.put(json.dumps(destination_record(event_with_id("event-bad")))),
        "unreadable": queue.put(f"{PLANTED} is not JSON"),
    }
    return queue, ids


# --- reading the whole queue ---------------------------------------------------------------------


def test_replay_list_mode_lists_every_message_once_and_leaves_all_in_the_queue() -> None:
    # GIVEN a queue of 23 messages: three pages of at most 10
    clock = Clock()
    queue = FakeQueue(clock)
    for number in range(23):
        queue.put(json.dumps(destination_record(event_with_id(f"event-{number:02d}"))))

    # WHEN it is listed
    report = replay(queue, None, clock)

    # THEN each message is listed once, nothing is deleted, and all are visible again at once
    assert [message.message_id for message in report.messages] == sorted(queue.bodies)
    assert {message.outcome for message in report.messages} == {Outcome.LISTED}
    assert queue.receives == 4  # three pages, then an empty answer
    assert queue.deleted == []
    assert queue.visibility_calls == [(sorted(queue.bodies), 0)]
    assert sorted(queue.visible()) == sorted(queue.bodies)
    assert report.succeeded()


@dataclass
class RedeliveringQueue(FakeQueue):
    """At-least-once delivery: the second receive answers the first page again, with new receipt handles."""

    released_handles: list[str] = field(default_factory=list)

    def receive(self, visibility_timeout: int, wait_seconds: int) -> list[QueueMessage]:
        if self.receives == 1:
            self.receives += 1
            return [QueueMessage(m, f"{m}#again", self.bodies[m]) for m in self.handles]
        return super().receive(visibility_timeout, wait_seconds)

    def set_visibility(self, messages: Sequence[QueueMessage], timeout: int) -> None:
        self.released_handles.extend(message.receipt_handle for message in messages)


def test_replay_stops_when_a_receive_brings_nothing_new_and_keeps_the_newest_handles() -> None:
    clock = Clock()
    queue = RedeliveringQueue(clock)
    queue.put(json.dumps(event_with_id("event-1")))
    queue.put(json.dumps(event_with_id("event-2")))

    report = replay(queue, None, clock)

    assert queue.receives == 2
    assert [message.message_id for message in report.messages] == ["m-01", "m-02"]
    assert queue.released_handles == ["m-01#again", "m-02#again"]


def test_replay_empty_queue_reports_no_message_and_succeeds() -> None:
    clock = Clock()
    queue = FakeQueue(clock)

    report = replay(queue, Handler(queue), clock)

    assert report.messages == []
    assert queue.visibility_calls == []
    assert report.succeeded()
    assert render_text(report) == f"{URL}: 0 messages: 0 replayed and deleted; 0 kept in the queue"


# --- replaying -----------------------------------------------------------------------------------


def test_replay_deletes_exactly_the_messages_whose_event_succeeded() -> None:
    # GIVEN two good events, one the handler fails, and an unreadable message
    clock = Clock()
    queue, ids = filled_queue(clock)
    handler = Handler(queue, failing={"event-bad"})

    # WHEN the queue is replayed
    report = replay(queue, handler, clock)

    # THEN the handler saw each readable event once, the good ones are deleted, the others visible again
    assert handler.seen == ["event-good-1", "event-good-2", "event-bad"]
    assert sorted(queue.deleted) == sorted([ids["good-record"], ids["good-event"]])
    assert sorted(queue.visible()) == sorted([ids["failing"], ids["unreadable"]])
    assert {(m.message_id, m.outcome, m.deleted, m.error) for m in report.messages} == {
        (ids["good-record"], Outcome.REPLAYED, True, None),
        (ids["good-event"], Outcome.REPLAYED, True, None),
        (ids["failing"], Outcome.FAILED, False, "MalformedEvent: a field is missing"),
        (ids["unreadable"], Outcome.UNREADABLE, False, None),
    }
    assert not report.succeeded()
    assert report.summary() == {
        "messages": 4,
        "by_outcome": {"replayed": 2, "failed": 1, "unreadable": 1},
        "deleted": 2,
        "queue_errors": [],
    }


def test_replay_of_only_good_events_succeeds() -> None:
    clock = Clock()
    queue = FakeQueue(clock)
    queue.put(json.dumps(event_with_id("event-1")))

    report = replay(queue, Handler(queue), clock)

    assert report.succeeded()
    assert queue.bodies.keys() - queue.visible_at.keys() == {"m-01"}


def test_replay_slower_than_the_visibility_timeout_keeps_the_messages_hidden_while_it_works() -> None:
    # GIVEN 12 events, each taking nearly as long as the renewal margin: together four visibility timeouts
    clock = Clock()
    queue = FakeQueue(clock)
    for number in range(12):
        queue.put(json.dumps(event_with_id(f"event-{number:02d}")))
    handler = Handler(queue, seconds_per_event=RENEW_BEFORE - 1)

    # WHEN they are replayed (the handler asserts that no received message is visible before or after each)
    report = replay(queue, handler, clock)

    # THEN the messages still held were hidden again before they would have reappeared, and all were deleted
    renewals = [held for held, timeout in queue.visibility_calls if timeout == VISIBILITY_TIMEOUT]
    assert len(renewals) >= (12 * (RENEW_BEFORE - 1)) // VISIBILITY_TIMEOUT
    assert len(queue.deleted) == 12
    assert report.succeeded()


def test_replay_receive_failure_processes_nothing_and_releases_what_it_held() -> None:
    clock = Clock()
    queue = FakeQueue(clock, fail={"sqs:ReceiveMessage": 2})
    for number in range(12):
        queue.put(json.dumps(event_with_id(f"event-{number:02d}")))
    handler = Handler(queue)

    report = replay(queue, handler, clock)

    assert handler.seen == []
    assert report.messages == []
    assert report.queue_errors == [f"sqs:ReceiveMessage for {URL} failed: AccessDenied: not authorized"]
    assert sorted(queue.visible()) == sorted(queue.bodies)
    assert not report.succeeded()


def test_replay_delete_failure_stops_the_replay_and_keeps_every_message() -> None:
    # GIVEN a queue whose first DeleteMessage is denied
    clock = Clock()
    queue, ids = filled_queue(clock)
    queue.fail = {"sqs:DeleteMessage": 1}
    handler = Handler(queue)

    # WHEN it is replayed
    report = replay(queue, handler, clock)

    # THEN the first event was processed but stays, the others were not processed, and all are visible
    assert handler.seen == ["event-good-1"]
    assert [(m.message_id, m.outcome, m.deleted) for m in report.messages] == [
        (ids["good-record"], Outcome.REPLAYED, False),
        (ids["good-event"], Outcome.LISTED, False),
        (ids["failing"], Outcome.LISTED, False),
        (ids["unreadable"], Outcome.UNREADABLE, False),
    ]
    assert report.queue_errors == [f"sqs:DeleteMessage for {URL} failed: AccessDenied: not authorized"]
    assert sorted(queue.visible()) == sorted(queue.bodies)
    assert (
        "0 replayed and deleted, 1 replayed but not deleted, 1 unreadable, 2 not replayed; 4 kept in the queue"
        in render_text(report)
    )


def test_replay_release_failure_is_reported() -> None:
    clock = Clock()
    queue, _ = filled_queue(clock)
    queue.fail = {"sqs:ChangeMessageVisibility": 1}

    report = replay(queue, None, clock)

    assert len(report.messages) == 4
    assert report.queue_errors == [f"sqs:ChangeMessageVisibility for {URL} failed: AccessDenied: not authorized"]
    assert not report.succeeded()


# --- output --------------------------------------------------------------------------------------


def test_render_json_lists_each_message_without_its_body() -> None:
    clock = Clock()
    queue, ids = filled_queue(clock)

    report = replay(queue, Handler(queue, failing={"event-bad"}), clock)
    document = json.loads(render_json(report))

    assert document["queue"] == URL
    assert document["mode"] == "replay"
    assert document["messages"][0] == {
        "message_id": ids["good-record"],
        "kind": "lambda-destination-record",
        "event_id": "event-good-1",
        "api_call": "RegisterTaskDefinition",
        "readable": True,
        "reason": None,
        "queued_because": "RetriesExhausted after 3 attempts: PublishFailed",
        "sent_at": None,
        "receive_count": None,
        "outcome": "replayed",
        "deleted": True,
        "error": None,
    }
    assert document["messages"][3]["reason"] == "not JSON (line 1, column 1)"
    assert PLANTED not in render_json(report) + render_text(report)


def test_render_text_is_a_table_with_the_reason_or_error_of_each_message() -> None:
    clock = Clock()
    queue, ids = filled_queue(clock)

    lines = render_text(replay(queue, None, clock)).splitlines()

    assert lines[0] == f"{URL}: 4 messages listed (3 can be replayed, 1 cannot); nothing was processed or deleted"
    assert lines[1].split() == ["MESSAGE", "ID", "KIND", "EVENT", "ID", "API", "CALL", "OUTCOME", "DELETED", "DETAIL"]
    assert lines[2].split()[:6] == [
        ids["good-record"],
        "lambda-destination-record",
        "event-good-1",
        "RegisterTaskDefinition",
        "listed",
        "no",
    ]
    assert lines[3].endswith("queued: SDK_CLIENT_ERROR")
    assert lines[5].split()[:6] == [ids["unreadable"], "unreadable", "-", "-", "unreadable", "no"]
    assert lines[5].endswith("not JSON (line 1, column 1)")


def test_replay_list_mode_succeeds_even_with_unreadable_messages() -> None:
    clock = Clock()
    queue, _ = filled_queue(clock)

    report = replay(queue, None, clock)

    assert [message.outcome for message in report.messages] == [Outcome.LISTED] * 3 + [Outcome.UNREADABLE]
    assert report.succeeded()
    assert report.summary()["by_outcome"] == {"listed": 3, "unreadable": 1}
