"""Hand-written Python twins of four built-in policies, over the raw ECS API dicts: no ecsguard import.

The checks read their regular expressions and parameter defaults from the policy files themselves (and stop if a
policy's structure changed under them), so they check what the policies check. ``throughput.py`` runs them in
its process next to the engine, and ``scan_process.py`` in a separate process of its own, where importing
nothing but the standard library and PyYAML keeps the comparison with ``ecsguard scan`` fair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPOSITORY = Path(__file__).resolve().parents[1]
POLICY_DIR = REPOSITORY / "policies"

SECRETS = "ecs-secrets-managed"
IMAGES = "ecs-images-ecr-only"
NETWORK = "ecs-network-awsvpc"
EFS = "ecs-efs-fargate-platform"
# The policies HandWritten has a twin of; a policy set may hold others.
TASK_DEFINITION_POLICIES = (SECRETS, IMAGES, NETWORK)
SERVICE_POLICIES = (EFS,)
TWINNED = frozenset((*TASK_DEFINITION_POLICIES, *SERVICE_POLICIES))

PASS, FAIL, NOT_APPLICABLE, ERROR = "PASS", "FAIL", "NOT_APPLICABLE", "ERROR"
Raw = dict[str, Any]


def _dig(document: Any, path: str, field: str | None = None, op: str | None = None) -> Any:
    """Follow ``a.0.b`` into a policy document; check the comparison found there is the expected one."""
    node = document
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    if (field is not None or op is not None) and (node.get("field") != field or node.get("op") != op):
        raise SystemExit(f"bench: the policy changed at {path} (expected field {field!r}, op {op!r}): update it")
    return node


def _load_policy_document(name: str) -> dict[str, Any]:
    with (POLICY_DIR / f"{name}.yaml").open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def _defaults(document: Mapping[str, Any]) -> dict[str, Any]:
    return {name: declared["default"] for name, declared in document.get("parameters", {}).items()}


class HandResult(NamedTuple):
    policy_id: str
    status: str
    evidence: tuple[tuple[str, str], ...] = ()


class HandWritten:
    """The four checks written directly against the ECS API dicts, with the policies' own patterns."""

    def __init__(self) -> None:
        secrets_doc = _load_policy_document(SECRETS)
        secrets = _defaults(secrets_doc)
        self.secret_names = frozenset(secrets["secret_names"])
        self.secret_name = re.compile(secrets["secret_name_pattern"])
        self.descriptive_name = re.compile(secrets["descriptive_name_pattern"])
        self.non_secret_value = re.compile(secrets["non_secret_value_pattern"])
        variable = "check.all.0.require.all.0.require.all.0.not.all"
        self.non_blank = re.compile(_dig(secrets_doc, f"{variable}.1", "value", "matches")["value"])
        patterns: dict[str, str] = secrets["credential_patterns"]
        # One search per pattern: measured faster here than one alternation of them all (which defeats the
        # regex engine's literal-prefix scan), so this is the fairer baseline.
        self.credentials = tuple((name, re.compile(pattern)) for name, pattern in patterns.items())
        reference = "check.all.0.require.all.1.require.all.0.any"
        self.secrets_manager_arn = re.compile(_dig(secrets_doc, f"{reference}.0", "valueFrom", "matches")["value"])
        self.ssm_parameter = re.compile(_dig(secrets_doc, f"{reference}.1", "valueFrom", "matches")["value"])
        self.allow_environment_files: bool = secrets["allow_environment_files"]
        self.arguments = tuple(re.compile(pattern) for pattern in secrets["argument_patterns"].values())
        volume = "check.all.1.require.all"
        self.mount_password = re.compile(
            _dig(secrets_doc, f"{volume}.0.require.all.1.not", "value", "matches")["value"]
        )
        fsx = "fsxWindowsFileServerVolumeConfiguration.authorizationConfig.credentialsParameter"
        self.fsx_reference = re.compile(_dig(secrets_doc, f"{volume}.1.any.1", fsx, "matches")["value"])

        images_doc = _load_policy_document(IMAGES)
        images = _defaults(images_doc)
        self.private_ecr = re.compile(_dig(images_doc, "check.require.any.0.all.0", "image", "matches")["value"])
        self.ecr_account = re.compile(_dig(images_doc, "check.require.any.0.all.1.any.1", "image", "in")["capture"])
        self.public_ecr = re.compile(_dig(images_doc, "check.require.any.1.all.1", "image", "matches")["value"])
        self.allowed_account_ids = frozenset(images["allowed_account_ids"])
        self.allow_ecr_public: bool = images["allow_ecr_public"]

        network_doc = _load_policy_document(NETWORK)
        self.allowed_network_modes = frozenset(_defaults(network_doc)["allowed_network_modes"])
        self.default_network_mode: str = _dig(network_doc, "check", "networkMode", "in")["default"]

        efs_doc = _load_policy_document(EFS)
        self.minimum_platform_version = _version(_defaults(efs_doc)["minimum_platform_version"])
        self.fargate_providers = frozenset(_dig(efs_doc, "applies_when.all.0.any.1.require")["value"])

    # task definitions

    def task_definition(self, task: Raw) -> list[HandResult]:
        containers = task.get("containerDefinitions") or []
        return [self.secrets(containers, task.get("volumes") or []), self.images(containers), self.network(task)]

    def _plaintext_entry(self, key: str, value: Any) -> bool:
        """A map entry (log option, label, driver option) holding a plaintext secret or a credential."""
        if not isinstance(value, str):
            return False
        secret_like = self.secret_name.search(key) and not self.descriptive_name.search(key)
        if secret_like and self.non_blank.search(value) and not self.non_secret_value.search(value):
            return True
        return self.credential(value) is not None

    def _plaintext_word(self, word: str) -> bool:
        return any(pattern.search(word) for pattern in self.arguments) or self.credential(word) is not None

    def _managed_reference(self, value_from: str | None) -> bool:
        if value_from is None:
            return False
        if not (self.secrets_manager_arn.search(value_from) or self.ssm_parameter.search(value_from)):
            return False
        return self.credential(value_from) is None

    def credential(self, value: str) -> str | None:
        """The name of the first credential pattern that the value matches, if any."""
        for name, pattern in self.credentials:
            if pattern.search(value):
                return name
        return None

    def secrets(self, containers: list[Raw], volumes: Sequence[Raw] = ()) -> HandResult:
        evidence: list[tuple[str, str]] = []
        for v, volume in enumerate(volumes):
            options = (volume.get("dockerVolumeConfiguration") or {}).get("driverOpts") or {}
            for o, (key, value) in enumerate(options.items()):
                if self._plaintext_entry(key, value) or (isinstance(value, str) and self.mount_password.search(value)):
                    evidence.append((f"volumes[{v}].dockerVolumeConfiguration.driverOpts[{o}]", "driver option"))
            fsx = (volume.get("fsxWindowsFileServerVolumeConfiguration") or {}).get("authorizationConfig") or {}
            parameter = fsx.get("credentialsParameter")
            if parameter and not self.fsx_reference.search(parameter):
                evidence.append((f"volumes[{v}].fsxWindowsFileServerVolumeConfiguration", "FSx credentials"))
        for c, container in enumerate(containers):
            label = container.get("name")
            maps = (
                ("logConfiguration.options", (container.get("logConfiguration") or {}).get("options")),
                ("firelensConfiguration.options", (container.get("firelensConfiguration") or {}).get("options")),
                ("dockerLabels", container.get("dockerLabels")),
            )
            for where, entries in maps:
                for e, (key, value) in enumerate((entries or {}).items()):
                    if self._plaintext_entry(key, value):
                        evidence.append((f"containerDefinitions[{c}].{where}[{e}]", f"container {label}: {where}"))
            words = (
                ("command", container.get("command")),
                ("entryPoint", container.get("entryPoint")),
                ("healthCheck.command", (container.get("healthCheck") or {}).get("command")),
            )
            for where, listed in words:
                for w, word in enumerate(listed or ()):
                    if self._plaintext_word(word):
                        evidence.append((f"containerDefinitions[{c}].{where}[{w}]", f"container {label}: {where}"))
            for v, variable in enumerate(container.get("environment") or ()):
                name, value = variable.get("name"), variable.get("value")
                if value is None:
                    continue
                if (
                    name is not None
                    and (
                        name in self.secret_names
                        or (self.secret_name.search(name) and not self.descriptive_name.search(name))
                    )
                    and self.non_blank.search(value)
                    and not self.non_secret_value.search(value)
                ):
                    evidence.append(
                        (
                            f"containerDefinitions[{c}].environment[{v}]",
                            f"container {label}: {name} is a plaintext secret",
                        )
                    )
                found = self.credential(value)
                if found is not None:
                    evidence.append(
                        (
                            f"containerDefinitions[{c}].environment[{v}].value",
                            f"container {label}: {name} holds a {found}",
                        )
                    )
            for s, secret in enumerate(container.get("secrets") or ()):
                if not self._managed_reference(secret.get("valueFrom")):
                    evidence.append(
                        (
                            f"containerDefinitions[{c}].secrets[{s}]",
                            f"container {label}: secret {secret.get('name')} is not managed",
                        )
                    )
            log_configuration = container.get("logConfiguration")
            if log_configuration is not None:
                for o, option in enumerate(log_configuration.get("secretOptions") or ()):
                    if not self._managed_reference(option.get("valueFrom")):
                        evidence.append(
                            (
                                f"containerDefinitions[{c}].logConfiguration.secretOptions[{o}]",
                                f"container {label}: log option not managed",
                            )
                        )
            credentials = container.get("repositoryCredentials")
            if credentials is not None:
                parameter = credentials.get("credentialsParameter")
                if parameter is None or not self.secrets_manager_arn.search(parameter):
                    evidence.append(
                        (
                            f"containerDefinitions[{c}].repositoryCredentials",
                            f"container {label}: not a Secrets Manager ARN",
                        )
                    )
            if not self.allow_environment_files and container.get("environmentFiles"):
                evidence.append(
                    (f"containerDefinitions[{c}].environmentFiles", f"container {label} loads environmentFiles")
                )
        return HandResult(SECRETS, FAIL if evidence else PASS, tuple(evidence))

    def images(self, containers: list[Raw]) -> HandResult:
        evidence: list[tuple[str, str]] = []
        for c, container in enumerate(containers):
            image = container.get("image")
            if image is not None:
                if self.private_ecr.search(image):
                    if not self.allowed_account_ids:
                        continue
                    account = self.ecr_account.search(image)
                    if account is not None and account.group(1) in self.allowed_account_ids:
                        continue
                if self.allow_ecr_public and self.public_ecr.search(image):
                    continue
            evidence.append((f"containerDefinitions[{c}].image", f"container {container.get('name')} uses {image}"))
        return HandResult(IMAGES, FAIL if evidence else PASS, tuple(evidence))

    def network(self, task: Raw) -> HandResult:
        mode = task.get("networkMode")
        if mode is None:
            mode = self.default_network_mode
        if mode in self.allowed_network_modes:
            return HandResult(NETWORK, PASS)
        return HandResult(NETWORK, FAIL, (("networkMode", f"networkMode is {mode}"),))

    # services

    def service(self, service: Raw, task: Raw | None, cluster: Raw | None) -> list[HandResult]:
        return [self.efs_platform(service, task, cluster)]

    def efs_platform(self, service: Raw, task: Raw | None, cluster: Raw | None) -> HandResult:
        launch_type = service.get("launchType")
        strategy = service.get("capacityProviderStrategy")
        fargate = launch_type == "FARGATE" or any(
            item.get("capacityProvider") in self.fargate_providers for item in strategy or ()
        )
        if not fargate and not launch_type and not strategy:
            if cluster is None:
                return HandResult(EFS, ERROR)
            default = cluster.get("defaultCapacityProviderStrategy") or ()
            fargate = any(item.get("capacityProvider") in self.fargate_providers for item in default)
        if not fargate:
            return HandResult(EFS, NOT_APPLICABLE)
        if task is None:
            return HandResult(EFS, ERROR)
        if not any(volume.get("efsVolumeConfiguration") is not None for volume in task.get("volumes") or ()):
            return HandResult(EFS, NOT_APPLICABLE)
        version = service.get("platformVersion")
        if not version or version == "LATEST":
            return HandResult(EFS, PASS)
        try:
            if _version(version) >= self.minimum_platform_version:
                return HandResult(EFS, PASS)
        except ValueError:
            return HandResult(EFS, ERROR)
        return HandResult(EFS, FAIL, (("platformVersion", f"platform version {version} is too old for EFS"),))


def _version(text: str) -> tuple[int, ...]:
    """``1.4.0`` -> (1, 4): trailing zeros dropped so that 1.4 == 1.4.0; ValueError if not a dotted version."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    parts = digits.split(".")
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError("not a dotted numeric version")
    numbers = [int(part) for part in parts]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)
