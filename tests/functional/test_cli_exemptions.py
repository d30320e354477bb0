"""`ecsguard scan` with exemptions, and `ecsguard exemptions list` and `validate`: a covered FAIL is EXEMPT with
its exemption in every format, does not count for --fail-on, and a file with a problem stops the scan."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import EVENTS

from ecsguard.cli import main
from policy_catalog import POLICY_DIR

LEGACY_EVENT = EVENTS / "ecs-register-task-definition-non-ecr-image.json"
LEGACY_TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/legacy-proxy:12"
TODAY = datetime.now(UTC).date()
IN_A_MONTH = (TODAY + timedelta(days=30)).isoformat()


def exemptions_file(path: Path, account: str = "123456789012", expires: str = IN_A_MONTH) -> Path:
    path.write_text(
        f"""exemptions:
  - id: legacy-proxy-accepted
    policies: [ecs-network-awsvpc, ecs-images-ecr-only]
    resources:
      accounts: ["{account}"]
      families: [legacy-proxy]
    reason: Vendor proxy on bridge networking until its migration (SEC-123).
    owner: platform-security@example.com
    ticket: SEC-123
    expires: {expires}
""",
        encoding="utf-8",
    )
    return path


def scan(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = main(["scan", "--pack", "mission", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def verdicts(document: dict[str, Any]) -> dict[str, str]:
    return {r["policy_id"]: r["status"] for r in document["results"] if r["resource"]["id"] == LEGACY_TD}


@pytest.fixture(autouse=True)
def _no_exemptions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECSGUARD_EXEMPTIONS", raising=False)
    monkeypatch.delenv("ECSGUARD_PACKS", raising=False)


def test_scan_exempts_covered_failures_with_their_exemption_and_passes_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the legacy proxy's task definition, failing the ECR and awsvpc policies
    status, out, _ = scan(capsys, "--format", "json", str(LEGACY_EVENT))
    assert status == 1
    assert verdicts(json.loads(out)) == {
        "ecs-images-ecr-only": "FAIL",
        "ecs-network-awsvpc": "FAIL",
        "ecs-secrets-managed": "PASS",
    }

    # WHEN it is scanned with an exemption for both
    exemptions = exemptions_file(tmp_path / "exemptions.yaml")
    status, out, err = scan(capsys, "--format", "json", "--exemptions", str(exemptions), str(LEGACY_EVENT))

    # THEN both are EXEMPT, each carrying the exemption, and the scan passes --fail-on
    document = json.loads(out)
    assert (status, err) == (0, "")
    assert verdicts(document) == {
        "ecs-images-ecr-only": "EXEMPT",
        "ecs-network-awsvpc": "EXEMPT",
        "ecs-secrets-managed": "PASS",
    }
    exempted = [r for r in document["results"] if r["status"] == "EXEMPT"]
    assert {json.dumps(r["exemption"], sort_keys=True) for r in exempted} == {
        json.dumps(
            {
                "id": "legacy-proxy-accepted",
                "owner": "platform-security@example.com",
                "reason": "Vendor proxy on bridge networking until its migration (SEC-123).",
                "expires": IN_A_MONTH,
                "ticket": "SEC-123",
            },
            sort_keys=True,
        )
    }
    assert all(r["evidence"] for r in exempted)  # the failure's evidence is still there
    assert document["summary"]["by_status"]["EXEMPT"] == 2
    assert document["summary"]["breaches"] == 0


def test_scan_text_shows_the_exemption(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exemptions = exemptions_file(tmp_path / "exemptions.yaml")

    status, out, _ = scan(capsys, "--exemptions", str(exemptions), str(LEGACY_EVENT))

    assert status == 0
    assert f"exempted by legacy-proxy-accepted (platform-security@example.com, until {IN_A_MONTH}, SEC-123)" in out
    assert "EXEMPT MEDIUM        ecs-network-awsvpc" in out
    assert ", 2 exempt;" in out


@pytest.mark.parametrize(
    ("account", "expires"),
    [("210987654321", IN_A_MONTH), ("123456789012", (TODAY - timedelta(days=1)).isoformat())],
    ids=["another account", "expired"],
)
def test_scan_exemption_for_another_account_or_expired_does_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], account: str, expires: str
) -> None:
    exemptions = exemptions_file(tmp_path / "exemptions.yaml", account=account, expires=expires)

    status, out, _ = scan(capsys, "--format", "json", "--exemptions", str(exemptions), str(LEGACY_EVENT))

    assert status == 1
    assert set(verdicts(json.loads(out)).values()) == {"FAIL", "PASS"}


def test_scan_reads_the_policy_folder_exemptions_file_and_the_environment_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a policy folder holding an exemptions.yaml
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder)
    exemptions_file(folder / "exemptions.yaml")

    # THEN a scan with that folder applies it
    status, out, _ = scan(capsys, "--format", "json", "--policies", str(folder), str(LEGACY_EVENT))
    assert (status, verdicts(json.loads(out))["ecs-network-awsvpc"]) == (0, "EXEMPT")

    # AND ECSGUARD_EXEMPTIONS names another file, which takes its place (an expired exemption here)
    other = exemptions_file(tmp_path / "expired.yaml", expires=(TODAY - timedelta(days=1)).isoformat())
    monkeypatch.setenv("ECSGUARD_EXEMPTIONS", str(other))
    status, out, _ = scan(capsys, "--format", "json", "--policies", str(folder), str(LEGACY_EVENT))
    assert (status, verdicts(json.loads(out))["ecs-network-awsvpc"]) == (1, "FAIL")


def test_scan_with_a_bad_exemptions_file_stops_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = exemptions_file(tmp_path / "exemptions.yaml", expires=(TODAY + timedelta(days=400)).isoformat())

    status, out, err = scan(capsys, "--exemptions", str(bad), str(LEGACY_EVENT))

    assert (status, out) == (2, "")
    assert f"{bad}:10: exemptions[0].expires: expires " in err
    assert "more than 365 days after today" in err


def test_exemptions_list_shows_states_and_keeps_those_expiring_within_a_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exemptions.yaml"
    text = exemptions_file(path).read_text(encoding="utf-8")
    later = text.replace("legacy-proxy-accepted", "later").replace(IN_A_MONTH, (TODAY + timedelta(days=90)).isoformat())
    gone = text.replace("legacy-proxy-accepted", "gone").replace(IN_A_MONTH, (TODAY - timedelta(days=2)).isoformat())
    path.write_text(text + later.split("exemptions:\n", 1)[1] + gone.split("exemptions:\n", 1)[1], encoding="utf-8")

    assert main(["exemptions", "list", "--exemptions", str(path), "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["id"], e["state"]) for e in listed["exemptions"]] == [
        ("legacy-proxy-accepted", "expiring"),
        ("later", "active"),
        ("gone", "expired"),
    ]
    assert main(["exemptions", "list", "--exemptions", str(path), "--expiring-within", "30d", "--format", "json"]) == 0
    assert [e["id"] for e in json.loads(capsys.readouterr().out)["exemptions"]] == ["legacy-proxy-accepted"]

    assert main(["exemptions", "validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 3 exemption(s) valid\n"


def test_exemptions_list_marks_the_ones_a_saved_sweep_found_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an exemptions file and a sweep's JSON output whose two Regions both found it unused, and another
    # output where one Region used it
    path = exemptions_file(tmp_path / "exemptions.yaml")
    unused = {"summary": {"regions": [{"unused_exemptions": ["legacy-proxy-accepted"]}] * 2}}
    used = {"summary": {"regions": [{"unused_exemptions": ["legacy-proxy-accepted"]}, {"unused_exemptions": []}]}}
    (tmp_path / "unused.json").write_text(json.dumps(unused), encoding="utf-8")
    (tmp_path / "used.json").write_text(json.dumps(used), encoding="utf-8")

    # THEN the list marks it unused after the first sweep, and not after the second
    for sweep, expected in (("unused.json", True), ("used.json", False)):
        arguments = ["exemptions", "list", "--exemptions", str(path), "--sweep", str(tmp_path / sweep)]
        assert main([*arguments, "--format", "json"]) == 0
        assert [e["unused"] for e in json.loads(capsys.readouterr().out)["exemptions"]] == [expected]
    assert main(["exemptions", "list", "--exemptions", str(path), "--sweep", str(tmp_path / "unused.json")]) == 0
    assert "expiring, unused" in capsys.readouterr().out

    # AND a file that is not a sweep's output is a usage error naming it
    (tmp_path / "other.json").write_text("{}", encoding="utf-8")
    assert main(["exemptions", "list", "--exemptions", str(path), "--sweep", str(tmp_path / "other.json")]) == 2
    assert f"{tmp_path / 'other.json'}: not the JSON output of `ecsguard sweep`" in capsys.readouterr().err
