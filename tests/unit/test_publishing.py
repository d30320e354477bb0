"""The publishing plan on its own (what to import, archive and notify), and its delivery through fakes.

The policies are the catalog's own, selected by resource type, so nothing here names a policy of the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from test_service import FakeNotifier, FakePublisher  # the Scanner's fakes of the same ports

from ecsguard.catalog import load_policy_set
from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.findings import (
    COVERAGE,
    NOTE_AUTHOR,
    FindingContext,
    NotificationContext,
    WorkflowUpdate,
    finding_id,
    parse_finding_id,
)
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Exempted, ResourceRef, Result, Status
from ecsguard.errors import PublishFailed
from ecsguard.publishing import Census, Context, Options, Plan, deliver, is_news, lookups, plan
from ecsguard.sweep import SWEEP_ALERTING

REPOSITORY = Path(__file__).resolve().parents[2]
NOW = "2026-11-22T00:00:00.000Z"
ACCOUNT, REGION = "123456789012", "us-east-1"
PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:"
WEB_1, WEB_2, API_1 = (f"{PREFIX}task-definition/{name}" for name in ("web:1", "web:2", "api:1"))
FRONT, BACK = f"{PREFIX}service/prod/front", f"{PREFIX}service/prod/back"


@cache
def policies() -> dict[str, CompiledPolicy]:
    return {policy.id: policy for policy in load_policy_set(REPOSITORY / "policies").policies}


def of_type(resource_type: ResourceType) -> list[str]:
    return [policy.id for policy in policies().values() if policy.resource_type is resource_type]


def td_policies() -> list[str]:
    found = of_type(ResourceType.TASK_DEFINITION)
    assert len(found) >= 2, "these tests need two task definition policies"
    return found


def service_policy() -> str:
    return of_type(ResourceType.SERVICE)[0]


def context(observed_at: str | None = None) -> Context:
    return Context(
        policies(),
        FindingContext(ACCOUNT, REGION, "aws", NOW, observed_at=observed_at),
        NotificationContext(ACCOUNT, REGION, None, "Sweep", None, None),
    )


def result(policy_id: str, arn: str, status: Status) -> Result:
    policy = policies()[policy_id]
    resource_type = ResourceType.SERVICE if ":service/" in arn else ResourceType.TASK_DEFINITION
    reason = "could not be evaluated" if status is Status.ERROR else None
    return Result(
        policy_id=policy_id,
        resource=ResourceRef(type=resource_type, id=arn),
        status=status,
        severity=policy.severity,
        title=policy.title,
        reason=reason,
    )


def web_results(first: Status, second: Status) -> list[Result]:
    """WEB_1's results: the first task definition policy ``first``, every other one ``second``."""
    one, *others = td_policies()
    return [result(one, WEB_1, first), *(result(other, WEB_1, second) for other in others)]


def known(**statuses: str) -> dict[str, dict[str, Any]]:
    """Existing findings by id as the event path learns them (only their Compliance)."""
    return {identifier: {"Compliance": {"Status": status}} for identifier, status in statuses.items()}


def active(policy_id: str, arn: str, compliance: str = "FAILED", severity: str | None = None) -> dict[str, Any]:
    """An ACTIVE finding as GetFindings returns it, imported at its policy's severity unless ``severity`` says."""
    known_policy = policies().get(policy_id)
    label = severity or (known_policy.severity.value if known_policy is not None else "HIGH")
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(policy_id, arn),
        "ProductArn": f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
        "GeneratorId": f"ecsguard/{policy_id}",
        "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": "2026-11-21T00:00:00.000Z",
        "UpdatedAt": "2026-11-21T00:00:00.000Z",
        "Severity": {"Label": label},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": label}},
        "Title": "title",
        "Description": "description",
        "Resources": [{"Type": "AwsEcsTaskDefinition", "Id": arn}],
        "Compliance": {"Status": compliance},
        "RecordState": "ACTIVE",
        "WorkflowState": "NEW",
    }


