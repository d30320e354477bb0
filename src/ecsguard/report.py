"""Render scan results as JSON for machines or as a table for people."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.exemptions import exemption_document
from ecsguard.core.models import Severity
from ecsguard.core.results import Evidence, Result, Status
from ecsguard.scan import InputProblem, Skipped

FAILING = (Status.FAIL, Status.ERROR)


def breaches(results: Sequence[Result], fail_on: Severity) -> list[Result]:
    """Results that make the scan fail: FAIL or ERROR at or above ``fail_on``."""
    return [r for r in results if r.status in FAILING and r.severity.rank >= fail_on.rank]


def summary(
    results: Sequence[Result],
    problems: Sequence[InputProblem],
    skipped: Sequence[Skipped],
    files: int,
    fail_on: Severity,
) -> dict[str, Any]:
    statuses = Counter(result.status.value for result in results)
    failed_by_severity = Counter(result.severity.value for result in results if result.status is Status.FAIL)
    return {
        "files": files,
        "resources": len({(r.resource.type, r.resource.id) for r in results}),
        "results": len(results),
        "by_status": {status.value: statuses.get(status.value, 0) for status in Status},
        "failed_by_severity": {
            s.value: failed_by_severity.get(s.value, 0) for s in Severity if failed_by_severity.get(s.value)
        },
        "fail_on": fail_on.value,
        "breaches": len(breaches(results, fail_on)),
        "input_errors": [str(problem) for problem in problems],
        "skipped": [{"source": item.source, "reason": item.reason} for item in skipped],
    }


def _evidence_document(evidence: Evidence) -> dict[str, Any]:
    document: dict[str, Any] = {"path": evidence.path, "message": evidence.message}
    if evidence.line is not None:
        document["line"] = evidence.line
    return document


def result_document(result: Result, source: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "policy_id": result.policy_id,
        "resource": {"type": result.resource.type.value, "id": result.resource.id},
        "status": result.status.value,
        "severity": result.severity.value,
        "title": result.title,
        "evidence": [_evidence_document(e) for e in result.evidence],
    }
    if result.reason is not None:
        document["reason"] = result.reason
    if result.exemption is not None:
        document["exemption"] = exemption_document(result.exemption)
    if source:
        document["source"] = source
    return document


# json's C string encoder: render_json writes the results' fixed shape itself, since json.dumps with
# indent falls back to a pure-Python encoder that took a quarter of a 10,000-file scan.
_quote = json.encoder.encode_basestring_ascii


def _result_json(result: Result, source: str | None) -> str:
    """``result_document(result, source)`` as ``json.dumps(..., indent=2)`` writes it inside the results list."""
    if result.evidence:
        items = ",\n".join(
            f'        {{\n          "path": {_quote(e.path)},\n          "message": {_quote(e.message)}'
            + ("" if e.line is None else f',\n          "line": {e.line}')
            + "\n        }"
            for e in result.evidence
        )
        evidence = f"[\n{items}\n      ]"
    else:
        evidence = "[]"
    reason = "" if result.reason is None else f',\n      "reason": {_quote(result.reason)}'
    if result.exemption is not None:  # rare: the general encoder, indented to sit in the result
        shown = json.dumps(exemption_document(result.exemption), indent=2).replace("\n", "\n      ")
        reason += f',\n      "exemption": {shown}'
    origin = f',\n      "source": {_quote(source)}' if source else ""
    return (
        f'    {{\n      "policy_id": {_quote(result.policy_id)},\n'
        f'      "resource": {{\n        "type": {_quote(result.resource.type.value)},\n'
        f'        "id": {_quote(result.resource.id)}\n      }},\n'
        f'      "status": {_quote(result.status.value)},\n'
        f'      "severity": {_quote(result.severity.value)},\n'
        f'      "title": {_quote(result.title)},\n'
        f'      "evidence": {evidence}{reason}{origin}\n    }}'
    )


def render_json(results: Sequence[Result], sources: Sequence[str], summary_document: Mapping[str, Any]) -> str:
    """``{"results": [result_document, ...], "summary": ...}``, indented by 2 as json.dumps would."""
    if len(results) != len(sources):
        raise ValueError("one source per result")
    listed = ",\n".join(map(_result_json, results, sources))
    body = f"[\n{listed}\n  ]" if results else "[]"
    summary_text = json.dumps(summary_document, indent=2).replace("\n", "\n  ")
    return f'{{\n  "results": {body},\n  "summary": {summary_text}\n}}'


_MARK = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.NOT_APPLICABLE: "N/A",
    Status.ERROR: "ERROR",
    Status.EXEMPT: "EXEMPT",
}


def render_text(results: Sequence[Result], summary_document: Mapping[str, Any]) -> str:
    lines: list[str] = []
    width = max((len(r.policy_id) for r in results), default=10)
    current = None
    for result in results:
        resource = f"{result.resource.type.value} {result.resource.id}"
        if resource != current:
            lines.append("")
            lines.append(resource)
            current = resource
        lines.append(
            f"  {_MARK[result.status]:<5} {result.severity.value:<13} {result.policy_id:<{width}}  {result.title}"
        )
        if result.reason:
            lines.append(f"        reason: {result.reason}")
        if result.exemption is not None:
            exempted = result.exemption
            ticket = f", {exempted.ticket}" if exempted.ticket else ""
            lines.append(
                f"        exempted by {exempted.id} ({exempted.owner}, until {exempted.expires}{ticket}): "
                f"{exempted.reason}"
            )
        for evidence in result.evidence:
            at = "" if evidence.line is None else f" (line {evidence.line})"
            lines.append(f"        - {evidence.path or '(resource)'}{at}: {evidence.message}")
    counts = summary_document["by_status"]
    exempt = f", {counts['EXEMPT']} exempt" if counts.get("EXEMPT") else ""
    lines.append("")
    lines.append(
        f"{summary_document['resources']} resources, {summary_document['results']} results: "
        f"{counts['FAIL']} failed, {counts['ERROR']} errors, {counts['PASS']} passed, "
        f"{counts['NOT_APPLICABLE']} not applicable{exempt}; {summary_document['breaches']} at or above "
        f"{summary_document['fail_on']}"
    )
    for item in summary_document["skipped"]:
        lines.append(f"skipped {item['source']}: {item['reason']}")
    return "\n".join(lines).lstrip("\n")


# results, the source of each, the summary, and the policies evaluated (by id)
Renderer = Callable[[Sequence[Result], Sequence[str], Mapping[str, Any], Mapping[str, CompiledPolicy]], str]


def _table(
    results: Sequence[Result],
    sources: Sequence[str],
    summary_document: Mapping[str, Any],
    policies: Mapping[str, CompiledPolicy],
) -> str:
    """The text format: the table, then a line per Region when the summary is a sweep's."""
    regions = [f"{region['region']}: {json.dumps(region)}" for region in summary_document.get("regions", ())]
    return "\n".join([render_text(results, summary_document), *regions])


def _json(
    results: Sequence[Result],
    sources: Sequence[str],
    summary_document: Mapping[str, Any],
    policies: Mapping[str, CompiledPolicy],
) -> str:
    return render_json(results, sources, summary_document)


def _ci_report(name: str, module: str = "ecsguard.ci_reports") -> Renderer:
    """A renderer of ``module`` (``ci_reports`` by default), imported only when its format is asked for."""

    def render(
        results: Sequence[Result],
        sources: Sequence[str],
        summary_document: Mapping[str, Any],
        policies: Mapping[str, CompiledPolicy],
    ) -> str:
        renderer: Renderer = getattr(importlib.import_module(module), name)
        return renderer(results, sources, summary_document, policies)

    return render


# The output formats of `scan` and `sweep`, by name: adding one is one entry.
FORMATS: Mapping[str, Renderer] = {
    "text": _table,
    "json": _json,
    "sarif": _ci_report("render_sarif"),
    "junit": _ci_report("render_junit"),
    "html": _ci_report("render_html", "ecsguard.html_report"),
}
