"""The core stays pure: no AWS SDK, no Powertools, no environment reads (STYLE habit 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ecsguard.core

CORE = Path(ecsguard.core.__file__).resolve().parent
CORE_MODULES = sorted(CORE.rglob("*.py"))
BANNED_PACKAGES = frozenset({"boto3", "botocore", "aws_lambda_powertools"})
BANNED_OS_NAMES = frozenset({"environ", "getenv", "environb", "getenvb"})
DYNAMIC_IMPORTERS = frozenset({"__import__", "import_module"})


def _banned_module(name: str) -> bool:
    return name.partition(".")[0] in BANNED_PACKAGES


def forbidden_references(source: str) -> list[str]:
    """Every import of a banned package and every read of the environment in ``source``, by line."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(
                f"line {node.lineno}: import {alias.name}" for alias in node.names if _banned_module(alias.name)
            )
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _banned_module(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module == "os":
                found.extend(
                    f"line {node.lineno}: from os import {alias.name}"
                    for alias in node.names
                    if alias.name in BANNED_OS_NAMES
                )
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in BANNED_OS_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append(f"line {node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if name in DYNAMIC_IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and _banned_module(first.value):
                    found.append(f"line {node.lineno}: {name}({first.value!r})")
    return found


def test_core_modules_are_found() -> None:
    assert {path.stem for path in CORE_MODULES} >= {
        "__init__",
        "compiler",
        "engine",
        "models",
        "operators",
        "policy",
        "resources",
        "results",
        "schema",
    }


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda path: str(path.relative_to(CORE)))
def test_core_module_has_no_aws_sdk_powertools_or_environment(module: Path) -> None:
    assert forbidden_references(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import boto3", ["line 1: import boto3"]),
        ("import boto3.session as s", ["line 1: import boto3.session"]),
        ("import json, botocore", ["line 1: import botocore"]),
        ("from botocore.exceptions import ClientError", ["line 1: from botocore.exceptions import ..."]),
        ("from aws_lambda_powertools import Logger", ["line 1: from aws_lambda_powertools import ..."]),
        ("import aws_lambda_powertools.logging", ["line 1: import aws_lambda_powertools.logging"]),
        ("import os\nvalue = os.environ['REGION']", ["line 2: os.environ"]),
        ("import os\nvalue = os.getenv('REGION')", ["line 2: os.getenv"]),
        ("from os import environ", ["line 1: from os import environ"]),
        ("from os import getenv as read", ["line 1: from os import getenv"]),
        ("import importlib\nimportlib.import_module('boto3')", ["line 2: import_module('boto3')"]),
        ("__import__('botocore.session')", ["line 1: __import__('botocore.session')"]),
        ("def f():\n    import boto3\n", ["line 2: import boto3"]),
    ],
)
def test_forbidden_references_detects_banned_use(source: str, expected: list[str]) -> None:
    assert forbidden_references(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "import os.path\nos.path.join('a', 'b')",
        "from os import path",
        "boto3_like = 'boto3'",
        "import botocorex",
        "from . import boto3",
        "settings.environ",
        "import json",
    ],
)
def test_forbidden_references_allows_pure_code(source: str) -> None:
    assert forbidden_references(source) == []
