"""Exemptions on the event path and in the sweep, end to end against moto in server mode (BatchUpdateFindings
emulated): an exempted failure is imported FAILED, SUPPRESSED under a note naming its exemption, and sends no
message; when the exemption is removed or expires, the finding is NEW again and one message goes out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event

from ecsguard.core.findings import NOTE_AUTHOR
from ecsguard.handlers import scanner as scanner_handler
from ecsguard.handlers.scanner import handler
from ecsguard.settings import Settings
from ecsguard.sweep import sweep_regions
from ecsguard.wiring import build_sweeper
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed_policy_dir

LEGACY_EVENT = "ecs-register-task-definition-non-ecr-image.json"
LEGACY_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/legacy-proxy:12"
NETWORK = "ecs-network-awsvpc"
TODAY = datetime.now(UTC).date()


def exemption(expires: str, identifier: str = "legacy-proxy-bridge", family: str = "legacy-proxy") -> str:
    return f"""  - id: {identifier}
    policies: [{NETWORK}]
    resources:
      accounts: ["{ACCOUNT}"]
      families: [{family}]
    reason: Bridge networking until the migration.
    owner: platform-security@example.com
    ticket: SEC-123
    expires: {expires}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """The sample events' policies, in a folder of the test's own, so that it can hold an exemptions.yaml."""
    folder = tmp_path / "policies"
    shutil.copytree(narrowed_policy_dir(SAMPLE_EVENT_POLICIES), folder)
    return folder


def write_exemptions(folder: Path, *entries: str) -> None:
    (folder / "exemptions.yaml").write_text("exemptions:\n" + "".join(entries), encoding="utf-8")


def network_finding(aws: Aws) -> dict[str, Any]:
    return aws.findings()[f"ecsguard/{NETWORK}/{LEGACY_TD}"]


def failures_notified(aws: Aws) -> list[list[str]]:
    return [[f["policy_id"] for f in json.loads(m["Body"])["failures"]] for m in aws.messages()]


def test_exempted_failure_is_suppressed_with_its_note_and_sends_no_message_until_the_exemption_is_removed(
    aws: Aws, configure: Callable[..., None], policy_dir: Path
) -> None:
    # GIVEN an exemption for the legacy proxy's bridge networking, in the policy folder
    expires = (TODAY + timedelta(days=60)).isoformat()
    write_exemptions(policy_dir, exemption(expires))
    configure()

    # WHEN its task definition is registered
    answer = handler(load_event(LEGACY_EVENT), None)

    # THEN the awsvpc failure is EXEMPT: FAILED, SUPPRESSED under a note naming the exemption, and only the other
    # failure (the Docker Hub image) is notified
    assert (answer["failed_policies"], answer["exempt_policies"]) == (["ecs-images-ecr-only"], [NETWORK])
    assert answer["exemptions"] == [
        {
            "policy_id": NETWORK,
            "id": "legacy-proxy-bridge",
            "owner": "platform-security@example.com",
            "reason": "Bridge networking until the migration.",
            "expires": expires,
            "ticket": "SEC-123",
        }
    ]
    finding = network_finding(aws)
    assert (finding["Compliance"]["Status"], finding["RecordState"], finding["Workflow"]["Status"]) == (
        "FAILED",
        "ACTIVE",
        "SUPPRESSED",
    )
    assert finding["Note"]["UpdatedBy"] == NOTE_AUTHOR
    assert finding["Note"]["Text"] == (
        f"Exempted by legacy-proxy-bridge (platform-security@example.com, SEC-123) until {expires}: "
        "Bridge networking until the migration."
    )
    assert failures_notified(aws) == [["ecs-images-ecr-only"]]

    # WHEN the same event is handled again: nothing changes, no message
    handler(load_event(LEGACY_EVENT), None)
    assert failures_notified(aws) == []

    # WHEN the exemption is removed, and the resource evaluated again
    write_exemptions(policy_dir)
    configure()
    answer = handler(load_event(LEGACY_EVENT), None)

    # THEN the finding is NEW again and its failure is news: one message
    assert (answer["failed_policies"], answer["exempt_policies"]) == (["ecs-images-ecr-only", NETWORK], [])
    assert network_finding(aws)["Workflow"]["Status"] == "NEW"
    assert failures_notified(aws) == [[NETWORK]]


def test_exemption_that_expires_makes_the_failure_news_again(
    aws: Aws, configure: Callable[..., None], policy_dir: Path
) -> None:
    # GIVEN an exemption that expires today, and the exempted failure suppressed
    write_exemptions(policy_dir, exemption(TODAY.isoformat()))
    configure()
    handler(load_event(LEGACY_EVENT), None)
    assert network_finding(aws)["Workflow"]["Status"] == "SUPPRESSED"
    aws.messages()

    # WHEN the same resource is evaluated tomorrow (the scanner's clock moved on)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    scanner_handler.scanner().clock = lambda: tomorrow
    answer = handler(load_event(LEGACY_EVENT), None)

    # THEN the exemption no longer applies: FAILED, NEW, one message
    assert answer["exempt_policies"] == []
    assert network_finding(aws)["Workflow"]["Status"] == "NEW"
    assert failures_notified(aws) == [[NETWORK]]


def test_sweep_applies_exemptions_and_reports_the_ones_that_matched_nothing(aws: Aws, policy_dir: Path) -> None:
    # GIVEN the legacy proxy registered, an exemption for it and one for a family that does not exist
    aws.ecs.register_task_definition(
        family="legacy-proxy",
        networkMode="bridge",
        containerDefinitions=[
            {"name": "proxy", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/p:1", "memory": 64}
        ],
    )
    expires = (TODAY + timedelta(days=30)).isoformat()
    write_exemptions(policy_dir, exemption(expires), exemption(expires, "retired-app", family="retired-app"))
    settings = Settings.from_environment(
        {"ECSGUARD_AWS_MAX_ATTEMPTS": "2", "ECSGUARD_PACKS": "all", "ECSGUARD_POLICY_DIR": str(policy_dir)}
    )

    # WHEN the account is swept
    (report,), failures = sweep_regions(build_sweeper(settings, publish=True), ACCOUNT, [REGION])

    # THEN the revision's awsvpc failure is EXEMPT and suppressed, nothing is notified, and the unused exemption
    # is in the summary
    revision = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/legacy-proxy:1"
    assert failures == []
    assert {(r.policy_id, r.status.value) for r in report.results if r.resource.id == revision} >= {(NETWORK, "EXEMPT")}
    stored = aws.findings()[f"ecsguard/{NETWORK}/{revision}"]
    assert (stored["Compliance"]["Status"], stored["Workflow"]["Status"]) == ("FAILED", "SUPPRESSED")
    assert report.summary()["unused_exemptions"] == ["retired-app"]
    assert report.exemption_states == {"active": 0, "expiring": 2, "expired": 0}  # 30 days left: expiring
    assert failures_notified(aws) == []
