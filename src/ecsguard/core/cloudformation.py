"""CloudFormation's ECS properties in the ECS API's shape, so that every policy judges a template's task definition
or service as it judges the API's.

CloudFormation names a property as the API does with its first letter upper-cased (``ContainerDefinitions`` for
``containerDefinitions``), but for a few, listed in ``RENAMED``; and a map whose keys are the user's own (Docker
labels, log options, driver options) keeps them as written. ``tests/unit/test_cloudformation.py`` checks both
against the resource schemas that cfn-lint ships and botocore's ECS model, property by property, so a property
AWS adds is a failing test rather than a silently misread field. Intrinsic functions (``{"Ref": ...}``,
``{"Fn::Sub": ...}``) are values unknown before deploy: they are kept as they are, for the caller to judge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ecsguard.core.unknowns import WORLDS, Unknown, named

# CloudFormation names whose API name is not the name with its first letter lowered.
RENAMED: Mapping[str, str] = {
    "EFSVolumeConfiguration": "efsVolumeConfiguration",
    "FilesystemId": "fileSystemId",
    "IAM": "iam",
    "FSxWindowsFileServerVolumeConfiguration": "fsxWindowsFileServerVolumeConfiguration",
    "S3FilesVolumeConfiguration": "s3filesVolumeConfiguration",
    "ProxyConfigurationProperties": "properties",
    "PlacementStrategies": "placementStrategy",
    "ClusterSettings": "settings",
    "AwsVpcConfiguration": "awsvpcConfiguration",  # AWS::ECS::TaskSet's spelling (a service's is AwsvpcConfiguration)
}
# Maps whose keys are the user's (a Docker label's, a log driver option's): kept as written.
VERBATIM_MAPS = frozenset({"DockerLabels", "Options", "DriverOpts", "Labels"})


def api_name(name: str) -> str:
    """The ECS API's name for a CloudFormation property name."""
    return RENAMED.get(name) or name[:1].lower() + name[1:]


