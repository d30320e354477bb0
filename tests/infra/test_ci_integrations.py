"""The GitHub Action (action.yml) and the pre-commit hook (.pre-commit-hooks.yaml) run ecsguard as they document.

Neither GitHub's runner nor pre-commit runs here (both would fetch from the internet), so each is taken at its word:
the action's scan step is the bash script GitHub would run, run here with the variables GitHub would set; the hook is
its entry and arguments with the files pre-commit would pass, run as pre-commit runs it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMA = REPO / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
PLAN = REPO / "tests" / "fixtures" / "terraform" / "fargate-efs" / "plan.json"
# The keys pre-commit's manifest schema knows for a hook (pre-commit 4's clientlib MANIFEST_HOOK_DICT).
HOOK_KEYS = {
    "id", "name", "entry", "language", "alias", "files", "exclude", "types", "types_or", "exclude_types",
    "additional_dependencies", "args", "always_run", "fail_fast", "pass_filenames", "description",
    "language_version", "log_file", "minimum_pre_commit_version", "require_serial", "stages", "verbose",
}  # fmt: skip


def action() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    return loaded


def step(name: str) -> dict[str, object]:
    runs = action()["runs"]
    assert isinstance(runs, dict)
    (found,) = [s for s in runs["steps"] if s.get("name") == name]
    return dict(found)


def test_the_action_is_composite_and_uploads_what_it_scans() -> None:
    document = action()
    runs = document["runs"]
    assert isinstance(runs, dict)
    assert runs["using"] == "composite"
    inputs = document["inputs"]
    assert isinstance(inputs, dict)
    assert {"paths", "fail-on", "packs", "sarif-file", "upload-sarif"} <= set(inputs)
    assert all(spec.get("description") for spec in inputs.values())
    upload = step("Upload SARIF")
    assert str(upload["uses"]).startswith("github/codeql-action/upload-sarif@")
    assert upload["with"] == {"sarif_file": "${{ inputs.sarif-file }}", "category": "ecsguard"}
    # every run step says its shell, as a composite action must
    assert all(s.get("shell") == "bash" for s in runs["steps"] if "run" in s)


def run_scan_step(tmp_path: Path, paths: str, fail_on: str = "LOW", packs: str = "") -> tuple[int, Path, str]:
    """The Scan step's script, with the environment GitHub gives it; its exit status, SARIF file and outputs."""
    scan = step("Scan")
    output = tmp_path / "github_output"
    output.write_text("", encoding="utf-8")
    sarif = tmp_path / "ecsguard.sarif"
    environment = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "ECSGUARD_PATHS": paths,
        "ECSGUARD_FAIL_ON": fail_on,
        "ECSGUARD_SCAN_PACKS": packs,
        "ECSGUARD_SARIF": str(sarif),
    }
    bash = shutil.which("bash")
    assert bash is not None
    # GitHub runs a bash step as: bash --noprofile --norc -eo pipefail {0}
    completed = subprocess.run(
        [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", str(scan["run"])],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    return completed.returncode, sarif, output.read_text(encoding="utf-8")


def test_the_scan_step_writes_valid_sarif_and_reports_the_exit_code(tmp_path: Path) -> None:
    # GIVEN a Terraform plan with failures
    # WHEN the action's scan step runs on it
    status, sarif, outputs = run_scan_step(tmp_path, str(PLAN), fail_on="HIGH", packs="mission fsbp")

    # THEN the step itself succeeds (the Verdict step fails the job later), records ecsguard's status, and the SARIF
    # is valid and holds the plan's failures
    assert status == 0
    assert outputs.strip() == "exit-code=1"
    log = json.loads(sarif.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    assert {result["ruleId"] for result in log["runs"][0]["results"]} >= {"ecs-efs-fargate-platform"}
    assert step("Verdict")["run"] == 'exit "$STATUS"'


def test_the_scan_step_passes_a_clean_scan(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "notes.json").write_text(json.dumps({"services": []}), encoding="utf-8")

    status, _, outputs = run_scan_step(tmp_path, str(clean), fail_on="CRITICAL")

    assert (status, outputs.strip()) == (0, "exit-code=0")


def test_the_pre_commit_hook_skips_files_of_other_kinds_and_judges_templates(tmp_path: Path) -> None:
    # GIVEN the hook's manifest, and a commit touching a plan, a workflow file and a package.json
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert set(hook) <= HOOK_KEYS
    assert hook["language"] == "python"
    workflow = tmp_path / "ci.yml"
    workflow.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n", encoding="utf-8")
    package = tmp_path / "package.json"
    package.write_text(json.dumps({"name": "app", "version": "1.0.0"}), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("# app\n", encoding="utf-8")
    plan = tmp_path / "plan.json"
    shutil.copy(PLAN, plan)
    touched = [p for p in (workflow, package, readme, plan) if re.search(hook["files"], p.name)]

    # WHEN pre-commit would run it: its entry, its arguments, then the files its pattern selects
    command = [*shlex.split(hook["entry"]), *hook.get("args", []), *map(str, touched)]
    command[0] = str(BIN / command[0])
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    # THEN the README was not passed, the workflow and package.json are skipped (no input error), and the plan fails
    assert readme not in touched
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr == ""
    assert f"skipped {workflow}: not read:" in completed.stdout
    assert f"skipped {package}: not read:" in completed.stdout
    assert "ecs-efs-fargate-platform" in completed.stdout
