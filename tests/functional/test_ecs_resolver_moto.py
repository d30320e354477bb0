"""EcsResolver against moto in server mode: a family reference gives its latest ACTIVE revision, never one that is
being deleted; clusters are cached by ARN. Where moto differs from AWS, the fixtures below make it answer like AWS.
"""

from __future__ import annotations

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, describe_family_answers_latest

from ecsguard.adapters.ecs import EcsResolver
from ecsguard.core.resources import Unresolved

FAMILY = "payments-api"
TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"
CONTAINER = {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1", "memory": 512}


def _family_and_revision(arn: str) -> tuple[str, int]:
    family, revision = arn.rsplit("task-definition/", 1)[-1].rsplit(":", 1)
    return family, int(revision)


@pytest.fixture
def list_task_definitions_honours_sort(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5's ListTaskDefinitions ignores ``sort`` (MOTO.md) and lists in registration order; AWS lists by
    family name, then revision, reversed by ``sort=DESC``. The server runs in this process: answer like AWS."""
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse

    def list_task_definitions(self: EC2ContainerServiceResponse) -> ActionResult:
        arns = self.ecs_backend.list_task_definitions(
            self._get_param("familyPrefix"), self._get_param("status", "ACTIVE")
        )
        arns.sort(key=_family_and_revision, reverse=self._get_param("sort") == "DESC")
        return ActionResult({"taskDefinitionArns": arns})

    monkeypatch.setattr(EC2ContainerServiceResponse, "list_task_definitions", list_task_definitions)


@pytest.fixture
def describe_family_may_give_revision_being_deleted(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS answers DescribeTaskDefinition by family with its latest ACTIVE revision, but a revision being deleted
    (DELETE_IN_PROGRESS) can come back too; moto 5.2.5 answers with the latest revision even when INACTIVE
    (MOTO.md), and its DeleteTaskDefinitions drops a revision at once, so none is ever DELETE_IN_PROGRESS. Make the
    in-process server answer with the latest revision that is not INACTIVE; tests mark a revision being deleted
    with ``being_deleted``."""
    describe_family_answers_latest(monkeypatch, lambda status: status != "INACTIVE")


def being_deleted(family: str, revision: int) -> None:
    """Mark a stored revision DELETE_IN_PROGRESS, as AWS shows one for a while after DeleteTaskDefinitions."""
    from moto.ecs.models import ecs_backends

    ecs_backends[ACCOUNT][REGION].task_definitions[family][revision].status = "DELETE_IN_PROGRESS"


def register(aws: Aws, family: str, count: int) -> None:
    for _ in range(count):
        aws.ecs.register_task_definition(family=family, containerDefinitions=[CONTAINER], networkMode="awsvpc")


def test_resolver_family_with_active_latest_describes_once(aws: Aws) -> None:
    register(aws, FAMILY, 2)
    resolver = EcsResolver(lambda: aws.ecs)

    found = resolver.task_definition(FAMILY)

    assert isinstance(found, dict)
    assert (found["taskDefinitionArn"], found["status"]) == (f"{TD_ARN}{FAMILY}:2", "ACTIVE")
    assert resolver.calls == {"describe_task_definition": 1}


def test_resolver_family_whose_latest_is_being_deleted_gives_latest_active_revision(
    aws: Aws, list_task_definitions_honours_sort: None, describe_family_may_give_revision_being_deleted: None
) -> None:
    # GIVEN revisions 1 and 2 ACTIVE, revision 3 being deleted, and a family whose name starts with this one's
    register(aws, FAMILY, 3)
    register(aws, f"{FAMILY}-v2", 5)
    aws.ecs.deregister_task_definition(taskDefinition=f"{FAMILY}:3")
    being_deleted(FAMILY, 3)
    resolver = EcsResolver(lambda: aws.ecs)

    # WHEN the family alone is resolved, twice
    found = resolver.task_definition(FAMILY)
    again = resolver.task_definition(FAMILY)

    # THEN revision 2 is the answer: one describe, one list, one describe; the second time from the cache
    assert isinstance(found, dict)
    assert (found["taskDefinitionArn"], found["status"]) == (f"{TD_ARN}{FAMILY}:2", "ACTIVE")
    assert again == found
    assert resolver.calls == {"describe_task_definition": 2, "list_task_definitions": 1}
    assert resolver.task_definition(f"{TD_ARN}{FAMILY}:2") == found
    assert resolver.calls == {"describe_task_definition": 2, "list_task_definitions": 1}


def test_resolver_family_without_active_revision_is_unresolved_saying_why(
    aws: Aws, list_task_definitions_honours_sort: None, describe_family_may_give_revision_being_deleted: None
) -> None:
    # GIVEN revision 1 deregistered and revision 2 being deleted
    register(aws, FAMILY, 2)
    aws.ecs.deregister_task_definition(taskDefinition=f"{FAMILY}:1")
    aws.ecs.deregister_task_definition(taskDefinition=f"{FAMILY}:2")
    being_deleted(FAMILY, 2)
    resolver = EcsResolver(lambda: aws.ecs)

    found = resolver.task_definition(FAMILY)

    assert found == Unresolved(
        "task definition family 'payments-api' has no ACTIVE revision: ecs:DescribeTaskDefinition answered with one "
        "that is DELETE_IN_PROGRESS, and ecs:ListTaskDefinitions lists none ACTIVE"
    )


def test_resolver_revision_reference_is_described_as_it_is(aws: Aws) -> None:
    # A revision asked for by number is that revision, whatever its status.
    register(aws, FAMILY, 2)
    aws.ecs.deregister_task_definition(taskDefinition=f"{FAMILY}:2")
    resolver = EcsResolver(lambda: aws.ecs)

    found = resolver.task_definition(f"{FAMILY}:2")

    assert isinstance(found, dict)
    assert (found["revision"], found["status"]) == (2, "INACTIVE")
    assert resolver.calls == {"describe_task_definition": 1}


def test_resolver_cluster_asked_by_name_then_arn_is_described_once(aws: Aws) -> None:
    arn = aws.ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
    resolver = EcsResolver(lambda: aws.ecs)

    by_name = resolver.cluster("prod")
    by_arn = resolver.cluster(arn)

    assert isinstance(by_name, dict)
    assert by_arn == by_name
    assert by_name["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
    assert resolver.calls == {"describe_clusters": 1}
