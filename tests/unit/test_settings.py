"""Settings from ECSGUARD_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ecsguard.core.models import Severity
from ecsguard.settings import Settings, SettingsError

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ecsguard-findings"
PREFIX = "invalid ecsguard settings: "
DEFAULTS: dict[str, Any] = {
    "policy_dir": None,
    "topic_arn": None,
    "security_hub": True,
    "notify_min_severity": Severity.LOW,
    "import_passed": True,
    "dry_run": False,
    "parameters": {},
    "aws_max_attempts": 5,
    "member_role_name": None,
    "sweep_regions": [],
    "sweep_accounts": [],
    "sweep_concurrency": 20,
    "packs": ["mission", "fsbp"],
    "exemptions": None,
    "exemptions_max_lifetime_days": 365,
}
VARIABLES = [
    "ECSGUARD_POLICY_DIR",
    "ECSGUARD_TOPIC_ARN",
    "ECSGUARD_SECURITY_HUB",
    "ECSGUARD_NOTIFY_MIN_SEVERITY",
    "ECSGUARD_IMPORT_PASSED",
    "ECSGUARD_DRY_RUN",
    "ECSGUARD_PARAMETERS",
    "ECSGUARD_AWS_MAX_ATTEMPTS",
    "ECSGUARD_PACKS",
]


def settings_error(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environment(environ)
    return str(caught.value)


# --- defaults and parsing -------------------------------------------------------------------------


def test_settings_empty_environment_gives_defaults() -> None:
    assert Settings.from_environment({}).model_dump() == DEFAULTS


def test_settings_other_variables_are_ignored() -> None:
    environ = {"PATH": "/usr/bin", "AWS_REGION": "us-east-1", "ECSGUARDTOPIC": "x", "ecsguard_topic": "x"}

    assert Settings.from_environment(environ).model_dump() == DEFAULTS


def test_settings_every_variable_set_is_parsed(tmp_path: Path) -> None:
    environ = {
        "ECSGUARD_POLICY_DIR": str(tmp_path),
        "ECSGUARD_TOPIC_ARN": TOPIC_ARN,
        "ECSGUARD_SECURITY_HUB": "false",
        "ECSGUARD_NOTIFY_MIN_SEVERITY": "high",
        "ECSGUARD_IMPORT_PASSED": "no",
        "ECSGUARD_DRY_RUN": "yes",
        "ECSGUARD_PARAMETERS": '{"ecs-images-ecr-only": {"allow_ecr_public": true}}',
        "ECSGUARD_AWS_MAX_ATTEMPTS": "7",
        "ECSGUARD_MEMBER_ROLE_NAME": "ecsguard-member",
        "ECSGUARD_SWEEP_REGIONS": "us-east-1, eu-west-1",
        "ECSGUARD_SWEEP_ACCOUNTS": "111122223333, 444455556666",
        "ECSGUARD_SWEEP_CONCURRENCY": "50",
        "ECSGUARD_PACKS": "fsbp, hardening",
        "ECSGUARD_EXEMPTIONS": str(tmp_path / "exemptions.yaml"),
        "ECSGUARD_EXEMPTIONS_MAX_LIFETIME_DAYS": "90",
    }
    (tmp_path / "exemptions.yaml").write_text("exemptions: []\n", encoding="utf-8")

    assert Settings.from_environment(environ).model_dump() == {
        "policy_dir": tmp_path,
        "topic_arn": TOPIC_ARN,
        "security_hub": False,
        "notify_min_severity": Severity.HIGH,
        "import_passed": False,
        "dry_run": True,
        "parameters": {"ecs-images-ecr-only": {"allow_ecr_public": True}},
        "aws_max_attempts": 7,
        "member_role_name": "ecsguard-member",
        "sweep_regions": ["us-east-1", "eu-west-1"],
        "sweep_accounts": ["111122223333", "444455556666"],
        "sweep_concurrency": 50,
        "packs": ["fsbp", "hardening"],
        "exemptions": tmp_path / "exemptions.yaml",
        "exemptions_max_lifetime_days": 90,
    }


@pytest.mark.parametrize("text", ["12345678901", "1111222233334", "111122223333,abc", "1111-2222-3333"])
def test_settings_sweep_accounts_not_account_ids_names_the_position_not_the_text(text: str) -> None:
    problem = settings_error({"ECSGUARD_SWEEP_ACCOUNTS": text})

    assert problem.startswith("invalid ecsguard settings: ECSGUARD_SWEEP_ACCOUNTS: Value error, account ")
    assert "is not a 12-digit account id" in problem
    assert text.rsplit(",", maxsplit=1)[-1] not in problem


@pytest.mark.parametrize("text", ["0", "1001", "many"])
def test_settings_sweep_concurrency_out_of_range_names_the_variable(text: str) -> None:
    assert settings_error({"ECSGUARD_SWEEP_CONCURRENCY": text}).startswith(
        "invalid ecsguard settings: ECSGUARD_SWEEP_CONCURRENCY: "
    )


def test_settings_exemptions_must_name_a_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    assert settings_error({"ECSGUARD_EXEMPTIONS": str(missing)}) == (
        f"{PREFIX}ECSGUARD_EXEMPTIONS: Value error, '{missing}' is not a file"
    )
    assert settings_error({"ECSGUARD_EXEMPTIONS_MAX_LIFETIME_DAYS": "0"}).startswith(
        f"{PREFIX}ECSGUARD_EXEMPTIONS_MAX_LIFETIME_DAYS: "
    )


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("mission", ["mission"]),
        ("all", None),
        ("fsbp,all", None),
        (" control-tower , hardening ", ["control-tower", "hardening"]),
    ],
)
def test_settings_packs_select_those_packs_or_every_pack(text: str, selected: list[str] | None) -> None:
    assert Settings.from_environment({"ECSGUARD_PACKS": text}).selected_packs() == selected


@pytest.mark.parametrize("text", ["FSBP", "fsbp;hardening", ",", "pack one"])
def test_settings_packs_not_pack_names_is_error_naming_the_variable(text: str) -> None:
    assert settings_error({"ECSGUARD_PACKS": text}).startswith("invalid ecsguard settings: ECSGUARD_PACKS")


@pytest.mark.parametrize("variable", ["ECSGUARD_SECURITY_HUB", "ECSGUARD_IMPORT_PASSED", "ECSGUARD_DRY_RUN"])
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        (" true ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("No", False),
    ],
)
def test_settings_boolean_variable_text_gives_boolean(variable: str, text: str, value: bool) -> None:
    settings = Settings.from_environment({variable: text})

    field = variable.removeprefix("ECSGUARD_").lower()
    assert getattr(settings, field) is value
    assert settings.model_dump() == {**DEFAULTS, field: value}


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("informational", Severity.INFORMATIONAL),
        ("low", Severity.LOW),
        ("Medium", Severity.MEDIUM),
        ("HIGH", Severity.HIGH),
        (" critical ", Severity.CRITICAL),
    ],
)
def test_settings_notify_min_severity_any_case_gives_severity(text: str, severity: Severity) -> None:
    assert Settings.from_environment({"ECSGUARD_NOTIFY_MIN_SEVERITY": text}).notify_min_severity is severity


@pytest.mark.parametrize(
    "arn",
    [
        TOPIC_ARN,
        "arn:aws-cn:sns:cn-north-1:123456789012:ecsguard_findings",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:Findings-1",
    ],
)
def test_settings_topic_arn_sns_arn_is_accepted(arn: str) -> None:
    assert Settings.from_environment({"ECSGUARD_TOPIC_ARN": arn}).topic_arn == arn


def test_settings_parameters_json_gives_overrides() -> None:
    text = '{"ecs-network-awsvpc": {"allowed_network_modes": ["awsvpc", "host"]}, "ecs-images-ecr-only": {}}'

    settings = Settings.from_environment({"ECSGUARD_PARAMETERS": text})

    assert settings.parameters == {
        "ecs-network-awsvpc": {"allowed_network_modes": ["awsvpc", "host"]},
        "ecs-images-ecr-only": {},
    }


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("20", 20), ("5", 5)])
def test_settings_aws_max_attempts_in_range_is_parsed(text: str, value: int) -> None:
    assert Settings.from_environment({"ECSGUARD_AWS_MAX_ATTEMPTS": text}).aws_max_attempts == value


@pytest.mark.parametrize("variable", VARIABLES)
def test_settings_empty_value_means_unset(variable: str) -> None:
    assert Settings.from_environment({variable: ""}).model_dump() == DEFAULTS


def test_settings_empty_unknown_variable_is_unset() -> None:
    assert Settings.from_environment({"ECSGUARD_TOPIC": ""}).model_dump() == DEFAULTS


def test_settings_are_frozen() -> None:
    settings = Settings.from_environment({})

    with pytest.raises(ValueError, match="frozen"):
        settings.dry_run = True  # type: ignore[misc]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["ECSGUARD_SECURITY_HUB", "ECSGUARD_IMPORT_PASSED", "ECSGUARD_DRY_RUN"])
@pytest.mark.parametrize("text", ["maybe", "2", "enabled", " "])
def test_settings_boolean_variable_bad_text_names_variable(variable: str, text: str) -> None:
    assert settings_error({variable: text}) == f"{PREFIX}{variable}: Value error, must be true or false"


@pytest.mark.parametrize("text", ["severe", "WARN", "0"])
def test_settings_notify_min_severity_unknown_names_variable(text: str) -> None:
    assert settings_error({"ECSGUARD_NOTIFY_MIN_SEVERITY": text}) == (
        f"{PREFIX}ECSGUARD_NOTIFY_MIN_SEVERITY: Input should be 'INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'"
    )


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:sqs:us-east-1:123456789012:ecsguard-findings",
        "ecsguard-findings",
        "arn:aws:sns:us-east-1:1234:ecsguard-findings",
        "arn:aws:sns:us-east-1:123456789012:ecsguard findings",
        "https://sns.us-east-1.amazonaws.com/123456789012/ecsguard-findings",
    ],
)
def test_settings_topic_arn_not_sns_arn_names_variable(text: str) -> None:
    message = settings_error({"ECSGUARD_TOPIC_ARN": text})

    assert message.startswith(f"{PREFIX}ECSGUARD_TOPIC_ARN: String should match pattern ")


def test_settings_policy_dir_missing_names_variable(tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    assert settings_error({"ECSGUARD_POLICY_DIR": str(missing)}) == (
        f"{PREFIX}ECSGUARD_POLICY_DIR: Value error, '{missing}' is not a folder"
    )


def test_settings_policy_dir_file_names_variable(tmp_path: Path) -> None:
    file = tmp_path / "ecs-network-awsvpc.yaml"
    file.write_text("id: x\n", encoding="utf-8")

    assert settings_error({"ECSGUARD_POLICY_DIR": str(file)}) == (
        f"{PREFIX}ECSGUARD_POLICY_DIR: Value error, '{file}' is not a folder"
    )


def test_settings_parameters_not_json_names_variable() -> None:
    message = settings_error({"ECSGUARD_PARAMETERS": "{allow_ecr_public: true"})

    assert message.startswith(f"{PREFIX}ECSGUARD_PARAMETERS: Value error, must be JSON: ")


@pytest.mark.parametrize(
    "text",
    [
        '["ecs-images-ecr-only"]',
        '"ecs-images-ecr-only"',
        '{"ecs-images-ecr-only": true}',
        '{"ecs-images-ecr-only": ["allow_ecr_public"]}',
    ],
    ids=["list", "string", "policy-value-not-object", "policy-value-list"],
)
def test_settings_parameters_wrong_shape_names_variable(text: str) -> None:
    message = settings_error({"ECSGUARD_PARAMETERS": text})

    assert message.startswith(f"{PREFIX}ECSGUARD_PARAMETERS")
    assert "Input should be a valid dictionary" in message


@pytest.mark.parametrize("text", ["0", "21", "many", "2.5"])
def test_settings_aws_max_attempts_bad_value_names_variable(text: str) -> None:
    assert settings_error({"ECSGUARD_AWS_MAX_ATTEMPTS": text}).startswith(f"{PREFIX}ECSGUARD_AWS_MAX_ATTEMPTS: ")


@pytest.mark.parametrize(
    "variable", ["ECSGUARD_TOPIC", "ECSGUARD_DRYRUN", "ECSGUARD_SECURITYHUB", "ECSGUARD_LOG_LEVEL"]
)
def test_settings_unknown_variable_is_error_naming_it(variable: str) -> None:
    assert settings_error({variable: "x"}) == f"{PREFIX}{variable}: Extra inputs are not permitted"


def test_settings_several_problems_are_all_named() -> None:
    message = settings_error(
        {"ECSGUARD_TOPIC": TOPIC_ARN, "ECSGUARD_DRY_RUN": "maybe", "ECSGUARD_NOTIFY_MIN_SEVERITY": "severe"}
    )

    problems = message.removeprefix(PREFIX).split("; ")
    assert sorted(problem.split(":", 1)[0] for problem in problems) == [
        "ECSGUARD_DRY_RUN",
        "ECSGUARD_NOTIFY_MIN_SEVERITY",
        "ECSGUARD_TOPIC",
    ]
