"""Scan and sweep results in the formats CI systems read: SARIF 2.1.0 (GitHub code scanning) and JUnit XML.

Both say only what the text and JSON formats say: policy ids and titles, resource ids (ARNs or names of ECS's own
shape), evidence paths and their messages, reasons. Those are written by ecsguard from positions and field names,
never copied from a value, so no format can show a secret the others hide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from xml.etree import ElementTree

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.models import Severity
from ecsguard.core.results import Result, Status

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# GitHub code scanning ranks security-severity as critical above 9.0, high from 7.0, medium from 4.0, low below.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFORMATIONAL: "0.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}
# Results a reader acts on: PASS and NOT_APPLICABLE are not problems, and SARIF lists problems.
REPORTED = (Status.FAIL, Status.ERROR, Status.EXEMPT)
FINGERPRINT = "ecsguard/v1"


def _tool_version() -> str:
    try:
        return version("ecsguard")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0"


def fingerprint(result: Result) -> str:
    """The same for the same policy and resource in every run, as a finding's id is: code scanning follows an alert
    across runs by it."""
    return hashlib.sha256(f"{result.policy_id}\0{result.resource.id}".encode()).hexdigest()[:32]


def _rule(policy: CompiledPolicy) -> dict[str, Any]:
    document = policy.document
    references = document.references
    controls = [*references.security_hub_controls, *references.control_tower_controls]
    return {
        "id": policy.id,
        "shortDescription": {"text": policy.title},
        "fullDescription": {"text": policy.description},
        "help": {"text": document.remediation.text},
        "helpUri": document.remediation.url,
        "defaultConfiguration": {"level": LEVEL[policy.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[policy.severity],
            "tags": ["security", *document.packs, *controls],
            "precision": "high",
        },
    }


def _message(result: Result) -> str:
    if result.status is Status.ERROR:
        return f"{result.title}: could not be evaluated: {result.reason or 'no reason given'}"
    if not result.evidence:
        return result.title
    return f"{result.title}: " + "; ".join(f"{e.path or '(resource)'}: {e.message}" for e in result.evidence)


def _locations(result: Result, source: str) -> list[dict[str, Any]]:
    logical = {
        "name": result.resource.id,
        "kind": "resource",
        "fullyQualifiedName": f"{result.resource.type.value}/{result.resource.id}",
    }
    location: dict[str, Any] = {"logicalLocations": [logical]}
    if source:
        # The line of the first evidence a template gives; an API document's lines say nothing, so it is line 1.
        line = next((e.line for e in result.evidence if e.line is not None), 1)
        location["physicalLocation"] = {"artifactLocation": {"uri": source}, "region": {"startLine": line}}
    return [location]


def _sarif_result(result: Result, source: str, rule_index: int) -> dict[str, Any]:
    document: dict[str, Any] = {
        "ruleId": result.policy_id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVEL[result.severity] if result.status is not Status.ERROR else "warning",
        "message": {"text": _message(result)},
        "locations": _locations(result, source),
        "partialFingerprints": {FINGERPRINT: fingerprint(result)},
        "properties": {
            "status": result.status.value,
            "resourceType": result.resource.type.value,
            "evidencePaths": [e.path for e in result.evidence],
        },
    }
    if result.status is Status.EXEMPT and result.exemption is not None:
        exempted = result.exemption
        document["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{exempted.id} ({exempted.owner}, until {exempted.expires}): {exempted.reason}",
            }
        ]
    return document


def render_sarif(
    results: Sequence[Result],
    sources: Sequence[str],
    summary: Mapping[str, Any],
    policies: Mapping[str, CompiledPolicy],
) -> str:
    """One run of the ecsguard tool: a rule per policy evaluated, a result per failure, error or exemption."""
    evaluated = sorted({result.policy_id for result in results})
    rules = [_rule(policies[policy_id]) for policy_id in evaluated]
    index = {policy_id: position for position, policy_id in enumerate(evaluated)}
    reported = [
        _sarif_result(result, source, index[result.policy_id])
        for result, source in zip(results, sources, strict=True)
        if result.status in REPORTED
    ]
    problems = [
        {"level": "error", "message": {"text": problem}, "descriptor": {"id": "input-error"}}
        for problem in summary.get("input_errors", ())
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ecsguard",
                        "version": _tool_version(),
                        "semanticVersion": _tool_version(),
                        "rules": rules,
                    }
                },
                "invocations": [{"executionSuccessful": not problems, "toolExecutionNotifications": problems}],
                "results": reported,
            }
        ],
    }
    return json.dumps(log, indent=2)


def render_junit(
    results: Sequence[Result],
    sources: Sequence[str],
    summary: Mapping[str, Any],
    policies: Mapping[str, CompiledPolicy],
) -> str:
    """A test suite per policy and a test case per resource: FAIL a failure, ERROR an error, NOT_APPLICABLE and
    EXEMPT skipped (with why), PASS a passing case."""
    root = ElementTree.Element("testsuites", name="ecsguard")
    suites: dict[str, ElementTree.Element] = {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    counts: dict[str, dict[str, int]] = {}
    for result, source in zip(results, sources, strict=True):
        suite = suites.get(result.policy_id)
        if suite is None:
            suite = suites[result.policy_id] = ElementTree.SubElement(root, "testsuite", name=result.policy_id)
            counts[result.policy_id] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        case = ElementTree.SubElement(suite, "testcase", name=result.resource.id, classname=result.policy_id)
        if source:
            case.set("file", source)
        kind = _case_kind(result)
        if kind is not None:
            tag, key = kind
            element = ElementTree.SubElement(case, tag, message=_junit_message(result))
            if tag == "failure":
                element.set("type", result.severity.value)
                element.text = "\n".join(
                    f"{e.path or '(resource)'}{'' if e.line is None else f' (line {e.line})'}: {e.message}"
                    for e in result.evidence
                )
            counts[result.policy_id][key] += 1
        counts[result.policy_id]["tests"] += 1
    for policy_id, suite in suites.items():
        for key, value in counts[policy_id].items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode")


def _case_kind(result: Result) -> tuple[str, str] | None:
    if result.status is Status.FAIL:
        return "failure", "failures"
    if result.status is Status.ERROR:
        return "error", "errors"
    if result.status in (Status.NOT_APPLICABLE, Status.EXEMPT):
        return "skipped", "skipped"
    return None


def _junit_message(result: Result) -> str:
    if result.status is Status.FAIL:
        return result.title
    if result.status is Status.EXEMPT and result.exemption is not None:
        return f"exempted by {result.exemption.id} until {result.exemption.expires}"
    return result.reason or "not applicable"
