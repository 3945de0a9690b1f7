"""The compliance report as text, JSON or a self-contained HTML page (common/report.py
computes it). The HTML has no script and no external asset; every value is escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from common.report import CHECKS, findings_by_check

FORMATS = ("text", "json", "html")

SUMMARY_ROWS = (
    ("services", "Services"),
    ("activeServices", "Active services"),
    ("teams", "Teams"),
    ("users", "Users"),
    ("policies", "Escalation policies"),
    ("schedules", "Schedules"),
    ("coveredServices", "Covered services (active, ≥ 2 levels, someone on call)"),
    ("coveredServicesPct", "Covered services, % of active services"),
)


def render(report: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "text":
        return render_text(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


def render_text(report: Mapping[str, Any]) -> str:
    account = report.get("account_name") or "(ACCOUNT_NAME not set)"
    lines = [
        "pdgraph compliance evidence report",
        f"account: {account}",
        f"generated: {report['generated_at']}",
        "",
        "summary",
    ]
    summary = report["summary"]
    lines += [f"  {label}: {_value(summary.get(name))}" for name, label in SUMMARY_ROWS]
    lines += ["", f"findings: {len(report['findings'])}"]
    for check, findings in findings_by_check(report).items():
        title = CHECKS.get(check, (check, ""))[0]
        lines += ["", f"{check}: {title} ({len(findings) or 'none'})"]
        for finding in findings:
            lines.append(f"  [{finding['severity']}] {finding['message']}")
            lines.append(f"      keys: {', '.join(finding['keys'])}")
    return "\n".join(lines) + "\n"


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
"""


def _summary_table(report: Mapping[str, Any]) -> list[str]:
    summary = report["summary"]
    rows = [
        f'<tr><th scope="row">{escape(label)}</th>'
        f'<td class="n">{escape(_value(summary.get(name)))}</td></tr>'
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
        f"<li>{escape(str(name))}: {escape(_value(value))}</li>"
        for name, value in details.items()
        if value not in (None, [], {})
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _check_section(check: str, findings: list[dict[str, Any]]) -> list[str]:
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
        keys = "<br>".join(f"<code>{escape(k)}</code>" for k in finding["keys"])
        out.append(
            f'<tr class="finding"><td class="sev {severity}">{severity}</td>'
            f"<td>{escape(finding['message'])}{_details(finding['details'])}</td>"
            f"<td>{keys}</td></tr>"
        )
    return [*out, "</table>", "</section>"]


def render_html(report: Mapping[str, Any]) -> str:
    account = report.get("account_name")
    heading = "Compliance evidence report" + (f": {account}" if account else "")
    grouped = findings_by_check(report)
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="meta">Generated {escape(report["generated_at"])} by pdgraph from the graph'
        f" it holds. {len(report['findings'])} findings.</p>",
        *_summary_table(report),
        *_checks_table(grouped),
    ]
    for check, findings in grouped.items():
        body += _check_section(check, findings)
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
