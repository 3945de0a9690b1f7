"""How the compliance report names things, in every format (common/report/render.py:
text and JSON; common/report/html.py: the page): people by name and address, actors,
how someone is on call, the provenance's rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUMMARY_ROWS = (
    ("services", "Services"),
    ("activeServices", "Active services"),
    ("teams", "Teams"),
    ("users", "Users"),
    ("policies", "Escalation policies"),
    ("schedules", "Schedules"),
    ("businessServices", "Business services"),
    ("integrations", "Service integrations"),
    ("vendors", "Vendors"),
    ("coveredServices", "Covered services (active, ≥ 2 levels, someone on call)"),
    ("coveredServicesPct", "Covered services, % of active services"),
)


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) or "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {shown(v)}" for k, v in value.items())
    return str(value)


def people(report: Mapping[str, Any]) -> dict[str, tuple[str, str | None]]:
    """User key → (name, e-mail) of every user the report mentions."""
    known: dict[str, tuple[str, str | None]] = {}
    for row in report.get("roster") or []:
        for level in row["levels"]:
            for oncall in level["oncall"]:
                known[oncall["key"]] = (oncall["name"], oncall.get("email"))
    for finding in report["findings"]:
        details = finding.get("details") or {}
        for user in details.get("users") or []:
            known[user["key"]] = (user["name"], user.get("email"))
        if finding["check"] == "oncall_user_without_team":
            known[finding["keys"][0]] = (str(details.get("user")), details.get("email"))
    return known


def person(name: str | None, email: str | None) -> str:
    """`Ada Lovelace <ada@example.com>`; the name alone when the address is not known."""
    return f"{name} <{email}>" if email else str(name)


def key_named(key: str, known: Mapping[str, tuple[str, str | None]]) -> str:
    return f"{key} ({person(*known[key])})" if key in known else key


def actor(value: Mapping[str, Any] | None) -> str:
    """`Ada Lovelace (user PXYZ)`, or "unknown" (the change came without an actor)."""
    if not value:
        return "unknown"
    who = value.get("name") or value.get("id")
    return f"{who} ({value.get('type') or 'actor'} {value.get('id')})"


def via(entry: Mapping[str, Any]) -> str:
    """How a roster entry is on call: by which schedule, directly, or not known."""
    if entry.get("via"):
        return f"via {entry['via']}"
    if entry.get("assignment") == "direct":
        return "assigned directly"
    return "via: not known"


def _people_feed(provenance: Mapping[str, Any]) -> str:
    """How users, teams, policies and schedules are kept fresh, and how far behind."""
    kept = provenance.get("people_feed") or {}
    mode = {"audit": "PagerDuty's audit-records feed", "light_refresh": "light refresh"}.get(
        kept.get("mode") or "", "not read yet"
    )
    lag = kept.get("lag_seconds")
    return f"{mode} (lag {lag:g} s)" if isinstance(lag, int | float) else mode


def provenance_rows(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    last = provenance.get("last_full_sync") or {}
    attempt = f"{last.get('outcome')}, {last.get('at') or '—'}" if last else "—"
    return [
        ("Graph as of (last successful full sync)", shown(provenance.get("graph_as_of"))),
        ("Last full sync attempt", attempt),
        ("Users, teams, policies, schedules kept fresh by", _people_feed(provenance)),
        ("Last webhook received", shown(provenance.get("last_webhook_at"))),
        ("Graph sink", shown(provenance.get("sink"))),
        ("Graph model", shown(provenance.get("graph_model"))),
    ]


PERIOD_LISTS = (
    ("adminChanges", "Admin rights granted or revoked"),
    ("usersCreated", "Users created"),
    ("usersDeleted", "Users deleted"),
    ("policyChanges", "Escalation policy changes"),
    ("scheduleChanges", "Schedule changes"),
)


def history_from(period: Mapping[str, Any]) -> str:
    if period["historyFrom"] is None:
        return "the change history holds no entries"
    return f"the change history holds entries from {period['historyFrom']}"