def by_id(findings: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {f["Id"]: (f["RecordState"], f["Compliance"]["Status"]) for f in findings}


def notified(planned: Plan) -> dict[str, list[str]]:
    """Each message's resource and the policies it lists."""
    documents = [json.loads(notification.message) for notification in planned.notifications]
    return {document["resource"]["id"]: [f["policy_id"] for f in document["failures"]] for document in documents}


# --- what is imported -----------------------------------------------------------------------------


def test_plan_import_passed_imports_every_finding_and_notifies_every_failure_and_error() -> None:
    # GIVEN WEB_1 failing the first policy and passing the others, and BACK erroring
    results = [*web_results(Status.FAIL, Status.PASS), result(service_policy(), BACK, Status.ERROR)]

    # WHEN planned with nothing looked up
    planned = plan(results, None, Options(), context())

    # THEN every result's finding is imported, nothing archived, one message per resource
    one, *others = td_policies()
    assert by_id(planned.findings) == {
        finding_id(one, WEB_1): ("ACTIVE", "FAILED"),
        **{finding_id(other, WEB_1): ("ACTIVE", "PASSED") for other in others},
        finding_id(service_policy(), BACK): ("ACTIVE", "NOT_AVAILABLE"),
    }
    assert planned.archived == []
    assert notified(planned) == {WEB_1: [one], BACK: [service_policy()]}


def test_plan_without_import_passed_sends_pass_only_for_existing_findings() -> None:
    # GIVEN WEB_1 passing every policy but the first, of which only the second policy's finding exists
    one, second, *rest = td_policies()
    existing = known(**{finding_id(second, WEB_1): "FAILED"})

    # WHEN
    planned = plan(web_results(Status.FAIL, Status.PASS), existing, Options(import_passed=False), context())

    # THEN the failure and the existing finding (resolved to PASSED) are imported, the other passes are not
    assert by_id(planned.findings) == {
        finding_id(one, WEB_1): ("ACTIVE", "FAILED"),
        finding_id(second, WEB_1): ("ACTIVE", "PASSED"),
    }
    assert [r for r in rest if finding_id(r, WEB_1) in by_id(planned.findings)] == []


def test_plan_without_import_passed_and_nothing_known_to_exist_sends_only_failures_and_errors() -> None:
    # As after a failed lookup: what exists is unknown, so only what must be reported is sent
    results = [*web_results(Status.ERROR, Status.NOT_APPLICABLE), result(service_policy(), BACK, Status.PASS)]

    planned = plan(results, {}, Options(import_passed=False), context())

    assert by_id(planned.findings) == {finding_id(td_policies()[0], WEB_1): ("ACTIVE", "NOT_AVAILABLE")}


def test_plan_without_import_passed_but_nothing_looked_up_sends_every_finding() -> None:
    # No Security Hub to ask: there is nothing to filter against
    planned = plan(web_results(Status.PASS, Status.PASS), None, Options(import_passed=False), context())

    assert {f["Id"] for f in planned.findings} == {finding_id(p, WEB_1) for p in td_policies()}


def test_plan_result_on_resource_without_arn_has_no_finding_but_is_notified() -> None:
    results = [result(td_policies()[0], "web.json#web", Status.FAIL)]

    planned = plan(results, None, Options(), context())

    assert (planned.findings, notified(planned)) == ([], {"web.json#web": [td_policies()[0]]})


# --- what is archived -----------------------------------------------------------------------------


def test_plan_gone_resource_archives_every_policy_of_its_type() -> None:
    planned = plan([], None, Options(), context(), gone=[(ResourceType.TASK_DEFINITION, WEB_2)])

    expected = {finding_id(p, WEB_2) for p in td_policies()}
    assert by_id(planned.findings) == dict.fromkeys(expected, ("ARCHIVED", "NOT_AVAILABLE"))
    assert set(planned.archived) == expected
    assert planned.notifications == []


def test_plan_gone_resource_without_import_passed_archives_only_existing_findings() -> None:
    one, *_ = td_policies()
    existing = known(**{finding_id(one, WEB_2): "FAILED"})

    planned = plan([], existing, Options(import_passed=False), context(), gone=[(ResourceType.TASK_DEFINITION, WEB_2)])

    assert planned.archived == [finding_id(one, WEB_2)]
    assert [f["Id"] for f in planned.findings] == [finding_id(one, WEB_2)]


def test_plan_census_archives_stale_findings_and_keeps_what_may_exist() -> None:
    # GIVEN every ACTIVE finding: WEB_1's (evaluated now), API_1's (gone), WEB_2's (an older revision still ACTIVE),
    # FRONT's (gone), BACK's (its cluster could not be read), a task definition policy's on a cluster, and one
    # whose id is not ecsguard's
    one, *_ = td_policies()
    service = service_policy()
    cluster_arn = f"{PREFIX}cluster/prod"
    findings = [
        active(one, WEB_1),
        active(one, API_1),
        active(one, WEB_2),
        active(service, FRONT),
        active(service, BACK),
        active(one, cluster_arn),
        {**active(one, API_1), "Id": f"other/{one}/{API_1}"},
    ]
    existing = {f["Id"]: f for f in findings}
    census = Census(alive={WEB_2}, uncertain=lambda arn: arn == BACK)

    # WHEN
    planned = plan(web_results(Status.PASS, Status.PASS), existing, Options(), context(), census=census)

    # THEN only API_1's and FRONT's are archived, as findings of deleted resources, after WEB_1's updates
    assert planned.archived == [finding_id(one, API_1), finding_id(service, FRONT)]
    assert [f["Id"] for f in planned.findings] == [
        *(finding_id(p, WEB_1) for p in td_policies()),
        *planned.archived,
    ]
    assert {f["ProductFields"]["ecsguard/Status"] for f in planned.findings[-2:]} == {"RESOURCE_DELETED"}


def test_plan_census_archives_finding_of_removed_policy_as_it_stands_even_on_a_live_resource() -> None:
    removed = active("ecs-retired-policy", WEB_2) | {"ProductFields": {"ecsguard/PolicyId": "ecs-retired-policy"}}

    planned = plan([], {removed["Id"]: removed}, Options(), context(), census=Census(alive={WEB_2}))

    required = (
        "SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types",
        "CreatedAt", "Severity", "Title", "Description", "Resources",
    )  # fmt: skip
    assert planned.findings == [{key: removed[key] for key in required} | {"RecordState": "ARCHIVED", "UpdatedAt": NOW}]
    assert planned.archived == [removed["Id"]]


def test_plan_without_census_never_archives_existing_findings() -> None:
    existing = {f["Id"]: f for f in [active(td_policies()[0], API_1)]}

    planned = plan([], existing, Options(), context())

    assert (planned.findings, planned.archived) == ([], [])


# --- what is notified -----------------------------------------------------------------------------


def test_plan_sweep_alerting_notifies_only_failures_not_already_failed() -> None:
    # GIVEN the first policy failing on WEB_1 (already FAILED) and on API_1 (NOT_AVAILABLE before), the second
    # failing on API_1 (no finding yet), and an ERROR on BACK
    one, second, *_ = td_policies()
    results = [
        result(one, WEB_1, Status.FAIL),
        result(one, API_1, Status.FAIL),
        result(second, API_1, Status.FAIL),
        result(service_policy(), BACK, Status.ERROR),
    ]
    existing = {f["Id"]: f for f in [active(one, WEB_1, "FAILED"), active(one, API_1, "NOT_AVAILABLE")]}

    # WHEN
    planned = plan(results, existing, Options(), context(), census=Census(), alerting=SWEEP_ALERTING)

    # THEN one message, for API_1, listing both of its new failures
    assert {resource: sorted(ids) for resource, ids in notified(planned).items()} == {API_1: sorted([one, second])}


def test_plan_sweep_alerting_without_security_hub_notifies_every_failure() -> None:
    one, *_ = td_policies()
    results = [result(one, WEB_1, Status.FAIL), result(one, API_1, Status.FAIL), result(one, WEB_2, Status.ERROR)]

    planned = plan(results, None, Options(), context(), alerting=SWEEP_ALERTING)

    assert notified(planned) == {WEB_1: [one], API_1: [one]}


def test_plan_failures_below_minimum_severity_are_not_notified() -> None:
    # GIVEN the least severe task definition policy failing, and a minimum one step above its severity
    lowest = min(td_policies(), key=lambda policy_id: policies()[policy_id].severity.rank)
    rank = policies()[lowest].severity.rank
    above = [severity for severity in Severity if severity.rank == rank + 1]
    if not above:
        pytest.skip("every task definition policy is at the highest severity")

    # WHEN
    planned = plan([result(lowest, WEB_1, Status.FAIL)], None, Options(notify_min_severity=above[0]), context())

    # THEN
    assert planned.notifications == []


def test_plan_event_alerting_notifies_only_what_security_hub_does_not_already_show() -> None:
    # GIVEN failures on WEB_1 (already FAILED), API_1 (PASSED before), WEB_2 (FAILED but archived) and an ERROR on
    # BACK (already NOT_AVAILABLE): a repeat, a change, a return, and a repeated error
    one, *_ = td_policies()
    results = [
        result(one, WEB_1, Status.FAIL),
        result(one, API_1, Status.FAIL),
        result(one, WEB_2, Status.FAIL),
        result(service_policy(), BACK, Status.ERROR),
    ]
    stored = [
        active(one, WEB_1, "FAILED"),
        active(one, API_1, "PASSED"),
        active(one, WEB_2, "FAILED") | {"RecordState": "ARCHIVED"},
        active(service_policy(), BACK, "NOT_AVAILABLE"),
    ]

    # WHEN planned as the event path does
    planned = plan(results, {f["Id"]: f for f in stored}, Options(), context())

    # THEN only the change and the return are announced, and every finding is still imported
    assert notified(planned) == {API_1: [one], WEB_2: [one]}
    assert {f["Id"] for f in planned.findings} == {finding_id(r.policy_id, r.resource.id) for r in results}


def test_plan_failure_at_a_higher_severity_than_it_was_imported_with_is_news() -> None:
    # GIVEN the most severe task definition policy's finding, FAILED at the severity just below the policy's
    highest = max(td_policies(), key=lambda policy_id: policies()[policy_id].severity.rank)
    rank = policies()[highest].severity.rank
    below = [severity for severity in Severity if severity.rank == rank - 1]
    if not below:
        pytest.skip("every task definition policy is at the lowest severity")
    stored = active(highest, WEB_1, "FAILED", severity=below[0].value)
    # A customer's change of Severity.Label does not count: the provider's own label does
    stored["Severity"] = {"Label": policies()[highest].severity.value}

    # WHEN
    planned = plan([result(highest, WEB_1, Status.FAIL)], {stored["Id"]: stored}, Options(), context())

    # THEN
    assert notified(planned) == {WEB_1: [highest]}


@pytest.mark.parametrize(
    ("stored_compliance", "note"),
    [("FAILED", None), ("PASSED", None), ("FAILED", {"Text": "accepted for Q1", "UpdatedBy": "arn:aws:iam::1:user/a"})],
    ids=["failed, no note", "passed", "failed, a person's note"],
)
def test_plan_failure_on_a_finding_a_person_suppressed_is_not_notified_but_imported(
    stored_compliance: str, note: dict[str, str] | None
) -> None:
    # GIVEN a finding someone suppressed in the console (with or without a note of theirs)
    policy_id = td_policies()[0]
    stored = {**active(policy_id, WEB_1, stored_compliance), "Workflow": {"Status": "SUPPRESSED"}}
    if note is not None:
        stored["Note"] = note

    # WHEN the resource fails that policy
    planned = plan([result(policy_id, WEB_1, Status.FAIL)], {stored["Id"]: stored}, Options(), context())

    # THEN nobody is notified, and the finding is still updated (its workflow is the person's to change)
    assert notified(planned) == {}
    assert by_id(planned.findings)[stored["Id"]] == ("ACTIVE", "FAILED")
    assert "Workflow" not in planned.findings[0]


def test_plan_failure_on_a_finding_ecsguard_suppressed_is_news_again() -> None:
    # GIVEN a finding suppressed under ecsguard's own note (an exemption's), no longer suppressed by a person
    policy_id = td_policies()[0]
    stored = {
        **active(policy_id, WEB_1, "FAILED"),
        "Workflow": {"Status": "SUPPRESSED"},
        "Note": {"Text": "exempted", "UpdatedBy": NOTE_AUTHOR},
    }
    archived = {**stored, "RecordState": "ARCHIVED", "Note": {"Text": "old", "UpdatedBy": "someone"}}

    # THEN a failure on it is news (its exemption no longer covers it), as is one on an archived finding a person
    # once suppressed
    assert is_news(result(policy_id, WEB_1, Status.FAIL), stored) is True
    assert is_news(result(policy_id, WEB_1, Status.ERROR), stored) is True
    assert is_news(result(policy_id, WEB_1, Status.FAIL), archived) is True
    assert is_news(result(policy_id, WEB_1, Status.FAIL), {**stored, "Workflow": {"Status": "NEW"}}) is False


def test_plan_observation_older_than_the_stored_one_is_neither_imported_nor_notified() -> None:
    # GIVEN WEB_1's findings observed at 10:00 by a later event, and API_1's at exactly this event's time
    one, *others = td_policies()
    later = {**active(one, WEB_1, "PASSED"), "LastObservedAt": "2026-11-21T10:00:00.000Z"}
    same = {**active(one, API_1, "PASSED"), "LastObservedAt": "2026-11-21T09:00:00.000Z"}
    results = [*web_results(Status.FAIL, Status.PASS), result(one, API_1, Status.FAIL)]

    # WHEN this event, observed at 09:00 (CloudTrail's one-second form), is planned after them
    planned = plan(results, {later["Id"]: later, same["Id"]: same}, Options(), context("2026-11-21T09:00:00Z"))

    # THEN WEB_1's stored finding stays as it is; the rest, API_1's retry included, goes ahead
    assert planned.older == [finding_id(one, WEB_1)]
    assert {f["Id"] for f in planned.findings} == {finding_id(one, API_1), *(finding_id(p, WEB_1) for p in others)}
    assert notified(planned) == {API_1: [one]}


def test_plan_gone_resource_whose_findings_a_later_event_observed_archives_only_the_rest() -> None:
    one, *others = td_policies()
    later = {**active(one, WEB_2, "FAILED"), "LastObservedAt": "2026-11-21T10:00:00.000Z"}

    planned = plan(
        [],
        {later["Id"]: later},
        Options(),
        context("2026-11-21T09:00:00Z"),
        gone=[(ResourceType.TASK_DEFINITION, WEB_2)],
    )

    assert planned.older == [finding_id(one, WEB_2)]
    assert planned.archived == [finding_id(p, WEB_2) for p in others]


def test_plan_update_keeps_created_and_first_observed_of_the_active_finding_and_moves_last_observed() -> None:
    # GIVEN WEB_1's first finding ACTIVE since the 20th, and its second ARCHIVED since then
    one, second, *_ = td_policies()
    first_seen = {"CreatedAt": "2026-11-20T08:00:00.000Z", "FirstObservedAt": "2026-11-20T08:00:00.000Z"}
    stored = [
        {**active(one, WEB_1, "PASSED"), **first_seen, "LastObservedAt": "2026-11-20T08:00:00.000Z"},
        {**active(second, WEB_1, "PASSED"), **first_seen, "RecordState": "ARCHIVED"},
    ]

    # WHEN an event observed on the 21st fails both
    planned = plan(
        web_results(Status.FAIL, Status.FAIL),
        {f["Id"]: f for f in stored},
        Options(),
        context("2026-11-21T09:00:00.000Z"),
    )

    # THEN the ACTIVE one keeps its age, the archived one starts anew; both were last observed now, imported now
    times = {
        f["Id"]: (f["CreatedAt"], f["FirstObservedAt"], f["LastObservedAt"], f["UpdatedAt"]) for f in planned.findings
    }
    assert times[finding_id(one, WEB_1)] == (*first_seen.values(), "2026-11-21T09:00:00.000Z", NOW)
    assert times[finding_id(second, WEB_1)] == ("2026-11-21T09:00:00.000Z",) * 3 + (NOW,)


def test_plan_without_import_passed_an_archived_finding_does_not_count_as_existing() -> None:
    one, second, *_ = td_policies()
    archived = active(second, WEB_1, "PASSED") | {"RecordState": "ARCHIVED"}

    planned = plan(
        web_results(Status.FAIL, Status.PASS), {archived["Id"]: archived}, Options(import_passed=False), context()
    )

    assert by_id(planned.findings) == {finding_id(one, WEB_1): ("ACTIVE", "FAILED")}


def test_plan_blind_cluster_gets_not_available_finding_and_the_one_of_a_cluster_listed_again_is_archived() -> None:
    # GIVEN prod cannot be listed (its finding exists since the 20th), and staging, blind before, can be listed now
    prod, staging = f"{PREFIX}cluster/prod", f"{PREFIX}cluster/staging"
    coverage = finding_id(COVERAGE, prod), finding_id(COVERAGE, staging)
    stored = [
        {**active(COVERAGE, prod, "NOT_AVAILABLE"), "CreatedAt": "2026-11-20T08:00:00.000Z"},
        active(COVERAGE, staging, "NOT_AVAILABLE"),
    ]
    blind = {prod: "ecs:ListServices for cluster prod failed: AccessDeniedException: denied"}

    # WHEN a sweep plans
    planned = plan([], {f["Id"]: f for f in stored}, Options(), context(), census=Census(), blind=blind)

    # THEN prod's finding is imported again (keeping its age, naming the call), staging's archived as it stands
    assert [(f["Id"], f["RecordState"]) for f in planned.findings] == [
        (coverage[0], "ACTIVE"),
        (coverage[1], "ARCHIVED"),
    ]
    assert planned.archived == [coverage[1]]
    prod_finding = planned.findings[0]
    assert prod_finding["Compliance"] == {"Status": "NOT_AVAILABLE"}
    assert prod_finding["Resources"][0] == {"Type": "AwsEcsCluster", "Id": prod, "Partition": "aws", "Region": REGION}
    assert prod_finding["CreatedAt"] == "2026-11-20T08:00:00.000Z"
    assert blind[prod] in prod_finding["Description"]
    assert planned.notifications == []


# --- what to look up ------------------------------------------------------------------------------


def test_lookups_are_every_result_finding_id_then_the_gone_resources_ids_once_each() -> None:
    one, second, *rest = td_policies()
    results = [result(one, WEB_1, Status.FAIL), result(second, WEB_1, Status.PASS), result(one, WEB_1, Status.FAIL)]
    results += [result(other, WEB_1, Status.NOT_APPLICABLE) for other in rest]
    results += [result(one, "web:1", Status.FAIL)]  # no ARN, so no finding to look up

    found = lookups(results, [(ResourceType.SERVICE, FRONT)], context())

    assert found == [
        finding_id(one, WEB_1),
        finding_id(second, WEB_1),
        *(finding_id(other, WEB_1) for other in rest),
        *(finding_id(p, FRONT) for p in of_type(ResourceType.SERVICE)),
    ]


def test_parse_finding_id_inverts_finding_id_and_refuses_other_ids() -> None:
    assert parse_finding_id(finding_id("ecs-a", FRONT)) == ("ecs-a", FRONT)
    assert [parse_finding_id(other) for other in ("", "ecsguard", "ecsguard/ecs-a", "ecsguard//x", "x/ecs-a/y")] == [
        None
    ] * 5


# --- delivery -------------------------------------------------------------------------------------


def two_messages() -> Plan:
    one, *_ = td_policies()
    return plan([result(one, WEB_1, Status.FAIL), result(one, API_1, Status.FAIL)], None, Options(), context())


def test_deliver_imports_then_notifies_and_counts_what_went_out() -> None:
    planned, publisher, notifier = two_messages(), FakePublisher(), FakeNotifier()

    delivery = deliver(planned, publisher, notifier)

    assert (publisher.imports, notifier.attempts) == ([planned.findings], planned.notifications)
    assert (delivery.imported, delivery.sent, delivery.failures) == (2, 2, [])


def test_deliver_import_failure_after_the_messages_went_out_is_collected() -> None:
    publisher = FakePublisher(failure=PublishFailed("securityhub:BatchImportFindings failed"))
    notifier = FakeNotifier()

    delivery = deliver(two_messages(), publisher, notifier)

    assert delivery.failures == ["securityhub:BatchImportFindings failed"]
    assert (delivery.imported, delivery.sent, len(notifier.attempts)) == (0, 2, 2)


def test_deliver_failed_message_keeps_the_findings_it_announces_from_import_so_a_retry_announces_again() -> None:
    # GIVEN two resources' messages, of which only the second's can be sent
    planned = two_messages()
    first, second = planned.notifications
    notifier = FakeNotifier(PublishFailed("sns:Publish failed"), fail_only={first.subject})
    publisher = FakePublisher()

    delivery = deliver(planned, publisher, notifier)

    # THEN the first resource's finding is not imported (Security Hub still shows the old state), the second's is
    assert delivery.failures == ["sns:Publish failed"]
    assert [[f["Id"] for f in batch] for batch in publisher.imports] == [list(second.finding_ids)]
    assert set(first.finding_ids).isdisjoint(second.finding_ids)
    assert (delivery.imported, delivery.sent) == (1, 1)


def test_deliver_dry_run_sends_nothing() -> None:
    publisher, notifier = FakePublisher(), FakeNotifier()

    delivery = deliver(two_messages(), publisher, notifier, dry_run=True)

    assert (publisher.imports, notifier.attempts, delivery.imported, delivery.sent) == ([], [], 0, 0)


def test_deliver_without_ports_or_findings_calls_nothing() -> None:
    publisher = FakePublisher()

    delivery = deliver(Plan([], [], []), publisher, None)
    deliver(two_messages(), None, None)

    assert (publisher.imports, publisher.lookups, delivery.imported, delivery.sent, delivery.failures) == (
        [],
        [],
        0,
        0,
        [],
    )


# --- exemptions and workflows -------------------------------------------------------------------------

EXEMPTED = Exempted("legacy-accepted", "sec@example.com", "Vendor image until Q1.", "2027-03-31", "SEC-1")
EXEMPTION_NOTE = "Exempted by legacy-accepted (sec@example.com, SEC-1) until 2027-03-31: Vendor image until Q1."


def exempt(policy_id: str, arn: str) -> Result:
    return result(policy_id, arn, Status.FAIL)._replace(status=Status.EXEMPT, exemption=EXEMPTED)


def test_plan_exempted_failure_is_imported_failed_suppressed_under_its_note_and_not_notified() -> None:
    policy_id = td_policies()[0]

    planned = plan([exempt(policy_id, WEB_1)], {}, Options(), context())

    assert by_id(planned.findings) == {finding_id(policy_id, WEB_1): ("ACTIVE", "FAILED")}
    assert notified(planned) == {}
    product = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    assert planned.workflows == [WorkflowUpdate(finding_id(policy_id, WEB_1), product, "SUPPRESSED", EXEMPTION_NOTE)]


def test_plan_exempted_failure_already_suppressed_under_that_note_or_by_a_person_changes_no_workflow() -> None:
    policy_id = td_policies()[0]
    ours = {**active(policy_id, WEB_1), "Workflow": {"Status": "SUPPRESSED"}}
    ours["Note"] = {"Text": EXEMPTION_NOTE, "UpdatedBy": NOTE_AUTHOR}
    persons = {**ours, "Note": {"Text": "mine", "UpdatedBy": "arn:aws:iam::1:user/ana"}}
    renewed = {**ours, "Note": {"Text": "Exempted by legacy-accepted until 2026-12-31", "UpdatedBy": NOTE_AUTHOR}}

    for stored, expected in ((ours, []), (persons, []), (renewed, ["SUPPRESSED"])):
        planned = plan([exempt(policy_id, WEB_1)], {stored["Id"]: stored}, Options(), context())
        assert [update.status for update in planned.workflows] == expected


@pytest.mark.parametrize("status", [Status.FAIL, Status.PASS])
def test_plan_finding_an_exemption_suppressed_is_reopened_when_it_no_longer_applies(status: Status) -> None:
    # GIVEN a finding ecsguard suppressed under an exemption that has since expired or been removed
    policy_id = td_policies()[0]
    stored = {**active(policy_id, WEB_1), "Workflow": {"Status": "SUPPRESSED"}}
    stored["Note"] = {"Text": EXEMPTION_NOTE, "UpdatedBy": NOTE_AUTHOR}

    # WHEN the resource is evaluated again, failing (or fixed)
    planned = plan([result(policy_id, WEB_1, status)], {stored["Id"]: stored}, Options(), context())

    # THEN the finding is NEW again, and a failure is news: one message
    assert [(update.finding_id, update.status) for update in planned.workflows] == [(stored["Id"], "NEW")]
    assert notified(planned) == ({WEB_1: [policy_id]} if status is Status.FAIL else {})


def test_deliver_sets_workflows_after_the_import_and_not_when_it_failed() -> None:
    policy_id = td_policies()[0]
    planned = plan([exempt(policy_id, WEB_1)], {}, Options(), context())
    publisher, failing = WorkflowPublisher(), WorkflowPublisher(failure=PublishFailed("BatchImportFindings failed"))

    delivery = deliver(planned, publisher, FakeNotifier())
    failed = deliver(planned, failing, FakeNotifier())

    assert (publisher.calls, delivery.workflows, delivery.failures) == (["import", "workflows"], 1, [])
    assert (failing.calls, failed.workflows) == (["import"], 0)


@dataclass
class WorkflowPublisher:
    failure: PublishFailed | None = None
    calls: list[str] = field(default_factory=list)

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> int:
        self.calls.append("import")
        if self.failure is not None:
            raise self.failure
        return len(findings)

    def update_workflows(self, updates: Sequence[WorkflowUpdate]) -> int:
        self.calls.append("workflows")
        return len(updates)

    def findings_by_id(self, finding_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {}


# --- KnownFindings: what a sweep keeps of Security Hub's findings --------------------------------------------


def _stored(policy_id: str, arn: str, **fields: Any) -> dict[str, Any]:
    return {
        "Id": f"ecsguard/{policy_id}/{arn}",
        "RecordState": "ACTIVE",
        "CreatedAt": "2026-11-01T00:00:00.000Z",
        "FirstObservedAt": "2026-11-01T00:00:00.000Z",
        "LastObservedAt": "2026-12-01T00:00:00.000Z",
        "Compliance": {"Status": "PASSED"},
        "Severity": {"Label": "HIGH"},
        "FindingProviderFields": {"Severity": {"Label": "HIGH", "Original": "HIGH"}},
        "Description": "long text " * 50,
        "Resources": [{"Type": "AwsEcsTaskDefinition", "Id": arn}],
        **fields,
    }


def test_known_findings_keep_what_a_plan_reads_and_share_findings_alike() -> None:
    from ecsguard.publishing import KnownFindings

    # GIVEN a thousand findings imported alike, and one a person suppressed
    known = KnownFindings({"ecs-network-awsvpc"})
    arns = [f"arn:aws:ecs:us-east-1:123456789012:task-definition/app{n}:1" for n in range(1000)]
    for arn in arns:
        known.add(_stored("ecs-network-awsvpc", arn))
    suppressed = _stored(
        "ecs-network-awsvpc",
        arns[0],
        Workflow={"Status": "SUPPRESSED"},
        Note={"Text": "accepted", "UpdatedBy": "someone"},
    )
    known.add(suppressed)

    # THEN alike findings share one record, and a batch's findings come back as a plan reads them
    assert known.count == 1000
    assert len(known._shared) == 2
    taken = known.take(arns[:2])
    assert taken == {
        f"ecsguard/ecs-network-awsvpc/{arns[0]}": {
            "Id": f"ecsguard/ecs-network-awsvpc/{arns[0]}",
            "RecordState": "ACTIVE",
            "CreatedAt": "2026-11-01T00:00:00.000Z",
            "FirstObservedAt": "2026-11-01T00:00:00.000Z",
            "LastObservedAt": "2026-12-01T00:00:00.000Z",
            "Compliance": {"Status": "PASSED"},
            "FindingProviderFields": {"Severity": {"Label": "HIGH"}},
            "Workflow": {"Status": "SUPPRESSED"},
            "Note": {"UpdatedBy": "someone", "Text": "accepted"},
        },
        f"ecsguard/ecs-network-awsvpc/{arns[1]}": {
            "Id": f"ecsguard/ecs-network-awsvpc/{arns[1]}",
            "RecordState": "ACTIVE",
            "CreatedAt": "2026-11-01T00:00:00.000Z",
            "FirstObservedAt": "2026-11-01T00:00:00.000Z",
            "LastObservedAt": "2026-12-01T00:00:00.000Z",
            "Compliance": {"Status": "PASSED"},
            "FindingProviderFields": {"Severity": {"Label": "HIGH"}},
        },
    }
    # AND what was taken is no longer kept
    assert known.count == 998
    assert known.take(arns[:2]) == {}
    assert arns[0] not in known.resources()


def test_known_findings_keep_whole_those_a_plan_archives_as_they_stand_and_skip_the_organization_sweeps() -> None:
    from ecsguard.publishing import KnownFindings

    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1"
    cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
    known = KnownFindings({"ecs-network-awsvpc"})
    retired = _stored("ecs-retired", arn)
    coverage = _stored("sweep.coverage", cluster)
    known.add(retired)
    known.add(coverage)
    known.add(_stored("sweep.account", "AWS::::Account:111122223333/us-east-1"))
    known.add({"Id": "not-ecsguard/x/y"})

    assert known.resources() == [arn, cluster]
    assert known.take([arn])[retired["Id"]]["Description"] == retired["Description"]
    assert known.take([cluster])[coverage["Id"]]["Resources"] == coverage["Resources"]
