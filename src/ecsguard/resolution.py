"""One way to build a service resource: its task definition and its cluster's default strategy, from a Resolver.

Every entry point resolves through a Resolver: live ECS calls for an event (``adapters.ecs.EcsResolver``), the
task definitions a sweep described up front (``sweep.PrefetchedResolver``), the other inputs of a file scan
(``scan.InputResolver``). Only where the answers come from differs; what is asked, and what an answer that is
missing or unreadable means, is written here once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from ecsguard.core.models import Cluster
from ecsguard.core.resources import (
    ECS_NAME,
    Document,
    JudgedElsewhere,
    Resource,
    Unresolved,
    build_service,
    build_task,
    build_task_definition,
    build_task_set,
    normalise,
)
from ecsguard.core.times import parse_time
from ecsguard.core.unknowns import Unknown

# How far ECS's registeredAt of the revision a RegisterTaskDefinition call made may lie from the CloudTrail record's
# eventTime. eventTime is when the request completed, to the second (CloudTrail writes no fraction), so the
# registration lies in the second before it completed: up to one second from eventTime whether CloudTrail truncates
# or rounds. Two seconds either side also covers a slow call and the clocks of different AWS hosts (NTP keeps them
# within milliseconds), while two registrations of one family seconds apart are still told apart (or refused).
REGISTRATION_TOLERANCE = timedelta(seconds=2)
# Describes spent looking for that revision: the latest ACTIVE, then each older one in turn, then the one before the
# match (to prove it unambiguous). Ten finds the event's revision with up to eight revisions registered since.
MAX_REGISTRATION_DESCRIBES = 10
_SERVICE_OWNER = re.compile(r"(arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}):service/")
_CLUSTER_ARN = re.compile(r"arn:[a-z0-9-]+:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}")


class Resolver(Protocol):
    """What a service or an event names, described: a dict in the ECS API's shape, or why it cannot be."""

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        """The task definition ``reference`` names (ARN, family:revision, or family for its latest ACTIVE one)."""
        ...

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved: ...

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved: ...

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved: ...


def task_definition_model(reference: str, found: dict[str, Any] | Unresolved) -> Document | Unresolved:
    """A service's task definition as the EFS policy reads it (``$taskDefinition``), or why it cannot be."""
    if isinstance(found, Unresolved):
        return found
    resource = build_task_definition(found, reference)
    if resource.model is None:
        return Unresolved(f"task definition '{reference}' could not be read: {resource.problem}")
    return resource.model


def _registered_at(described: Mapping[str, Any]) -> datetime | None:
    return parse_time(described.get("registeredAt"))


def _revision_of(described: Mapping[str, Any]) -> int | None:
    revision = described.get("revision")
    if isinstance(revision, int) and not isinstance(revision, bool) and revision > 0:
        return revision
    return None


