"""AWS Organizations: the accounts an organization sweep covers."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.errors import AwsCallFailed

IAM_ACTIONS = frozenset({"organizations:ListAccounts"})


class OrganizationAccounts:
    """The organization's accounts, from its management account or a delegated administrator."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def active(self) -> list[str]:
        """The ids of the ACTIVE accounts, every page of them; AwsCallFailed naming the call otherwise.

        ``State`` replaces the older ``Status`` (retired in September 2026); an account that reports either as
        ACTIVE is swept, one suspended, pending closure or closed is not.
        """
        found: list[str] = []
        try:
            for page in self._client.get_paginator("list_accounts").paginate():
                for account in page.get("Accounts") or []:
                    state = account.get("State") or account.get("Status")
                    if state == "ACTIVE" and isinstance(account.get("Id"), str):
                        found.append(account["Id"])
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise AwsCallFailed("organizations:ListAccounts", "the organization", code, message) from None
        return found
