"""Import ASFF findings into Security Hub, retrying what it rejects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.errors import PublishFailed

IAM_ACTIONS = frozenset({"securityhub:BatchImportFindings", "securityhub:GetFindings"})
BATCH_SIZE = 100  # BatchImportFindings takes at most 100 findings per call
ID_FILTER_SIZE = 20


class SecurityHubPublisher:
    """``import_findings`` sends batches of 100 and retries a batch's FailedFindings with backoff.

    Throttling and transient errors of the call itself are retried by botocore (standard mode); findings
    still rejected after ``attempts`` tries, or a call that still fails, raise PublishFailed after every
    other batch has been sent, so nothing is silently dropped and the event is retried.
    """

    def __init__(self, client: Any, attempts: int = 4, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._attempts = attempts
        self._sleep = sleep
        self.calls = 0

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        problems: list[str] = []
        imported = 0
        for start in range(0, len(findings), BATCH_SIZE):
            batch = list(findings[start : start + BATCH_SIZE])
            try:
                imported += self._import_batch(batch)
            except PublishFailed as error:
                problems.append(str(error))
        if problems:
            raise PublishFailed("; ".join(problems))
        return imported

    def _import_batch(self, batch: list[dict[str, Any]]) -> int:
        pending = batch
        reasons: dict[str, str] = {}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(min(0.2 * 2**attempt, 5.0))
            self.calls += 1
            try:
                response = self._client.batch_import_findings(Findings=pending)
            except (ClientError, BotoCoreError) as error:
                code, message = error_code(error)
                raise PublishFailed(
                    f"securityhub:BatchImportFindings failed for {len(pending)} finding(s): {code}: {message}"
                ) from None
            failed = response.get("FailedFindings") or []
            if not failed:
                return len(batch)
            reasons = {item.get("Id", "?"): f"{item.get('ErrorCode')}: {item.get('ErrorMessage')}" for item in failed}
            pending = [finding for finding in pending if finding["Id"] in reasons]
        sample = "; ".join(f"{finding_id} ({reason})" for finding_id, reason in list(reasons.items())[:5])
        rejected = f"rejected {len(pending)} finding(s) after {self._attempts} attempts"
        raise PublishFailed(f"securityhub:BatchImportFindings {rejected}: {sample}")

    def _get_findings(self, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of GetFindings for ``filters``."""
        token: str | None = None
        while True:
            parameters: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
            if token:
                parameters["NextToken"] = token
            self.calls += 1
            try:
                response = self._client.get_findings(**parameters)
            except (ClientError, BotoCoreError) as error:
                code, message = error_code(error)
                raise PublishFailed(f"securityhub:GetFindings failed: {code}: {message}") from None
            yield from response.get("Findings") or []
            token = response.get("NextToken")
            if not token:
                return

    def compliance_of(self, finding_ids: Sequence[str]) -> dict[str, str]:
        """The Compliance.Status of those of ``finding_ids`` that exist (and are not archived)."""
        found: dict[str, str] = {}
        wanted = set(finding_ids)
        for start in range(0, len(finding_ids), ID_FILTER_SIZE):
            chunk = finding_ids[start : start + ID_FILTER_SIZE]
            filters = {
                "Id": [{"Value": finding_id, "Comparison": "EQUALS"} for finding_id in chunk],
                "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
            }
            for finding in self._get_findings(filters):
                # The filters already say this; checking again costs nothing and keeps the answer exact.
                if finding.get("Id") in wanted and finding.get("RecordState", "ACTIVE") == "ACTIVE":
                    found[finding["Id"]] = (finding.get("Compliance") or {}).get("Status", "NOT_AVAILABLE")
        return found

    def active_findings(self, account: str, region: str) -> list[dict[str, Any]]:
        """Every ACTIVE ecsguard finding of ``account`` in ``region`` (for a sweep to archive what is gone)."""
        filters = {
            "GeneratorId": [{"Value": "ecsguard/", "Comparison": "PREFIX"}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
            "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
            "Region": [{"Value": region, "Comparison": "EQUALS"}],
        }
        return [
            finding
            for finding in self._get_findings(filters)
            # The filters already say this; checking again keeps the answer exact.
            if str(finding.get("GeneratorId", "")).startswith("ecsguard/")
            and finding.get("RecordState", "ACTIVE") == "ACTIVE"
            and finding.get("AwsAccountId") == account
            and finding.get("Region", region) == region
        ]
