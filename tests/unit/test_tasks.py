"""What a standalone task runs: its task definition with the overrides applied as ECS applies them, and where each
overridden value came from."""

from __future__ import annotations

from ecsguard.core.tasks import TASK_DEFINITION_VIEW, effective_task_definition, origin_of

DEFINITION = {
    "family": "payments-api",
    "cpu": "512",
    "containerDefinitions": [
        {
            "name": "api",
            "command": ["serve"],
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "sidecar", "environment": [{"name": "A", "value": "side"}]},
    ],
}


def test_overrides_replace_same_named_variables_add_others_and_replace_commands_and_task_settings() -> None:
    overrides = {
        "cpu": "1024",
        "containerOverrides": [
            {"name": "api", "environment": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}]},
            {"name": "sidecar", "command": ["tail", "-f"], "memory": 128},
            {"name": "not-defined", "environment": [{"name": "X", "value": "ignored"}]},
        ],
    }

    effective, origins = effective_task_definition(DEFINITION, overrides)

    api, sidecar = effective["containerDefinitions"]
    assert api["environment"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two"},
        {"name": "C", "value": "3"},
    ]
    assert api["command"] == ["serve"]
    assert (sidecar["command"], sidecar["memory"], sidecar["environment"]) == (
        ["tail", "-f"],
        128,
        [DEFINITION["containerDefinitions"][1]["environment"][0]],
    )  # type: ignore[index]
    assert effective["cpu"] == "1024"
    view = TASK_DEFINITION_VIEW
    assert origins == {
        f"{view}.cpu": "overrides.cpu",
        f"{view}.containerDefinitions[0].environment[1]": "overrides.containerOverrides[0].environment[0]",
        f"{view}.containerDefinitions[0].environment[2]": "overrides.containerOverrides[0].environment[1]",
        f"{view}.containerDefinitions[1].command": "overrides.containerOverrides[1].command",
        f"{view}.containerDefinitions[1].memory": "overrides.containerOverrides[1].memory",
    }
    # the definition itself is left as it was
    assert DEFINITION["containerDefinitions"][0]["environment"][1] == {"name": "B", "value": "2"}  # type: ignore[index]


def test_origin_of_names_the_override_a_path_lies_in_and_leaves_others() -> None:
    view = TASK_DEFINITION_VIEW
    origins = {
        f"{view}.containerDefinitions[0].environment[1]": "overrides.containerOverrides[0].environment[0]",
        f"{view}.containerDefinitions[1].command": "overrides.containerOverrides[1].command",
    }

    assert origin_of(f"{view}.containerDefinitions[0].environment[1].value", origins) == (
        "overrides.containerOverrides[0].environment[0].value"
    )
    assert (
        origin_of(f"{view}.containerDefinitions[1].command[2]", origins) == "overrides.containerOverrides[1].command[2]"
    )
    # a neighbour whose path merely begins with the same characters is not inside it
    assert origin_of(f"{view}.containerDefinitions[0].environment[10]", origins) == (
        f"{view}.containerDefinitions[0].environment[10]"
    )
    assert origin_of(f"{view}.networkMode", origins) == f"{view}.networkMode"
    assert origin_of("platformVersion", {}) == "platformVersion"


def test_no_overrides_is_the_definition_itself() -> None:
    effective, origins = effective_task_definition(DEFINITION, None)
    assert (effective, origins) == (DEFINITION, {})
