"""Import ASFF findings into Security Hub, retrying what it rejects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.core.findings import NOTE_AUTHOR, WorkflowUpdate
from ecsguard.core.times import parse_time
from ecsguard.errors import PublishFailed

IAM_ACTIONS = frozenset(
    {"securityhub:BatchImportFindings", "securityhub:BatchUpdateFindings", "securityhub:GetFindings"}
)
BATCH_SIZE = 100  # BatchImportFindings takes at most 100 findings per call
ID_FILTER_SIZE = 20
PAGE_SIZE = 100  # GetFindings' maximum
_FAR_FUTURE = "2999-12-31T23:59:59.999Z"


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

    def update_workflows(self, updates: Sequence[WorkflowUpdate]) -> int:
        """Set each finding's workflow and note (BatchUpdateFindings: one status and note per call, at most 100
        findings); raise PublishFailed naming the findings not updated, after trying every group."""
        groups: dict[tuple[str, str], list[WorkflowUpdate]] = {}
        for update in updates:
            groups.setdefault((update.status, update.note), []).append(update)
        problems: list[str] = []
        updated = 0
        for (status, note), group in groups.items():
            for start in range(0, len(group), BATCH_SIZE):
                batch = group[start : start + BATCH_SIZE]
                identifiers = [{"Id": u.finding_id, "ProductArn": u.product_arn} for u in batch]
                self.calls += 1
                try:
                    response = self._client.batch_update_findings(
                        FindingIdentifiers=identifiers,
                        Workflow={"Status": status},
                        Note={"Text": note, "UpdatedBy": NOTE_AUTHOR},
                    )
                except (ClientError, BotoCoreError) as error:
                    code, message = error_code(error)
                    problems.append(
                        f"securityhub:BatchUpdateFindings failed for {len(batch)} finding(s): {code}: {message}"
                    )
                    continue
                unprocessed = response.get("UnprocessedFindings") or []
                updated += len(batch) - len(unprocessed)
                if unprocessed:
                    sample = "; ".join(
                        f"{(item.get('FindingIdentifier') or {}).get('Id', '?')} ({item.get('ErrorCode')})"
                        for item in unprocessed[:5]
                    )
                    problems.append(f"securityhub:BatchUpdateFindings left {len(unprocessed)} finding(s): {sample}")
        if problems:
            raise PublishFailed("; ".join(problems))
        return updated

    def _get_findings(self, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of GetFindings for ``filters``, through botocore's paginator."""
        pages = self._client.get_paginator("get_findings").paginate(
            Filters=filters, PaginationConfig={"PageSize": PAGE_SIZE}
        )
        try:
            for page in pages:
                self.calls += 1
                yield from page.get("Findings") or []
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise PublishFailed(f"securityhub:GetFindings failed: {code}: {message}") from None

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Those of ``finding_ids`` that exist, ACTIVE or ARCHIVED, by id: what an event's plan compares with."""
        found: dict[str, dict[str, Any]] = {}
        wanted = set(finding_ids)
        for start in range(0, len(finding_ids), ID_FILTER_SIZE):
            chunk = finding_ids[start : start + ID_FILTER_SIZE]
            filters = {"Id": [{"Value": finding_id, "Comparison": "EQUALS"} for finding_id in chunk]}
            for finding in self._get_findings(filters):
                # The filter already says this; checking again costs nothing and keeps the answer exact.
                if finding.get("Id") in wanted:
                    found[finding["Id"]] = finding
        return found

    def known_findings(
        self, account: str, region: str, since: str, resources: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every ACTIVE ecsguard finding of ``account`` in ``region``, and those archived since ``since``, a page at
        a time; with ``resources`` (ARN prefixes), only the findings of those.

        A sweep archives what no longer exists from the first; the second keeps it from reviving a finding that
        an event archived while the sweep ran (a resource deleted after it was listed).
        """
        scope = {
            "GeneratorId": [{"Value": "ecsguard/", "Comparison": "PREFIX"}],
            "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
            "Region": [{"Value": region, "Comparison": "EQUALS"}],
        }
        # Security Hub takes at most 20 values per filter field, and ORs them.
        chunks = [list(resources[i : i + ID_FILTER_SIZE]) for i in range(0, len(resources), ID_FILTER_SIZE)] or [[]]
        start = parse_time(since)
        for chunk in chunks:
            narrowed = dict(scope)
            if chunk:
                narrowed["ResourceId"] = [{"Value": prefix, "Comparison": "PREFIX"} for prefix in chunk]
            active = {**narrowed, "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}
            archived = {
                **narrowed,
                "RecordState": [{"Value": "ARCHIVED", "Comparison": "EQUALS"}],
                "UpdatedAt": [{"Start": since, "End": _FAR_FUTURE}],
            }
            for finding in self._get_findings(active):
                if _in_scope(finding, account, region) and _of(finding, chunk):
                    yield finding
            for finding in self._get_findings(archived):
                if (
                    _in_scope(finding, account, region, "ARCHIVED")
                    and _updated_since(finding, start)
                    and _of(finding, chunk)
                ):
                    yield finding


def _of(finding: dict[str, Any], prefixes: Sequence[str]) -> bool:
    # The filter already says this; checking again keeps the answer exact.
    if not prefixes:
        return True
    return any(str(resource.get("Id", "")).startswith(tuple(prefixes)) for resource in finding.get("Resources") or [])


def _in_scope(finding: dict[str, Any], account: str, region: str, record_state: str = "ACTIVE") -> bool:
    # The filters already say this; checking again keeps the answer exact.
    return (
        str(finding.get("GeneratorId", "")).startswith("ecsguard/")
        and finding.get("RecordState", "ACTIVE") == record_state
        and finding.get("AwsAccountId") == account
        and finding.get("Region", region) == region
    )


def _updated_since(finding: dict[str, Any], start: datetime | None) -> bool:
    updated = parse_time(finding.get("UpdatedAt"))
    return start is None or updated is None or updated >= start
