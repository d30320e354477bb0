"""The organization sweep's own steps (ecsguard.organization) on in-memory fakes: what a sweep task may name, how a
failure is told without echoing anything, which accounts are planned, and the account coverage findings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ecsguard.core.findings import ACCOUNT_COVERAGE, FindingContext, WorkflowUpdate
from ecsguard.errors import EventFailed
from ecsguard.organization import OrganizationSweep, SweepFailure, SweepTask

CENTRAL, MEMBER = "123456789012", "111122223333"
NOW = "2026-12-02T00:00:00.000Z"
SECRET = "hunter2-planted-secret"


@dataclass
class FakeFindings:
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    imported: list[dict[str, Any]] = field(default_factory=list)

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        for finding in findings:
            self.imported.append(finding)
            self.held[finding["Id"]] = finding
        return len(findings)

    def update_workflows(self, updates: Sequence[WorkflowUpdate]) -> int:
        raise AssertionError("the organization steps set no workflow")

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self.held[i] for i in finding_ids if i in self.held}


def organization(
    accounts: Sequence[str] = (), listed: Sequence[str] = (MEMBER,), findings: FakeFindings | None = None
) -> OrganizationSweep:
    return OrganizationSweep(
        accounts,
        ["us-east-1", "eu-west-1"],
        20,
        lambda: list(listed),
        findings,
        lambda: FindingContext(CENTRAL, "us-east-1", "aws", NOW),
    )


# --- the sweep task --------------------------------------------------------------------------------


def test_sweep_task_names_an_account_a_region_and_optionally_clusters() -> None:
    task = SweepTask.of(
        {"account": MEMBER, "region": "eu-west-1", "clusters": ["prod", f"arn:aws:ecs:eu-west-1:{MEMBER}:cluster/dev"]}
    )

    assert task.cluster_arns("aws") == [
        f"arn:aws:ecs:eu-west-1:{MEMBER}:cluster/prod",
        f"arn:aws:ecs:eu-west-1:{MEMBER}:cluster/dev",
    ]
    assert SweepTask.of({"account": MEMBER, "region": "eu-west-1"}).cluster_arns("aws") is None


@pytest.mark.parametrize(
    ("event", "field_name"),
    [
        ({"account": SECRET, "region": "us-east-1"}, "account"),
        ({"account": MEMBER, "region": SECRET}, "region"),
        ({"account": MEMBER, "region": "us-east-1", "clusters": []}, "clusters"),
        ({"account": MEMBER, "region": "us-east-1", "clusters": [f"{SECRET} x"]}, "clusters"),
        ({"account": MEMBER, "region": "us-east-1", SECRET: 1}, "a field that is not one of the sweep task's"),
        ({"region": "us-east-1"}, "account"),
    ],
)
def test_sweep_task_malformed_names_the_field_never_the_text(event: dict[str, Any], field_name: str) -> None:
    with pytest.raises(EventFailed) as caught:
        SweepTask.of(event)

    assert str(caught.value).startswith("invalid sweep task: ")
    assert field_name in str(caught.value)
    assert SECRET not in str(caught.value)


def test_sweep_task_unknown_key_is_an_error() -> None:
    with pytest.raises(EventFailed, match="a field that is not one of the sweep task's"):
        SweepTask.of({"account": MEMBER, "region": "us-east-1", "swept": {}})


def test_sweep_task_cluster_of_another_account_or_region_is_an_error() -> None:
    with pytest.raises(EventFailed, match=r"clusters\.0: not a cluster of the task's account and Region"):
        SweepTask.of(
            {"account": MEMBER, "region": "us-east-1", "clusters": [f"arn:aws:ecs:eu-west-1:{MEMBER}:cluster/a"]}
        )


# --- failures --------------------------------------------------------------------------------------


def test_failure_of_ecsguard_is_told_with_its_message() -> None:
    cause = json.dumps({"errorType": "EventFailed", "errorMessage": "sweep failed: ecs:ListClusters: AccessDenied"})

    assert str(SweepFailure.of({"Error": "EventFailed", "Cause": cause})) == (
        "EventFailed: sweep failed: ecs:ListClusters: AccessDenied"
    )


def test_failure_of_step_functions_is_told_with_its_message() -> None:
    failure = SweepFailure.of({"Error": "States.Timeout", "Cause": "Task timed out after 900.00 seconds"})

    assert str(failure) == "States.Timeout: Task timed out after 900.00 seconds"


@pytest.mark.parametrize("error_type", ["KeyError", "ValueError", "UnicodeDecodeError"])
def test_failure_of_an_unexpected_exception_is_named_by_its_type_only(error_type: str) -> None:
    cause = json.dumps({"errorType": error_type, "errorMessage": f"'{SECRET}'", "stackTrace": [SECRET]})

    assert str(SweepFailure.of({"Error": error_type, "Cause": cause})) == error_type


@pytest.mark.parametrize("caught", [None, "text", {"Cause": 3}, {"Error": "States.Runtime", "Cause": "{not json"}])
def test_failure_of_any_shape_is_told_without_raising(caught: object) -> None:
    assert str(SweepFailure.of(caught))


def test_failure_message_is_clipped() -> None:
    cause = json.dumps({"errorType": "EventFailed", "errorMessage": "x" * 5000})

    assert len(str(SweepFailure.of({"Error": "EventFailed", "Cause": cause}))) <= 420


# --- planning --------------------------------------------------------------------------------------


def test_plan_lists_the_organization_when_no_accounts_are_configured() -> None:
    assert organization(listed=["222222222222", MEMBER, MEMBER]).plan({}) == {
        "accounts": [MEMBER, "222222222222"],
        "regions": ["us-east-1", "eu-west-1"],
        "concurrency": 20,
    }


def test_plan_configured_accounts_do_not_list_the_organization() -> None:
    def never() -> list[str]:
        raise AssertionError("organizations:ListAccounts called")

    planned = OrganizationSweep(
        [MEMBER], ["us-east-1"], 5, never, None, lambda: FindingContext(CENTRAL, "us-east-1", "aws", NOW)
    ).plan(None)

    assert planned == {"accounts": [MEMBER], "regions": ["us-east-1"], "concurrency": 5}


def test_plan_execution_input_names_its_own_accounts_and_regions() -> None:
    planned = organization().plan({"accounts": ["999999999999"], "regions": ["ap-south-1"]})

    assert (planned["accounts"], planned["regions"]) == (["999999999999"], ["ap-south-1"])


@pytest.mark.parametrize(
    "given",
    [{"accounts": [SECRET]}, {"regions": [SECRET]}, {"accounts": []}, {SECRET: True}],
)
def test_plan_malformed_input_names_the_field_never_the_text(given: dict[str, Any]) -> None:
    with pytest.raises(EventFailed) as caught:
        organization().plan(given)

    assert str(caught.value).startswith("invalid organization sweep input: ")
    assert SECRET not in str(caught.value)


# --- account coverage findings -------------------------------------------------------------------------


def test_failed_imports_a_not_available_finding_on_the_account_in_the_central_account() -> None:
    findings = FakeFindings()
    cause = json.dumps({"errorType": "EventFailed", "errorMessage": "sts:AssumeRole failed: AccessDenied"})

    answer = organization(findings=findings).failed(
        SweepTask.of({"account": MEMBER, "region": "eu-west-1"}), {"Error": "EventFailed", "Cause": cause}
    )

    (finding,) = findings.imported
    assert answer == {"account": MEMBER, "region": "eu-west-1", "failure": "EventFailed"}
    assert finding["Id"] == f"ecsguard/{ACCOUNT_COVERAGE}/AWS::::Account:{MEMBER}/eu-west-1"
    assert (finding["AwsAccountId"], finding["ProductArn"]) == (
        CENTRAL,
        f"arn:aws:securityhub:us-east-1:{CENTRAL}:product/{CENTRAL}/default",
    )
    assert finding["Resources"] == [
        {"Type": "AwsAccount", "Id": f"AWS::::Account:{MEMBER}", "Partition": "aws", "Region": "eu-west-1"}
    ]
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("NOT_AVAILABLE", "ACTIVE")
    assert "sts:AssumeRole failed: AccessDenied" in finding["Description"]


def test_swept_archives_an_active_coverage_finding_keeping_when_it_was_first_seen() -> None:
    findings = FakeFindings()
    sweep = organization(findings=findings)
    task = SweepTask.of({"account": MEMBER, "region": "eu-west-1"})
    sweep.failed(task, {"Error": "States.Timeout"})
    first = findings.imported[0]

    answer = sweep.swept(task)

    assert answer == {"account": MEMBER, "region": "eu-west-1", "archived": True}
    archived = findings.imported[-1]
    assert (archived["Id"], archived["RecordState"]) == (first["Id"], "ARCHIVED")
    assert archived["FirstObservedAt"] == first["FirstObservedAt"]
    assert archived["ProductFields"]["ecsguard/Status"] == "SWEPT"


def test_swept_without_a_coverage_finding_imports_nothing() -> None:
    findings = FakeFindings()

    answer = organization(findings=findings).swept(SweepTask.of({"account": MEMBER, "region": "eu-west-1"}))

    assert (answer["archived"], findings.imported) == (False, [])


def test_swept_twice_archives_once() -> None:
    findings = FakeFindings()
    sweep = organization(findings=findings)
    task = SweepTask.of({"account": MEMBER, "region": "eu-west-1"})
    sweep.failed(task, None)
    sweep.swept(task)

    assert sweep.swept(task)["archived"] is False
    assert len(findings.imported) == 2
