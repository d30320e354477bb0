"""The event path under real traffic, against moto in server mode: the same facts many times, late and out of
order. A message goes out once per change, a late event never overwrites a newer state, and a finding keeps
its first observation while its last one moves.

The events are the sample UpdateService event with one field changed at a time (its id, its time, the service's
desired count or platform version), as Application Auto Scaling, Lambda's retries and EventBridge's redeliveries
send them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, register_sample_task_definitions

from ecsguard.handlers.scanner import handler
from policy_catalog import narrowed_policy_dir

EFS_POLICY = "ecs-efs-fargate-platform"
SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/reports"
FINDING = f"ecsguard/{EFS_POLICY}/{SERVICE}"


@pytest.fixture
def policy_dir() -> Path:
    """The service policy these expectations are about: a policy added to policies/ changes nothing here."""
    return narrowed_policy_dir([EFS_POLICY])


def update_service(number: int, at: str, *, platform: str = "1.3.0", desired: int = 1) -> dict[str, Any]:
    """The sample UpdateService event as event ``number``, recorded ``at``, leaving the service on ``platform``
    with ``desired`` tasks (1.3.0 fails the EFS policy: the service's task definition mounts EFS)."""
    event = copy.deepcopy(load_event("ecs-update-service.json"))
    event["id"] = f"00000000-0000-0000-0000-{number:012d}"
    event["time"] = event["detail"]["eventTime"] = at
    event["detail"]["eventID"] = f"10000000-0000-0000-0000-{number:012d}"
    event["detail"]["requestParameters"] = {"cluster": "prod", "service": "reports", "desiredCount": desired}
    service = event["detail"]["responseElements"]["service"]
    service["platformVersion"] = platform
    service["desiredCount"] = desired
    return event


def notified_events(aws: Aws) -> list[tuple[str, str]]:
    """(event id, resource) of every message the topic delivered since the last call."""
    documents = [json.loads(message["Body"]) for message in aws.messages()]
    return [(document["event"]["id"], document["resource"]["id"]) for document in documents]


def stored(aws: Aws) -> dict[str, Any]:
    return aws.findings()[FINDING]


def test_five_scaling_steps_and_redeliveries_of_a_failing_service_send_one_message(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN a Fargate 1.3.0 service with EFS, scaled five times (UpdateService with a new desired count each)
    register_sample_task_definitions(aws.ecs)
    steps = [update_service(n, f"2026-11-20T11:0{n}:00Z", desired=n) for n in range(1, 6)]

    # WHEN each is handled, and the third is delivered again (a Lambda retry, an EventBridge redelivery)
    answers = [handler(event, None) for event in [*steps, steps[2]]]

    # THEN one message, for the first step, and one FAILED finding that reflects the last step
    assert notified_events(aws) == [(steps[0]["id"], SERVICE)]
    assert [answer["notifications_sent"] for answer in answers] == [1, 0, 0, 0, 0, 0]
    assert [answer["failed_policies"] for answer in answers] == [[EFS_POLICY]] * 6
    finding = stored(aws)
    assert (finding["Compliance"]["Status"], finding["RecordState"]) == ("FAILED", "ACTIVE")
    assert finding["LastObservedAt"] == "2026-11-20T11:05:00.000Z"


def test_older_event_handled_after_a_newer_one_leaves_the_newer_state(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN the service was fixed at 11:05 (platform 1.4.0), and that event was handled
    register_sample_task_definitions(aws.ecs)
    handler(update_service(2, "2026-11-20T11:05:00Z", platform="1.4.0"), None)
    assert (stored(aws)["Compliance"]["Status"], notified_events(aws)) == ("PASSED", [])

    # WHEN the 11:00 event, when it still ran 1.3.0, arrives late (a retry within Lambda's six-hour event age)
    answer = handler(update_service(1, "2026-11-20T11:00:00Z"), None)

    # THEN Security Hub keeps the 11:05 state, nobody is told of a failure that is over, and the skip is counted
    finding = stored(aws)
    assert (finding["Compliance"]["Status"], finding["LastObservedAt"]) == ("PASSED", "2026-11-20T11:05:00.000Z")
    assert finding["ProductFields"]["ecsguard/EventId"] == update_service(2, "2026-11-20T11:05:00Z")["id"]
    assert (answer["failed_policies"], answer["older_than_known"], answer["findings_imported"]) == ([EFS_POLICY], 1, 0)
    assert notified_events(aws) == []


def test_second_evaluation_keeps_created_and_first_observed_and_moves_last_observed(
    aws: Aws, configure: Callable[..., None]
) -> None:
    # GIVEN the service failing since 11:00
    register_sample_task_definitions(aws.ecs)
    handler(update_service(1, "2026-11-20T11:00:00Z"), None)
    first = stored(aws)
    assert (first["CreatedAt"], first["FirstObservedAt"], first["LastObservedAt"]) == (
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T11:00:00.000Z",
    )

    # WHEN a later event at 12:30 observes it again, and then another fixes it at 13:00
    handler(update_service(2, "2026-11-20T12:30:00Z", desired=3), None)
    again = stored(aws)
    handler(update_service(3, "2026-11-20T13:00:00Z", platform="1.4.0"), None)
    fixed = stored(aws)

    # THEN the finding's age counts from 11:00 throughout; LastObservedAt follows each observation,
    # UpdatedAt each import
    assert (again["CreatedAt"], again["FirstObservedAt"], again["LastObservedAt"]) == (
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T12:30:00.000Z",
    )
    assert (fixed["Compliance"]["Status"], fixed["CreatedAt"], fixed["FirstObservedAt"], fixed["LastObservedAt"]) == (
        "PASSED",
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T11:00:00.000Z",
        "2026-11-20T13:00:00.000Z",
    )
    assert first["UpdatedAt"] <= again["UpdatedAt"] <= fixed["UpdatedAt"]
    assert notified_events(aws) == [(update_service(1, "2026-11-20T11:00:00Z")["id"], SERVICE)]


def suppress_by_hand(finding_id: str) -> None:
    """What a person does in the Security Hub console (BatchUpdateFindings, which moto 5.2.5 lacks): the server runs
    in this process, so set the workflow and note on the finding moto stores."""
    from moto.securityhub.models import securityhub_backends

    for finding in securityhub_backends[ACCOUNT][REGION].findings:
        if finding.id == finding_id:
            finding.data["Workflow"] = {"Status": "SUPPRESSED"}
            finding.data["Note"] = {"Text": "accepted until the migration", "UpdatedBy": "arn:aws:iam::1:user/ana"}
            return
    raise AssertionError(f"no finding {finding_id}")


def test_failure_on_a_finding_a_person_suppressed_sends_no_message(aws: Aws, configure: Callable[..., None]) -> None:
    # GIVEN the service passing at 11:00 (platform 1.4.0), and its finding suppressed by hand in the console
    register_sample_task_definitions(aws.ecs)
    handler(update_service(1, "2026-11-20T11:00:00Z", platform="1.4.0"), None)
    suppress_by_hand(FINDING)

    # WHEN it fails at 11:05 (moved back to 1.3.0), which would otherwise be news
    answer = handler(update_service(2, "2026-11-20T11:05:00Z"), None)

    # THEN the finding is FAILED, still suppressed as the person left it, and nobody is notified
    finding = stored(aws)
    assert (finding["Compliance"]["Status"], finding["Workflow"]["Status"]) == ("FAILED", "SUPPRESSED")
    assert (answer["failed_policies"], answer["notifications_sent"]) == ([EFS_POLICY], 0)
    assert notified_events(aws) == []
