"""Recover the events the scanner could not process from the queues that keep them: pure, written against a port.

Two queues keep them. ``FailureQueue`` is the functions' on-failure destination: each message is a Lambda
invocation record whose ``requestPayload`` is the event the function was given (Lambda leaves the payload out
when the record would exceed the destination's size limit). ``EventsDeadLetterQueue`` gets the EventBridge
event itself, with the reason in message attributes (``ERROR_CODE``, ``ERROR_MESSAGE``, ``RULE_ARN``, ...).

A message body can carry the plaintext secrets the scanner looks for (an environment value in the request
parameters), so nothing here reports any part of a body but the event's id and API call name, and those only
when they have the shape of one; a body that cannot be read is described by what it is not, never quoted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from ecsguard.errors import AwsCallFailed
from ecsguard.events import DETAIL_TYPE, ECS_EVENT_SOURCE, ECS_EVENTS_SOURCE, TASK_STATE_CHANGE

# Received messages stay hidden this long, renewed while the replay works, so a page never repeats and a
# replay that dies returns its messages to the queue within minutes.
VISIBILITY_TIMEOUT = 300
# Renewed this long before they would reappear: twice the scanner function's 60 s timeout, so an event that
# Lambda could process never lets the messages still to come reappear while it is replayed.
RENEW_BEFORE = 120
# Long polling (any wait above 0) asks every SQS server, so an empty answer means an empty queue; short
# polling samples a few servers and can answer empty while messages wait.
WAIT_SECONDS = 1

_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_API_CALL = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")
_FAILURE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
_QUEUE_PATH = re.compile(r"/[0-9]{12}/[A-Za-z0-9_-]{1,80}(?:\.fifo)?")
# sqs.<region>.amazonaws.com (.cn in China), its FIPS and VPC endpoints, and the legacy <region>.queue.amazonaws.com.
_QUEUE_HOST_REGION = re.compile(
    r"(?:[a-z0-9-]+\.)*sqs(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.(?:vpce\.)?amazonaws\.com(?:\.cn)?"
    r"|([a-z]{2}(?:-[a-z]+)+-[0-9])\.queue\.amazonaws\.com(?:\.cn)?"
)
_LEGACY_US_EAST_1_HOST = "queue.amazonaws.com"


class Kind(StrEnum):
    DESTINATION_RECORD = "lambda-destination-record"
    EVENTBRIDGE_EVENT = "eventbridge-event"
    UNREADABLE = "unreadable"


class Outcome(StrEnum):
    LISTED = "listed"  # received and shown, nothing else (also: not reached after a queue call failed)
    REPLAYED = "replayed"
    FAILED = "failed"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Recognised:
    """What one message holds: the event to replay, or why there is none."""

    kind: Kind
    event: dict[str, Any] | None = None
    event_id: str | None = None
    api_call: str | None = None
    reason: str | None = None  # why it cannot be replayed
    queued_because: str | None = None  # Lambda's condition and error type, or EventBridge's ERROR_CODE

    @property
    def readable(self) -> bool:
        return self.event is not None


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # the string message attributes
    receive_count: int | None = None
    sent_at: str | None = None


class Queue(Protocol):
    """The queue's side of a replay; each call raises AwsCallFailed naming the call and the queue."""

    url: str

    def receive(self, visibility_timeout: int, wait_seconds: int) -> list[QueueMessage]: ...

    def delete(self, message: QueueMessage) -> None: ...

    def set_visibility(self, messages: Sequence[QueueMessage], timeout: int) -> None: ...


# --- what a message holds ----------------------------------------------------------------------


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), "a JSON value")


def _is_eventbridge_event(document: Mapping[str, Any]) -> bool:
    return (
        isinstance(document.get("id"), str)
        and isinstance(document.get("detail-type"), str)
        and isinstance(document.get("source"), str)
        and isinstance(document.get("detail"), dict)
    )


