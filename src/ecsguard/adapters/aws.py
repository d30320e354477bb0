"""boto3 clients, created once per process (per Lambda container) and reused."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from ecsguard import __version__


@cache
def _session() -> Any:
    # One session for all clients: each new session loads endpoint and model data again (~30-70 ms).
    return boto3.session.Session()


@cache
def client(service: str, region: str | None = None, max_attempts: int = 5) -> Any:
    """A client for ``service``; endpoints and credentials come from the usual boto3 chain.

    Retries use botocore's standard mode (exponential backoff with jitter on throttling and
    transient errors); AWS_ENDPOINT_URL points every client at an emulator such as moto.
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # max_attempts would count retries
        connect_timeout=5,
        read_timeout=30,
        user_agent_extra=f"ecsguard/{__version__}",
    )
    # The Lambda runtime and the AWS CLI honour AWS_REGION; botocore alone reads only AWS_DEFAULT_REGION.
    region = region or os.environ.get("AWS_REGION") or None
    return _session().client(service, region_name=region, config=config)


def error_code(error: Exception) -> tuple[str, str]:
    """The AWS error code and message of a botocore ClientError, or the exception's type for others."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        return str(details.get("Code", "Unknown")), str(details.get("Message", ""))
    return type(error).__name__, str(error)
