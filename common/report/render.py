"""The compliance report as text, JSON or a self-contained HTML page (common/report/checks.py
computes it; the page is common/report/html.py's). People are named with their e-mail
address wherever the report mentions them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from common.report.checks import CHECKS, findings_by_check
from common.report.html import render_html
from common.report.words import (
    PERIOD_LISTS,
    SUMMARY_ROWS,
    actor,
    history_from,
    key_named,
    people,
    person,
    provenance_rows,
    shown,
    via,
)

FORMATS = ("text", "json", "html")
__all__ = ["FORMATS", "render", "render_html", "render_json", "render_text"]


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


# -- text --------------------------------------------------------------------------------------


def _change(item: Mapping[str, Any]) -> str:
    fields = f" ({', '.join(item['fields'])})" if item.get("fields") else ""
    return (
        f"{item['at']} {item['action']} {item['name']} ({item['key']}){fields}"
        f" by {actor(item.get('actor'))}"
    )


def _coverage(row: Mapping[str, Any]) -> str:
    if row["level1CoveredPct"] is None:
        return "not known"
    return (
        f"{row['level1CoveredPct']:g} % covered at level 1, longest gap"
        f" {row['longestUncoveredMinutes']:g} minutes"
    )


def _text_roster(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        if row["escalationPolicy"] is None:
            lines.append(f"  {row['service']} ({row['key']}): no escalation policy")
            continue
        lines.append(
            f"  {row['service']} ({row['key']}): escalation policy {row['escalationPolicy']}"
        )
        for level in row["levels"]:
            head = f"    level {level['level']}: "
            if not level["oncall"]:
                lines.append(f"{head}nobody")
            for n, entry in enumerate(level["oncall"]):
                lead = head if n == 0 else " " * len(head)
                lines.append(f"{lead}{person(entry['name'], entry['email'])} {via(entry)}")
    return lines


def _text_period(period: Mapping[str, Any]) -> list[str]:
    lines = [
        "",
        f"period: {period['from']} to {period['to']} ({history_from(period)})",
        "  level-1 coverage of each active service",
    ]
    lines += [f"    {r['name']} ({r['key']}): {_coverage(r)}" for r in period["services"]]
    for name, title in PERIOD_LISTS:
        items = period[name]
        lines.append(f"  {title}: {len(items) or 'none'}")
        lines += [f"    {_change(item)}" for item in items]
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    account = report.get("account_name") or "(ACCOUNT_NAME not set)"
    lines = [
        "pdgraph compliance evidence report",
        f"account: {account}",
        f"generated: {report['generated_at']}",
    ]
    provenance = report.get("provenance")
    if provenance is not None:
        lines += [f"WARNING: {warning}" for warning in provenance.get("warnings") or []]
        lines += ["", "provenance"]
        lines += [f"  {label}: {value}" for label, value in provenance_rows(provenance)]
    lines += ["", "summary"]
    summary = report["summary"]
    lines += [f"  {label}: {shown(summary.get(name))}" for name, label in SUMMARY_ROWS]
    roster = report.get("roster") or []
    lines += ["", f"roster: who is on call now ({len(roster)} active services)"]
    lines += _text_roster(roster)
    known = people(report)
    lines += ["", f"findings: {len(report['findings'])}"]
    for check, findings in findings_by_check(report).items():
        title = CHECKS.get(check, (check, ""))[0]
        lines += ["", f"{check}: {title} ({len(findings) or 'none'})"]
        for finding in findings:
            lines.append(f"  [{finding['severity']}] {finding['message']}")
            lines.append(f"      keys: {', '.join(key_named(k, known) for k in finding['keys'])}")
            for user in (finding.get("details") or {}).get("users") or []:
                lines.append(f"      {person(user['name'], user.get('email'))}: {user['role']}")
    if report.get("period") is not None:
        lines += _text_period(report["period"])
    return "\n".join(lines) + "\n"
