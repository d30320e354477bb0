"""boto3 clients, created once per process (per Lambda container) and reused."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ecsguard import __version__
from ecsguard.errors import AwsCallFailed


@cache
def _session() -> Any:
    # One session for all clients: each new session loads endpoint and model data again (~30-70 ms).
    return boto3.session.Session()


@cache
def client(service: str, region: str | None = None, max_attempts: int = 5, retry_mode: str = "standard") -> Any:
    """A client for ``service``; endpoints and credentials come from the usual boto3 chain.

    Retries use botocore's standard mode (exponential backoff with jitter on throttling and
    transient errors); AWS_ENDPOINT_URL points every client at an emulator such as moto.
    """
    # The Lambda runtime and the AWS CLI honour AWS_REGION; botocore alone reads only AWS_DEFAULT_REGION.
    region = region or os.environ.get("AWS_REGION") or None
    return _session().client(service, region_name=region, config=_config(max_attempts, retry_mode))


def _config(max_attempts: int, retry_mode: str = "standard") -> Config:
    # "adaptive" adds client-side rate limiting on throttling: sweeps make thousands of calls.
    return Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},  # max_attempts would count retries
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=f"ecsguard/{__version__}",
    )


def error_code(error: Exception) -> tuple[str, str]:
    """The AWS error code and message of a botocore ClientError, or the exception's type for others."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        return str(details.get("Code", "Unknown")), str(details.get("Message", ""))
    return type(error).__name__, str(error)


IAM_ACTIONS = frozenset({"sts:AssumeRole"})
# Renew a member account's credentials this long before they expire.
_RENEW_BEFORE = timedelta(minutes=5)


class AccountAccess:
    """Clients for the account and Region an event comes from: the scanner's own, or a member's through its role.

    ECS describes only the caller's resources in the client's Region, and Security Hub takes a member
    account's findings only from that account (AwsAccountId must be the caller's, with its default
    product), so events from other accounts of an organization are processed with the member role.
    """

    def __init__(
        self,
        own_account: Callable[[], str],
        member_role_name: str | None,
        max_attempts: int,
        retry_mode: str = "standard",
    ) -> None:
        self._own_account = own_account
        self._member_role_name = member_role_name
        self._max_attempts = max_attempts
        self._retry_mode = retry_mode
        self._members: dict[str, tuple[datetime, dict[str, str]]] = {}
        self._member_clients: dict[tuple[str, str, str], Any] = {}

    def client(self, service: str, account: str, region: str, partition: str = "aws") -> Any:
        if account == self._own_account():
            return client(service, region=region, max_attempts=self._max_attempts, retry_mode=self._retry_mode)
        credentials = self._member_credentials(account, partition)
        key = (account, region, service)
        if key not in self._member_clients:
            config = _config(self._max_attempts, self._retry_mode)
            # The process's one session, with the member's credentials: a session per account would load the
            # endpoint and model data again for each (~30-70 ms).
            self._member_clients[key] = _session().client(service, region_name=region, config=config, **credentials)
        return self._member_clients[key]

    def _member_credentials(self, account: str, partition: str) -> dict[str, str]:
        cached = self._members.get(account)
        if cached is not None and cached[0] - _RENEW_BEFORE > datetime.now(UTC):
            return cached[1]
        if not self._member_role_name:
            raise AwsCallFailed(
                "sts:AssumeRole",
                f"account {account}",
                "NoMemberRole",
                "the event comes from another account and ECSGUARD_MEMBER_ROLE_NAME is not set",
            )
        role_arn = f"arn:{partition}:iam::{account}:role/{self._member_role_name}"
        try:
            response = client("sts", max_attempts=self._max_attempts).assume_role(
                RoleArn=role_arn, RoleSessionName="ecsguard-scanner", DurationSeconds=3600
            )
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise AwsCallFailed("sts:AssumeRole", role_arn, code, message) from None
        issued = response["Credentials"]
        credentials = {
            "aws_access_key_id": issued["AccessKeyId"],
            "aws_secret_access_key": issued["SecretAccessKey"],
            "aws_session_token": issued["SessionToken"],
        }
        self._members[account] = (issued["Expiration"], credentials)
        self._member_clients = {key: value for key, value in self._member_clients.items() if key[0] != account}
        return credentials
