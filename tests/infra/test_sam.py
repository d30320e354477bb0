"""The SAM CLI on template.yaml: `sam validate --lint`, and `sam build` producing a function that runs.

The SAM CLI lives in .venv-sam (its pins conflict with ours); `make test` creates it. The build
runs for this machine's architecture with the python3.12 that .python-version names, then the
built function is imported by that Python with the built layer as its policy folder.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest
from cfn_template import REPO, TEMPLATE, function_environment, load

from ecsguard.catalog import load_policy_set

SAM = REPO / ".venv-sam" / "bin" / "sam"
RUNTIME = "python3.12"
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def sam_environment(**extra: str) -> dict[str, str]:
    """No telemetry, a Region, no instance metadata lookups; nothing else reaches beyond PyPI."""
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    environment.update(extra)
    return environment


def sam() -> Path:
    if not SAM.is_file():
        pytest.fail(f"{SAM.relative_to(REPO)} is missing: run `make test`, which installs the SAM CLI there")
    return SAM


def run(
    command: list[str], cwd: Path, timeout: int, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False)


def real_python312() -> Path:
    """The python3.12 executable itself (pyenv's shim resolves through .python-version, from REPO only)."""
    completed = run([RUNTIME, "-c", "import sys; print(sys.executable)"], cwd=REPO, timeout=60)
    if completed.returncode != 0:
        pytest.fail(f"{RUNTIME} is needed to build the function (.python-version lists it): {completed.stderr}")
    return Path(completed.stdout.strip())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` of template.yaml for this machine, into a temporary folder."""
    build_dir = tmp_path_factory.mktemp("sam-build")
    python = real_python312()
    architecture = LAMBDA_ARCHITECTURES[platform.machine().lower()]
    path = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [
        str(sam()),
        "build",
        "--template-file",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--no-cached",
        "--parameter-overrides",
        f"Architecture={architecture}",
    ]

    completed = run(command, cwd=REPO, env=sam_environment(PATH=path), timeout=600)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    return build_dir


def test_sam_validate_lint_passes() -> None:
    completed = run(
        [str(sam()), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=REPO,
        env=sam_environment(),
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_sam_build_layer_holds_the_policy_files(built: Path) -> None:
    policy_dir = Path(function_environment(load(), "ScannerFunction")["ECSGUARD_POLICY_DIR"])
    layer = built / "PoliciesLayer" / policy_dir.relative_to("/opt")

    assert {p.name: p.read_bytes() for p in layer.iterdir()} == {
        p.name: p.read_bytes() for p in (REPO / "policies").iterdir() if p.suffix in (".yaml", ".yml")
    }


@pytest.mark.parametrize(("function", "module"), [("ScannerFunction", "scanner"), ("SweepFunction", "sweep")])
def test_sam_build_function_imports_and_loads_the_layer_policies(built: Path, function: str, module: str) -> None:
    # GIVEN the built function and layer, and the policy folder the template points the function at
    code = built / function
    policy_dir = (
        built
        / "PoliciesLayer"
        / Path(function_environment(load(), function)["ECSGUARD_POLICY_DIR"]).relative_to("/opt")
    )
    script = f"""
import json, os, sys
from pathlib import Path
import ecsguard, ecsguard.handlers.{module} as handler
from ecsguard.catalog import load_policy_set
policy_set = load_policy_set(Path(os.environ["ECSGUARD_POLICY_DIR"]))
print(json.dumps({{"python": list(sys.version_info[:2]), "ecsguard": ecsguard.__file__,
                   "handler": callable(handler.handler), "policies": sorted(p.id for p in policy_set.policies)}}))
"""

    # WHEN the Lambda runtime's Python imports the handler with only the build on its path
    completed = run(
        [str(real_python312()), "-s", "-c", script],
        cwd=code,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(code),
            "ECSGUARD_POLICY_DIR": str(policy_dir),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        },
        timeout=120,
    )

    # THEN it runs from the build and sees the repository's policy set
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["python"] == [3, 12]
    assert Path(report["ecsguard"]).is_relative_to(code)
    assert report["handler"] is True
    assert report["policies"] == sorted(p.id for p in load_policy_set(REPO / "policies").policies)
    assert report["policies"] != []
