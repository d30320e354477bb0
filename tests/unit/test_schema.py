"""Field paths: parsing, resolution against the resource models, and sensitive marking."""

from __future__ import annotations

import pytest

from ecsguard.core.models import ContainerDefinition, Service, TaskDefinition
from ecsguard.core.schema import ParsedPath, PathError, SchemaNode, Step, parse_path, resolve_schema, schema_for_model

TASK_DEFINITION = schema_for_model(TaskDefinition)
SERVICE = schema_for_model(Service)


def resolve(text: str, root: SchemaNode = TASK_DEFINITION) -> SchemaNode:
    return resolve_schema(root, parse_path(text))


# --- parse_path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variable", "steps"),
    [
        ("networkMode", None, ("networkMode",)),
        ("runtimePlatform.cpuArchitecture", None, ("runtimePlatform", "cpuArchitecture")),
        ("a.b.c", None, ("a", "b", "c")),
        ("containerDefinitions[]", None, ("containerDefinitions", None)),
        (
            "containerDefinitions[].environment[].name",
            None,
            ("containerDefinitions", None, "environment", None, "name"),
        ),
        ("a[][]", None, ("a", None, None)),
        ("$container", "container", ()),
        ("$container.name", "container", ("name",)),
        (
            "$taskDefinition.volumes[].efsVolumeConfiguration",
            "taskDefinition",
            ("volumes", None, "efsVolumeConfiguration"),
        ),
        ("$_private.x", "_private", ("x",)),
        ("dockerLabels.com-example_key", None, ("dockerLabels", "com-example_key")),
        ("  networkMode  ", None, ("networkMode",)),
    ],
)
def test_parse_path_well_formed_text_returns_steps(
    text: str, variable: str | None, steps: tuple[str | None, ...]
) -> None:
    assert parse_path(text) == ParsedPath(variable=variable, steps=tuple(Step(name) for name in steps), text=text)


@pytest.mark.parametrize(
    ("text", "iterates"),
    [
        ("networkMode", False),
        ("$container.name", False),
        ("containerDefinitions[]", True),
        ("$c.environment[].name", True),
    ],
)
def test_parsed_path_iterates_only_with_brackets(text: str, iterates: bool) -> None:
    assert parse_path(text).iterates is iterates


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a field path must be a non-empty string"),
        ("   ", "a field path must be a non-empty string"),
        ("[]", "path '[]' cannot start with '[]'"),
        ("[].image", "path '[].image' cannot start with '[]'"),
        ("$container[]", "path '$container[]' cannot start with '[]'"),
        ("networkMode.", "expected a field name at offset 12 of path 'networkMode.'"),
        (".networkMode", "expected a field name at offset 0 of path '.networkMode'"),
        ("a..b", "expected a field name at offset 2 of path 'a..b'"),
        ("a.[]", "expected a field name at offset 2 of path 'a.[]'"),
        ("a[].", "expected a field name at offset 4 of path 'a[].'"),
        ("1abc", "expected a field name at offset 0 of path '1abc'"),
        ("a[]b", "expected '.' or '[]' at offset 3 of path 'a[]b'"),
        ("containerDefinitions[0]", "expected '.' or '[]' at offset 20 of path 'containerDefinitions[0]'"),
        ("network Mode", "expected '.' or '[]' at offset 7 of path 'network Mode'"),
        ("$", "malformed variable in path '$'"),
        ("$.name", "malformed variable in path '$.name'"),
        ("$1c.name", "malformed variable in path '$1c.name'"),
        ("$container.", "path '$container.' ends with '.'"),
    ],
)
def test_parse_path_malformed_text_raises_path_error(text: str, message: str) -> None:
    with pytest.raises(PathError) as raised:
        parse_path(text)
    assert str(raised.value) == message


@pytest.mark.parametrize("value", [None, 5, ["networkMode"]])
def test_parse_path_non_string_raises_path_error(value: object) -> None:
    with pytest.raises(PathError) as raised:
        parse_path(value)  # type: ignore[arg-type]
    assert str(raised.value) == "a field path must be a non-empty string"


# --- resolve_schema ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("netwrkMode", "unknown field 'netwrkMode' in the resource (did you mean 'networkMode'?)"),
        ("containerDefinitions[].imag", "unknown field 'imag' in 'containerDefinitions[]' (did you mean 'image'?)"),
        (
            "containerDefinitions[].environment[].nmae",
            "unknown field 'nmae' in 'containerDefinitions[].environment[]' (did you mean 'name'?)",
        ),
        ("zzzzzz", "unknown field 'zzzzzz' in the resource"),
    ],
)
def test_resolve_schema_unknown_field_raises_with_suggestion(text: str, message: str) -> None:
    with pytest.raises(PathError) as raised:
        resolve(text)
    assert str(raised.value) == message


