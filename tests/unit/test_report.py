"""The JSON report: written by hand for speed, it must be exactly what json.dumps(indent=2) writes."""

from __future__ import annotations

import json

import pytest

from ecsguard import report
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Evidence, ResourceRef, Result, Status


def _result(status: Status, evidence: tuple[Evidence, ...] = (), reason: str | None = None) -> Result:
    return Result(
        policy_id="ecs-test-policy",
        resource=ResourceRef(
            type=ResourceType.TASK_DEFINITION, id='arn:aws:ecs:eu-west-1:123456789012:task-definition/a"b:1'
        ),
        status=status,
        severity=Severity.HIGH,
        title='Title with "quotes", a backslash \\ and ünïcödé ✓',
        evidence=evidence,
        reason=reason,
    )


CASES = {
    "no results": ([], []),
    "pass without source": ([_result(Status.PASS)], [""]),
    "fail with evidence": (
        [
            _result(
                Status.FAIL,
                (
                    Evidence(path="containerDefinitions[0].environment[1]", message="tab\there, newline\nthere"),
                    Evidence(path="", message="control \x01 and emoji 😀"),
                ),
            )
        ],
        ["events/a.json"],
    ),
    "error with reason and a mix": (
        [_result(Status.ERROR, reason="task definition 'x' was not found"), _result(Status.NOT_APPLICABLE)],
        ["a.json", "b/ü.json"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_render_json_equals_json_dumps_with_indent(case: str) -> None:
    # GIVEN results of every shape (empty evidence, reasons, sources or none, characters json escapes)
    results, sources = CASES[case]
    summary = report.summary(results, [], [], 2, Severity.LOW)

    # WHEN the report renders them
    text = report.render_json(results, sources, summary)

    # THEN it is byte for byte what the generic encoder writes for the same documents
    expected = {
        "results": [report.result_document(r, s) for r, s in zip(results, sources, strict=True)],
        "summary": summary,
    }
    assert text == json.dumps(expected, indent=2)


def test_render_json_with_a_source_per_result_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="one source per result"):
        report.render_json([_result(Status.PASS)], [], {})
