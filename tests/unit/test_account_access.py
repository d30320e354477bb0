"""AccountAccess: clients for the scanner's own account, and for member accounts through their role.

No network: the process's session and STS are replaced by recording fakes, so what is checked is which session
makes each client and with which credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from ecsguard.adapters import aws

OWN, FIRST_MEMBER, SECOND_MEMBER = "111111111111", "222222222222", "333333333333"


@dataclass
class FakeSts:
    assumed: list[str] = field(default_factory=list)

    def assume_role(self, RoleArn: str, RoleSessionName: str, DurationSeconds: int) -> dict[str, Any]:
        self.assumed.append(RoleArn)
        account = RoleArn.split(":")[4]
        return {
            "Credentials": {
                "AccessKeyId": f"key-{account}",
                "SecretAccessKey": f"secret-{account}",
                "SessionToken": f"token-{account}",
                "Expiration": datetime.now(UTC) + timedelta(hours=1),
            }
        }


@dataclass
class FakeSession:
    """The process's one session: records each client it makes and the credentials it was given."""

    made: list[tuple[str, str, str | None]] = field(default_factory=list)

    def client(self, service: str, region_name: str | None = None, **options: Any) -> tuple[str, str | None]:
        self.made.append((service, str(region_name), options.get("aws_access_key_id")))
        return service, options.get("aws_access_key_id")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    fake = FakeSession()
    monkeypatch.setattr(aws, "_session", lambda: fake)
    return fake


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch, session: FakeSession) -> FakeSts:
    fake = FakeSts()
    real_client = aws.client

    def client(service: str, **options: Any) -> Any:
        return fake if service == "sts" else real_client(service, **options)

    monkeypatch.setattr(aws, "client", client)
    return fake


def test_member_clients_come_from_the_process_session_with_each_members_credentials(
    session: FakeSession, sts: FakeSts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no new boto3 session may be built (each would load the endpoint and model data again)
    def no_new_session(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a member account got a boto3 session of its own")

    monkeypatch.setattr(boto3.session, "Session", no_new_session)
    access = aws.AccountAccess(lambda: OWN, "ecsguard-member", max_attempts=2)

    # WHEN two members' clients are asked for, one of them twice and in two Regions
    first = access.client("ecs", FIRST_MEMBER, "us-east-1")
    again = access.client("ecs", FIRST_MEMBER, "us-east-1")
    other_region = access.client("securityhub", FIRST_MEMBER, "eu-west-1")
    second = access.client("ecs", SECOND_MEMBER, "us-east-1")

    # THEN each member's role was assumed once, and every client came from the one session with its credentials
    assert sts.assumed == [
        f"arn:aws:iam::{FIRST_MEMBER}:role/ecsguard-member",
        f"arn:aws:iam::{SECOND_MEMBER}:role/ecsguard-member",
    ]
    assert session.made == [
        ("ecs", "us-east-1", f"key-{FIRST_MEMBER}"),
        ("securityhub", "eu-west-1", f"key-{FIRST_MEMBER}"),
        ("ecs", "us-east-1", f"key-{SECOND_MEMBER}"),
    ]
    assert first is again
    assert (other_region, second) == (("securityhub", f"key-{FIRST_MEMBER}"), ("ecs", f"key-{SECOND_MEMBER}"))