def registered_revision(reference: str, call_time: datetime | None, resolver: Resolver) -> dict[str, Any] | Unresolved:
    """The task definition a RegisterTaskDefinition call made, whose event lacks its response, or why it cannot be
    proven which one that is.

    ``reference`` names it by ARN or ``family:revision`` (which prove it: one describe), or by family: then it is the
    revision whose registeredAt lies within REGISTRATION_TOLERANCE of ``call_time`` (the record's eventTime), and
    the revision before it must not (else the event could have made either). The family's latest ACTIVE revision is
    described first, then ``family:N-1``, ``family:N-2``... while they were registered after the window; a revision
    that no longer exists is passed over. Describes: 2 when the latest ACTIVE revision is the event's (1 when it is
    revision 1), one more for each revision registered since; never more than MAX_REGISTRATION_DESCRIBES. A revision
    registered before the window, one without registeredAt, or running out of describes is Unresolved naming the
    family, so nothing is evaluated for another revision. What the resolver raises (AwsCallFailed) reaches the caller.
    """
    if ":" in reference.rsplit("/", 1)[-1]:
        return resolver.task_definition(reference)
    family = reference
    if not ECS_NAME.fullmatch(family):
        return Unresolved("the event's task definition family is not a family name")
    about = f"task definition family '{family}'"
    if call_time is None:
        return Unresolved(f"{about}: the event has no readable eventTime, so the revision it registered is unproven")
    earliest, latest = call_time - REGISTRATION_TOLERANCE, call_time + REGISTRATION_TOLERANCE
    window = f"within {REGISTRATION_TOLERANCE.seconds} s of the event's eventTime"
    found = resolver.task_definition(family)
    if isinstance(found, Unresolved):
        return found
    newest = _revision_of(found)
    if newest is None:
        return Unresolved(f"{about}: its latest ACTIVE revision has no revision number")
    chosen: tuple[int, dict[str, Any]] | None = None
    after: int | None = None  # the oldest revision seen that was registered after the window
    number, describes = newest, 1
    described: dict[str, Any] | Unresolved = found
    while True:
        if not isinstance(described, Unresolved):  # Unresolved: that revision was deleted since
            registered = _registered_at(described)
            if registered is None:
                return Unresolved(
                    f"{about}: revision {number} has no registeredAt, so the revision the event registered is unproven"
                )
            if chosen is not None:
                if registered >= earliest:
                    return Unresolved(
                        f"{about}: revisions {number} and {chosen[0]} were both registered {window}, so which one the "
                        "event registered is unproven"
                    )
                return chosen[1]
            if registered < earliest:
                later = f", and revision {after} after it" if after is not None else ""
                return Unresolved(
                    f"{about}: no revision was registered {window}: revision {number} was registered before it{later}"
                )
            if registered <= latest:
                chosen = (number, described)
            else:
                after = number
        if number == 1:
            if chosen is not None:
                return chosen[1]
            return Unresolved(
                f"{about}: no revision was registered {window}: revisions 1 to {newest} were registered after it or "
                "no longer exist"
            )
        if describes == MAX_REGISTRATION_DESCRIBES:
            return Unresolved(
                f"{about}: {MAX_REGISTRATION_DESCRIBES} describes (revisions {number} to {newest}) did not prove which "
                "revision the event registered"
            )
        number -= 1
        described = resolver.task_definition(f"{family}:{number}")
        describes += 1


def cluster_reference(service: Mapping[str, Any], cluster: str) -> str:
    """The ARN of the service's cluster: its ``clusterArn``, else ``cluster`` (the name or ARN the caller knows the
    service by) with a name completed from the service's own ARN (its account and Region). A name stays a name only
    when the service has no ARN either."""
    named = service.get("clusterArn")
    reference = named if isinstance(named, str) and named else cluster
    if reference.startswith("arn:"):
        return reference
    owner = _SERVICE_OWNER.match(str(service.get("serviceArn") or ""))
    return f"{owner.group(1)}:cluster/{reference}" if owner is not None else reference


def shown_cluster(reference: str) -> str:
    """``reference`` when it has the shape of a cluster name or ARN, for messages; else a placeholder."""
    if ECS_NAME.fullmatch(reference) or _CLUSTER_ARN.fullmatch(reference):
        return reference
    return "(the service's cluster)"


def needs_cluster(launch: Mapping[str, Any]) -> bool:
    """Whether a launch policy reads the cluster of a service, task set or task: its default capacity provider
    strategy, for one with neither a launch type nor a strategy (where it runs), or its ECS Exec logging, for one
    with ECS Exec enabled. Any other evaluation needs no DescribeClusters."""
    takes_default = not launch.get("launchType") and not launch.get("capacityProviderStrategy")
    return takes_default or launch.get("enableExecuteCommand") is True


def service_cluster(service: Mapping[str, Any], cluster: str, resolver: Resolver) -> Document | Unresolved | Unknown:
    """The service's cluster (``$cluster``), described only when a policy reads it (``needs_cluster``).

    It is asked for by ARN (``cluster_reference``), so a cluster of the same name in another account or Region is
    never taken for it. A template's service may name it by a value known only at deploy: then it is unknown.
    """
    if not needs_cluster(service):
        return Unresolved(
            "no policy reads this service's cluster: it sets its launch type or strategy, without ECS Exec"
        )
    named = service.get("cluster")
    if isinstance(named, Unknown):
        return named
    return described_cluster(cluster_reference(service, cluster), resolver)


def described_cluster(reference: str, resolver: Resolver) -> Document | Unresolved:
    found = resolver.cluster(reference)
    if isinstance(found, Unresolved):
        return found
    try:
        return normalise(Cluster, found)
    except ValueError:
        return Unresolved(f"cluster '{shown_cluster(reference)}' could not be read")


