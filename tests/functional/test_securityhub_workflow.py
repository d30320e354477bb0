"""SecurityHubPublisher.update_workflows against moto in server mode (BatchUpdateFindings emulated, as moto 5.2.5
lacks it): the workflow and an ecsguard-signed note are set per finding, and a finding it cannot update is named."""

from __future__ import annotations

import pytest
from emulated_aws import ACCOUNT, REGION, Aws

from ecsguard.adapters.securityhub import SecurityHubPublisher
from ecsguard.core.findings import NOTE_AUTHOR, WorkflowUpdate
from ecsguard.errors import PublishFailed

PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"


def imported(aws: Aws, *ids: str) -> None:
    findings = [
        {
            "SchemaVersion": "2018-10-08",
            "Id": finding_id,
            "ProductArn": PRODUCT,
            "GeneratorId": "ecsguard/test",
            "AwsAccountId": ACCOUNT,
            "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
            "CreatedAt": "2026-12-01T00:00:00.000Z",
            "UpdatedAt": "2026-12-01T00:00:00.000Z",
            "Severity": {"Label": "HIGH"},
            "Title": "t",
            "Description": "d",
            "Resources": [{"Type": "Other", "Id": finding_id}],
        }
        for finding_id in ids
    ]
    assert aws.securityhub.batch_import_findings(Findings=findings)["FailedCount"] == 0


def test_update_workflows_sets_each_findings_workflow_and_signed_note(aws: Aws) -> None:
    imported(aws, "a", "b", "c")
    publisher = SecurityHubPublisher(aws.securityhub)

    updated = publisher.update_workflows(
        [
            WorkflowUpdate("a", PRODUCT, "SUPPRESSED", "Exempted by x"),
            WorkflowUpdate("b", PRODUCT, "SUPPRESSED", "Exempted by y"),
            WorkflowUpdate("c", PRODUCT, "NEW", "Exemption x no longer applies"),
        ]
    )

    stored = aws.findings()
    assert updated == 3
    assert [
        (stored[i]["Workflow"]["Status"], stored[i]["Note"]["Text"], stored[i]["Note"]["UpdatedBy"]) for i in "abc"
    ] == [
        ("SUPPRESSED", "Exempted by x", NOTE_AUTHOR),
        ("SUPPRESSED", "Exempted by y", NOTE_AUTHOR),
        ("NEW", "Exemption x no longer applies", NOTE_AUTHOR),
    ]
    assert publisher.calls == 3  # one call per status and note


def test_update_workflows_names_the_findings_it_could_not_update_after_trying_the_rest(aws: Aws) -> None:
    imported(aws, "a")

    with pytest.raises(PublishFailed) as raised:
        SecurityHubPublisher(aws.securityhub).update_workflows(
            [WorkflowUpdate("missing", PRODUCT, "SUPPRESSED", "n"), WorkflowUpdate("a", PRODUCT, "SUPPRESSED", "m")]
        )

    assert "securityhub:BatchUpdateFindings left 1 finding(s): missing (FindingNotFound)" in str(raised.value)
    assert aws.findings()["a"]["Workflow"]["Status"] == "SUPPRESSED"
