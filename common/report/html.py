"""The compliance report as one self-contained HTML page: no script, no external asset,
styles inline, every value escaped (GET /report serves it with `default-src 'none'`)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from common.report.checks import CHECKS, findings_by_check
from common.report.words import (
    PERIOD_LISTS,
    SUMMARY_ROWS,
    actor,
    history_from,
    people,
    person,
    provenance_rows,
    shown,
    via,
)

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .6em 0; width: 100%; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .9em; word-break: break-all; }
.sev { font-weight: bold; text-transform: uppercase; font-size: .85em; }
.high { color: #b00020; } .medium { color: #a05a00; } .low { color: #3a5a99; }
.info { color: #555; } .pass { color: #2e7d32; }
p.meta { color: #555; margin-top: 0; }
.warnings { border: 2px solid #b00020; background: #fff4f4; padding: .2em 1em; }
.warnings p { margin: .5em 0; }
"""


def _summary_table(report: Mapping[str, Any]) -> list[str]:
    summary = report["summary"]
    rows = [
        f'<tr><th scope="row">{escape(label)}</th>'
        f'<td class="n">{escape(shown(summary.get(name)))}</td></tr>'
        for name, label in SUMMARY_ROWS
    ]
    return ['<table id="summary">', "<caption>Summary</caption>", *rows, "</table>"]


