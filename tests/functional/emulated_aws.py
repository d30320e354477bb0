"""Helpers for tests against moto: the emulated account's clients, sample events and fixtures data."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
ACCOUNT = "123456789012"  # moto's default account, also the account of the sample events
REGION = "us-east-1"


@dataclass
class Aws:
    """Clients for arranging and inspecting the emulated account, and the topic's subscribed queue."""

    endpoint: str
    ecs: Any
    sns: Any
    sqs: Any
    securityhub: Any
    topic_arn: str
    queue_url: str

    def messages(self) -> list[dict[str, Any]]:
        """Every message delivered to the queue subscribed to the findings topic, with its attributes."""
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return received
            for message in batch:
                received.append(message)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def findings(self) -> dict[str, dict[str, Any]]:
        """All findings by Id (moto ignores GetFindings filters, so every finding is listed)."""
        found: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            parameters: dict[str, Any] = {"MaxResults": 100}
            if token:
                parameters["NextToken"] = token
            response = self.securityhub.get_findings(**parameters)
            for finding in response["Findings"]:
                found[finding["Id"]] = finding
            token = response.get("NextToken")
            if not token:
                return found


def member_session(account: str, region: str = REGION) -> Any:
    """A member account as moto sees it: credentials from assuming a role in that account (moto takes any)."""
    import boto3

    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="arrange"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def register_sample_task_definitions(ecs: Any) -> None:
    """Register, in moto, the task definition revisions the sample service events refer to."""
    container = {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1", "memory": 512}
    efs = [{"name": "shared-reports", "efsVolumeConfiguration": {"fileSystemId": "fs-0a1b2c3d4e5f67890"}}]
    for _ in range(3):  # reports-efs:3
        ecs.register_task_definition(
            family="reports-efs", containerDefinitions=[container], networkMode="awsvpc", volumes=efs
        )
    ecs.register_task_definition(family="payments-api", containerDefinitions=[container], networkMode="awsvpc")
    ecs.create_cluster(clusterName="prod")


def create_payments_service(ecs: Any, **extra: Any) -> None:
    """Create, in moto, the payments-api service of prod that the sample events name (after
    ``register_sample_task_definitions``)."""
    ecs.create_service(
        cluster="prod",
        serviceName="payments-api",
        taskDefinition="payments-api:1",
        desiredCount=1,
        launchType="FARGATE",
        **extra,
    )


def cli_environment(aws: Aws, tmp_path: Path, **variables: str) -> dict[str, str]:
    """An environment for an ``ecsguard`` subprocess against the emulated account: none of this process's
    AWS_* or ECSGUARD_* variables and no AWS config or credentials file, so it can only use what is set here."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "ECSGUARD_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": aws.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_REGION": REGION,
            "ECSGUARD_TOPIC_ARN": aws.topic_arn,
            "ECSGUARD_AWS_MAX_ATTEMPTS": "2",
            "ECSGUARD_PACKS": "all",  # every pack: expectations derive from the catalog
        }
    )
    env.update(variables)
    return env


def describe_family_answers_latest(monkeypatch: Any, shown: Callable[[str], bool]) -> None:
    """Make moto's in-process server answer DescribeTaskDefinition by family alone with the latest revision whose
    status ``shown`` accepts. moto 5.2.5 answers with the latest revision whatever its status (MOTO.md); AWS with
    the latest ACTIVE one (and, for a while after DeleteTaskDefinitions, possibly one DELETE_IN_PROGRESS)."""
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.describe_task_definition

    def describe_task_definition(self: EC2ContainerServiceBackend, task_definition_str: str) -> Any:
        name = task_definition_str.rsplit("/", maxsplit=1)[-1]
        if ":" in name:
            return original(self, task_definition_str)
        revisions = self.task_definitions.get(name, {})
        candidates = [number for number, found in revisions.items() if shown(found.status)]
        if not candidates:
            raise TaskDefinitionNotFoundException()
        return original(self, f"{name}:{max(candidates)}")

    monkeypatch.setattr(EC2ContainerServiceBackend, "describe_task_definition", describe_task_definition)


def emulate_batch_update_findings() -> None:
    """Teach moto's Security Hub BatchUpdateFindings, which moto 5.2.5 lacks (MOTO.md): the customer-side call that
    sets a finding's Workflow and Note. Like AWS, it answers ProcessedFindings and UnprocessedFindings (an id it
    does not hold), and records who wrote the note. Called before the session's server starts, since moto reads a
    service's URLs when it first serves that service."""
    import json as json_module

    from moto.securityhub import urls
    from moto.securityhub.responses import SecurityHubResponse

    def batch_update_findings(self: SecurityHubResponse) -> str:
        body = json_module.loads(self.body or "{}")
        stored = {finding.id: finding for finding in self.securityhub_backend.findings}
        processed, unprocessed = [], []
        for identifier in body.get("FindingIdentifiers", []):
            finding = stored.get(identifier.get("Id"))
            if finding is None or finding.data.get("ProductArn") != identifier.get("ProductArn"):
                unprocessed.append(
                    {"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound", "ErrorMessage": "x"}
                )
                continue
            if "Workflow" in body:
                finding.data["Workflow"] = {"Status": body["Workflow"]["Status"]}
            if "Note" in body:
                finding.data["Note"] = {**body["Note"], "UpdatedAt": "2026-12-01T00:00:00.000Z"}
            processed.append(identifier)
        return json_module.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})

    SecurityHubResponse.batch_update_findings = batch_update_findings  # type: ignore[attr-defined]
    urls.url_paths.setdefault("{0}/findings/batchupdate$", SecurityHubResponse.dispatch)
