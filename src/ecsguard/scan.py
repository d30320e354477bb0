"""Read scan inputs (files of ECS API shapes and CloudTrail events) into resources.

Recognised documents, alone, in a list, or in a folder:
- a task definition: the RegisterTaskDefinition request, a TaskDefinition object, or
  DescribeTaskDefinition output (``{"taskDefinition": {...}}``);
- a service: a DescribeServices item, DescribeServices output (``{"services": [...]}``),
  or a CreateService request;
- a cluster: a DescribeClusters item or output, used only to resolve a service's
  default capacity provider strategy;
- an EventBridge "AWS API Call via CloudTrail" event from ECS, or a bare CloudTrail record;
- a CloudFormation or SAM template (YAML or JSON), and the templates of a CDK cloud assembly (cdk.out/), whose
  task definitions, services, clusters and task sets are judged as what they deploy (``ecsguard.templates``);
- a Terraform plan (``terraform show -json``), whose ECS task definitions, services and clusters are judged as they
  will be once it applies;
- a CloudFormation Lambda hook's request (the resource it proposes).

A service's task definition and cluster are resolved from the other inputs of the
same scan (in a template, the resources it names with !Ref); what cannot be resolved
makes the policies that need it report ERROR.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ecsguard import events, templates
from ecsguard.core.models import Cluster, ResourceType, Service, Task, TaskDefinition, TaskSet
from ecsguard.core.resources import (
    ECS_NAME,
    Document,
    Resource,
    Unresolved,
    build_cluster,
    build_task_definition,
    field_names,
    service_id,
)
from ecsguard.core.results import Evidence, Result
from ecsguard.core.unknowns import contains_unknown
from ecsguard.resolution import service_resource, shown_cluster, task_resource, task_set_resource

INPUT_SUFFIXES = (".json", ".yaml", ".yml")
_KNOWN_KEYS = field_names(
    TaskDefinition, Service, Cluster, TaskSet, Task, events.EventEnvelope, events.CloudTrailDetail
) | {
    "services",
    "clusters",
    "failures",
    "tags",
    "taskDefinition",
    "taskSets",
}


@dataclass(frozen=True)
class InputProblem:
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class Unrecognised(InputProblem):
    """A document of no shape ecsguard reads (a workflow file, a package.json): an input error, or skipped when the
    scan is told to pass over such files (a pre-commit hook sees every YAML and JSON file of a commit)."""


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass
class _Found:
    kind: ResourceType
    data: Mapping[str, Any]
    source: str
    problem: str | None = None  # known unreadable: every policy reports ERROR with this reason
    cluster: str | None = None  # a service's cluster as its event names it (an ARN), when the service has no ARN
    template: templates.TemplateResource | None = None  # the template resource it was read from
    identifier: str | None = None  # its id, for a resource without an ARN whose input names it (a hook request)


class Locator:
    """The line of an evidence path in the template a resource was read from; a path into its task definition
    (``$taskDefinition.``) is looked up in that resource when the same file defines it."""

    def __init__(self, own: templates.TemplateResource, related: Mapping[str, templates.TemplateResource]) -> None:
        self.own = own
        self.related = related

    def line(self, path: str) -> int | None:
        if path.startswith("$"):
            variable, _, rest = path[1:].partition(".")
            other = self.related.get(variable)
            return templates.line_of(other.properties, rest) if other is not None else None
        return templates.line_of(self.own.properties, path)


def locate(results: list[Result], locator: Locator | None) -> list[Result]:
    """``results`` with each evidence's line in the template, when the resource came from one."""
    if locator is None:
        return results
    return [
        result._replace(evidence=tuple(Evidence(e.path, e.message, locator.line(e.path)) for e in result.evidence))
        if result.evidence
        else result
        for result in results
    ]


