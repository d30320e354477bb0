"""Read, hide, release and delete the messages of a queue that keeps failed events, for ``ecsguard replay``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.errors import AwsCallFailed
from ecsguard.replay import QueueMessage

# What the operator running a replay needs on the queue (and kms:Decrypt on the key of an encrypted queue,
# which SQS uses on the caller's behalf); no function calls these.
IAM_ACTIONS = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"})
BATCH_LIMIT = 10  # entries per ReceiveMessage and per ChangeMessageVisibilityBatch


def _sent_at(milliseconds: str | None) -> str | None:
    if milliseconds is None or not milliseconds.isdigit():
        return None
    return datetime.fromtimestamp(int(milliseconds) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _message(received: dict[str, Any]) -> QueueMessage:
    system = received.get("Attributes", {})
    count = system.get("ApproximateReceiveCount")
    attributes = {
        name: str(value["StringValue"])
        for name, value in received.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    return QueueMessage(
        message_id=str(received["MessageId"]),
        receipt_handle=str(received["ReceiptHandle"]),
        body=str(received.get("Body", "")),
        attributes=attributes,
        receive_count=int(count) if isinstance(count, str) and count.isdigit() else None,
        sent_at=_sent_at(system.get("SentTimestamp")),
    )


class SqsQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    def _failed(self, call: str, error: Exception) -> AwsCallFailed:
        code, message = error_code(error)
        return AwsCallFailed(call, self.url, code, message)

    def receive(self, visibility_timeout: int, wait_seconds: int) -> list[QueueMessage]:
        try:
            response = self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=BATCH_LIMIT,
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_seconds,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        except (ClientError, BotoCoreError) as error:
            raise self._failed("sqs:ReceiveMessage", error) from None
        return [_message(received) for received in response.get("Messages", [])]

    def delete(self, message: QueueMessage) -> None:
        try:
            self._client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)
        except (ClientError, BotoCoreError) as error:
            raise self._failed("sqs:DeleteMessage", error) from None

    def set_visibility(self, messages: Sequence[QueueMessage], timeout: int) -> None:
        """Every batch is tried; then the first failure is raised, naming the messages that kept their timeout."""
        failures: list[str] = []
        first_error: AwsCallFailed | None = None
        for start in range(0, len(messages), BATCH_LIMIT):
            batch = messages[start : start + BATCH_LIMIT]
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": timeout}
                for index, message in enumerate(batch)
            ]
            try:
                response = self._client.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
            except (ClientError, BotoCoreError) as error:
                first_error = first_error or self._failed("sqs:ChangeMessageVisibilityBatch", error)
                continue
            for failed in response.get("Failed", []):
                failures.append(f"{batch[int(failed['Id'])].message_id}: {failed.get('Code', 'Unknown')}")
        if first_error is not None:
            raise first_error
        if failures:
            raise AwsCallFailed("sqs:ChangeMessageVisibilityBatch", self.url, "BatchEntryFailed", "; ".join(failures))