def _shaped(pattern: re.Pattern[str], value: object) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _destination_failure(record: Mapping[str, Any]) -> str:
    context = record.get("requestContext")
    response = record.get("responsePayload")
    condition = _shaped(_FAILURE_WORD, context.get("condition")) if isinstance(context, dict) else None
    attempts = context.get("approximateInvokeCount") if isinstance(context, dict) else None
    error_type = _shaped(_FAILURE_WORD, response.get("errorType")) if isinstance(response, dict) else None
    parts = [condition or "failed"]
    if isinstance(attempts, int) and not isinstance(attempts, bool):
        parts.append(f"after {attempts} attempt{'s' if attempts != 1 else ''}")
    text = " ".join(parts)
    return f"{text}: {error_type}" if error_type else text


def _event(kind: Kind, event: dict[str, Any], queued_because: str | None) -> Recognised:
    detail = event["detail"]
    event_id = _shaped(_EVENT_ID, event["id"])
    api_call = _shaped(_API_CALL, detail.get("eventName"))
    if event["detail-type"] == TASK_STATE_CHANGE and event.get("source") == ECS_EVENTS_SOURCE:
        return Recognised(kind, event, event_id, TASK_STATE_CHANGE, None, queued_because)
    if event["detail-type"] != DETAIL_TYPE or detail.get("eventSource") != ECS_EVENT_SOURCE:
        # A sweep's failed invocation lands in the same queue; the scanner would skip it, and deleting it then
        # would lose the record of a sweep that never ran.
        reason = (
            f'not an ECS "{DETAIL_TYPE}" or "{TASK_STATE_CHANGE}" event, the only kinds the scanner takes '
            "(a failed sweep is re-run with `ecsguard sweep --publish`)"
        )
        return Recognised(kind, None, event_id, api_call, reason, queued_because)
    return Recognised(kind, event, event_id, api_call, None, queued_because)


def recognise(body: str, attributes: Mapping[str, str] | None = None) -> Recognised:
    """What a message body holds: an on-failure destination record, an EventBridge event, or neither."""
    try:
        document = json.loads(body)
    except RecursionError:
        return Recognised(Kind.UNREADABLE, reason="not JSON: nested too deeply")
    except ValueError as error:
        position = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        return Recognised(Kind.UNREADABLE, reason=f"not JSON{position}")
    if not isinstance(document, dict):
        return Recognised(Kind.UNREADABLE, reason=f"JSON, but {_json_type(document)}, not an object")
    if isinstance(document.get("requestContext"), dict):
        failure = _destination_failure(document)
        if "requestPayload" not in document:
            reason = "destination record without requestPayload (Lambda leaves it out of a record too large to send)"
            return Recognised(Kind.DESTINATION_RECORD, reason=reason, queued_because=failure)
        payload = document["requestPayload"]
        if not isinstance(payload, dict):
            reason = f"destination record whose requestPayload is {_json_type(payload)}, not an object"
            return Recognised(Kind.DESTINATION_RECORD, reason=reason, queued_because=failure)
        if not _is_eventbridge_event(payload):
            reason = "destination record whose requestPayload is not an EventBridge event"
            return Recognised(Kind.DESTINATION_RECORD, reason=reason, queued_because=failure)
        return _event(Kind.DESTINATION_RECORD, payload, failure)
    if _is_eventbridge_event(document):
        error_code = _shaped(_FAILURE_WORD, (attributes or {}).get("ERROR_CODE"))
        return _event(Kind.EVENTBRIDGE_EVENT, document, error_code)
    return Recognised(
        Kind.UNREADABLE, reason="a JSON object that is neither a Lambda destination record nor an EventBridge event"
    )


# --- the queue's address -------------------------------------------------------------------------


def is_queue_url(url: str) -> bool:
    scheme, separator, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return (
        scheme in ("https", "http") and bool(separator and host and slash) and bool(_QUEUE_PATH.fullmatch(f"/{path}"))
    )


def queue_region(url: str) -> str | None:
    """The Region an AWS queue URL names; None for other endpoints (an emulator's), which use AWS_REGION."""
    host = url.partition("://")[2].partition("/")[0].partition(":")[0].lower()
    if host == _LEGACY_US_EAST_1_HOST:
        return "us-east-1"
    matched = _QUEUE_HOST_REGION.fullmatch(host)
    return (matched.group(1) or matched.group(2)) if matched else None


# --- the replay ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageReport:
    message_id: str
    recognised: Recognised
    outcome: Outcome
    deleted: bool = False
    error: str | None = None  # the handler's own message (it names fields and calls, never event values)
    receive_count: int | None = None
    sent_at: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "kind": self.recognised.kind.value,
            "event_id": self.recognised.event_id,
            "api_call": self.recognised.api_call,
            "readable": self.recognised.readable,
            "reason": self.recognised.reason,
            "queued_because": self.recognised.queued_because,
            "sent_at": self.sent_at,
            "receive_count": self.receive_count,
            "outcome": self.outcome.value,
            "deleted": self.deleted,
            "error": self.error,
        }


@dataclass
class ReplayReport:
    queue_url: str
    replaying: bool
    messages: list[MessageReport] = field(default_factory=list)
    queue_errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        outcomes = Counter(message.outcome.value for message in self.messages)
        return {
            "messages": len(self.messages),
            "by_outcome": {outcome.value: outcomes[outcome.value] for outcome in Outcome if outcomes[outcome.value]},
            "deleted": sum(message.deleted for message in self.messages),
            "queue_errors": list(self.queue_errors),
        }

    def succeeded(self) -> bool:
        """Whether every message was listed, or replayed and deleted, and every queue call worked."""
        if self.queue_errors:
            return False
        return not self.replaying or all(message.deleted for message in self.messages)


class _HeldMessages:
    """The received messages that are still hidden, by id, and when they would reappear."""

    def __init__(self, queue: Queue, clock: Callable[[], float]) -> None:
        self._queue = queue
        self._clock = clock
        self.by_id: dict[str, QueueMessage] = {}
        self._reappear_at: float | None = None

    def add(self, batch: Sequence[QueueMessage], received_at: float) -> bool:
        """Keep a received batch (a message received again keeps its newest receipt handle); whether any was new."""
        new = [message for message in batch if message.message_id not in self.by_id]
        self.by_id.update((message.message_id, message) for message in batch)
        if batch and self._reappear_at is None:
            self._reappear_at = received_at + VISIBILITY_TIMEOUT
        return bool(new)

    def keep_hidden(self) -> None:
        now = self._clock()
        if self._reappear_at is None or not self.by_id or now < self._reappear_at - RENEW_BEFORE:
            return
        self._queue.set_visibility(list(self.by_id.values()), VISIBILITY_TIMEOUT)
        self._reappear_at = now + VISIBILITY_TIMEOUT  # counted from before the call: never later than SQS's

    def forget(self, message: QueueMessage) -> None:
        self.by_id.pop(message.message_id, None)

    def release(self) -> None:
        """Make every message still held visible again, now."""
        held, self.by_id = list(self.by_id.values()), {}
        if held:
            self._queue.set_visibility(held, 0)


def _receive_all(queue: Queue, held: _HeldMessages, clock: Callable[[], float]) -> None:
    while True:
        held.keep_hidden()
        received_at = clock()
        batch = queue.receive(VISIBILITY_TIMEOUT, WAIT_SECONDS)
        if not held.add(batch, received_at):
            return


