"""The smallest end-to-end path: one event through the Lambda handler to moto's Security Hub and SNS."""

from __future__ import annotations

import json
from collections.abc import Callable

from emulated_aws import Aws, load_event

from ecsguard.handlers.scanner import handler

TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/billing-worker:4"


def test_handler_plaintext_secret_event_imports_failed_finding_and_notifies(
    aws: Aws, configure: Callable[..., None]
) -> None:
    answer = handler(load_event("ecs-register-task-definition-plaintext-secret.json"), None)

    assert answer["failed_policies"] == ["ecs-secrets-managed"]
    findings = aws.findings()
    assert {(f["Id"], f["Compliance"]["Status"]) for f in findings.values()} == {
        (f"ecsguard/ecs-secrets-managed/{TD_ARN}", "FAILED"),
        (f"ecsguard/ecs-images-ecr-only/{TD_ARN}", "PASSED"),
        (f"ecsguard/ecs-network-awsvpc/{TD_ARN}", "PASSED"),
    }
    (message,) = aws.messages()
    body = json.loads(message["Body"])
    assert (body["resource"]["id"], [f["policy_id"] for f in body["failures"]]) == (TD_ARN, ["ecs-secrets-managed"])
    assert message["MessageAttributes"]["severity"]["StringValue"] == "HIGH"