def _checks_table(grouped: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    rows = []
    for check, findings in grouped.items():
        title = CHECKS.get(check, (check, ""))[0]
        result = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
        css = "pass" if not findings else findings[0]["severity"]
        rows.append(
            f'<tr><td><a href="#{escape(check)}">{escape(title)}</a></td>'
            f"<td><code>{escape(check)}</code></td>"
            f'<td class="{escape(css)}">{escape(result if findings else "passed")}</td></tr>'
        )
    head = "<tr><th>check</th><th>name</th><th>result</th></tr>"
    return ['<table id="checks">', "<caption>Checks</caption>", head, *rows, "</table>"]


def _details(details: Mapping[str, Any]) -> str:
    items = [
        f"<li>{escape(str(name))}: {escape(shown(value))}</li>"
        for name, value in details.items()
        if value not in (None, [], {})
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _check_section(
    check: str, findings: list[dict[str, Any]], known: Mapping[str, tuple[str, str | None]]
) -> list[str]:
    title, why = CHECKS.get(check, (check, ""))
    out = [
        f'<section id="{escape(check)}" class="check">',
        f"<h2>{escape(title)} <code>{escape(check)}</code></h2>",
        f"<p>{escape(why)}</p>",
    ]
    if not findings:
        return [*out, '<p class="pass">Passed: no findings.</p>', "</section>"]
    out.append("<table><tr><th>severity</th><th>finding</th><th>keys</th></tr>")
    for finding in findings:
        severity = escape(finding["severity"])
        keys = "<br>".join(
            f"<code>{escape(k)}</code>" + (f" {escape(person(*known[k]))}" if k in known else "")
            for k in finding["keys"]
        )
        out.append(
            f'<tr class="finding"><td class="sev {severity}">{severity}</td>'
            f"<td>{escape(finding['message'])}{_details(finding['details'])}</td>"
            f"<td>{keys}</td></tr>"
        )
    return [*out, "</table>", "</section>"]


def _warnings(provenance: Mapping[str, Any] | None) -> list[str]:
    found = (provenance or {}).get("warnings") or []
    if not found:
        return []
    items = [f"<p><strong>Warning:</strong> {escape(w)}</p>" for w in found]
    return ['<div class="warnings" role="alert">', *items, "</div>"]


def _provenance_table(provenance: Mapping[str, Any] | None) -> list[str]:
    if provenance is None:
        return []
    rows = [
        f'<tr><th scope="row">{escape(label)}</th><td>{escape(value)}</td></tr>'
        for label, value in provenance_rows(provenance)
    ]
    return ['<table id="provenance">', "<caption>Provenance</caption>", *rows, "</table>"]


def _roster_section(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        '<section id="roster">',
        "<h2>Roster: who is on call now</h2>",
        "<p>Each active service, its escalation policy, and who is on call at each level now"
        " (from the on-call edges; <em>via</em>: the schedule that puts them there).</p>",
        "<table><tr><th>service</th><th>escalation policy</th><th>level</th><th>on call</th></tr>",
    ]
    for row in rows:
        service = f"{escape(row['service'])}<br><code>{escape(row['key'])}</code>"
        levels = row["levels"] or [None]
        policy = escape(row["escalationPolicy"] or "none")
        for n, level in enumerate(levels):
            head = (
                f'<td rowspan="{len(levels)}">{service}</td>'
                f'<td rowspan="{len(levels)}">{policy}</td>'
                if n == 0
                else ""
            )
            if level is None:
                out.append(f"<tr>{head}<td>—</td><td>—</td></tr>")
                continue
            names = "<br>".join(
                f"{escape(person(e['name'], e['email']))} <small>{escape(via(e))}</small>"
                for e in level["oncall"]
            )
            css = "" if level["oncall"] else ' class="high"'
            out.append(
                f'<tr>{head}<td class="n">{level["level"]}</td>'
                f"<td{css}>{names or 'nobody'}</td></tr>"
            )
    return [*out, "</table>", "</section>"]


def _period_section(period: Mapping[str, Any]) -> list[str]:
    out = [
        '<section id="period">',
        f"<h2>Over the period {escape(period['from'])} to {escape(period['to'])}</h2>",
        f"<p>{escape(history_from(period)).replace('the', 'The', 1)}.</p>",
        "<table><caption>Level-1 coverage of each active service</caption>"
        "<tr><th>service</th><th>covered at level 1</th><th>longest gap</th></tr>",
    ]
    for row in period["services"]:
        pct, gap = row["level1CoveredPct"], row["longestUncoveredMinutes"]
        out.append(
            f"<tr><td>{escape(row['name'])}<br><code>{escape(row['key'])}</code></td>"
            f'<td class="n">{escape("not known" if pct is None else f"{pct:g} %")}</td>'
            f'<td class="n">{escape("—" if gap is None else f"{gap:g} min")}</td></tr>'
        )
    out.append("</table>")
    for name, title in PERIOD_LISTS:
        items = period[name]
        out.append(f"<h3>{escape(title)} ({len(items) or 'none'})</h3>")
        if items:
            out.append("<table><tr><th>when</th><th>what</th><th>change</th><th>by</th></tr>")
            for item in items:
                fields = f" ({', '.join(item['fields'])})" if item.get("fields") else ""
                out.append(
                    f"<tr><td>{escape(item['at'])}</td>"
                    f"<td>{escape(item['name'])}<br><code>{escape(item['key'])}</code></td>"
                    f"<td>{escape(item['action'] + fields)}</td>"
                    f"<td>{escape(actor(item.get('actor')))}</td></tr>"
                )
            out.append("</table>")
    return [*out, "</section>"]


def render_html(report: Mapping[str, Any]) -> str:
    account = report.get("account_name")
    heading = "Compliance evidence report" + (f": {account}" if account else "")
    grouped = findings_by_check(report)
    body = [
        f"<h1>{escape(heading)}</h1>",
        *_warnings(report.get("provenance")),
        f'<p class="meta">Generated {escape(report["generated_at"])} by pdgraph from the graph'
        f" it holds. {len(report['findings'])} findings.</p>",
        *_provenance_table(report.get("provenance")),
        *_summary_table(report),
        *_checks_table(grouped),
        *_roster_section(report.get("roster") or []),
    ]
    known = people(report)
    for check, findings in grouped.items():
        body += _check_section(check, findings, known)
    if report.get("period") is not None:
        body += _period_section(report["period"])
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(heading)}</title>",
            f"<style>{STYLE}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )
