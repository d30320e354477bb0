"""`ecsguard scan --format html` and `ecsguard sweep --format html`, opened in a real headless Chromium.

Each page is opened from its file with JavaScript disabled, as a reader's locked-down browser might, and judged
by what a person sees: ``document.body.innerText`` (which honours CSS), the cells of its tables, the boxes of its
chart's bars and the pixels of a screenshot. What it must show is derived from the JSON report of the same scan
or sweep; what it must not do is fetch anything (every request the page makes is recorded) or run a script.

Chromium is /usr/bin/chromium (`make browser` installs Debian's package). Without it these tests skip, except in
CI (the CI variable set), where its absence is a failure: a report nobody opened is not tested.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import CHROMIUM, Browser, Page, decode_png, read_png, start_browser
from emulated_aws import ACCOUNT, EVENTS, REGION, Aws
from test_cli_exemptions import IN_A_MONTH, LEGACY_EVENT, LEGACY_TD, exemptions_file
from test_sweep_cli import environment, sweep

from ecsguard.cli import main
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Evidence, Exempted, ResourceRef, Result, Status
from ecsguard.html_report import render_html
from ecsguard.report import summary as scan_summary
from policy_catalog import catalog, narrowed

STATUSES = ("FAIL", "ERROR", "EXEMPT", "PASS", "NOT_APPLICABLE")  # the order of the tables' count columns
TILE_LABELS = {"FAIL": "Failed", "ERROR": "Errors", "EXEMPT": "Exempt", "PASS": "Passed", "NOT_APPLICABLE": "N/A"}
FAILING = ("FAIL", "ERROR")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        if "CI" in os.environ:
            pytest.fail(f"{CHROMIUM} is missing in CI, where the HTML report must be opened: run `make browser`")
        pytest.skip(f"{CHROMIUM} is not installed (`make browser` installs it); in CI this fails instead")
    started = start_browser(tmp_path_factory.mktemp("chromium") / "profile")  # a fresh profile
    yield started
    started.close()


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scans load the catalog's every pack and the exemptions they name, whatever the shell has set."""
    for name in ("ECSGUARD_EXEMPTIONS", "ECSGUARD_PACKS", "ECSGUARD_POLICY_DIR", "ECSGUARD_PARAMETERS"):
        monkeypatch.delenv(name, raising=False)


def scan(capsys: pytest.CaptureFixture[str], output: str, *arguments: str) -> tuple[int, str]:
    """The exit status and output of a scan; what it says on stderr (input errors) is in its summary too."""
    status = main(["scan", "--pack", "all", "--format", output, *arguments])
    return status, capsys.readouterr().out


def open_report(browser: Browser, page_text: str, path: Path) -> Page:
    """The page, written to ``path`` and opened from it with scripts disabled, checked to have fetched nothing."""
    path.write_text(page_text, encoding="utf-8")
    page = browser.open_page()
    page.send("Emulation.setScriptExecutionDisabled", {"value": True})
    page.navigate(path.as_uri())
    # Every request the page made, blocked ones included (a CSP violation is recorded as a request and an error).
    requested = [event["request"]["url"] for event in page.events("Network.requestWillBeSent")]
    assert requested == [path.as_uri()]
    assert [event["entry"] for event in page.events("Log.entryAdded")] == []
    assert page.evaluate("document.scripts.length") == 0
    handlers = "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
    assert [name for name in page.evaluate(handlers) if name.startswith("on")] == []
    # Nothing embedded from anywhere: the only URLs are links a reader may follow (remediation, the page's anchors).
    assert page.evaluate("document.querySelectorAll('[src], link, iframe, object, embed, base').length") == 0
    assert set(page.evaluate("[...document.querySelectorAll('[href]')].map(e => e.tagName)")) <= {"A"}
    return page


def rows(page: Page, table: str) -> list[list[str]]:
    """The text of each cell of a table's body rows, as a person reads them."""
    return page.evaluate(  # type: ignore[no-any-return]
        f"[...document.querySelectorAll('#{table} tr')].slice(1).map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def tiles(page: Page) -> dict[str, int]:
    shown = page.evaluate("[...document.querySelectorAll('.tiles li')].map(li => li.innerText.split('\\n'))")
    return {label: int(number) for number, label in shown}


def expected_counts(results: list[dict[str, Any]], key: str) -> dict[str, list[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        counts[result[key]][result["status"]] += 1
    return {name: [str(counted[status]) for status in STATUSES] for name, counted in counts.items()}


def assert_summary_tables(page: Page, results: list[dict[str, Any]], by_status: dict[str, int]) -> None:
    # the policy table: a row per policy evaluated, with its title, severity and the JSON's counts
    titles = {r["policy_id"]: (r["title"], r["severity"]) for r in results}
    shown = {row[0]: row[1:8] for row in rows(page, "by-policy")}
    assert shown == {
        policy_id: [*titles[policy_id], *counts] for policy_id, counts in expected_counts(results, "policy_id").items()
    }
    # the severity table: a row per severity the results have, most severe first
    severities = [row[0] for row in rows(page, "by-severity")]
    assert severities == sorted({r["severity"] for r in results}, key=lambda s: -Severity(s).rank)
    assert {row[0]: row[1:] for row in rows(page, "by-severity")} == expected_counts(results, "severity")
    # the tiles: the JSON summary's counts by status
    shown_tiles = tiles(page)
    assert {status: shown_tiles[label] for status, label in TILE_LABELS.items()} == by_status


def evidence_line(evidence: dict[str, Any], source: str) -> str:
    """An evidence item as the page shows it: its path, where in the file when known, and its message."""
    shown = evidence["path"] or "(resource)"
    if evidence.get("line") is not None:
        shown += f" ({source}:{evidence['line']})" if source else f" (line {evidence['line']})"
    return f"{shown}: {evidence['message']}"


def assert_failures_shown(page: Page, results: list[dict[str, Any]], policies: PolicySet) -> None:
    """A section per failing policy with its title, remediation and link, and in it a block per FAIL or ERROR
    result: its resource, file and every evidence path with its message, exactly those of the JSON report."""
    failing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if result["status"] in FAILING:
            failing[result["policy_id"]].append(result)
    assert failing, "the report under test has failures"
    shown_sections = page.evaluate(
        "[...document.querySelectorAll('section.policy')].map(s => s.id).filter(i => i.startsWith('policy-'))"
    )
    assert sorted(shown_sections) == sorted(f"policy-{policy_id}" for policy_id in failing)
    for policy_id, expected in failing.items():
        section = f"document.getElementById('policy-{policy_id}')"
        text = page.evaluate(f"{section}.innerText")
        policy = policies.by_id[policy_id]
        assert policy_id in text
        assert policy.title in text
        assert f"Remediation: {policy.document.remediation.text} {policy.document.remediation.url}" in text
        blocks = page.evaluate(
            f"[...{section}.querySelectorAll('.resource')].map(b => ["
            "b.querySelector('.status').innerText, b.querySelector(':scope > code').innerText, "
            "(b.querySelector(':scope > .muted > code') || {innerText: ''}).innerText, "
            "[...b.querySelectorAll('li')].map(li => li.innerText)])"
        )
        assert blocks == [
            [
                r["status"],
                r["resource"]["id"],
                r.get("source", ""),
                [evidence_line(e, r.get("source", "")) for e in r["evidence"]],
            ]
            for r in expected
        ]
        for result in expected:
            if result["status"] == "ERROR":
                assert f"could not be evaluated: {result['reason']}" in text


def assert_chart_drawn(page: Page, results: list[dict[str, Any]]) -> None:
    """The chart's bars have the lengths of the failures they count, and are on the screenshot in their colours."""
    failed = Counter(r["severity"] for r in results if r["status"] == "FAIL")
    bars = page.evaluate(
        "[...document.querySelectorAll('#severity-chart rect.bar.fail')].map(r => "
        "{const b = r.getBoundingClientRect(); return [r.getAttribute('fill'), b.width, b.height]})"
    )
    assert len(bars) == len(failed)
    assert all(width > 0 and height > 0 for _, width, height in bars)
    widths = [width for _, width, _ in bars]
    counts = [failed[s.value] for s in reversed(Severity) if failed[s.value]]
    for width, count in zip(widths, counts, strict=True):  # proportional: the longest bar is the most failures
        assert abs(width / max(widths) - count / max(counts)) < 0.02
    box = page.evaluate(
        "(() => {const b = document.getElementById('severity-chart').getBoundingClientRect();"
        " return {x: b.x + scrollX, y: b.y + scrollY, width: b.width, height: b.height}})()"
    )
    image = decode_png(page.screenshot(box))
    assert (image.width, image.height) == (round(box["width"]), round(box["height"]))
    for fill, width, height in bars:
        colour = (int(fill[1:3], 16), int(fill[3:5], 16), int(fill[5:7], 16))
        # the inside of the bar is its colour exactly, whatever the antialiasing of its edges
        assert image.count(colour) >= (width - 2) * (height - 2)


def assert_real_screenshot(page: Page, path: Path) -> None:
    """A screenshot of the whole page is a real image of its size, kept at ``path`` for a person to look at."""
    png = page.screenshot()
    path.write_bytes(png)
    width, height, _, _ = read_png(png)
    page_size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert (width, height) == tuple(page_size)
    assert height > 600
    assert len(png) > 30_000  # a page of text, tables and a chart, not a blank one


def test_html_scan_report_in_chromium_shows_what_the_json_report_says(
    browser: Browser, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN the JSON report of the sample events, as the reference
    status, out = scan(capsys, "json", str(EVENTS))
    document = json.loads(out)
    results, summary = document["results"], document["summary"]

    # WHEN the same scan writes HTML, and a person opens it
    html_status, page_text = scan(capsys, "html", str(EVENTS))
    page = open_report(browser, page_text, tmp_path / "report.html")
    seen = page.evaluate("document.body.innerText")

    # THEN the header says what the scan found, against --fail-on, what it could not read and what it skipped
    assert html_status == status == (2 if summary["input_errors"] else 1)
    assert seen.startswith("ecsguard scan report\n")
    assert f"FAILED: {summary['breaches']} at or above {summary['fail_on']}" in seen
    assert {label: tiles(page)[label] for label in ("Files", "Resources", "Results")} == {
        "Files": summary["files"],
        "Resources": summary["resources"],
        "Results": summary["results"],
    }
    errors = page.evaluate("[...document.querySelectorAll('ul.problems li')].map(li => li.innerText)")
    assert errors == summary["input_errors"]
    assert summary["skipped"]
    for skipped in summary["skipped"]:
        assert f"{skipped['source']}: {skipped['reason']}" in seen
    # AND the tables count as the JSON does, every failure is shown with its evidence, and the chart is drawn
    assert_summary_tables(page, results, summary["by_status"])
    assert_failures_shown(page, results, catalog())
    assert_chart_drawn(page, results)
    assert_real_screenshot(page, tmp_path / "report.png")
    page.close()


def test_html_scan_report_lists_exempted_failures_apart_with_their_exemption(
    browser: Browser, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN the legacy proxy's failures of two policies, exempted
    exemptions = str(exemptions_file(tmp_path / "exemptions.yaml"))
    _, out = scan(capsys, "json", "--exemptions", exemptions, str(LEGACY_EVENT))
    document = json.loads(out)
    results = document["results"]
    exempted = sorted(r["policy_id"] for r in results if r["status"] == "EXEMPT")
    assert exempted == ["ecs-images-ecr-only", "ecs-network-awsvpc"]

    # WHEN the page is opened
    _, page_text = scan(capsys, "html", "--exemptions", exemptions, str(LEGACY_EVENT))
    page = open_report(browser, page_text, tmp_path / "report.html")
    seen = page.evaluate("document.body.innerText")

    # THEN each exempted failure is under Exempted, with its exemption, and not among the failing resources
    assert f"Exempted ({len(exempted)})" in seen
    for policy_id in exempted:
        assert page.evaluate(f"document.getElementById('policy-{policy_id}')") is None
        text = page.evaluate(f"document.getElementById('exempt-policy-{policy_id}').innerText")
        assert f"EXEMPT AWS::ECS::TaskDefinition {LEGACY_TD}" in text
        assert (
            "exempted by legacy-proxy-accepted (owner platform-security@example.com, until "
            f"{IN_A_MONTH}, ticket SEC-123): "
            "Vendor proxy on bridge networking until its migration (SEC-123)."
        ) in text
    assert_summary_tables(page, results, document["summary"]["by_status"])
    page.close()


@pytest.fixture
def swept_account(aws: Aws) -> Aws:
    """A latest revision on bridge networking (FAIL, MEDIUM) and a service mounting EFS on Fargate 1.3.0 (FAIL,
    HIGH), as tests/functional/test_sweep_cli.py plants them."""
    container = {"name": "app", "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:1", "memory": 256}
    efs = [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0"}}]
    aws.ecs.register_task_definition(family="web", containerDefinitions=[container], networkMode="bridge")
    aws.ecs.register_task_definition(
        family="efs-app", containerDefinitions=[container], networkMode="awsvpc", volumes=efs
    )
    aws.ecs.create_cluster(clusterName="prod")
    aws.ecs.create_service(
        cluster="prod", serviceName="reports", taskDefinition="efs-app:1", launchType="FARGATE", platformVersion="1.3.0"
    )
    return aws


def test_html_sweep_report_in_chromium_shows_regions_and_failures_as_the_json_report(
    browser: Browser, swept_account: Aws, tmp_path: Path
) -> None:
    # GIVEN the JSON report of a sweep of the emulated account (a separate process, as a user runs it)
    env = environment(swept_account, tmp_path)
    completed = sweep(env, "--region", REGION, "--format", "json")
    assert completed.stderr == ""
    document = json.loads(completed.stdout)
    results, summary = document["results"], document["summary"]

    # WHEN the same sweep writes HTML, and a person opens it
    html_run = sweep(env, "--region", REGION, "--format", "html")
    assert (html_run.returncode, html_run.stderr) == (completed.returncode, "") == (1, "")
    page = open_report(browser, html_run.stdout, tmp_path / "sweep.html")
    seen = page.evaluate("document.body.innerText")

    # THEN it is a sweep's page, with a row per Region holding every field of the Region's JSON summary
    assert seen.startswith("ecsguard sweep report\n")
    assert f"FAILED: {summary['breaches']} at or above {summary['fail_on']}" in seen
    assert "Files" not in tiles(page)
    headers = page.evaluate("[...document.querySelectorAll('#regions th')].map(h => h.innerText)")
    (region,) = summary["regions"]
    assert headers == [key.replace("_", " ") for key in region]
    (shown,) = rows(page, "regions")

    def written(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{key} {count}" for key, count in value.items()) or "none"
        if isinstance(value, list):
            return "; ".join(value) or "none"
        return str(value)

    assert shown == [written(value) for value in region.values()]
    assert (region["region"], region["account"]) == (REGION, ACCOUNT)
    # AND counts, failures and chart as for a scan; a sweep's results come from no file
    assert_summary_tables(page, results, summary["by_status"])
    assert_failures_shown(page, results, narrowed())
    assert_chart_drawn(page, results)
    assert_real_screenshot(page, tmp_path / "sweep.png")
    page.close()


def test_html_report_shows_hostile_text_as_text_and_a_template_line(browser: Browser, tmp_path: Path) -> None:
    # GIVEN results whose text is markup (a resource's name and a container's are the input's own words) and
    # evidence at a line of a template
    policy = catalog().for_type(ResourceType.TASK_DEFINITION)[0]
    markup = '<img src="http://127.0.0.1:9/x.png"> &amp; </aside><script>alert(1)</script>'
    results = [
        Result(
            policy_id=policy.id,
            resource=ResourceRef(ResourceType.TASK_DEFINITION, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/a"),
            status=Status.FAIL,
            severity=policy.severity,
            title=policy.title,
            evidence=(Evidence(path="Resources.Web.Properties.NetworkMode", message=f"container {markup}", line=42),),
        ),
        Result(
            policy_id=policy.id,
            resource=ResourceRef(ResourceType.TASK_DEFINITION, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/b"),
            status=Status.ERROR,
            severity=policy.severity,
            title=policy.title,
            reason=f"task definition {markup} was not found",
        ),
        Result(
            policy_id=policy.id,
            resource=ResourceRef(ResourceType.TASK_DEFINITION, f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/c"),
            status=Status.EXEMPT,
            severity=policy.severity,
            title=policy.title,
            exemption=Exempted(id="accepted", owner=markup, reason=markup, expires="2999-01-01"),
        ),
    ]
    sources = ["template.yaml", "", "template.yaml"]
    summary = scan_summary(results, [], [], 1, Severity.LOW)

    # WHEN the page is opened
    page = open_report(browser, render_html(results, sources, summary, catalog().by_id), tmp_path / "hostile.html")
    seen = page.evaluate("document.body.innerText")

    # THEN the markup is shown as the characters it is, and made no element (open_report saw no request or script)
    assert f"Resources.Web.Properties.NetworkMode (template.yaml:42): container {markup}" in seen
    assert f"could not be evaluated: task definition {markup} was not found" in seen
    assert f"exempted by accepted (owner {markup}, until 2999-01-01): {markup}" in seen
    assert page.evaluate("document.querySelectorAll('img, script').length") == 0
    assert page.evaluate("document.querySelectorAll('aside.policy-text').length") == 1
    page.close()


def test_html_report_of_no_results_says_so_and_passes() -> None:
    page_text = render_html([], [], scan_summary([], [], [], 0, Severity.LOW), {})

    assert "PASSED: nothing at or above LOW failed" in page_text
    assert "No resource failed or could not be evaluated." in page_text
    assert "://" not in page_text  # no policy, so no remediation link: not one URL
