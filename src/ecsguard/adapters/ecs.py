"""Read-only ECS lookups that resolve what an event names: task definitions, services, clusters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecsguard.adapters.aws import error_code
from ecsguard.core.resources import Unresolved
from ecsguard.errors import AwsCallFailed

IAM_ACTIONS = frozenset(
    {
        "ecs:DescribeTaskDefinition",
        "ecs:DescribeServices",
        "ecs:DescribeClusters",
        "ecs:DescribeTaskSets",
        "ecs:ListTaskDefinitions",
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:ListTasks",
    }
)
DESCRIBE_SERVICES_BATCH = 10  # DescribeServices takes at most 10 services per call
DESCRIBE_CLUSTERS_BATCH = 100  # DescribeClusters takes at most 100 clusters per call
# What the cluster policies read besides the default strategy: Container Insights (settings), ECS Exec logging
# (configuration). Without them DescribeClusters leaves those fields out.
CLUSTER_DETAILS = ["SETTINGS", "CONFIGURATIONS", "TAGS"]
SERVICE_DETAILS = ["TAGS"]
# What means "does not exist", per call; anything else is a failure to retry. ECS answers ClientException
# for a task definition it cannot find, but ClientException from other calls is a generic client error.
_NOT_FOUND = {
    "describe_task_definition": frozenset({"ClientException"}),
    "describe_services": frozenset({"ClusterNotFoundException", "ServiceNotFoundException"}),
    "describe_clusters": frozenset({"ClusterNotFoundException"}),
    "describe_task_sets": frozenset({"ClusterNotFoundException", "ServiceNotFoundException"}),
}


class EcsResolver:
    """The live ``resolution.Resolver``: describe calls with a per-instance cache, so one event or sweep
    describes each thing once.

    The client is created on the first call: most RegisterTaskDefinition events need none.
    """

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._task_definitions: dict[str, dict[str, Any] | Unresolved] = {}
        self._clusters: dict[str, dict[str, Any] | Unresolved] = {}
        self.calls: dict[str, int] = {}

    def _call(self, operation: str, target: str, **parameters: Any) -> dict[str, Any] | Unresolved:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        action = "ecs:" + "".join(part.title() for part in operation.split("_"))
        try:
            if self._client is None:
                self._client = self._client_factory()
            response: dict[str, Any] = getattr(self._client, operation)(**parameters)
        except ClientError as error:
            code, message = error_code(error)
            if code in _NOT_FOUND.get(operation, frozenset()):
                return Unresolved(f"{action} found no '{target}' ({code}: {message})")
            raise AwsCallFailed(action, target, code, message) from None
        except BotoCoreError as error:
            raise AwsCallFailed(action, target, type(error).__name__, str(error)) from None
        return response

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        """The task definition ``reference`` names (ARN, family:revision, or family for its latest ACTIVE one).

        By family, DescribeTaskDefinition answers with the latest ACTIVE revision, but a revision being deleted
        (DELETE_IN_PROGRESS) can come back: then the latest ACTIVE one is listed and described. Calls: one describe;
        for a family answered with a revision that is not ACTIVE, one ListTaskDefinitions page more (ECS lists the
        family's newest first) and one describe.
        """
        if reference not in self._task_definitions:
            found = self._describe_task_definition(reference)
            family = reference.rsplit("/", 1)[-1]
            if isinstance(found, dict) and ":" not in family and found.get("status", "ACTIVE") != "ACTIVE":
                found = self._latest_active(family, str(found.get("status")))
            self._task_definitions[reference] = found
            if isinstance(found, dict) and found.get("taskDefinitionArn"):
                self._task_definitions[found["taskDefinitionArn"]] = found
        return self._task_definitions[reference]

    def _describe_task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        response = self._call("describe_task_definition", reference, taskDefinition=reference, include=["TAGS"])
        if isinstance(response, Unresolved):
            return response
        # The tags come beside the task definition; asked for, they are known even when there are none.
        tags = response.get("tags")
        return {**response["taskDefinition"], "tags": list(tags) if isinstance(tags, list) else []}

    def _latest_active(self, family: str, status: str) -> dict[str, Any] | Unresolved:
        """The latest ACTIVE revision of exactly ``family``: ListTaskDefinitions, newest first, filtered to the family
        (its familyPrefix is documented as the full family name; the filter also holds if it matched a prefix)."""
        parameters: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
        while True:
            response = self._call("list_task_definitions", family, **parameters)
            if isinstance(response, Unresolved):
                return response
            for arn in response.get("taskDefinitionArns") or []:
                if str(arn).rsplit("task-definition/", 1)[-1].rsplit(":", 1)[0] == family:
                    found = self._describe_task_definition(str(arn))
                    if isinstance(found, dict) and found.get("status", "ACTIVE") != "ACTIVE":
                        return Unresolved(f"task definition family '{family}' has no ACTIVE revision left")
                    return found
            token = response.get("nextToken")
            if not token:
                return Unresolved(
                    f"task definition family '{family}' has no ACTIVE revision: ecs:DescribeTaskDefinition answered "
                    f"with one that is {status}, and ecs:ListTaskDefinitions lists none ACTIVE"
                )
            parameters["nextToken"] = token

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        response = self._call(
            "describe_services", f"{cluster}/{service}", cluster=cluster, services=[service], include=SERVICE_DETAILS
        )
        if isinstance(response, Unresolved):
            return response
        services = response.get("services") or []
        if not services:
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures") or []) or "no service returned"
            return Unresolved(f"ecs:DescribeServices found no service '{service}' in cluster '{cluster}' ({reasons})")
        return with_tags(services[0])

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        """The task set ``task_set`` (its ARN) of ``service`` in ``cluster``, with its tags."""
        response = self._call(
            "describe_task_sets", task_set, cluster=cluster, service=service, taskSets=[task_set], include=["TAGS"]
        )
        if isinstance(response, Unresolved):
            return response
        found = response.get("taskSets") or []
        if not found:
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures") or []) or "none returned"
            return Unresolved(f"ecs:DescribeTaskSets found no task set '{task_set}' ({reasons})")
        return with_tags(found[0])

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        """The cluster ``cluster`` names, in this resolver's account and Region (a name means the cluster of that
        name there; callers ask by ARN). Cached under what was asked and under the ARN ECS answers with."""
        if cluster not in self._clusters:
            response = self._call("describe_clusters", cluster, clusters=[cluster], include=CLUSTER_DETAILS)
            if isinstance(response, Unresolved):
                self._clusters[cluster] = response
            else:
                clusters = response.get("clusters") or []
                found = (
                    with_tags(clusters[0])
                    if clusters
                    else Unresolved(f"ecs:DescribeClusters found no cluster '{cluster}'")
                )
                self._clusters[cluster] = found
                if isinstance(found, dict) and found.get("clusterArn"):
                    self._clusters[str(found["clusterArn"])] = found
        return self._clusters[cluster]


def with_tags(described: Any) -> dict[str, Any]:
    """A cluster or service described with include TAGS: its tags are known, an empty list when it has none (the
    response leaves the field out then)."""
    found = dict(described)
    if not isinstance(found.get("tags"), list):
        found["tags"] = []
    return found


class EcsInventory:
    """The list calls of a sweep, every page of them; failures raise AwsCallFailed naming the call."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _pages(self, operation: str, key: str, target: str, **parameters: Any) -> list[str]:
        action = "ecs:" + "".join(part.title() for part in operation.split("_"))
        found: list[str] = []
        try:
            for page in self._client.get_paginator(operation).paginate(**parameters):
                found.extend(page.get(key) or [])
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise AwsCallFailed(action, target, code, message) from None
        return found

    def active_task_definitions(self) -> list[str]:
        """The ARNs of every ACTIVE task definition revision."""
        return self._pages("list_task_definitions", "taskDefinitionArns", "ACTIVE task definitions", status="ACTIVE")

    def clusters(self) -> list[str]:
        return self._pages("list_clusters", "clusterArns", "clusters")

    def services(self, cluster: str) -> list[str]:
        # 100 a page (ECS's maximum) rather than the default 10.
        return self._pages(
            "list_services", "serviceArns", f"cluster {cluster}", cluster=cluster, PaginationConfig={"PageSize": 100}
        )

    def running_tasks(self, cluster: str) -> list[str]:
        """The ARNs of the tasks the cluster runs or is starting (desired status RUNNING), 100 a page."""
        return self._pages(
            "list_tasks",
            "taskArns",
            f"cluster {cluster}",
            cluster=cluster,
            desiredStatus="RUNNING",
            PaginationConfig={"PageSize": 100},
        )

    def describe_clusters(self, clusters: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """Up to 100 clusters with their settings and configuration, and the reasons for those ECS could not
        describe."""
        try:
            response = self._client.describe_clusters(clusters=clusters, include=CLUSTER_DETAILS)
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise AwsCallFailed("ecs:DescribeClusters", f"{len(clusters)} cluster(s)", code, message) from None
        failures = [f"{f.get('arn')}: {f.get('reason')}" for f in response.get("failures") or []]
        return [with_tags(cluster) for cluster in response.get("clusters") or []], failures

    def describe_services(self, cluster: str, services: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """Up to 10 services of one cluster, and the reasons for those ECS could not describe."""
        try:
            response = self._client.describe_services(cluster=cluster, services=services, include=SERVICE_DETAILS)
        except (ClientError, BotoCoreError) as error:
            code, message = error_code(error)
            raise AwsCallFailed(
                "ecs:DescribeServices", f"{len(services)} service(s) of {cluster}", code, message
            ) from None
        failures = [f"{f.get('arn')}: {f.get('reason')}" for f in response.get("failures") or []]
        return [with_tags(service) for service in response.get("services") or []], failures
