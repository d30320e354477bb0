"""Publish notifications to the findings topic."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.core.findings import Notification
from ecsguard.errors import PublishFailed

IAM_ACTIONS = frozenset({"sns:Publish"})


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn
        self.calls = 0

    def publish(self, notification: Notification) -> None:
        self.calls += 1
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=notification.subject,
                Message=notification.message,
                MessageAttributes={name: dict(value) for name, value in notification.attributes.items()},
            )
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise PublishFailed(f"sns:Publish to {self._topic_arn} failed: {code}: {message}") from None
