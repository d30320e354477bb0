"""`ecsguard scan --format sarif` and `--format junit` over the sample events: valid against SARIF 2.1.0's
schema and read by a JUnit reader, saying what the JSON report says, and showing no secret it hides."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from ecsguard.cli import main

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
SCHEMA = REPO / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
# The plaintext secrets of the sample events (a task definition's, and two launches' overrides).
PLANTED_IN_EVENTS = ("Tr0ub4dor-and-3-horses", "AKIAZ7EXAMPLEKEYQ2XW", "Zq8!launch-override-pw", "Kp3#start-task-arg")


def scan(capsys: pytest.CaptureFixture[str], output: str) -> tuple[int, str, str]:
    status = main(["scan", "--pack", "all", "--format", output, str(EVENTS)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def json_results(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    _, out, _ = scan(capsys, "json")
    results: list[dict[str, Any]] = json.loads(out)["results"]
    return results


def test_sarif_is_valid_and_reports_each_failure_under_its_policy_rule(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the JSON report of the sample events, as the reference
    expected = json_results(capsys)

    # WHEN the same scan writes SARIF
    status, out, err = scan(capsys, "sarif")
    log = json.loads(out)

    # THEN it is SARIF 2.1.0 by the standard's own schema
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    assert status == 1
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    # one rule per policy evaluated, with its help and severity
    assert [rule["id"] for rule in rules] == sorted({r["policy_id"] for r in expected})
    assert all(rule["helpUri"].startswith("https://") and rule["help"]["text"] for rule in rules)
    assert {rule["properties"]["security-severity"] for rule in rules} <= {"9.5", "8.0", "5.5", "3.0", "0.0"}
    # a result per FAIL, ERROR or EXEMPT, under its rule, at its file, with the same evidence paths
    problems = [r for r in expected if r["status"] in ("FAIL", "ERROR", "EXEMPT")]
    assert len(run["results"]) == len(problems)
    levels = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "INFORMATIONAL": "note"}
    for reported, reference in zip(run["results"], problems, strict=True):
        assert reported["ruleId"] == reference["policy_id"] == rules[reported["ruleIndex"]]["id"]
        assert reported["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == reference["source"]
        assert reported["locations"][0]["logicalLocations"][0]["name"] == reference["resource"]["id"]
        assert reported["properties"]["evidencePaths"] == [e["path"] for e in reference["evidence"]]
        if reference["status"] == "FAIL":
            assert reported["level"] == levels[reference["severity"]]
    for planted in PLANTED_IN_EVENTS:
        assert planted not in out + err


def test_sarif_fingerprints_are_stable_across_runs_and_name_policy_and_resource(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, first, _ = scan(capsys, "sarif")
    _, second, _ = scan(capsys, "sarif")

    def fingerprints(text: str) -> list[tuple[str, str, str]]:
        return [
            (r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"], r["partialFingerprints"]["ecsguard/v1"])
            for r in json.loads(text)["runs"][0]["results"]
        ]

    assert fingerprints(first) == fingerprints(second)
    # one fingerprint per (policy, resource): the same finding in two files of one resource shares it
    by_pair: dict[tuple[str, str], set[str]] = {}
    for policy, resource, fingerprint in fingerprints(first):
        by_pair.setdefault((policy, resource), set()).add(fingerprint)
    assert all(len(found) == 1 for found in by_pair.values())
    assert len({next(iter(found)) for found in by_pair.values()}) == len(by_pair)


def test_junit_is_read_by_a_junit_reader_with_the_scan_s_counts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    expected = json_results(capsys)

    status, out, err = scan(capsys, "junit")
    report = tmp_path / "ecsguard.xml"
    report.write_text(out, encoding="utf-8")
    xml = JUnitXml.fromfile(str(report))

    statuses = Counter(r["status"] for r in expected)
    assert status == 1
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (
        len(expected),
        statuses["FAIL"],
        statuses["ERROR"],
        statuses["NOT_APPLICABLE"] + statuses["EXEMPT"],
    )
    # a suite per policy, a case per (policy, resource, file)
    outcomes = Counter()
    for suite in xml:
        for case in suite:
            kinds = {type(item) for item in case.result}
            outcome = (
                "FAIL" if Failure in kinds else "ERROR" if Error in kinds else "SKIP" if Skipped in kinds else "PASS"
            )
            outcomes[(suite.name, case.name, outcome)] += 1
    reference = Counter(
        (
            r["policy_id"],
            r["resource"]["id"],
            {"FAIL": "FAIL", "ERROR": "ERROR", "PASS": "PASS"}.get(r["status"], "SKIP"),
        )
        for r in expected
    )
    assert outcomes == reference
    for planted in PLANTED_IN_EVENTS:
        assert planted not in out + err