def is_intrinsic(value: object) -> bool:
    """Whether ``value`` is an intrinsic function (``Ref``, ``Fn::...``, ``Condition``): known only at deploy."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or (isinstance(key, str) and key.startswith("Fn::"))


def to_api(value: Any) -> Any:
    """A resource's ``Properties`` (or any part of them) with the ECS API's names; intrinsics kept as they are."""
    if isinstance(value, Mapping):
        if is_intrinsic(value):
            return value
        return {api_name(str(key)): (item if key in VERBATIM_MAPS else to_api(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [to_api(item) for item in value]
    return value


# --- values known only at deploy ------------------------------------------------------------------------------------

# Pseudo parameters whose text each world of core.unknowns gives; the others (AWS::StackName, ...) are unknown.
MAX_CANDIDATES = 16
_ABSENT = object()  # !Ref AWS::NoValue: the property is not set
# What !Ref of a resource gives, by type, for the shapes policies compare (an ARN, a name); {name} is the logical id
# or the name the resource sets, and {AWS::...} each world's pseudo parameter.
REF_SHAPES: Mapping[str, str] = {
    "AWS::SecretsManager::Secret": (
        "arn:{AWS::Partition}:secretsmanager:{AWS::Region}:{AWS::AccountId}:secret:{name}-AbCdEf"
    ),
    "AWS::SSM::Parameter": "{name}",
    "AWS::ECR::Repository": "{lower}",
    "AWS::Logs::LogGroup": "{name}",
    "AWS::IAM::Role": "{name}",
    "AWS::EFS::FileSystem": "fs-0123456789abcdef0",
    "AWS::EFS::AccessPoint": "fsap-0123456789abcdef0",
}
GETATT_SHAPES: Mapping[tuple[str, str], str] = {
    ("AWS::ECR::Repository", "RepositoryUri"): "{AWS::AccountId}.dkr.ecr.{AWS::Region}.{AWS::URLSuffix}/{lower}",
    ("AWS::ECR::Repository", "Arn"): "arn:{AWS::Partition}:ecr:{AWS::Region}:{AWS::AccountId}:repository/{lower}",
    ("AWS::IAM::Role", "Arn"): "arn:{AWS::Partition}:iam::{AWS::AccountId}:role/{name}",
    ("AWS::Logs::LogGroup", "Arn"): "arn:{AWS::Partition}:logs:{AWS::Region}:{AWS::AccountId}:log-group:{name}:*",
    ("AWS::SecretsManager::Secret", "Id"): REF_SHAPES["AWS::SecretsManager::Secret"],
    ("AWS::EFS::FileSystem", "FileSystemId"): "fs-0123456789abcdef0",
    ("AWS::EFS::AccessPoint", "AccessPointId"): "fsap-0123456789abcdef0",
}
# The property that names a resource of these types, when it is set to a plain text.
_NAME_PROPERTIES: Mapping[str, str] = {
    "AWS::SSM::Parameter": "Name",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SecretsManager::Secret": "Name",
}
PSEUDO_PARAMETERS = frozenset({"AWS::StackName", "AWS::StackId", "AWS::NotificationARNs", "AWS::NoValue"})
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# The intrinsic functions CloudFormation has: another "Fn::" key is a short-form tag the YAML happened to hold (an
# unquoted value beginning with "!", such as a password), so its name is the input's text and is never shown.
FUNCTIONS = frozenset(
    {
        "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAZs", "Fn::ImportValue", "Fn::Length", "Fn::Split",
        "Fn::ToJsonString", "Fn::Transform", "Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or", "Fn::ForEach",
        "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Condition", "Ref",
    }
)  # fmt: skip


class Intrinsics:
    """Resolves a template's intrinsic functions to what is known before deploy: plain text where the template
    gives it, a reference to another resource of the same template that a scan can resolve (``linked``), and
    otherwise an ``Unknown`` that names the function, with its possible texts when those are known."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        resources: Mapping[str, Any],
        linked: Mapping[str, str],
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self.parameters = parameters  # the template's Parameters section
        self.resources = resources  # its Resources section
        self.linked = linked  # logical id -> the reference a scan resolves (template.yaml#TaskDefinition)
        self.conditions = conditions or {}  # its Conditions section

    def api(self, value: Any) -> Any:
        """``to_api`` with every intrinsic resolved; an unset property (``!Ref AWS::NoValue``) is left out."""
        resolved = self._api(value)
        return None if resolved is _ABSENT else resolved

    def _api(self, value: Any, verbatim: bool = False) -> Any:
        if isinstance(value, Mapping):
            if is_intrinsic(value):
                return self.resolve(value)
            converted = {}
            for key, item in value.items():
                resolved = self._api(item, verbatim=key in VERBATIM_MAPS)
                if resolved is not _ABSENT:
                    converted[str(key) if verbatim else api_name(str(key))] = resolved
            return converted
        if isinstance(value, list):
            return [item for item in map(self._api, value) if item is not _ABSENT]
        return value

    def resolve(self, function: Mapping[str, Any]) -> Any:
        ((name, argument),) = function.items()
        if name == "Ref":
            return self._ref(argument)
        if name == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            if isinstance(parts, list) and len(parts) == 2 and all(isinstance(part, str) for part in parts):
                return self._get_att(parts[0], parts[1])
            return Unknown("!GetAtt (not a resource and attribute)")
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            return self._join(argument)
        if name == "Fn::If":
            return self._if(argument)
        if name == "Fn::Select":
            return self._select(argument)
        if name not in FUNCTIONS:
            return Unknown("a value with a YAML tag that is no CloudFormation function")
        return Unknown(f"!{name.removeprefix('Fn::')}, known only at deploy")

    def _named(self, name: object) -> str:
        """A name the template defines (a parameter, a resource, a condition) or a pseudo parameter, as written;
        any other text in a reference is the input's own, and is not shown."""
        text = name.split(".", 1)[0] if isinstance(name, str) and not name.startswith("AWS::") else name
        defined = isinstance(text, str) and (
            text in self.parameters
            or text in self.resources
            or text in self.conditions
            or text in WORLDS[0]
            or text in PSEUDO_PARAMETERS
        )
        return named(name) if defined else "a name the template does not define"

    def _text(self, shape: str, logical_id: str) -> Unknown:
        """A resource's !Ref or !GetAtt text of ``shape``, in every world."""
        resource = self.resources.get(logical_id) or {}
        properties = resource.get("Properties") if isinstance(resource, Mapping) else None
        name = logical_id
        property_name = _NAME_PROPERTIES.get(str(resource.get("Type"))) if isinstance(resource, Mapping) else None
        if property_name and isinstance(properties, Mapping) and isinstance(properties.get(property_name), str):
            name = properties[property_name]
        text = shape.replace("{name}", name).replace("{lower}", name.lower()).replace("{", "${")
        return self._with_worlds(text, f"!GetAtt or !Ref of {self._named(logical_id)}")

    def _with_worlds(self, text: str, description: str) -> Unknown:
        candidates = []
        for world in WORLDS:
            candidate = text
            for pseudo, value in world.items():
                candidate = candidate.replace("${" + pseudo + "}", value)
            candidates.append(candidate)
        return Unknown(description, candidates, per_world=True)

    def _ref(self, target: object) -> Any:
        if not isinstance(target, str):
            return Unknown("!Ref of a value that is not a name")
        if target == "AWS::NoValue":
            return _ABSENT
        if target in WORLDS[0]:
            return Unknown(f"!Ref {target}", [world[target] for world in WORLDS], per_world=True)
        if target in PSEUDO_PARAMETERS:
            return Unknown(f"!Ref {target}, known only at deploy")
        if target in self.linked:
            return self.linked[target]
        parameter = self.parameters.get(target)
        if isinstance(parameter, Mapping):
            allowed = parameter.get("AllowedValues")
            kind = "a NoEcho parameter" if str(parameter.get("NoEcho")).lower() == "true" else "a parameter"
            description = f"!Ref {self._named(target)}, {kind} given at deploy"
            if isinstance(allowed, list) and allowed and all(isinstance(v, str | int | float) for v in allowed):
                return Unknown(description, [str(value) for value in allowed][:MAX_CANDIDATES])
            return Unknown(description)
        resource = self.resources.get(target)
        if isinstance(resource, Mapping):
            shape = REF_SHAPES.get(str(resource.get("Type")))
            if shape is not None:
                found = self._text(shape, target)
                return Unknown(f"!Ref {self._named(target)}", found.candidates, per_world=True)
            return Unknown(f"!Ref {self._named(target)}, known only at deploy")
        return Unknown("!Ref of a name the template does not define")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id in self.linked:
            return self.linked[logical_id]
        resource = self.resources.get(logical_id)
        if not isinstance(resource, Mapping):
            return Unknown("!GetAtt of a resource the template does not define")
        description = f"!GetAtt {self._named(logical_id)}.{named(attribute)}"
        shape = GETATT_SHAPES.get((str(resource.get("Type")), attribute))
        if shape is None:
            return Unknown(f"{description}, known only at deploy")
        return Unknown(description, self._text(shape, logical_id).candidates, per_world=True)

    def _sub(self, argument: object) -> Any:
        variables: Mapping[str, Any]
        if isinstance(argument, str):
            text, variables = argument, {}
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], Mapping)
        ):
            text, variables = argument[0], argument[1]
        else:
            return Unknown("!Sub of an unexpected shape")
        parts: list[Any] = []
        names: list[str] = []
        position = 0
        for match in _SUB_VARIABLE.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            inner = match.group(1)
            if inner.startswith("!"):  # ${!Literal} is the text ${Literal}
                parts.append("${" + inner[1:] + "}")
                continue
            names.append(inner)
            if inner in variables:
                parts.append(self._api(variables[inner]))
            elif "." in inner and not inner.startswith("AWS::"):
                parts.append(self._get_att(*inner.split(".", 1)))
            else:
                parts.append(self._ref(inner))
        parts.append(text[position:])
        distinct = list(dict.fromkeys(self._named(name) for name in names))
        shown = ", ".join(distinct[:3]) + (" and others" if len(distinct) > 3 else "")
        return _concatenated(parts, f"!Sub of {shown}")

    def _join(self, argument: object) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
            return Unknown("!Join of an unexpected shape")
        delimiter, items = argument[0], self._api(argument[1])
        if not isinstance(items, list):
            return Unknown("!Join of a list known only at deploy")
        parts: list[Any] = []
        for index, item in enumerate(items):
            if index:
                parts.append(delimiter)
            parts.append(item)
        return _concatenated(parts, "!Join")

    def _if(self, argument: object) -> Any:
        condition = self._named(argument[0]) if isinstance(argument, list) and argument else "(a condition)"
        description = f"!If {condition}, decided at deploy"
        if not (isinstance(argument, list) and len(argument) == 3):
            return Unknown(description)
        branches = [self._api(branch) for branch in argument[1:]]
        texts: list[str] = []
        for branch in branches:
            if isinstance(branch, str | int | float) and not isinstance(branch, bool):
                texts.append(str(branch))
            elif type(branch) is Unknown and branch.candidates:
                texts.extend(branch.candidates)
            else:
                return Unknown(description)
        return Unknown(description, texts[:MAX_CANDIDATES]) if len(texts) <= MAX_CANDIDATES else Unknown(description)

    def _select(self, argument: object) -> Any:
        if isinstance(argument, list) and len(argument) == 2:
            index, items = self._api(argument[0]), self._api(argument[1])
            if isinstance(items, list) and isinstance(index, int | str) and str(index).isdigit():
                position = int(index)
                if position < len(items):
                    return items[position]
        return Unknown("!Select, known only at deploy")