def test_resolve_schema_unknown_field_under_variable_names_the_variable() -> None:
    container = schema_for_model(ContainerDefinition)
    with pytest.raises(PathError) as raised:
        resolve("$container.imag", container)
    assert str(raised.value) == "unknown field 'imag' in '$container' (did you mean 'image'?)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "containerDefinitions.image",
            "'containerDefinitions' is a list: write 'containerDefinitions[].image' to look into its items",
        ),
        (
            "containerDefinitions[].environment.name",
            "'containerDefinitions[].environment' is a list: write 'containerDefinitions[].environment[].name' "
            "to look into its items",
        ),
    ],
)
def test_resolve_schema_field_of_list_without_brackets_raises(text: str, message: str) -> None:
    with pytest.raises(PathError) as raised:
        resolve(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("networkMode[]", "'networkMode' is not a list, so '[]' cannot follow it"),
        ("runtimePlatform[]", "'runtimePlatform' is not a list, so '[]' cannot follow it"),
        ("containerDefinitions[][]", "'containerDefinitions[]' is not a list, so '[]' cannot follow it"),
        (
            "containerDefinitions[].dockerLabels[][]",
            "'containerDefinitions[].dockerLabels[]' is not a list, so '[]' cannot follow it",
        ),
    ],
)
def test_resolve_schema_brackets_on_non_list_raises(text: str, message: str) -> None:
    with pytest.raises(PathError) as raised:
        resolve(text)
    assert str(raised.value) == message


def test_resolve_schema_field_of_scalar_raises() -> None:
    with pytest.raises(PathError) as raised:
        resolve("networkMode.value")
    assert str(raised.value) == "'networkMode' is a str, it has no field 'value'"


@pytest.mark.parametrize(
    "text",
    [
        "containerDefinitions[].dockerLabels.team",
        "containerDefinitions[].dockerLabels.com-example-owner",
        "containerDefinitions[].logConfiguration.options.awslogs-group",
        "volumes[].dockerVolumeConfiguration.labels.anything_at_all",
        "volumes[].dockerVolumeConfiguration.driverOpts.device",
    ],
)
def test_resolve_schema_map_field_accepts_any_key_as_scalar(text: str) -> None:
    assert resolve(text).kind == "scalar"


@pytest.mark.parametrize(
    ("text", "kind", "type_name"),
    [
        ("networkMode", "scalar", "str"),
        ("revision", "scalar", "int"),
        ("cpu", "scalar", "str|int|float|bool"),
        ("containerDefinitions", "list", "any"),
        ("containerDefinitions[]", "object", "ContainerDefinition"),
        ("containerDefinitions[].linuxParameters.capabilities.add", "list", "any"),
        ("containerDefinitions[].linuxParameters.capabilities.add[]", "scalar", "str"),
        ("containerDefinitions[].dockerLabels", "map", "map"),
        ("volumes[].efsVolumeConfiguration", "object", "EfsVolumeConfiguration"),
    ],
)
def test_resolve_schema_known_path_returns_node_kind(text: str, kind: str, type_name: str) -> None:
    node = resolve(text)
    assert (node.kind, node.type_name) == (kind, type_name)


def test_resolve_schema_service_path_resolves() -> None:
    node = resolve("networkConfiguration.awsvpcConfiguration.assignPublicIp", SERVICE)
    assert (node.kind, node.type_name) == ("scalar", "str")


# --- sensitive marking ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "containerDefinitions[].environment[].value",
        "containerDefinitions[].secrets[].valueFrom",
        "containerDefinitions[].logConfiguration.secretOptions[].valueFrom",
        "containerDefinitions[].repositoryCredentials.credentialsParameter",
        "containerDefinitions[].dockerLabels",
        "containerDefinitions[].dockerLabels.team",
        "containerDefinitions[].logConfiguration.options.awslogs-group",
        "containerDefinitions[].firelensConfiguration.options.key",
        "volumes[].dockerVolumeConfiguration.driverOpts.device",
        "proxyConfiguration.properties[].value",
    ],
)
def test_resolve_schema_secret_bearing_field_is_sensitive(text: str) -> None:
    assert resolve(text).sensitive is True


@pytest.mark.parametrize(
    "text",
    [
        "containerDefinitions[].environment[].name",
        "containerDefinitions[].secrets[].name",
        "containerDefinitions[].environment",
        "containerDefinitions[].repositoryCredentials",
        "containerDefinitions[].image",
        "containerDefinitions[].environmentFiles[].value",
        "networkMode",
    ],
)
def test_resolve_schema_ordinary_field_is_not_sensitive(text: str) -> None:
    assert resolve(text).sensitive is False


def test_schema_for_model_task_definition_declares_every_model_field() -> None:
    assert TASK_DEFINITION.kind == "object"
    assert set(TASK_DEFINITION.fields) == set(TaskDefinition.model_fields)
    assert schema_for_model(TaskDefinition) is TASK_DEFINITION  # cached


def test_resolve_schema_brackets_on_a_map_give_its_entries_with_key_and_sensitive_value() -> None:
    entry = resolve("containerDefinitions[].dockerLabels[]")
    assert (entry.kind, sorted(entry.fields)) == ("object", ["key", "value"])
    assert resolve("containerDefinitions[].dockerLabels[].value").sensitive
    assert not resolve("containerDefinitions[].dockerLabels[].key").sensitive
    assert resolve("containerDefinitions[].logConfiguration.options[].value").sensitive
