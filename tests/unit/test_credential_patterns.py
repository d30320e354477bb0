"""The default patterns of ecs-secrets-managed, read from the policy file as shipped.

Credential-shaped samples are assembled from pieces at run time so that this file
does not itself trip secret scanners; none of them is a live credential.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsguard.core.operators import OPERATORS

POLICY_FILE = Path(__file__).resolve().parents[2] / "policies" / "ecs-secrets-managed.yaml"


def _defaults() -> dict[str, Any]:
    document = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    return {name: declared["default"] for name, declared in document["parameters"].items()}


DEFAULTS = _defaults()
CREDENTIAL_PATTERNS: dict[str, str] = DEFAULTS["credential_patterns"]
SECRET_NAME = re.compile(DEFAULTS["secret_name_pattern"])
DESCRIPTIVE_NAME = re.compile(DEFAULTS["descriptive_name_pattern"])
NON_SECRET_VALUE = re.compile(DEFAULTS["non_secret_value_pattern"])
COMBINED = OPERATORS["matches_any"].prepare(CREDENTIAL_PATTERNS)

# Filler with the character classes real tokens use (upper, lower, digits).
FILL = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5L7nP9rS1tU3wX5zA7cE9"
AWS_EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # the access key id AWS documents as an example
JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
JWT_PAYLOAD = "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
JWT_SIGNATURE = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


def fill(length: int) -> str:
    return (FILL * (length // len(FILL) + 1))[:length]


POSITIVES: dict[str, list[str]] = {
    "aws_access_key_id": [
        AWS_EXAMPLE_KEY_ID,
        "ASIA" + "Y34FZKBOKMUTVV7A",
        "A3T" + "X" + "IOSFODNN7EXAMPLE",
        f"aws_access_key_id={AWS_EXAMPLE_KEY_ID};region=us-east-1",
    ],
    "private_key": [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    ],
    "github_token": [
        "gh" + "p_" + fill(36),
        "gh" + "s_" + fill(36),
        "token " + "gh" + "o_" + fill(40),
        "github" + "_pat_" + "11ABCDEFG0" + fill(60),
    ],
    "gitlab_token": [
        "glpat" + "-" + "xY7_zK2-abcDEF123456",
        "PRIVATE-TOKEN: glpat" + "-" + fill(20),
    ],
    "slack_token": [
        "xox" + "b-" + "1234567890-1234567890123-" + fill(24),
        "xox" + "p-" + "123456789012-123456789012-abcdef",
    ],
    "slack_webhook": [
        "https://hooks.slack.com/services/" + "T00000000/B00000000/" + fill(24),
        "https://hooks.slack.com/services/" + "TABCDEF12/B0123ABCD/" + fill(12),
    ],
    "stripe_key": [
        "sk" + "_live_" + fill(24),
        "rk" + "_live_" + fill(16),
    ],
    "google_api_key": [
        "AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v",
        "key=AIza" + "Sy-_" + fill(31),
    ],
    "npm_token": [
        "npm" + "_" + fill(36),
        "//registry.npmjs.org/:_authToken=npm" + "_" + fill(36),
    ],
    "openai_api_key": [
        "sk" + "-" + fill(48),
        "sk" + "-proj-" + fill(64),
    ],
    "authorization_header": [
        "Bearer " + fill(40),
        "basic " + fill(24) + "==",
    ],
    "json_web_token": [
        f"{JWT_HEADER}.{JWT_PAYLOAD}.{JWT_SIGNATURE}",
        f"Bearer {JWT_HEADER}.{JWT_PAYLOAD}.{JWT_SIGNATURE}",
    ],
    "url_with_password": [
        "postgres://app:s3cr3t@db.internal:5432/app",
        "https://deploy:pa55w0rd@git.example.com/org/repo.git",
        "redis://:hunter22@cache.internal:6379/0",
    ],
}

NEAR_MISSES: dict[str, list[str]] = {
    "aws_access_key_id": [
        AWS_EXAMPLE_KEY_ID[:-1],  # AKIA + 15 characters
        "X" + AWS_EXAMPLE_KEY_ID,  # embedded in a longer alphanumeric run
        AWS_EXAMPLE_KEY_ID + "1",
        AWS_EXAMPLE_KEY_ID.lower(),
        "AKID" + AWS_EXAMPLE_KEY_ID[4:],  # not an access key id prefix
    ],
    "private_key": [
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN RSA PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "BEGIN PRIVATE KEY",
    ],
    "github_token": [
        "gh" + "p_" + fill(35),  # too short
        "x" + "gh" + "p_" + fill(36),  # embedded in a longer identifier
        "gh" + "x_" + fill(36),  # unknown token type
        "github" + "_pat_" + "short",
    ],
    "gitlab_token": [
        "glpat" + "-" + "short",
        "my" + "glpat" + "-" + fill(20),
    ],
    "slack_token": [
        "xox" + "b-123",
        "xox" + "z-" + "1234567890-abcdefghij",
        "a" + "xox" + "b-" + "1234567890-abcdefghij",
    ],
    "slack_webhook": [
        "https://hooks.slack.com/services/",
        "https://hooks.slack.com/workflows/T000/A000/123",
        "http://hooks.slack.com/services/" + "T00000000/B00000000/" + fill(24),
    ],
    "stripe_key": [
        "sk" + "_test_" + fill(24),
        "pk" + "_live_" + fill(24),  # publishable, not secret
        "sk" + "_live_" + "short",
        "ask" + "_live_" + fill(24),
    ],
    "google_api_key": [
        "AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1",  # one character short
        "x" + "AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v",
    ],
    "npm_token": [
        "npm" + "_" + fill(35),
        "npm_install",
        "x" + "npm" + "_" + fill(36),
    ],
    "openai_api_key": [
        "sk" + "-" + fill(20),  # too short
        "task-" + fill(40),  # "sk-" inside a word
        "risk-assessment",
    ],
    "authorization_header": [
        "X-Api-Key",  # a header's name
        "Bearer",  # the scheme alone
        "use a bearer token from Secrets Manager",
    ],
    "json_web_token": [
        "eyJhbGci.eyJzdWIi.abc",  # parts too short
        f"{JWT_HEADER}.{JWT_PAYLOAD}",  # two parts only
        f"{JWT_HEADER}.abcdefghijk.{JWT_SIGNATURE}",  # payload is not JSON
    ],
    "url_with_password": [
        "https://example.com/path",  # no credentials
        "postgres://app@db.internal:5432/app",  # user without a password
        "https://example.com:8443/path",  # a port is not a password
        "http://localhost:8080/a:b@c",  # '@' only in the path
        "app:s3cr3t@db.internal",  # no scheme
    ],
}


def _cases(table: dict[str, list[str]]) -> list[Any]:
    return [
        pytest.param(name, sample, id=f"{name}-{index}")
        for name, samples in table.items()
        for index, sample in enumerate(samples)
    ]


def test_credential_patterns_every_named_pattern_has_samples() -> None:
    assert set(CREDENTIAL_PATTERNS) == set(POSITIVES) == set(NEAR_MISSES)
    assert all(len(POSITIVES[name]) >= 2 and len(NEAR_MISSES[name]) >= 2 for name in CREDENTIAL_PATTERNS)


@pytest.mark.parametrize(("name", "sample"), _cases(POSITIVES))
def test_credential_pattern_realistic_credential_matches(name: str, sample: str) -> None:
    assert re.search(CREDENTIAL_PATTERNS[name], sample) is not None


@pytest.mark.parametrize(("name", "sample"), _cases(POSITIVES))
def test_credential_patterns_combined_credential_is_named_by_its_pattern(name: str, sample: str) -> None:
    assert OPERATORS["matches_any"].apply(sample, COMBINED) == name


@pytest.mark.parametrize(("name", "sample"), _cases(NEAR_MISSES))
def test_credential_pattern_near_miss_does_not_match(name: str, sample: str) -> None:
    assert re.search(CREDENTIAL_PATTERNS[name], sample) is None


@pytest.mark.parametrize(("name", "sample"), _cases(NEAR_MISSES))
def test_credential_patterns_combined_near_miss_matches_no_pattern(name: str, sample: str) -> None:
    assert OPERATORS["matches_any"].apply(sample, COMBINED) is None


# --- variable names ------------------------------------------------------------------

SECRET_LIKE_NAMES = [
    "PASSWORD",
    "DB_PASSWD",
    "api_key",
    "API-KEY",
    "apiKey",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CLIENT_SECRET",
    "GITHUB_TOKEN",
    "AUTH",
    "BASIC_AUTH",
    "AUTH_TOKEN",
    "CREDENTIALS",
    "AUTHORIZATION",
    "SSH_PASSPHRASE",
]
ORDINARY_NAMES = ["PATH", "HOME", "LOG_LEVEL", "AUTHOR", "PWD", "AUTHORS_FILE", "KEYBOARD_LAYOUT"]
DESCRIPTIVE_NAMES = [
    "DB_SECRET_ARN",
    "TOKEN_TTL",
    "PASSWORD_MIN_LENGTH",
    "AUTH_ENABLED",
    "SECRET_NAME",
    "TOKEN_EXPIRY_SECONDS",
]


def is_flagged_name(name: str) -> bool:
    """The policy's name test: secret-like and not merely descriptive."""
    return SECRET_NAME.search(name) is not None and DESCRIPTIVE_NAME.search(name) is None


