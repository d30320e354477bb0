"""Scan and sweep results as one self-contained HTML page, for the people who read them: security engineers and
auditors.

The page says only what the JSON format says (policy ids, titles, resource ids, evidence paths and messages,
reasons, exemptions), plus the policies' own text (description, remediation, packs, controls) as SARIF's rules do.
Every piece of text is escaped. It loads nothing: the styles are inline, the chart is inline SVG, there is no
script, and its Content-Security-Policy forbids every fetch, so opening a report cannot reach the network.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.models import Severity
from ecsguard.core.results import Evidence, Result, Status

_escape = html.escape

# Most severe first: the order a reader triages in.
SEVERITIES = tuple(reversed(Severity))
_SEVERITY_COLOUR = {
    Severity.CRITICAL: "#7f1d1d",
    Severity.HIGH: "#dc2626",
    Severity.MEDIUM: "#d97706",
    Severity.LOW: "#2563eb",
    Severity.INFORMATIONAL: "#6b7280",
}
_ERROR_COLOUR = "#4b5563"
# The columns of the summary tables, in the order the text format's summary line counts them.
_COUNTED = (
    (Status.FAIL, "Failed"),
    (Status.ERROR, "Errors"),
    (Status.EXEMPT, "Exempt"),
    (Status.PASS, "Passed"),
    (Status.NOT_APPLICABLE, "N/A"),
)
_FAILING = (Status.FAIL, Status.ERROR)

# No fetch of any kind (default-src 'none'): only the inline styles are allowed. Nothing else is needed.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_STYLE = """
:root { color-scheme: light; --line: #d1d5db; --muted: #4b5563; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 0;
  background: #f9fafb; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 12px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 17px; margin: 0 0 6px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
  overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.verdict { display: inline-block; font-weight: 700; padding: 6px 12px; border-radius: 6px; margin: 8px 0; }
.verdict.failed { background: #fee2e2; color: #991b1b; }
.verdict.passed { background: #dcfce7; color: #166534; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; padding: 0; list-style: none; }
.tiles li { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 110px; }
.tiles .n { display: block; font-size: 22px; font-weight: 700; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.id { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.sev { display: inline-block; color: #fff; border-radius: 4px; padding: 0 6px; font-size: 12px; font-weight: 700; }
.status { font-weight: 700; }
.status.FAIL { color: #b91c1c; } .status.ERROR { color: #374151; } .status.EXEMPT { color: #6d28d9; }
.bar { display: block; height: 10px; background: #dc2626; border-radius: 2px; min-width: 2px; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.charts > * { flex: 1 1 420px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figcaption { font-weight: 700; margin-bottom: 6px; }
.policy { background: #fff; border: 1px solid var(--line); border-left-width: 6px; border-radius: 8px;
  padding: 14px 16px; margin: 16px 0; }
.remediation { background: #eff6ff; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.resource { border-top: 1px solid var(--line); padding: 8px 0 4px; }
.resource ul { margin: 4px 0 4px 20px; padding: 0; }
.problems li { color: #991b1b; }
@media print { body { background: #fff; } .policy, figure { break-inside: avoid; } }
"""


def _counted(number: int, label: str) -> str:
    """A count and its label, "1 error" for one: the other labels (failed, exempt, passed, n/a) read the same."""
    return f"{number} {label[:-1] if number == 1 and label == 'errors' else label}"


def _severity_badge(severity: Severity) -> str:
    return f'<span class="sev" style="background:{_SEVERITY_COLOUR[severity]}">{severity.value}</span>'


def _evidence_item(evidence: Evidence, source: str) -> str:
    where = ""
    if evidence.line is not None:  # a template's line: file:line, as an editor jumps to it
        at = f"{source}:{evidence.line}" if source else f"line {evidence.line}"
        where = f' <span class="muted">(<code>{_escape(at)}</code>)</span>'
    path = _escape(evidence.path) if evidence.path else "(resource)"
    return f"<li><code>{path}</code>{where}: {_escape(evidence.message)}</li>"


def _resource_block(result: Result, source: str) -> str:
    parts = [
        f'<div class="resource"><span class="status {result.status.value}">{result.status.value}</span> '
        f'<span class="muted">{_escape(result.resource.type.value)}</span> '
        f"<code>{_escape(result.resource.id)}</code>"
    ]
    if source:
        parts.append(f' <span class="muted">in <code>{_escape(source)}</code></span>')
    if result.status is Status.ERROR:
        parts.append(f"<div>could not be evaluated: {_escape(result.reason or 'no reason given')}</div>")
    elif result.reason:
        parts.append(f"<div>reason: {_escape(result.reason)}</div>")
    if result.exemption is not None:
        exempted = result.exemption
        ticket = f", ticket {_escape(exempted.ticket)}" if exempted.ticket else ""
        parts.append(
            f"<div>exempted by <code>{_escape(exempted.id)}</code> (owner {_escape(exempted.owner)}, "
            f"until {_escape(exempted.expires)}{ticket}): {_escape(exempted.reason)}</div>"
        )
    if result.evidence:
        items = "".join(_evidence_item(evidence, source) for evidence in result.evidence)
        parts.append(f"<ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


def _policy_text(policy: CompiledPolicy | None) -> str:
    """The policy's own words: what it checks, what to do, where it comes from. In one ``<aside
    class="policy-text">`` holding nothing else and no other aside: a test of what the page shows of the input
    takes exactly these out, as it takes SARIF's rules out (the same text whatever is scanned)."""
    if policy is None:  # not among the policies given: its results still show, with their own title
        return ""
    document = policy.document
    references = document.references
    controls = [*references.security_hub_controls, *references.control_tower_controls]
    facts = [f"packs: {_escape(', '.join(document.packs))}"]
    if controls:
        facts.append(f"controls: {_escape(', '.join(controls))}")
    url = _escape(document.remediation.url)
    return (
        f'<aside class="policy-text"><p>{_escape(policy.description)}</p>'
        f'<div class="remediation"><strong>Remediation:</strong> {_escape(document.remediation.text)} '
        f'<a href="{url}" rel="noopener noreferrer">{url}</a></div>'
        f'<p class="muted">{" · ".join(facts)}</p></aside>'
    )


def _policy_section(
    policy_id: str,
    listed: Sequence[tuple[Result, str]],
    policy: CompiledPolicy | None,
    heading_id: str,
    *,
    remedied: bool = True,
) -> str:
    """A policy's heading, its text (with remediation unless ``remedied`` is false: an exempted failure's risk was
    accepted instead) and a block per resource listed."""
    first = listed[0][0]
    severity = policy.severity if policy is not None else first.severity
    title = policy.title if policy is not None else first.title
    statuses = Counter(result.status for result, _ in listed)
    counted = ", ".join(_counted(statuses[status], label.lower()) for status, label in _COUNTED if statuses[status])
    blocks = "".join(_resource_block(result, source) for result, source in listed)
    return (
        f'<section class="policy" id="{heading_id}" style="border-left-color:{_SEVERITY_COLOUR[severity]}">'
        f"<h3>{_severity_badge(severity)} <code>{_escape(policy_id)}</code> {_escape(title)}</h3>"
        f'<p class="muted">{counted}</p>{_policy_text(policy) if remedied else ""}{blocks}</section>'
    )


def _severity_chart(counts: Mapping[Severity, Counter[Status]], severities: Sequence[Severity]) -> str:
    """Failures by severity as inline SVG: a bar per severity in its colour, its errors stacked after it in grey,
    and the numbers written at its end ("3" or "3 + 1 errors"), so the chart needs no legend."""
    label_width, bar_width, row, top = 130, 380, 30, 4
    height = top + row * len(severities) + 4
    largest = max((counts[s][Status.FAIL] + counts[s][Status.ERROR] for s in severities), default=0) or 1
    shapes = []
    for index, severity in enumerate(severities):
        y = top + index * row
        failed, errors = counts[severity][Status.FAIL], counts[severity][Status.ERROR]
        failed_width = round(bar_width * failed / largest)
        error_width = round(bar_width * errors / largest)
        shapes.append(f'<text x="0" y="{y + 15}" font-size="13">{severity.value}</text>')
        if failed:
            shapes.append(
                f'<rect class="bar fail" x="{label_width}" y="{y + 2}" width="{failed_width}" height="18" '
                f'fill="{_SEVERITY_COLOUR[severity]}"><title>{failed} failed</title></rect>'
            )
        if errors:
            shapes.append(
                f'<rect class="bar error" x="{label_width + failed_width}" y="{y + 2}" width="{error_width}" '
                f'height="18" fill="{_ERROR_COLOUR}"><title>{_counted(errors, "errors")}</title></rect>'
            )
        written = f"{failed} + {_counted(errors, 'errors')}" if errors else str(failed)
        shapes.append(
            f'<text x="{label_width + failed_width + error_width + 6}" y="{y + 15}" font-size="13">{written}</text>'
        )
    width = label_width + bar_width + 110
    summary = "; ".join(
        f"{s.value} {counts[s][Status.FAIL]} failed, {_counted(counts[s][Status.ERROR], 'errors')}" for s in severities
    )
    return (
        # No xmlns: the HTML parser puts an inline svg in its namespace, and the page names no URL it does not link.
        f'<svg id="severity-chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="Failures by severity: {summary}">{"".join(shapes)}</svg>'
    )


def _count_cells(counts: Counter[Status]) -> str:
    return "".join(f'<td class="n">{counts[status]}</td>' for status, _ in _COUNTED)


def _count_headers() -> str:
    return "".join(f'<th class="n">{label}</th>' for _, label in _COUNTED)


def _status_tiles(summary: Mapping[str, Any]) -> str:
    by_status = summary.get("by_status", {})
    tiles = [("Resources", summary.get("resources", 0)), ("Results", summary.get("results", 0))]
    if "regions" not in summary:
        tiles.insert(0, ("Files", summary.get("files", 0)))
    tiles += [(label, by_status.get(status.value, 0)) for status, label in _COUNTED]
    items = "".join(f'<li><span class="n">{_escape(str(n))}</span>{_escape(label)}</li>' for label, n in tiles)
    return f'<ul class="tiles">{items}</ul>'


def _listed(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{_escape(str(key))} {_escape(str(count))}" for key, count in value.items()) or "none"
    if isinstance(value, list | tuple):
        return "; ".join(_escape(str(item)) for item in value) or "none"
    return _escape(str(value))


def _regions(regions: Sequence[Mapping[str, Any]]) -> str:
    """A row per Region of a sweep, every field its JSON summary has; lists (problems, clusters not listed,
    unused exemptions) are written out in full."""
    keys: list[str] = []
    for region in regions:
        keys += [key for key in region if key not in keys]
    headers = "".join(f"<th>{_escape(key.replace('_', ' '))}</th>" for key in keys)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_listed(region[key]) if key in region else ''}</td>" for key in keys) + "</tr>"
        for region in regions
    )
    return f'<h2>Regions</h2><table id="regions"><tr>{headers}</tr>{rows}</table>'


def _header(summary: Mapping[str, Any], kind: str) -> str:
    breached = summary.get("breaches", 0)
    fail_on = _escape(str(summary.get("fail_on", "")))
    if breached:
        verdict = f'<div class="verdict failed">FAILED: {breached} at or above {fail_on}</div>'
    else:
        verdict = f'<div class="verdict passed">PASSED: nothing at or above {fail_on} failed</div>'
    parts = [f"<header><h1>ecsguard {kind} report</h1>{verdict}{_status_tiles(summary)}"]
    problems = summary.get("input_errors") or []
    if problems:
        items = "".join(f"<li>{_escape(str(problem))}</li>" for problem in problems)
        parts.append(f'<h2>Input errors ({len(problems)})</h2><ul class="problems">{items}</ul>')
    skipped = summary.get("skipped") or []
    if skipped:
        items = "".join(
            f"<li><code>{_escape(str(item['source']))}</code>: {_escape(str(item['reason']))}</li>" for item in skipped
        )
        parts.append(f"<h2>Skipped ({len(skipped)})</h2><ul>{items}</ul>")
    parts.append("</header>")
    return "".join(parts)


def _policy_table(
    order: Iterable[str],
    by_policy: Mapping[str, Counter[Status]],
    titles: Mapping[str, tuple[Severity, str]],
    detailed: set[str],
) -> str:
    largest = max((by_policy[p][Status.FAIL] + by_policy[p][Status.ERROR] for p in by_policy), default=0) or 1
    rows = []
    for policy_id in order:
        severity, title = titles[policy_id]
        counts = by_policy[policy_id]
        failing = counts[Status.FAIL] + counts[Status.ERROR]
        name = f"<code>{_escape(policy_id)}</code>"
        if policy_id in detailed:
            name = f'<a href="#{_anchor(policy_id)}">{name}</a>'
        bar = (
            f'<span class="bar" style="width:{100 * failing / largest:.1f}%;'
            f'background:{_SEVERITY_COLOUR[severity]}"></span>'
            if failing
            else ""
        )
        rows.append(
            f'<tr><td class="id">{name}</td><td>{_escape(title)}</td><td>{_severity_badge(severity)}</td>'
            f'{_count_cells(counts)}<td style="width:10%">{bar}</td></tr>'
        )
    return (
        f'<table id="by-policy"><tr><th>Policy</th><th>Title</th><th>Severity</th>{_count_headers()}'
        f"<th>Failing</th></tr>{''.join(rows)}</table>"
    )


def _anchor(policy_id: str) -> str:
    return "policy-" + _escape(policy_id)


def render_html(
    results: Sequence[Result],
    sources: Sequence[str],
    summary: Mapping[str, Any],
    policies: Mapping[str, CompiledPolicy],
) -> str:
    """The report page: a header with the verdict and counts (and a sweep's Regions), the results by policy and by
    severity with a chart, then every failing resource under its policy with evidence and remediation, then the
    exempted ones with their exemptions."""
    if len(results) != len(sources):
        raise ValueError("one source per result")
    kind = "sweep" if "regions" in summary else "scan"
    by_policy: dict[str, Counter[Status]] = defaultdict(Counter)
    by_severity: dict[Severity, Counter[Status]] = defaultdict(Counter)
    titles: dict[str, tuple[Severity, str]] = {}
    failing: dict[str, list[tuple[Result, str]]] = defaultdict(list)
    exempt: dict[str, list[tuple[Result, str]]] = defaultdict(list)
    for result, source in zip(results, sources, strict=True):
        by_policy[result.policy_id][result.status] += 1
        by_severity[result.severity][result.status] += 1
        if result.policy_id not in titles:
            policy = policies.get(result.policy_id)
            titles[result.policy_id] = (
                (policy.severity, policy.title) if policy is not None else (result.severity, result.title)
            )
        if result.status in _FAILING:
            failing[result.policy_id].append((result, source))
        elif result.status is Status.EXEMPT:
            exempt[result.policy_id].append((result, source))

    def triage(policy_id: str) -> tuple[int, int, str]:
        counts = by_policy[policy_id]
        return (-titles[policy_id][0].rank, -(counts[Status.FAIL] + counts[Status.ERROR]), policy_id)

    order = sorted(by_policy, key=triage)
    # Only the severities among the results (the JSON summary names only those it counted): a row of zeros for a
    # severity no policy evaluated has says nothing.
    severities = [severity for severity in SEVERITIES if severity in by_severity]
    severity_rows = "".join(
        f"<tr><td>{_severity_badge(severity)}</td>{_count_cells(by_severity[severity])}</tr>" for severity in severities
    )
    body = [
        _header(summary, kind),
        _regions(summary["regions"]) if summary.get("regions") else "",
        '<h2>Summary by severity</h2><div class="charts">',
        f'<table id="by-severity"><tr><th>Severity</th>{_count_headers()}</tr>{severity_rows}</table>',
        "<figure><figcaption>Failures by severity</figcaption>",
        f"{_severity_chart(by_severity, severities)}</figure></div>",
        "<h2>Summary by policy</h2>",
        _policy_table(order, by_policy, titles, set(failing)) if order else "<p>No policy produced a result.</p>",
        f"<h2>Failing resources ({sum(len(listed) for listed in failing.values())})</h2>",
    ]
    failing_order = [policy_id for policy_id in order if policy_id in failing]
    body += [
        _policy_section(policy_id, failing[policy_id], policies.get(policy_id), _anchor(policy_id))
        for policy_id in failing_order
    ] or ["<p>No resource failed or could not be evaluated.</p>"]
    if exempt:
        body.append(f"<h2>Exempted ({sum(len(listed) for listed in exempt.values())})</h2>")
        body += [
            _policy_section(
                policy_id, exempt[policy_id], policies.get(policy_id), f"exempt-{_anchor(policy_id)}", remedied=False
            )
            for policy_id in order
            if policy_id in exempt
        ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ecsguard {kind} report</title><style>{_STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>"
    )