@dataclass
class ScanInputs:
    resources: list[Resource] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the file each resource came from, in the same order
    locators: list[Locator | None] = field(default_factory=list)  # where a template resource's properties are
    problems: list[InputProblem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0


def _input_files(folder: Path) -> Iterator[Path]:
    """The input files under ``folder``, as ``rglob("*")`` finds them (symlinked folders not followed).

    scandir answers from the directory listing what rglob asks of every file with a stat call. In a CDK cloud
    assembly (a folder with a ``cdk.out`` file), only the synthesised templates are inputs: its manifests and the
    assets it bundles (the application's own files) are not.
    """
    with os.scandir(folder) as entries:
        listed = list(entries)
    assembly = any(entry.name == "cdk.out" and entry.is_file() for entry in listed)
    for entry in listed:
        if entry.is_dir(follow_symlinks=False):
            if not assembly or entry.name.startswith("assembly-"):
                yield from _input_files(Path(entry.path))
        elif assembly:
            if entry.name.endswith(".template.json") and entry.is_file():
                yield Path(entry.path)
        elif os.path.splitext(entry.name)[1] in INPUT_SUFFIXES and entry.is_file():
            yield Path(entry.path)


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[InputProblem]]:
    files: list[Path] = []
    problems: list[InputProblem] = []
    for path in paths:
        if path.is_dir():
            # Ordered as Path objects order (element by element), without their slower comparisons.
            found = sorted(_input_files(path), key=lambda file: str(file).split(os.sep))
            if not found:
                problems.append(InputProblem(str(path), "folder holds no .json, .yaml or .yml files"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(InputProblem(str(path), "no such file or folder"))
    return files, problems


# PyYAML's messages quote the offending token (an unquoted !tag or *alias, which may be a secret): drop quotes.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _load(path: Path) -> Any:
    """The document in a file. JSON is read from bytes, so a UTF-8 byte-order mark and UTF-16 or UTF-32 text (what
    Windows PowerShell 5.1 redirection writes) are read too; YAML likewise takes UTF-8 or UTF-16 with a mark."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return json.loads(data)
    import yaml  # only YAML inputs pay for the import

    try:
        return yaml.safe_load(data)
    except yaml.reader.ReaderError:
        raise ValueError("invalid YAML: not UTF-8 or UTF-16 text") from None
    except yaml.YAMLError as error:
        # str(error) quotes the offending line, which may hold a secret.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = _QUOTED.sub("(…)", str(getattr(error, "problem", None) or "parse error"))
        raise ValueError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise
    except Exception as error:  # noqa: BLE001 - a bad !!tag raises ValueError/KeyError quoting the value
        raise ValueError(f"invalid YAML: {type(error).__name__} in a tagged value") from None


def _as_event(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The EventBridge event a document is, wrapping a bare CloudTrail record in an envelope."""
    if "detail-type" in document and "detail" in document:
        return document
    if "eventName" in document and "eventSource" in document:
        return {
            "id": document.get("eventID") or "cloudtrail-record",
            "detail-type": events.DETAIL_TYPE,
            "source": "aws.ecs",
            "account": document.get("recipientAccountId") or "",
            "region": document.get("awsRegion") or "",
            "detail": document,
        }
    return None


def _from_event(event: Mapping[str, Any], source: str) -> Iterator[_Found | Skipped | InputProblem]:
    try:
        action = events.interpret(dict(event))
    except events.MalformedEvent as error:
        yield InputProblem(source, str(error))
        return
    if isinstance(action, events.Skip):
        yield Skipped(source, action.reason)
    elif action.context is not None and action.context.api_call in events.TAGGING_CALLS:
        # The event holds only the tags that changed; the resource's state is not in it.
        reason = (
            f"{action.context.api_call}: only the resource's tags changed, and its state is unknown offline; scan "
            "its describe output (with --include TAGS) instead"
        )
        yield Skipped(source, reason)
    elif isinstance(action, events.ArchiveResource):
        yield Skipped(source, f"{action.context.api_call}: the resource is gone, nothing to evaluate")
    elif isinstance(action, events.EvaluateTaskDefinition):
        data = action.data or _created(action.request)
        if data is None:
            yield InputProblem(source, f"{action.context.api_call} event carries no task definition")
        else:
            yield _Found(ResourceType.TASK_DEFINITION, data, source)
    elif isinstance(action, events.EvaluateTasks):
        for task in action.tasks:
            yield _Found(ResourceType.TASK, task, source, cluster=action.cluster)
    elif isinstance(action, events.EvaluateTaskSet):
        if action.data is not None:
            yield _Found(ResourceType.TASK_SET, action.data, source)
        else:
            reason = (
                f"{action.context.api_call} event has no responseElements.taskSet, so the task set's state after "
                "the call is unknown offline; scan its DescribeTaskSets output instead"
            )
            yield _Found(ResourceType.TASK_SET, {}, source, problem=reason)
    elif isinstance(action, events.EvaluateCluster):
        if action.data is not None:
            yield _Found(ResourceType.CLUSTER, action.data, source)
        else:
            reason = (
                f"{action.context.api_call} event has no responseElements.cluster, so the cluster's state after the "
                "call is unknown offline; scan its DescribeClusters output (with --include SETTINGS CONFIGURATIONS)"
            )
            name = _name(action.cluster.rsplit("/", 1)[-1], "cluster")
            yield _Found(ResourceType.CLUSTER, {"clusterName": name}, source, problem=reason)
    elif action.data is not None or action.request is not None:
        # A request names its cluster by name, and its task definition perhaps by family:revision: those of the
        # event's account and Region, so two accounts' resources of one name stay apart.
        cluster = events.cluster_arn(action.context, action.cluster)
        service = dict(action.data or _created(action.request) or {})
        reference = service.get("taskDefinition")
        if action.data is None and isinstance(reference, str) and ":" in reference.rsplit("/", 1)[-1]:
            service["taskDefinition"] = events.task_definition_arn(action.context, reference)
        yield _Found(ResourceType.SERVICE, service, source, cluster=cluster)
    else:
        # UpdateService's request holds only what changed; the state after it needs DescribeServices.
        reason = (
            f"{action.context.api_call} event has no responseElements.service, so the service's state after the "
            "call is unknown offline; scan its DescribeServices output instead"
        )
        yield _Found(ResourceType.SERVICE, {"serviceName": action.service}, source, problem=reason)


def _from_hook_request(document: Mapping[str, Any], source: str) -> Iterator[_Found | Skipped | InputProblem]:
    """A CloudFormation Lambda hook's request: the resource it proposes, judged as the hook judges it."""
    from ecsguard import hook

    try:
        request = hook.read_request(document)
    except hook.MalformedRequest as problem:
        yield InputProblem(source, f"malformed CloudFormation hook request: {problem}")
        return
    target = hook.target_of(request)
    if target is None:
        yield Skipped(source, "a CloudFormation hook request for a resource type ecsguard does not judge")
    elif request.actionInvocationPoint == "DELETE_PRE_PROVISION":
        yield Skipped(source, "a CloudFormation hook request to delete a resource: nothing to evaluate")
    else:
        yield _Found(target.resource_type, target.properties, source, identifier=target.resource_id)


def _created(request: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a create request (RegisterTaskDefinition, CreateService) made: a resource with exactly its tags."""
    if request is None:
        return None
    return request if "tags" in request else {**request, "tags": []}


def _from_template(path: Path, source: str) -> Iterator[_Found | Skipped | InputProblem]:
    try:
        template = templates.decode_template(path)
    except templates.TemplateError as error:
        yield InputProblem(source, str(error))
        return
    found = False
    for resource in templates.template_resources(template, source):
        found = True
        yield _Found(resource.kind, resource.data, source, template=resource)
    if not found:
        yield Skipped(source, "a CloudFormation template with no ECS task definition, service, cluster or task set")


def _read_file(path: Path, source: str) -> list[_Found | Skipped | InputProblem]:
    """What one input file holds: a template's ECS resources, or the ECS API shapes and events of any other file."""
    if path.suffix in (".yaml", ".yml") and templates.yaml_is_template(path.read_bytes()):
        return list(_from_template(path, source))
    document = _load(path)
    if templates.is_template(document):
        return list(_from_template(path, source))
    if templates.is_terraform_plan(document):
        return list(_from_plan(document, source))
    return list(_classify(document, source))


def _from_plan(plan: Mapping[str, Any], source: str) -> Iterator[_Found | Skipped]:
    found = False
    for resource in templates.plan_resources(plan, source):
        found = True
        yield _Found(resource.kind, resource.data, source, template=resource)
    if not found:
        yield Skipped(
            source, "a Terraform plan that creates, updates or keeps no ECS task definition, service or cluster"
        )


def _classify(document: Any, source: str) -> Iterator[_Found | Skipped | InputProblem]:
    if isinstance(document, list):
        for item in document:
            yield from _classify(item, source)
        return
    if not isinstance(document, dict):
        yield Unrecognised(source, f"expected a JSON object or list, found {type(document).__name__}")
        return
    event = _as_event(document)
    if event is not None:
        yield from _from_event(event, source)
    elif "requestData" in document and "actionInvocationPoint" in document:
        yield from _from_hook_request(document, source)
    elif isinstance(document.get("taskDefinition"), dict):
        # describe-task-definition --include TAGS gives the tags beside the task definition.
        tags = document.get("tags")
        found = document["taskDefinition"] if tags is None else {**document["taskDefinition"], "tags": tags}
        yield _Found(ResourceType.TASK_DEFINITION, found, source)
    elif "containerDefinitions" in document:
        yield _Found(ResourceType.TASK_DEFINITION, document, source)
    elif isinstance(document.get("taskSets"), list):
        for task_set in document["taskSets"]:
            yield from _classify_task_set(task_set, source)
    elif "taskSetArn" in document:
        yield from _classify_task_set(document, source)
    elif isinstance(document.get("tasks"), list):  # DescribeTasks output
        for task in document["tasks"]:
            if isinstance(task, dict):
                yield _Found(ResourceType.TASK, task, source)
            else:
                yield InputProblem(source, f"a task must be an object, found {type(task).__name__}")
    elif "taskArn" in document:
        yield _Found(ResourceType.TASK, document, source)
    elif isinstance(document.get("services"), list):
        for service in document["services"]:
            yield from _classify_service(service, source)
    elif isinstance(document.get("clusters"), list):
        for cluster in document["clusters"]:
            if isinstance(cluster, dict):
                yield _Found(ResourceType.CLUSTER, cluster, source)
            else:
                yield InputProblem(source, "bad cluster")
    elif "serviceName" in document or "serviceArn" in document:
        yield from _classify_service(document, source)
    elif "clusterName" in document or "clusterArn" in document:
        yield _Found(ResourceType.CLUSTER, document, source)
    else:
        # Only keys the ECS models or events define are named: another key is the input's own text.
        known = sorted(key for key in document if key in _KNOWN_KEYS)
        others = len(document) - len(known)
        keys = ", ".join(known[:8] + ([f"{others} other(s)"] if others else [])) or "none"
        yield Unrecognised(
            source,
            f"not a task definition, service, task set, task, cluster or ECS event (top-level keys: {keys})",
        )


def _name(value: object, otherwise: str) -> str:
    """A family or service name from the input, when it has a name's shape; ``otherwise`` when it does not."""
    return value if isinstance(value, str) and ECS_NAME.fullmatch(value) else otherwise


def _classify_service(document: Any, source: str) -> Iterator[_Found | InputProblem]:
    if isinstance(document, dict):
        yield _Found(ResourceType.SERVICE, document, source)
        # A service with the EXTERNAL or CODE_DEPLOY controller runs its tasks from its task sets.
        task_sets = document.get("taskSets")
        for task_set in task_sets if isinstance(task_sets, list) else []:
            yield from _classify_task_set(task_set, source)
    else:
        yield InputProblem(source, f"a service must be an object, found {type(document).__name__}")


def _task_set_name(data: Mapping[str, Any]) -> str:
    """A task set's id (ecs-svc/1234...) when it has that shape, for a resource without an ARN."""
    identifier = data.get("id")
    shaped = isinstance(identifier, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}/[0-9]{1,32}", identifier)
    return str(identifier) if shaped else "task-set"


def _classify_task_set(document: Any, source: str) -> Iterator[_Found | InputProblem]:
    if isinstance(document, dict):
        yield _Found(ResourceType.TASK_SET, document, source)
    else:
        yield InputProblem(source, f"a task set must be an object, found {type(document).__name__}")


class InputResolver:
    """Resolves from the other inputs of a scan: task definitions by ARN, family:revision, or family (its latest
    ACTIVE revision among the inputs), and clusters by ARN, or by name when one cluster of the inputs has it. What
    is missing is named, with what to add.

    A scan may hold several accounts' and Regions' files, and a cluster is identified by its ARN (account, Region,
    name): an ARN is answered only by the cluster with that ARN, never by another account's cluster of that name.
    """

    def __init__(self) -> None:
        self._task_definitions: dict[str, dict[str, Any]] = {}  # by ARN
        # by family:revision: (ARN, or None for an input that names no ARN) -> the task definition
        self._revisions: dict[str, dict[str | None, dict[str, Any]]] = {}
        self._latest: dict[str, tuple[int, dict[str, Any]]] = {}  # family -> its highest revision not INACTIVE
        self._clusters: dict[str, dict[str, Any]] = {}  # by ARN
        # by name: (ARN, or None for an input that names no ARN) -> the cluster
        self._cluster_names: dict[str, dict[str | None, dict[str, Any]]] = {}

    def add_task_definition(self, model: Document, data: Mapping[str, Any]) -> None:
        """``model`` is ``data`` normalised (its revision an int); the resolver answers with ``data`` as ECS would."""
        described = dict(data)
        arn, family = _text(model.get("taskDefinitionArn")), _text(model.get("family"))
        revision = model.get("revision") if isinstance(model.get("revision"), int) else None
        if arn:
            self._task_definitions[arn] = described
        if family and revision is not None:
            self._revisions.setdefault(f"{family}:{revision}", {})[arn or None] = described
        if family and model.get("status") != "INACTIVE":
            current = self._latest.get(family)
            if current is None or (revision or 0) >= current[0]:
                self._latest[family] = (revision or 0, described)

    def add_reference(self, reference: str, data: Mapping[str, Any]) -> None:
        """A template's task definition, by the reference another resource of the template names it with."""
        self._task_definitions[reference] = dict(data)

    def add_cluster_reference(self, reference: str, data: Mapping[str, Any]) -> None:
        """A template's cluster, by the reference another resource of the template names it with."""
        self._cluster_names.setdefault(reference, {})[None] = dict(data)

    def add_cluster(self, model: Document, data: Mapping[str, Any]) -> None:
        arn, name = _text(model.get("clusterArn")), _text(model.get("clusterName"))
        if arn is not None and not arn.startswith("arn:"):
            arn, name = None, name or arn  # a name where the ARN belongs
        described = dict(data)
        if arn is not None:
            self._clusters[arn] = described
        name = name or (_cluster_name(arn) if arn is not None else None)
        if name:
            self._cluster_names.setdefault(name, {})[arn] = described

    def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
        """By ARN: the input with that ARN, else one that names no ARN (never another account's revision of the
        same family and number); by ``family:revision``: the one input of that revision; by family: its latest."""
        found = self._task_definitions.get(reference)
        if found is None:
            key = reference.rsplit("task-definition/", 1)[-1]
            revisions = self._revisions.get(key, {})
            if reference.startswith("arn:"):
                found = revisions.get(None)
            elif ":" in key and len(revisions) > 1:
                return Unresolved(
                    f"task definition '{key}' is ambiguous: {len(revisions)} scanned inputs of different accounts or "
                    "Regions have that family and revision; name it by ARN"
                )
            elif ":" in key:
                found = next(iter(revisions.values()), None)
            elif key in self._latest:
                found = self._latest[key][1]
        if found is None:
            return Unresolved(
                f"task definition '{reference}' is not among the scanned inputs; add its DescribeTaskDefinition "
                "output to the scan"
            )
        return found

    def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
        return Unresolved(f"a scan reads services from its inputs; it does not look up '{service}' in '{cluster}'")

    def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
        return Unresolved(f"a scan reads task sets from its inputs; it does not look up '{task_set}'")

    def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
        """The cluster with ARN ``cluster``; or, for a bare name (a service that names no account), the one input
        cluster of that name."""
        shown = shown_cluster(cluster)
        if cluster.startswith("arn:"):
            found = self._clusters.get(cluster)
            if found is not None:
                return found
            unplaced = " (an input cluster of that name names no clusterArn)" if self._unplaced(cluster) else ""
            return Unresolved(
                f"cluster '{shown}' is not among the scanned inputs{unplaced}, so its default capacity provider "
                "strategy is unknown; add its DescribeClusters output to the scan"
            )
        named = self._cluster_names.get(cluster, {})
        if len(named) == 1:
            return next(iter(named.values()))
        if named:
            return Unresolved(
                f"{len(named)} scanned clusters are named '{shown}' (in different accounts or Regions) and the service "
                "names no account, so its default capacity provider strategy is unknown; scan the service's "
                "DescribeServices output, which names its clusterArn"
            )
        return Unresolved(
            f"cluster '{shown}' is not among the scanned inputs, so its default capacity provider strategy is "
            "unknown; add its DescribeClusters output to the scan"
        )

    def _unplaced(self, arn: str) -> bool:
        return None in self._cluster_names.get(_cluster_name(arn), {})


def _text(value: object) -> str | None:
    """A name or ARN the input gives as text; None for none, or for one known only at deploy (a template's)."""
    return value if isinstance(value, str) and value else None


def _cluster_name(arn: str) -> str:
    return arn.rsplit(":cluster/", 1)[-1]


def read_inputs(paths: Iterable[Path], skip_unrecognised: bool = False) -> ScanInputs:
    """Read every input; problems with one file are recorded and the others still load. ``skip_unrecognised``: a
    document of no shape ecsguard reads is listed as skipped, not as an input error."""
    files, problems = collect_files(paths)
    inputs = ScanInputs(problems=problems, files=len(files))
    found: list[_Found] = []
    for path in files:
        source = str(path)
        try:
            items = _read_file(path, source)
        except UnicodeDecodeError as error:
            where = f"byte {error.start}"
            message = f"not UTF-8, UTF-16 or UTF-32 text (cannot decode {where} as {error.encoding})"
            inputs.problems.append(InputProblem(source, message))
            continue
        except OSError as error:
            inputs.problems.append(InputProblem(source, f"cannot read: {error.__class__.__name__}"))
            continue
        except RecursionError:
            inputs.problems.append(
                InputProblem(source, "nested too deeply to read (lists or objects within each other)")
            )
            continue
        except ValueError as error:
            # json's message names the line and column, never the content.
            inputs.problems.append(InputProblem(source, f"not valid JSON or YAML: {error}"))
            continue
        for item in items:
            if isinstance(item, _Found):
                found.append(item)
            elif isinstance(item, Skipped):
                inputs.skipped.append(item)
            elif skip_unrecognised and isinstance(item, Unrecognised):
                inputs.skipped.append(Skipped(item.source, f"not read: {item.message}"))
            else:
                inputs.problems.append(item)

    resolver = InputResolver()
    # Template resources by their reference (template.yaml#TaskDefinition), for the lines of a service's evidence.
    in_templates = {item.template.reference: item.template for item in found if item.template is not None}

    def add(resource: Resource, item: _Found) -> None:
        template = item.template
        locator: Locator | None = None
        if template is not None:
            related = {
                name: in_templates[reference]
                for name, reference in _linked(item.data).items()
                if reference in in_templates and reference.startswith(f"{item.source}#")
            }
            locator = Locator(template, related)
            if resource.model is not None and _uncertain(resource):
                resource = replace(resource, uncertain=True)
        inputs.resources.append(resource)
        inputs.sources.append(item.source)
        inputs.locators.append(locator)

    for item in found:
        if item.kind is ResourceType.TASK_DEFINITION:
            fallback = _fallback(item, _name(item.data.get("family"), "task-definition"))
            resource = build_task_definition(item.data, fallback)
            if resource.model is not None:
                resolver.add_task_definition(resource.model, item.data)
                if item.template is not None:
                    resolver.add_reference(item.template.reference, item.data)
            else:  # an input that cannot be read: its policies report ERROR, and the scan exits 2 naming it
                inputs.problems.append(InputProblem(item.source, resource.problem or "not a readable task definition"))
            add(resource, item)
        elif item.kind is ResourceType.CLUSTER:
            fallback = _fallback(item, _name(item.data.get("clusterName"), "cluster"))
            if item.problem is not None:
                resource = Resource(type=ResourceType.CLUSTER, id=fallback, model=None, problem=item.problem)
            else:
                resource = build_cluster(item.data, fallback)
                if resource.model is not None:
                    resolver.add_cluster(resource.model, item.data)
                    if item.template is not None:
                        resolver.add_cluster_reference(item.template.reference, item.data)
                else:
                    inputs.problems.append(InputProblem(item.source, resource.problem or "not a readable cluster"))
            add(resource, item)
    launches = {ResourceType.TASK_SET: (task_set_resource, "task set"), ResourceType.TASK: (task_resource, "task")}
    for item in found:
        if item.kind not in launches:
            continue
        build, named = launches[item.kind]
        default = _task_set_name(item.data) if item.kind is ResourceType.TASK_SET else "task"
        fallback = _fallback(item, default)
        if item.problem is not None:
            resource = Resource(type=item.kind, id=fallback, model=None, problem=item.problem)
        else:
            in_cluster = item.cluster or _cluster_named(item.data, "clusterArn")
            resource = build(item.data, fallback, in_cluster, resolver)
            if resource.model is None:
                inputs.problems.append(InputProblem(item.source, resource.problem or f"not a readable {named}"))
        add(resource, item)
    for item in found:
        if item.kind is not ResourceType.SERVICE:
            continue
        data = item.data
        fallback = _fallback(item, _name(data.get("serviceName"), service_id(data, "service")))
        if item.problem is not None:
            resource = Resource(type=ResourceType.SERVICE, id=fallback, model=None, problem=item.problem)
        else:
            cluster = item.cluster or _cluster_named(data, "cluster")
            resource = service_resource(data, fallback, cluster, resolver)
            if resource.model is None:
                inputs.problems.append(InputProblem(item.source, resource.problem or "not a readable service"))
        add(resource, item)
    return inputs


def _fallback(item: _Found, name: str) -> str:
    """The id of a resource without an ARN: its template and logical id, the id its input names, or its file and
    name."""
    if item.template is not None:
        return item.template.reference
    return item.identifier or f"{item.source}#{name}"


def _cluster_named(data: Mapping[str, Any], field_name: str) -> str:
    named = data.get(field_name) or data.get("cluster")
    return named if isinstance(named, str) and named else "default"


def _linked(data: Mapping[str, Any]) -> dict[str, str]:
    """The related resources a template resource names in the same template: variable -> reference."""
    linked = {}
    for variable, field_name in (("taskDefinition", "taskDefinition"), ("cluster", "cluster")):
        value = data.get(field_name)
        if isinstance(value, str) and "#" in value:
            linked[variable] = value
    return linked


def _uncertain(resource: Resource) -> bool:
    """Whether a policy may read a value known only at deploy in the resource or its related ones."""
    if contains_unknown(resource.model):
        return True
    return any(type(value) is not Unresolved and contains_unknown(value) for value in resource.related.values())
