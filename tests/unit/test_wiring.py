"""Wiring in one place (STYLE habit 16): handlers import wiring, never another handler; and what the handlers
import at cold start leaves the AWS SDK to the first event."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_core_purity import forbidden_references

import ecsguard
from ecsguard.settings import Settings
from ecsguard.wiring import regions_to_sweep

PACKAGE = Path(ecsguard.__file__).resolve().parent
HANDLERS = sorted((PACKAGE / "handlers").glob("*.py"))


def imported_modules(path: Path, *, everywhere: bool = True) -> set[str]:
    """Every module ``path`` imports (and every name it imports from one); with ``everywhere`` false, only those
    its import runs (at module level, not inside functions nor only for type checking)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree) if everywhere else tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def handler_imports(path: Path) -> set[str]:
    return {name for name in imported_modules(path) if name.startswith("ecsguard.handlers")}


@pytest.mark.parametrize("module", HANDLERS, ids=lambda path: path.name)
def test_handler_module_imports_no_other_handler(module: Path) -> None:
    assert handler_imports(module) == set()


def test_cli_imports_only_the_scanner_handler_function_for_invoke() -> None:
    assert handler_imports(PACKAGE / "cli.py") == {"ecsguard.handlers.scanner", "ecsguard.handlers.scanner.handler"}


def test_wiring_imports_no_adapter_sdk_or_sweep_at_module_level() -> None:
    heavy = {
        name
        for name in imported_modules(PACKAGE / "wiring.py", everywhere=False)
        if name.partition(".")[0] in {"boto3", "botocore"} or name.startswith(("ecsguard.adapters", "ecsguard.sweep"))
    }

    assert heavy == set()


@pytest.mark.parametrize("module", ["publishing.py", "resolution.py"])
def test_plan_and_resolution_modules_have_no_aws_sdk_powertools_or_environment(module: str) -> None:
    assert forbidden_references((PACKAGE / module).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("requested", "configured", "expected"),
    [
        (["eu-west-1"], "us-east-1,us-west-2", ["eu-west-1"]),
        ([], "us-east-1,us-west-2", ["us-east-1", "us-west-2"]),
        (None, "", ["ap-south-1"]),
    ],
)
def test_regions_to_sweep_requested_else_configured_else_own_region(
    requested: list[str] | None, configured: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    settings = Settings.from_environment({"ECSGUARD_SWEEP_REGIONS": configured})

    assert regions_to_sweep(settings, requested) == expected
