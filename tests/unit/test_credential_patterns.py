"""The default patterns of ecs-secrets-managed, read from the policy file as shipped.

Credential-shaped samples are assembled from pieces at run time so that this file
does not itself trip secret scanners; none of them is a live credential.
"""

from __future__ import annotations

import re
import time
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


UPPER_FILL = "ABCDEFGHIJ0123456789KLMNOPQRSTUVWXYZ"
DISCORD_WEBHOOKS = "https://discord.com/api/" + "webhooks/"
KAFKA_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


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
        "Authorization: " + "Bearer " + fill(40),  # the whole header line
        "X-Request-Id: 42\nauthorization:Basic " + fill(24) + "==",  # on a later line
        "Proxy-Authorization: " + "Token " + fill(20),
    ],
    "json_web_token": [
        f"{JWT_HEADER}.{JWT_PAYLOAD}.{JWT_SIGNATURE}",
        f"Bearer {JWT_HEADER}.{JWT_PAYLOAD}.{JWT_SIGNATURE}",
    ],
    "url_with_password": [
        "postgres://app:s3cr3t@db.internal:5432/app",
        "https://deploy:pa55w0rd@git.example.com/org/repo.git",
        "redis://:hunter22@cache.internal:6379/0",
        "https://deploy:p#ss" + "w0rd@git.example.com/org/repo.git",  # "#" unencoded in the password
    ],
    "sendgrid_api_key": [
        "SG" + "." + fill(22) + "." + fill(43),
        "SENDGRID=SG" + "." + fill(22).lower() + "." + fill(43).upper(),
    ],
    "new_relic_license_key": [
        "0123456789abcdef0123456789abcdef0123" + "NRAL",  # 36 hex and NRAL: 40 characters
        "eu01xx" + fill(30).lower() + "NRAL",  # an EU region key
        "license_key: " + fill(36) + "NRAL",
    ],
    "new_relic_user_api_key": [
        "NRAK" + "-" + UPPER_FILL[:27],
        "x-api-key: NRAK" + "-" + UPPER_FILL[9:36],
    ],
    "discord_webhook": [
        DISCORD_WEBHOOKS + "123456789012345678/" + fill(68),
        "https://discordapp.com/api/" + "webhooks/12345678901234567/" + fill(68),
        "https://canary.discord.com/api/v10/" + "webhooks/1234567890123456789/" + fill(68),
    ],
    "laravel_app_key": [
        "base64" + ":" + fill(43) + "=",  # a 32-byte AES-256 key
        "APP_KEY=base64" + ":" + fill(22) + "==",  # a 16-byte AES-128 key
    ],
    "connection_string_password": [
        "jdbc:mysql://db.internal:3306/app?user=app&" + "password=Example-pass-1",
        "Server=db.internal;Database=app;User Id=app;" + "Password=Example-pass-2;",
        "Driver={ODBC Driver 18 for SQL Server};Server=db;UID=app;" + "PWD=Example-pass-3;",
        "jdbc:sqlserver://db.internal:1433;databaseName=app;user=app; " + "password = Example-pass-4",
    ],
    "azure_connection_string_key": [
        "DefaultEndpointsProtocol=https;AccountName=acme;"
        + "AccountKey="
        + fill(86)
        + "==;EndpointSuffix=core.windows.net",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        + "SharedAccessKey="
        + fill(43)
        + "=",
    ],
    "kafka_jaas_password": [
        KAFKA_PLAIN + ' username="app" ' + 'password="Example-pass-5";',
        "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=app\n  "
        + 'password = "Example-pass-6";',
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=app "
        + 'clientSecret="Example-secret-7";',
    ],
    "jvm_password_property": [
        "-Djavax.net.ssl.keyStore" + "Password=Example-pass-8",
        "-Xmx512m -Djavax.net.ssl.trustStore" + "Password=changeit -Dfile.encoding=UTF-8",
        "-Dspring.datasource." + "password='Example-pass-9'",
    ],
    "api_key_header_pair": [
        "api-key" + "=" + fill(40),
        "x-honeycomb-team" + "=" + fill(22),
        "x-scope-orgid=tenant-1,Authorization" + "=Bearer%20" + fill(32),
        "Authorization" + "=Basic " + fill(24) + "==",
        "DD-API-KEY" + "=" + fill(32).lower(),
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
        "Authorization: Bearer",
        "Authorization: Bearer ${API_TOKEN}",  # a placeholder
        "Authorization",
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
        "https://example.com:8443/#section@x",  # '@' only in the fragment
        "https://example.com:8443?next=a:b@c",  # '@' only in the query
    ],
    "sendgrid_api_key": [
        "SG" + "." + fill(21) + "." + fill(43),  # first part too short
        "SG" + "." + fill(22) + "." + fill(44),  # second part too long
        "XSG" + "." + fill(22) + "." + fill(43),  # embedded in a longer word
    ],
    "new_relic_license_key": [
        "0123456789abcdef0123456789abcdef0123456789",  # 40 hex not ending NRAL, as a git SHA-1
        fill(35) + "NRAL",  # one character short
        "x" + fill(36) + "NRAL",  # embedded in a longer run
        fill(36) + "NRALS",
    ],
    "new_relic_user_api_key": [
        "NRAK" + "-" + UPPER_FILL[:26],  # too short
        "NRAK" + "-" + UPPER_FILL[:27].lower(),
        "XNRAK" + "-" + UPPER_FILL[:27],
    ],
    "discord_webhook": [
        DISCORD_WEBHOOKS + "123456789012345678",  # no token
        "https://discord.com/channels/123456789012345678/123456789012345678",
        DISCORD_WEBHOOKS + "1234/" + fill(68),  # not a snowflake id
        DISCORD_WEBHOOKS + "123456789012345678/" + fill(20),  # token too short
    ],
    "laravel_app_key": [
        "base64" + ":" + fill(20),  # not a key's length
        "data:image/png;base64," + fill(60),  # a data URL
        "xbase64" + ":" + fill(43) + "=",
        "base64" + ":" + fill(44) + "=",
    ],
    "connection_string_password": [
        "jdbc:mysql://db.internal:3306/app",
        "jdbc:mysql://db.internal/app?user=app&useSSL=true",
        "Server=db.internal;Database=app;Integrated Security=true;",
        "Server=db.internal;Database=app;User Id=app;" + "Password=;",  # empty
        "jdbc:postgresql://db.internal/app?user=app&" + "password=${DB_PASSWORD}",  # a placeholder
        "require_password=true",
    ],
    "azure_connection_string_key": [
        "UseDevelopmentStorage=true",
        "DefaultEndpointsProtocol=https;AccountName=acme;EndpointSuffix=core.windows.net",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey",
        "AccountKey" + "=${AZURE_STORAGE_KEY}",
    ],
    "kafka_jaas_password": [
        "software.amazon.msk.auth.iam.IAMLoginModule required;",
        KAFKA_PLAIN + ' username="app" ' + 'password="${KAFKA_PASSWORD}";',
        KAFKA_PLAIN + ' username="app" ' + 'password="";',
    ],
    "jvm_password_property": [
        "-Xms256m -Xmx512m -XX:+UseG1GC",
        "-Dfile.encoding=UTF-8 -Dcache.bypass=true",
        "-Djavax.net.ssl.keyStore" + "Password=${KEYSTORE_PASSWORD}",
        "-Dpassword.policy=strict",
        "-Djavax.net.ssl.keyStore" + "Password= -Dx=1",  # empty
    ],
    "api_key_header_pair": [
        "service.name=checkout,deployment.environment=prod",  # OTEL_RESOURCE_ATTRIBUTES
        "x-honeycomb-dataset=prod",
        "api-key" + "=${NEW_RELIC_LICENSE_KEY}",
        "api-key" + "=short",
        "max_tokens=100000000",
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
    "DB_PASSWORD_ARN",
    "API_KEY_HEADER",
    "SESSION_TOKEN_TTL",
    "PASSWORD_MAX_AGE_DAYS",  # the descriptive word need not be the last one
    "ACCESS_TOKEN_EXPIRES_IN",
    "POSTGRES_PASSWORD_FILE",
    "SECRETS_DIR",  # the rest of the secret-like word (SECRETS) before the descriptive one
    "DB_PASS_ARN",
    "MYSQL_PWD_FILE",
    "signing.key.path",
]
# A descriptive word before the secret-like word says what the secret is for, not what the variable
# tells about it: these names hold the secret itself.
QUALIFIED_SECRET_NAMES = [
    "SMS_PROVIDER_API_KEY",
    "STRIPE_ENDPOINT_SECRET",  # Stripe's name for its webhook signing secret
    "URL_SIGNING_SECRET",
    "FILE_ENCRYPTION_KEY",
    "ORIGIN_VERIFY_HEADER_SECRET",
    "OAUTH_PROVIDER_CLIENT_SECRET",
    "DIR_SYNC_PASSWORD",
    "VERSION_CONTROL_TOKEN",
    "SECRET_KEY_BASE",  # a word after the secret-like one that is not descriptive
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


@pytest.mark.parametrize("name", QUALIFIED_SECRET_NAMES)
def test_descriptive_name_pattern_descriptive_word_before_secret_word_is_flagged(name: str) -> None:
    assert DESCRIPTIVE_NAME.search(name) is None
    assert is_flagged_name(name) is True


def test_descriptive_name_pattern_begins_with_the_secret_name_pattern() -> None:
    # The descriptive word is found after a secret-like word only while the two patterns name the same words.
    assert DEFAULTS["descriptive_name_pattern"].startswith(DEFAULTS["secret_name_pattern"])


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
        "/var/run/secrets/key.json",  # a path to a file
        "/prod/db/password",  # a hierarchical SSM parameter name
        "/prod/app/",
        "/",
        "https://login.example.com/",  # URLs without userinfo, query or fragment
        "https://api.example.com",
        "http://localhost:4317",
        "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "vault://vault.internal:8200/v1/secret/data/app",
        # Decided: a password that is shaped like a path (starts with "/", only path characters) passes as one.
        "/hunter2",
    ],
)
def test_non_secret_value_pattern_arn_boolean_path_or_plain_url_matches(value: str) -> None:
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
        "postgres://app:Example-pass@db.internal/app",  # userinfo with a password
        "https://deploy@git.example.com/repo.git",  # userinfo at all
        "https://api.example.com/hook?token=abc123",  # a query may carry a secret
        "https://api.example.com/#access_token=abc123",
        "/not-a-path but a sentence",  # a space
        "/pa$$word!",  # characters that are not path characters
        "/K7MDENG+bPxRfiCYEXAMPLEKEY==",  # base64 with "+" and "="
        "relative/path",  # a path must be absolute
        "/tmp/x\n",  # a newline after the path
    ],
)
def test_non_secret_value_pattern_plaintext_value_does_not_match(value: str) -> None:
    assert NON_SECRET_VALUE.search(value) is None


