"""The smallest end-to-end path: one event through the Lambda handler to moto's Security Hub and SNS, with the
whole policy catalog (policies/)."""

from __future__ import annotations

import json
from collections.abc import Callable

from emulated_aws import Aws, load_event

from ecsguard.core.models import ResourceType
from ecsguard.handlers.scanner import handler
from policy_catalog import policy_ids

TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/billing-worker:4"
SECRETS = "ecs-secrets-managed"
# The sample event's verdicts for the policies it was written for; the catalog's other policies are not its subject.
SAMPLE_COMPLIANCE = {SECRETS: "FAILED", "ecs-images-ecr-only": "PASSED", "ecs-network-awsvpc": "PASSED"}


def test_handler_plaintext_secret_event_imports_failed_finding_and_notifies(
    aws: Aws, configure: Callable[..., None]
) -> None:
    answer = handler(load_event("ecs-register-task-definition-plaintext-secret.json"), None)

    # every task definition policy of the catalog has its finding; the sample's policies have their verdicts
    compliance = {f["Id"]: f["Compliance"]["Status"] for f in aws.findings().values()}
    assert set(compliance) == {f"ecsguard/{p}/{TD_ARN}" for p in policy_ids(ResourceType.TASK_DEFINITION)}
    assert {p: compliance[f"ecsguard/{p}/{TD_ARN}"] for p in SAMPLE_COMPLIANCE} == SAMPLE_COMPLIANCE
    assert SECRETS in answer["failed_policies"]
    assert [p for p in answer["failed_policies"] if p in SAMPLE_COMPLIANCE] == [SECRETS]
    # one message for the resource, naming the secrets failure; the highest severity failing is HIGH or above
    (message,) = aws.messages()
    body = json.loads(message["Body"])
    failing = [f["policy_id"] for f in body["failures"]]
    assert body["resource"]["id"] == TD_ARN
    assert [p for p in failing if p in SAMPLE_COMPLIANCE] == [SECRETS]
    assert set(failing) <= set(answer["failed_policies"]) | set(answer["error_policies"])
    assert message["MessageAttributes"]["severity"]["StringValue"] in {"HIGH", "CRITICAL"}