@pytest.mark.parametrize("name", SECRET_LIKE_NAMES)
def test_secret_name_pattern_secret_like_name_is_flagged(name: str) -> None:
    assert is_flagged_name(name) is True


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_secret_name_pattern_ordinary_name_is_not_secret_like(name: str) -> None:
    assert SECRET_NAME.search(name) is None


@pytest.mark.parametrize("name", DESCRIPTIVE_NAMES)
def test_descriptive_name_pattern_secret_like_descriptive_name_is_exempt(name: str) -> None:
    # The name is secret-like; only the descriptive pattern keeps it from being flagged.
    assert SECRET_NAME.search(name) is not None
    assert DESCRIPTIVE_NAME.search(name) is not None
    assert is_flagged_name(name) is False


def test_secret_names_default_lists_the_config_rule_names() -> None:
    assert DEFAULTS["secret_names"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ECS_ENGINE_AUTH_DATA"]


# --- values that cannot be a plaintext secret ----------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db/password",
        "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/x",
        "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc",
        "true",
        "FALSE",
        "Yes",
        "no",
        "on",
        "OFF",
        "Enabled",
        "disabled",
    ],
)
def test_non_secret_value_pattern_arn_or_boolean_matches(value: str) -> None:
    assert NON_SECRET_VALUE.search(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "truee",
        "not true",
        "",
        "arn:aws:",
        "xarn:aws:ssm:us-east-1:123456789012:parameter/x",
        "https://arn:aws:x:y@example.com",
        "1",
    ],
)
def test_non_secret_value_pattern_plaintext_value_does_not_match(value: str) -> None:
    assert NON_SECRET_VALUE.search(value) is None


@pytest.mark.parametrize("name", ["MYSQL_PWD", "DB_PW", "SIGNING_KEY", "JWT_KEY", "ENCRYPTION_KEY"])
def test_secret_name_pattern_pwd_and_key_names_are_secret_like_and_not_exempt(name: str) -> None:
    # A *_PWD / *_KEY variable holds the secret itself.
    assert SECRET_NAME.search(name)
    assert not DESCRIPTIVE_NAME.search(name)