def _concatenated(parts: list[Any], description: str) -> Any:
    """The text ``parts`` make, or an Unknown with every text they could make (up to MAX_CANDIDATES). Texts that
    depend on where the template deploys (pseudo parameters, a resource's ARN) are taken world by world, so an
    account of one world never meets a Region of another."""
    worldly = any(type(part) is Unknown and part.per_world for part in parts)
    texts: dict[str, None] = {}
    for world in range(len(WORLDS) if worldly else 1):
        combined = [""]
        for part in parts:
            if isinstance(part, str | int | float) and not isinstance(part, bool):
                options: tuple[Any, ...] = (str(part),)
            elif type(part) is Unknown and part.candidates:
                options = (part.candidates[world],) if part.per_world else part.candidates
            else:
                return Unknown(description)
            combined = [text + str(option) for text in combined for option in options]
            if len(combined) > MAX_CANDIDATES:
                return Unknown(description)
        texts.update(dict.fromkeys(combined))
    if len(texts) > MAX_CANDIDATES:
        return Unknown(description)
    if len(texts) == 1:
        return next(iter(texts))
    single = worldly and all(not (type(part) is Unknown and part.candidates and not part.per_world) for part in parts)
    return Unknown(description, list(texts), per_world=single and len(texts) == len(WORLDS))