# Deployment controllers whose services keep what their tasks run on their task sets.
TASK_SET_CONTROLLERS = frozenset({"EXTERNAL", "CODE_DEPLOY"})


def deploys_through_task_sets(service: Mapping[str, Any]) -> str | None:
    """The deployment controller of a service that runs its tasks from task sets, else None."""
    controller = service.get("deploymentController")
    kind = controller.get("type") if isinstance(controller, Mapping) else None
    return kind if kind in TASK_SET_CONTROLLERS else None


def service_resource(service: Mapping[str, Any], fallback_id: str, cluster: str, resolver: Resolver) -> Resource:
    """The service ready for evaluation, with its task definition and (when it applies) its cluster.

    The task definition is asked for first, then the cluster; what the resolver raises (AwsCallFailed from a live
    one) reaches the caller. A service deploying through task sets that names no task definition (EXTERNAL) is not
    judged on one: its task sets are, each on its own (a policy reading it is NOT_APPLICABLE to the service), and
    its cluster is described only for ECS Exec. One that names its primary task set's (CODE_DEPLOY) is judged on
    it as well, so that its ECS Exec logging, a setting of the service, is judged.
    """
    controller = deploys_through_task_sets(service)
    reference = service.get("taskDefinition")
    if controller is not None and not (isinstance(reference, str) and reference):
        elsewhere = JudgedElsewhere(
            f"the service deploys through task sets (deployment controller {controller}): each task set is judged "
            "on the task definition and launch settings it runs"
        )
        in_cluster: Document | Unresolved | JudgedElsewhere = elsewhere
        if service.get("enableExecuteCommand") is True:
            in_cluster = described_cluster(cluster_reference(service, cluster), resolver)
        return build_service(service, fallback_id, elsewhere, in_cluster)
    task_definition: Document | Unresolved | Unknown
    if isinstance(reference, str) and reference:
        task_definition = task_definition_model(reference, resolver.task_definition(reference))
    elif isinstance(reference, Unknown):  # a template's !ImportValue: what the policies read of it is unknown
        task_definition = reference
    else:
        task_definition = Unresolved("the service names no task definition")
    return build_service(service, fallback_id, task_definition, service_cluster(service, cluster, resolver))


def launch_related(
    launch: Mapping[str, Any], reference_field: str, cluster: str, resolver: Resolver
) -> tuple[Document | Unresolved | Unknown, Document | Unresolved]:
    """The task definition (named by ``reference_field``) and, when a policy reads it, the cluster of a task set or
    a task: what ``$taskDefinition`` and ``$cluster`` are for its launch policies."""
    reference = launch.get(reference_field)
    task_definition: Document | Unresolved | Unknown
    if isinstance(reference, str) and reference:
        task_definition = task_definition_model(reference, resolver.task_definition(reference))
    elif isinstance(reference, Unknown):
        task_definition = reference
    else:
        task_definition = Unresolved(f"it names no task definition ({reference_field})")
    in_cluster: Document | Unresolved
    if needs_cluster(launch):
        named = launch.get("clusterArn")
        in_cluster = described_cluster(named if isinstance(named, str) and named else cluster, resolver)
    else:
        in_cluster = Unresolved("no policy reads its cluster: it sets its launch type or strategy, without ECS Exec")
    return task_definition, in_cluster


def task_set_resource(task_set: Mapping[str, Any], fallback_id: str, cluster: str, resolver: Resolver) -> Resource:
    """A task set ready for evaluation, with the task definition it runs and (when it applies) its cluster."""
    task_definition, in_cluster = launch_related(task_set, "taskDefinition", cluster, resolver)
    return build_task_set(task_set, fallback_id, task_definition, in_cluster)


def task_resource(task: Mapping[str, Any], fallback_id: str, cluster: str, resolver: Resolver) -> Resource:
    """A standalone task ready for evaluation: its task definition (as registered; the task's overrides are applied
    by ``build_task``) and (when it applies) its cluster."""
    task_definition, in_cluster = launch_related(task, "taskDefinitionArn", cluster, resolver)
    if isinstance(task_definition, Unknown):  # a task is never read from a template, so this is only for the types
        task_definition = Unresolved("its task definition is known only at deploy")
    return build_task(task, fallback_id, task_definition, in_cluster)
