"""One way to build a service resource: its task definition and its cluster's default strategy, from a Resolver.

Every entry point resolves through a Resolver: live ECS calls for an event (``adapters.ecs.EcsResolver``), the
task definitions a sweep described up front (``sweep.PrefetchedResolver``), the other inputs of a file scan
(``scan.InputResolver``). Only where the answers come from differs; what is asked, and what an answer that is
missing or unreadable means, is written here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ecsguard.core.models import Cluster
from ecsguard.core.resources import Document, Resource, Unresolved, build_service, build_task_definition, normalise


class Resolver(Protocol):
    """What a service or an event names, described: a dict in the ECS API's shape, or why it cannot be."""

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        """The task definition ``reference`` names (ARN, family:revision, or family for its latest ACTIVE one)."""
        ...

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved: ...

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved: ...


def task_definition_model(reference: str, found: dict[str, Any] | Unresolved) -> Document | Unresolved:
    """A service's task definition as the EFS policy reads it (``$taskDefinition``), or why it cannot be."""
    if isinstance(found, Unresolved):
        return found
    resource = build_task_definition(found, reference)
    if resource.model is None:
        return Unresolved(f"task definition '{reference}' could not be read: {resource.problem}")
    return resource.model


def default_strategy_cluster(service: Mapping[str, Any], cluster: str, resolver: Resolver) -> Document | Unresolved:
    """The service's cluster (``$cluster``), described only for a service that takes its default strategy.

    Only a service with neither a launch type nor a strategy does; ``cluster`` is the one the caller knows the
    service by, used when the service names no ``clusterArn``.
    """
    if service.get("launchType") or service.get("capacityProviderStrategy"):
        return Unresolved("the cluster's default capacity provider strategy does not apply to this service")
    found = resolver.cluster(str(service.get("clusterArn") or cluster))
    if isinstance(found, Unresolved):
        return found
    try:
        return normalise(Cluster, found)
    except ValueError:
        return Unresolved(f"cluster '{cluster}' could not be read")


def service_resource(service: Mapping[str, Any], fallback_id: str, cluster: str, resolver: Resolver) -> Resource:
    """The service ready for evaluation, with its task definition and (when it applies) its cluster.

    The task definition is asked for first, then the cluster; what the resolver raises (AwsCallFailed from a live
    one) reaches the caller.
    """
    reference = service.get("taskDefinition")
    task_definition: Document | Unresolved
    if isinstance(reference, str) and reference:
        task_definition = task_definition_model(reference, resolver.task_definition(reference))
    else:
        task_definition = Unresolved("the service names no task definition")
    return build_service(service, fallback_id, task_definition, default_strategy_cluster(service, cluster, resolver))