@pytest.mark.parametrize("name", ["MYSQL_PWD", "DB_PW", "SIGNING_KEY", "JWT_KEY", "ENCRYPTION_KEY"])
def test_secret_name_pattern_pwd_and_key_names_are_secret_like_and_not_exempt(name: str) -> None:
    # A *_PWD / *_KEY variable holds the secret itself.
    assert SECRET_NAME.search(name)
    assert not DESCRIPTIVE_NAME.search(name)


# --- regular expression hygiene --------------------------------------------------------


def _pattern_texts() -> list[str]:
    """Every regular expression in the policy: the pattern parameters and the check's matches operands."""
    document = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    texts = [*CREDENTIAL_PATTERNS.values()]
    texts += [
        DEFAULTS[name] for name in ("secret_name_pattern", "descriptive_name_pattern", "non_secret_value_pattern")
    ]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("op") in ("matches", "matches_any") and isinstance(node.get("value"), str):
                texts.append(node["value"])
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["check"])
    return texts


def test_policy_patterns_use_ascii_classes_only() -> None:
    # In Python, \d, \w and \b match any Unicode digit or letter; the policy means ASCII.
    offenders = [text for text in _pattern_texts() if re.search(r"\\[dDwWbB]", text)]
    assert offenders == []


ADVERSARIAL = [
    "a" * 60_000,
    "A1" * 30_000,
    "=" * 60_000,
    "https://" + "a" * 60_000,
    "://" * 20_000,
    "password=" * 6_000,
    "; password = " * 5_000,
    ",api-key" * 7_500,
    "-D" + "a." * 30_000,
    "LoginModule required " + "x" * 60_000,
    "LoginModule required " * 3_000,  # every occurrence must not scan to the end again
    "LoginModule required" + ' a="' * 15_000,
    "Authorization: Bearer " * 3_000,
    "base64:" * 9_000,
    "NRAL" * 15_000,
    "\n" * 60_000,
]


@pytest.mark.parametrize("name", sorted(CREDENTIAL_PATTERNS))
def test_credential_pattern_long_adversarial_values_search_in_linear_time(name: str) -> None:
    # A pattern that backtracks quadratically takes seconds on 60,000 characters; a linear one, milliseconds.
    pattern = re.compile(CREDENTIAL_PATTERNS[name])
    started = time.perf_counter()
    for value in ADVERSARIAL:
        pattern.search(value)
    assert time.perf_counter() - started < 0.5