def replay(
    queue: Queue,
    run: Callable[[dict[str, Any]], str | None] | None,
    clock: Callable[[], float],
) -> ReplayReport:
    """Read the whole queue; with ``run``, replay each readable event and delete exactly those it processed.

    ``run`` returns None when the handler processed the event, else its error message. Without it nothing is
    processed or deleted. Either way every message that is not deleted is made visible again before this
    returns, so it stays in the queue. A queue call that fails is reported and ends the replay: the messages
    after it are only listed.
    """
    report = ReplayReport(queue.url, replaying=run is not None)
    held = _HeldMessages(queue, clock)
    try:
        try:
            _receive_all(queue, held, clock)
        except AwsCallFailed as error:
            report.queue_errors.append(str(error))
            return report
        for message in list(held.by_id.values()):
            recognised = recognise(message.body, message.attributes)
            entry = MessageReport(
                message.message_id,
                recognised,
                Outcome.LISTED if recognised.readable else Outcome.UNREADABLE,
                receive_count=message.receive_count,
                sent_at=message.sent_at,
            )
            if run is not None and recognised.event is not None and not report.queue_errors:
                entry, queue_error = _replay_one(queue, held, message, recognised.event, entry, run)
                if queue_error is not None:
                    report.queue_errors.append(str(queue_error))
            report.messages.append(entry)
        return report
    finally:
        try:
            held.release()
        except AwsCallFailed as error:
            report.queue_errors.append(str(error))


def _replay_one(
    queue: Queue,
    held: _HeldMessages,
    message: QueueMessage,
    event: dict[str, Any],
    listed: MessageReport,
    run: Callable[[dict[str, Any]], str | None],
) -> tuple[MessageReport, AwsCallFailed | None]:
    try:
        held.keep_hidden()  # a slow handler must not let the messages still to come reappear
    except AwsCallFailed as error:
        return listed, error
    failure = run(event)
    if failure is not None:
        return replace(listed, outcome=Outcome.FAILED, error=failure), None
    replayed = replace(listed, outcome=Outcome.REPLAYED)
    try:
        queue.delete(message)
    except AwsCallFailed as error:
        # Processed but still queued: a later replay processes it again, which updates the same findings.
        return replayed, error
    held.forget(message)
    return replace(replayed, deleted=True), None


# --- output formats ------------------------------------------------------------------------------


def render_json(report: ReplayReport) -> str:
    document = {
        "queue": report.queue_url,
        "mode": "replay" if report.replaying else "list",
        "messages": [message.document() for message in report.messages],
        "summary": report.summary(),
    }
    return json.dumps(document, indent=2)


def _detail(message: MessageReport) -> str:
    if message.error:
        return message.error
    if message.recognised.reason:
        return message.recognised.reason
    return f"queued: {message.recognised.queued_because}" if message.recognised.queued_because else ""


def _summary_line(report: ReplayReport) -> str:
    count = len(report.messages)
    noun = "message" if count == 1 else "messages"
    if not report.replaying:
        readable = sum(message.recognised.readable for message in report.messages)
        return (
            f"{count} {noun} listed ({readable} can be replayed, {count - readable} cannot); "
            "nothing was processed or deleted"
        )
    deleted = sum(message.deleted for message in report.messages)
    undeleted = Counter(message.outcome for message in report.messages if not message.deleted)
    labels = {
        Outcome.REPLAYED: "replayed but not deleted",
        Outcome.FAILED: "failed",
        Outcome.UNREADABLE: "unreadable",
        Outcome.LISTED: "not replayed",
    }
    parts = [f"{deleted} replayed and deleted"]
    parts += [f"{undeleted[outcome]} {label}" for outcome, label in labels.items() if undeleted[outcome]]
    return f"{count} {noun}: {', '.join(parts)}; {count - deleted} kept in the queue"


def _headline(report: ReplayReport) -> str:
    stopped = "; stopped: a queue call failed" if report.queue_errors else ""
    return f"{report.queue_url}: {_summary_line(report)}{stopped}"


def render_text(report: ReplayReport) -> str:
    header = ("MESSAGE ID", "KIND", "EVENT ID", "API CALL", "OUTCOME", "DELETED", "DETAIL")
    rows = [
        (
            message.message_id,
            message.recognised.kind.value,
            message.recognised.event_id or "-",
            message.recognised.api_call or "-",
            message.outcome.value,
            "yes" if message.deleted else "no",
            _detail(message),
        )
        for message in report.messages
    ]
    lines = [_headline(report)]
    if rows:
        # The last column, free text, is not padded.
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
        for row in [header, *rows]:
            padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


FORMATS: dict[str, Callable[[ReplayReport], str]] = {"text": render_text, "json": render_json}
