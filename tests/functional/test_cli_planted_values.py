"""No value a policy case plants (``absent_from_output``) reaches `ecsguard scan`'s output, in any format.

tests/functional/test_cli_policy_cases.py checks the verdicts of every scenario in JSON; this scans each
scenario that plants values (secrets in the environment, credentials in an image reference) once per output
format of ``report.FORMATS``, so the text table people read is held to the same rule as the JSON. Each
scenario is scanned alone, so the output's counts are small numbers that a planted value ("14") cannot be
mistaken for, and the scanned folder's path (a temporary one such as /tmp/pytest-of-root/pytest-114/) is taken
out of the output before it is searched.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_cli_policy_cases import GROUPS, _strings, _write_scenario

from ecsguard.cli import main
from ecsguard.report import FORMATS

# What html_report writes the policies' own text in, and nothing else.
POLICY_TEXT = re.compile(r'<aside class="policy-text">.*?</aside>', re.S)

PLANTING = [
    pytest.param(parameters, policy_id, letter, scenario, id=f"{policy_id}/{letter}")
    for parameters, group in GROUPS.items()
    for policy_id, letter, scenario in group
    if scenario.get("absent_from_output")
]


@pytest.mark.parametrize("output_format", sorted(FORMATS))
@pytest.mark.parametrize(("parameters", "policy_id", "letter", "scenario"), PLANTING)
def test_scan_output_shows_no_planted_value(
    parameters: str,
    policy_id: str,
    letter: str,
    scenario: dict[str, Any],
    output_format: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN one scenario that plants values, written out as files, and its parameters
    scanned = tmp_path / "scanned"
    scanned.mkdir()
    _write_scenario(scanned, policy_id, letter, scenario)
    parameter_file = tmp_path / "parameters.json"
    parameter_file.write_text(json.dumps({"parameters": json.loads(parameters)}), encoding="utf-8")

    # WHEN it is scanned in this format
    # Every pack: the case files cover every policy of the catalog, whichever packs a deployment loads.
    arguments = ["scan", "--format", output_format, "--pack", "all", "--parameters", str(parameter_file)]
    status = main([*arguments, str(scanned)])
    captured = capsys.readouterr()
    out = captured.out
    if output_format == "sarif":
        # The rules are the policies' own text (descriptions that name example values such as "true"), the same
        # whatever is scanned: what is searched is everything else, the results included.
        # Its text is searched as the strings the document holds (a JSON true is not the text "true").
        log = json.loads(out)
        rules = [run["tool"]["driver"].pop("rules") for run in log["runs"]]
        assert rules, "the rules were there to take out"
        assert all(rules), "the rules were there to take out"
        # A result's fingerprint is a hash of its policy id and resource id (its path here, which differs per run):
        # its hex digits can spell a planted number by chance, and a hash cannot carry a value, so it is not searched.
        for run in log["runs"]:
            for result in run["results"]:
                assert result.pop("partialFingerprints")
        out = "\n".join(_strings(log))
    if output_format == "html":
        # The same for the page: the policies' own text is in asides that hold it alone (no result is in one); the
        # rest is searched as the text it shows (&quot; read as ", so an escaped value cannot hide).
        assert not [aside for aside in POLICY_TEXT.findall(out) if 'class="resource"' in aside]
        out = html.unescape(POLICY_TEXT.sub("", out))
    printed = (out + captured.err).replace(str(scanned), "<scanned folder>")

    # THEN the scan read the input and reported on the policy, and no planted value appears in what it printed
    assert status in (0, 1), printed
    assert policy_id in printed
    assert [value for value in scenario["absent_from_output"] if value in printed] == []


def test_planting_scenarios_include_image_credentials() -> None:
    # The image policy's scenarios with credentials in the image reference are among those scanned.
    assert any(param.values[1] == "ecs-images-ecr-only" for param in PLANTING)
