"""Resolution's pure pieces: which revision a RegisterTaskDefinition event without its response registered, and
which cluster a service's default capacity provider strategy comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ecsguard.core.resources import Unresolved
from ecsguard.core.results import Status
from ecsguard.resolution import (
    MAX_REGISTRATION_DESCRIBES,
    REGISTRATION_TOLERANCE,
    cluster_reference,
    registered_revision,
    service_cluster,
    service_resource,
)
from policy_catalog import narrowed

FAMILY = "payments-api"
TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/"
# The truncated sample event's eventTime: CloudTrail's, to the second.
EVENT_TIME = datetime(2026, 11, 20, 9, 31, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@dataclass
class TableResolver:
    """Task definitions and clusters from tables; records every call. The family alone names its latest revision."""

    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        self.calls.append(reference)
        found = self.task_definitions.get(reference)
        return dict(found) if found is not None else Unresolved(f"task definition '{reference}' not found")

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        raise AssertionError("not asked for here")

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        self.calls.append(cluster)
        found = self.clusters.get(cluster)
        return dict(found) if found is not None else Unresolved(f"cluster '{cluster}' not found")


def revision(number: int, registered_at: object) -> dict[str, Any]:
    described: dict[str, Any] = {
        "taskDefinitionArn": f"{TD_ARN}{FAMILY}:{number}",
        "family": FAMILY,
        "revision": number,
        "status": "ACTIVE",
    }
    if registered_at is not None:
        described["registeredAt"] = registered_at
    return described


def family(*registered: object, latest: int | None = None, gone: tuple[int, ...] = ()) -> TableResolver:
    """Revisions 1, 2, ... registered at these instants (None: no registeredAt); the family alone describes
    ``latest`` (the highest by default); ``gone`` revisions no longer exist."""
    table = {
        f"{FAMILY}:{number}": revision(number, at)
        for number, at in enumerate(registered, start=1)
        if number not in gone
    }
    table[FAMILY] = table[f"{FAMILY}:{latest or len(registered)}"]
    return TableResolver(task_definitions=table)


def arn(number: int) -> str:
    return f"{TD_ARN}{FAMILY}:{number}"


def long_ago(days: int) -> datetime:
    return EVENT_TIME - timedelta(days=days)


# --- the revision the event registered ---------------------------------------------------------------


@pytest.mark.parametrize(
    "offset",
    [
        -REGISTRATION_TOLERANCE,
        -SECOND,
        timedelta(0),
        timedelta(milliseconds=400),
        SECOND,
        REGISTRATION_TOLERANCE,
    ],
    ids=str,
)
def test_registered_revision_latest_within_window_is_it_after_two_describes(offset: timedelta) -> None:
    # GIVEN revisions 1 and 2 registered days ago, and revision 3 (the latest) at the event's time, give or take
    resolver = family(long_ago(9), long_ago(2), EVENT_TIME + offset)

    # WHEN the event's revision is looked for
    found = registered_revision(FAMILY, EVENT_TIME, resolver)

    # THEN it is revision 3: the family described, and revision 2 to prove it was not registered then too
    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(3)
    assert resolver.calls == [FAMILY, f"{FAMILY}:2"]


def test_registered_revision_first_revision_within_window_needs_one_describe() -> None:
    resolver = family(EVENT_TIME)

    found = registered_revision(FAMILY, EVENT_TIME, resolver)

    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(1)
    assert resolver.calls == [FAMILY]


def test_registered_revision_later_revisions_walks_back_to_the_one_registered_then() -> None:
    # GIVEN revision 3 registered at the event's time, and revision 4 a minute later (the family's latest)
    resolver = family(long_ago(9), long_ago(2), EVENT_TIME + timedelta(milliseconds=300), EVENT_TIME + 60 * SECOND)

    # WHEN the event's revision is looked for
    found = registered_revision(FAMILY, EVENT_TIME, resolver)

    # THEN revision 3 is the answer, not the latest
    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(3)
    assert resolver.calls == [FAMILY, f"{FAMILY}:3", f"{FAMILY}:2"]


def test_registered_revision_deleted_revision_in_the_walk_is_passed_over() -> None:
    # GIVEN revision 3 at the event's time, revision 4 deleted since, revision 5 the latest
    resolver = family(
        long_ago(9), long_ago(2), EVENT_TIME, EVENT_TIME + 30 * SECOND, EVENT_TIME + 90 * SECOND, gone=(4,)
    )

    found = registered_revision(FAMILY, EVENT_TIME, resolver)

    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(3)
    assert resolver.calls == [FAMILY, f"{FAMILY}:4", f"{FAMILY}:3", f"{FAMILY}:2"]


@pytest.mark.parametrize(
    "registered_at",
    [
        "2026-11-20T09:31:00.412000+00:00",
        "2026-11-20T09:31:00.412Z",
        EVENT_TIME.timestamp() + 0.412,
        datetime(2026, 11, 20, 9, 31, 0, 412000),  # no zone: UTC
        datetime(2026, 11, 20, 10, 31, 0, 412000, tzinfo=timezone(timedelta(hours=1))),
    ],
    ids=["iso", "iso-z", "epoch", "naive", "other-zone"],
)
def test_registered_revision_reads_registered_at_as_text_epoch_or_datetime(registered_at: object) -> None:
    resolver = family(long_ago(3), registered_at)

    found = registered_revision(FAMILY, EVENT_TIME, resolver)

    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(2)


@pytest.mark.parametrize("reference", [arn(1), f"{FAMILY}:1"])
def test_registered_revision_by_arn_or_revision_describes_that_one_only(reference: str) -> None:
    # GIVEN a later revision 2: the reference itself proves which revision is meant, whatever the times
    resolver = family(long_ago(9), EVENT_TIME + 60 * SECOND)
    resolver.task_definitions[arn(1)] = resolver.task_definitions[f"{FAMILY}:1"]

    found = registered_revision(reference, None, resolver)

    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == arn(1)
    assert resolver.calls == [reference]


def unproven(resolver: TableResolver, call_time: datetime | None = EVENT_TIME) -> str:
    found = registered_revision(FAMILY, call_time, resolver)
    assert isinstance(found, Unresolved), "another revision must never stand in for the event's"
    return found.reason


def test_registered_revision_latest_registered_before_window_is_unproven_naming_family() -> None:
    # GIVEN the family's latest ACTIVE revision registered 3 s before the event's time (its own revision is gone)
    resolver = family(long_ago(9), EVENT_TIME - REGISTRATION_TOLERANCE - SECOND)

    assert unproven(resolver) == (
        "task definition family 'payments-api': no revision was registered within 2 s of the event's eventTime: "
        "revision 2 was registered before it"
    )
    assert resolver.calls == [FAMILY]


def test_registered_revision_gap_between_later_and_earlier_revisions_is_unproven() -> None:
    # GIVEN revision 3 registered a day before the event, revision 4 a minute after it
    resolver = family(long_ago(9), long_ago(2), long_ago(1), EVENT_TIME + 60 * SECOND)

    assert unproven(resolver) == (
        "task definition family 'payments-api': no revision was registered within 2 s of the event's eventTime: "
        "revision 3 was registered before it, and revision 4 after it"
    )
    assert resolver.calls == [FAMILY, f"{FAMILY}:3"]


def test_registered_revision_just_outside_window_is_not_the_event_s() -> None:
    early = timedelta(milliseconds=1)
    resolver = family(long_ago(9), EVENT_TIME - REGISTRATION_TOLERANCE - early)

    assert "revision 2 was registered before it" in unproven(resolver)


def test_registered_revision_without_registered_at_is_unproven_naming_family() -> None:
    resolver = family(long_ago(9), None)

    assert unproven(resolver) == (
        "task definition family 'payments-api': revision 2 has no registeredAt, so the revision the event registered "
        "is unproven"
    )


def test_registered_revision_previous_also_within_window_is_ambiguous() -> None:
    # GIVEN revisions 2 and 3 both registered within a second of the event's time
    resolver = family(long_ago(9), EVENT_TIME - SECOND, EVENT_TIME + SECOND)

    assert unproven(resolver) == (
        "task definition family 'payments-api': revisions 2 and 3 were both registered within 2 s of the event's "
        "eventTime, so which one the event registered is unproven"
    )
    assert resolver.calls == [FAMILY, f"{FAMILY}:2"]


def test_registered_revision_every_revision_after_window_is_unproven() -> None:
    resolver = family(EVENT_TIME + 60 * SECOND, EVENT_TIME + 90 * SECOND)

    assert unproven(resolver) == (
        "task definition family 'payments-api': no revision was registered within 2 s of the event's eventTime: "
        "revisions 1 to 2 were registered after it or no longer exist"
    )
    assert resolver.calls == [FAMILY, f"{FAMILY}:1"]


def test_registered_revision_walk_is_bounded() -> None:
    # GIVEN the event's revision 1, then twenty revisions registered after it
    later = [EVENT_TIME + (n + 1) * 60 * SECOND for n in range(20)]
    resolver = family(EVENT_TIME, *later)

    assert unproven(resolver) == (
        "task definition family 'payments-api': 10 describes (revisions 12 to 21) did not prove which revision "
        "the event registered"
    )
    assert resolver.calls == [FAMILY] + [f"{FAMILY}:{n}" for n in range(20, 11, -1)]
    assert len(resolver.calls) == MAX_REGISTRATION_DESCRIBES


@pytest.mark.parametrize(("registered_since", "found"), [(8, True), (9, False)])
def test_registered_revision_finds_the_event_s_revision_with_up_to_eight_registered_since(
    registered_since: int, found: bool
) -> None:
    later = [EVENT_TIME + (n + 1) * 60 * SECOND for n in range(registered_since)]
    resolver = family(long_ago(9), EVENT_TIME, *later)

    answer = registered_revision(FAMILY, EVENT_TIME, resolver)

    assert isinstance(answer, dict) is found
    assert len(resolver.calls) == MAX_REGISTRATION_DESCRIBES


def test_registered_revision_without_event_time_is_unproven_and_describes_nothing() -> None:
    resolver = family(EVENT_TIME)

    assert unproven(resolver, call_time=None) == (
        "task definition family 'payments-api': the event has no readable eventTime, so the revision it registered "
        "is unproven"
    )
    assert resolver.calls == []


def test_registered_revision_unknown_family_gives_the_resolver_s_reason() -> None:
    resolver = TableResolver()

    assert unproven(resolver) == "task definition 'payments-api' not found"


def test_registered_revision_latest_without_revision_number_is_unproven() -> None:
    described = revision(2, EVENT_TIME)
    del described["revision"]
    resolver = TableResolver(task_definitions={FAMILY: described})

    assert (
        unproven(resolver) == "task definition family 'payments-api': its latest ACTIVE revision has no revision number"
    )


# --- the cluster of a service's default strategy ------------------------------------------------------------

SERVICE_ARN = "arn:aws:ecs:eu-west-1:210987654321:service/prod/api"
OTHER_PROD = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
OWN_PROD = "arn:aws:ecs:eu-west-1:210987654321:cluster/prod"


@pytest.mark.parametrize(
    ("service", "cluster", "expected"),
    [
        ({"clusterArn": OWN_PROD, "serviceArn": SERVICE_ARN}, "ignored", OWN_PROD),
        ({"serviceArn": SERVICE_ARN}, "prod", OWN_PROD),
        ({"serviceArn": SERVICE_ARN}, OTHER_PROD, OTHER_PROD),
        ({"serviceArn": "arn:aws:ecs:eu-west-1:210987654321:service/api"}, "prod", OWN_PROD),  # old ARN format
        (
            {"serviceArn": "arn:aws-cn:ecs:cn-north-1:210987654321:service/prod/api"},
            "prod",
            "arn:aws-cn:ecs:cn-north-1:210987654321:cluster/prod",
        ),
        ({"serviceName": "api"}, "prod", "prod"),  # no account to complete the name with
        ({"serviceName": "api", "serviceArn": "not-an-arn"}, "prod", "prod"),
    ],
)
def test_cluster_reference_is_the_arn_in_the_service_s_own_account_and_region(
    service: dict[str, Any], cluster: str, expected: str
) -> None:
    assert cluster_reference(service, cluster) == expected


def test_service_cluster_asks_for_the_service_s_own_cluster_by_arn() -> None:
    # GIVEN two accounts' clusters named prod, with different default strategies
    resolver = TableResolver(
        clusters={
            OTHER_PROD: {
                "clusterArn": OTHER_PROD,
                "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE"}],
            },
            OWN_PROD: {"clusterArn": OWN_PROD, "defaultCapacityProviderStrategy": [{"capacityProvider": "EC2-asg"}]},
        }
    )

    # WHEN a service of the second account, known by its cluster's name, takes its default strategy
    found = service_cluster({"serviceArn": SERVICE_ARN, "serviceName": "api"}, "prod", resolver)

    # THEN its own account's cluster is the one asked for and answered
    assert resolver.calls == [OWN_PROD]
    assert isinstance(found, dict)
    assert found["clusterArn"] == OWN_PROD


# --- services that deploy through task sets ----------------------------------------------------------------


@pytest.mark.parametrize("controller", ["EXTERNAL", "CODE_DEPLOY"])
def test_service_deploying_through_task_sets_is_not_applicable_to_what_it_runs_and_asks_nothing(
    controller: str,
) -> None:
    # GIVEN a Fargate service of the EXTERNAL (or CODE_DEPLOY) controller that names no task definition
    service = {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod/checkout",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "deploymentController": {"type": controller},
        "launchType": "FARGATE",
        "platformVersion": "1.3.0",
    }
    resolver = TableResolver()

    # WHEN it is resolved and judged by the EFS policy, which reads its task definition
    resource = service_resource(service, "fallback", "prod", resolver)
    (result,) = narrowed(["ecs-efs-fargate-platform"]).evaluate([resource])

    # THEN nothing was described, and the policy does not apply, saying why: never an ERROR
    assert resolver.calls == []
    assert result.status is Status.NOT_APPLICABLE
    assert result.reason is not None
    assert f"deployment controller {controller}" in result.reason
    assert "task set" in result.reason


@pytest.mark.parametrize("controller", ["ECS", "CODE_DEPLOY"])
def test_service_naming_a_task_definition_is_judged_on_it(controller: str) -> None:
    # CODE_DEPLOY's service names its primary task set's task definition: judged on it, so that its ECS Exec
    # logging (a setting of the service) is judged too
    service = {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/prod/reports",
        "deploymentController": {"type": controller},
        "taskDefinition": f"{TD_ARN}reports:1",
        "launchType": "FARGATE",
    }
    resolver = TableResolver({f"{TD_ARN}reports:1": {"family": "reports", "revision": 1, "containerDefinitions": []}})

    resource = service_resource(service, "fallback", "prod", resolver)

    assert resolver.calls == [f"{TD_ARN}reports:1"]
    assert resource.related["taskDefinition"] == {"family": "reports", "revision": 1, "containerDefinitions": []}
