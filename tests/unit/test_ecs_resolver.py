"""EcsResolver's choice of revision for a family reference, on an in-memory ECS client that records its calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecsguard.adapters.ecs import EcsResolver
from ecsguard.core.resources import Unresolved

TD_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/"


def described(family_revision: str, status: str = "ACTIVE") -> dict[str, Any]:
    family, revision = family_revision.split(":")
    return {
        "taskDefinitionArn": f"{TD_ARN}{family_revision}",
        "family": family,
        "revision": int(revision),
        "status": status,
    }


@dataclass
class FakeEcs:
    """DescribeTaskDefinition from ``revisions`` (``by_family`` says what a family alone gives); ListTaskDefinitions
    answers ``pages`` in turn, whatever it is asked."""

    revisions: dict[str, dict[str, Any]]
    by_family: dict[str, str]
    pages: list[list[str]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def describe_task_definition(self, **parameters: Any) -> dict[str, Any]:
        self.requests.append(("DescribeTaskDefinition", parameters))
        reference = parameters["taskDefinition"].rsplit("/", 1)[-1]
        return {"taskDefinition": self.revisions[self.by_family.get(reference, reference)]}

    def list_task_definitions(self, **parameters: Any) -> dict[str, Any]:
        self.requests.append(("ListTaskDefinitions", parameters))
        page = len([r for r in self.requests if r[0] == "ListTaskDefinitions"]) - 1
        answer: dict[str, Any] = {"taskDefinitionArns": self.pages[page]}
        if page + 1 < len(self.pages):
            answer["nextToken"] = f"token-{page + 1}"
        return answer


def test_resolver_family_being_deleted_lists_exact_family_newest_first_across_pages() -> None:
    # GIVEN payments-api:3 being deleted, and a listing (as if familyPrefix matched a prefix) whose first page holds
    # only payments-api-v2's revisions, ahead of payments-api's in DESC order
    client = FakeEcs(
        revisions={
            "payments-api:3": described("payments-api:3", "DELETE_IN_PROGRESS"),
            "payments-api:2": described("payments-api:2"),
        },
        by_family={"payments-api": "payments-api:3"},
        pages=[
            [f"{TD_ARN}payments-api-v2:9", f"{TD_ARN}payments-api-v2:8"],
            [f"{TD_ARN}payments-api:2", f"{TD_ARN}payments-api:1"],
        ],
    )
    resolver = EcsResolver(lambda: client)

    # WHEN the family alone is resolved
    found = resolver.task_definition("payments-api")

    # THEN its own latest ACTIVE revision is described: the listing asked newest first, for ACTIVE ones only
    assert isinstance(found, dict)
    assert found["taskDefinitionArn"] == f"{TD_ARN}payments-api:2"
    listing = {"familyPrefix": "payments-api", "status": "ACTIVE", "sort": "DESC"}
    assert client.requests == [
        ("DescribeTaskDefinition", {"taskDefinition": "payments-api", "include": ["TAGS"]}),
        ("ListTaskDefinitions", listing),
        ("ListTaskDefinitions", {**listing, "nextToken": "token-1"}),
        ("DescribeTaskDefinition", {"taskDefinition": f"{TD_ARN}payments-api:2", "include": ["TAGS"]}),
    ]


def test_resolver_family_whose_listed_revision_is_no_longer_active_is_unresolved() -> None:
    # The listed revision was deregistered between the list and the describe.
    client = FakeEcs(
        revisions={
            "payments-api:3": described("payments-api:3", "DELETE_IN_PROGRESS"),
            "payments-api:2": described("payments-api:2", "INACTIVE"),
        },
        by_family={"payments-api": "payments-api:3"},
        pages=[[f"{TD_ARN}payments-api:2"]],
    )

    found = EcsResolver(lambda: client).task_definition("payments-api")

    assert found == Unresolved("task definition family 'payments-api' has no ACTIVE revision left")


def test_resolver_family_listing_none_of_the_family_is_unresolved() -> None:
    client = FakeEcs(
        revisions={"payments-api:3": described("payments-api:3", "DELETE_IN_PROGRESS")},
        by_family={"payments-api": "payments-api:3"},
        pages=[[f"{TD_ARN}payments-api-v2:9"]],
    )

    found = EcsResolver(lambda: client).task_definition("payments-api")

    assert found == Unresolved(
        "task definition family 'payments-api' has no ACTIVE revision: ecs:DescribeTaskDefinition answered with one "
        "that is DELETE_IN_PROGRESS, and ecs:ListTaskDefinitions lists none ACTIVE"
    )
