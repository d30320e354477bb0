"""`ecsguard scan` on malformed and oddly encoded inputs: each is an input error naming its file (exit 2), the
other files are still scanned, and no text copied from the input reaches any output.

Every case plants PLANTED where a careless message would echo it: a YAML tag or alias, a top-level key, a
family or service name that is not a name, a key of a map, an ARN that is not one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecsguard.cli import main

ACCOUNT = "123456789012"
GOOD_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/good:1"
PLANTED = "Summer2024PLANTEDx9"


def good_task_definition() -> dict[str, Any]:
    return {
        "taskDefinitionArn": GOOD_ARN,
        "family": "good",
        "revision": 1,
        "networkMode": "awsvpc",
        # Compliant with every policy a scan loads by default (the mission and fsbp packs).
        "containerDefinitions": [
            {
                "name": "app",
                "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/good:1",
                "user": "1000",
                "readonlyRootFilesystem": True,
                "logConfiguration": {"logDriver": "awslogs"},
            }
        ],
    }


def scan(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str = "json") -> tuple[int, str, str]:
    (tmp_path / "good.json").write_text(json.dumps(good_task_definition()), encoding="utf-8")
    status = main(["scan", "--format", fmt, str(tmp_path)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_scanned_the_rest_and_named(tmp_path: Path, out: str, err: str, name: str, problem: str) -> None:
    document = json.loads(out)
    assert GOOD_ARN in {r["resource"]["id"] for r in document["results"]}
    errors = document["summary"]["input_errors"]
    assert any(e.startswith(f"{tmp_path / name}: ") and problem in e for e in errors), errors
    assert f"{tmp_path / name}: " in err


BAD_FILES: dict[str, tuple[str, bytes, str]] = {
    "yaml tag": ("bad.yaml", f"family: x\nvalue: !{PLANTED} y\n".encode(), "invalid YAML at line 2"),
    "yaml alias": ("bad.yaml", f"family: x\nvalue: *{PLANTED}\n".encode(), "invalid YAML at line 2"),
    "unknown shape": ("bad.json", json.dumps({f"AKIA{PLANTED}": 1, "family": 2}).encode(), "1 other(s)"),
    "deep nesting": ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "not text": ("bad.json", b'{"family": "\xff\xfa' + PLANTED.encode() + b'"}', "not UTF-8, UTF-16 or UTF-32"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_scan_malformed_file_is_an_input_error_naming_it_without_its_text(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a good task definition and a malformed file holding a planted value where a message could echo it
    name, content, problem = BAD_FILES[case]
    (tmp_path / name).write_bytes(content)

    # WHEN both are scanned, in each output format
    for fmt in ("json", "text"):
        status, out, err = scan(tmp_path, capsys, fmt)

        # THEN exit 2 names the file and the kind of problem, the good file is scanned, and nothing is echoed
        assert status == 2
        assert PLANTED not in out + err
        if fmt == "json":
            assert_scanned_the_rest_and_named(tmp_path, out, err, name, problem)


@pytest.mark.parametrize(
    ("encoding", "mark"),
    # Python's utf-16 codec writes its own mark, as PowerShell 5.1 does.
    [("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"), ("utf-16", b"")],
)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_scan_reads_byte_order_marks_and_utf16(
    encoding: str, mark: bytes, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a task definition written as Windows tools write it (a byte-order mark, UTF-16)
    document = good_task_definition() | {"taskDefinitionArn": GOOD_ARN.replace("good:1", "windows:1")}
    (tmp_path / f"windows{suffix}").write_bytes(mark + json.dumps(document).encode(encoding))

    # WHEN it is scanned
    status, out, err = scan(tmp_path, capsys)

    # THEN it is read like any other file
    assert status == 0, err
    ids = {r["resource"]["id"] for r in json.loads(out)["results"]}
    assert ids == {GOOD_ARN, GOOD_ARN.replace("good:1", "windows:1")}


@pytest.mark.parametrize(
    ("document", "readable"),
    [
        ({"family": ["a", PLANTED], "containerDefinitions": []}, False),
        ({"family": f"has spaces {PLANTED}", "containerDefinitions": []}, True),
        ({"taskDefinitionArn": f"arn:{PLANTED}", "family": "x", "revision": 1, "containerDefinitions": []}, True),
        ({"serviceName": {"x": PLANTED}}, False),
        ({"serviceName": "svc", "serviceArn": f"https://user:{PLANTED}@example.com"}, True),
    ],
    ids=["family list", "family not a name", "arn not an arn", "service name object", "service arn a url"],
)
def test_scan_resource_id_never_echoes_an_odd_name_or_arn(
    document: dict[str, Any], readable: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a readable resource whose name or ARN is not one (a planted value in it)
    (tmp_path / "odd.json").write_text(json.dumps(document), encoding="utf-8")

    # WHEN it is scanned
    status, out, err = scan(tmp_path, capsys)

    # THEN it is evaluated under an id of its own (an unreadable one is also an input error: exit 2)
    assert PLANTED not in out + err
    assert status in ((0, 1) if readable else (2,))
    ids = {r["resource"]["id"] for r in json.loads(out)["results"]}
    assert ids - {GOOD_ARN}, ids


def test_scan_map_key_in_a_validation_error_is_not_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a task definition whose log options map holds a key that is a pasted secret, and a bad value under it
    document = good_task_definition()
    document["containerDefinitions"][0]["logConfiguration"] = {"logDriver": 5, "options": {PLANTED: "x"}}
    document["containerDefinitions"][0]["environment"] = {PLANTED: "not a list"}
    (tmp_path / "odd.json").write_text(json.dumps(document | {"taskDefinitionArn": GOOD_ARN[:-1] + "2"}))

    status, out, err = scan(tmp_path, capsys)

    # THEN the resource is an ERROR whose reason names fields the model knows, never the key
    assert PLANTED not in out + err
    reasons = [r.get("reason") or "" for r in json.loads(out)["results"] if r["status"] == "ERROR"]
    assert reasons
    assert all("containerDefinitions.0.logConfiguration.logDriver" in reason for reason in reasons)
    assert status == 2
