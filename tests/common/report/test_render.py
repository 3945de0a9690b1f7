"""The report as text, JSON and HTML (common/report/render.py)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from common.report.checks import CHECKS, build_report
from common.report.render import render
from tests.report_graphs import NOW, GraphBuilder, planted

PROVENANCE: dict[str, Any] = {
    "graph_as_of": "2030-05-04T03:00:00Z",  # two days and more: stale
    "last_full_sync": {"at": "2030-05-06T03:00:09Z", "outcome": "failed"},
    "people_feed": {"mode": "light_refresh", "lag_seconds": 312.5},
    "last_webhook_at": "2030-05-06T11:59:30Z",
    "sink": "jupiterone",
    "graph_model": "seed",
}
ADA = {"type": "user", "id": "PADMIN1", "name": "Ada <Admin>"}
PERIOD: dict[str, Any] = {
    "from": "2030-04-29T12:00:00Z",
    "to": "2030-05-06T12:00:00Z",
    "historyFrom": "2030-04-01T00:00:00.000Z",
    "services": [
        {
            "key": "service:PSGOOD1",
            "name": "api",
            "level1CoveredPct": 97.92,
            "longestUncoveredMinutes": 180.0,
        }
    ],
    "adminChanges": [
        {
            "key": "user:PUFIRST",
            "name": "Fay First",
            "at": "2030-05-01T10:00:00.000Z",
            "action": "granted",
            "actor": ADA,
        }
    ],
    "usersCreated": [],
    "usersDeleted": [],
    "policyChanges": [
        {
            "key": "escalation_policy:PEPTWO1",
            "name": "Main",
            "at": "2030-05-02T10:00:00.000Z",
            "action": "updated",
            "actor": None,
            "fields": ["numLoops"],
        }
    ],
    "scheduleChanges": [],
}


class _Page(HTMLParser):
    """What a page asks a browser to fetch or run, and the text of its elements by id."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.scripts = 0
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.scripts += tag == "script"
        self.fetches += [v or "" for k, v in attrs if k in ("src", "srcset") or k == "href"]
        if found.get("id"):
            self.ids.append(found["id"] or "")


def test_json_is_the_report_itself() -> None:
    report = build_report(planted(), NOW, "Acme")
    assert json.loads(render(report, "json")) == report


def test_text_has_the_summary_then_every_check_with_its_findings() -> None:
    text = render(build_report(planted(), NOW, "Acme"), "text")
    assert text.startswith("pdgraph compliance evidence report\naccount: Acme\n")
    assert "  Covered services, % of active services: 50.0\n" in text
    assert "findings: 10\n" in text
    positions = [text.index(f"\n{check}: ") for check in CHECKS]
    assert positions == sorted(positions)
    assert "  [high] Service service:PSNOPOL names no escalation policy.\n" in text
    assert "      keys: service:PSHALF1, escalation_policy:PEPTWO1\n" in text


def test_text_of_a_clean_graph_says_each_check_passed() -> None:
    text = render(build_report(GraphBuilder().graph(), NOW), "text")
    assert "account: (ACCOUNT_NAME not set)" in text
    assert all(f"\n{check}: {title} (none)\n" in text for check, (title, _) in CHECKS.items())


def test_html_is_self_contained_summary_first_then_a_section_per_check() -> None:
    page = render(build_report(planted(), NOW, "Acme"), "html")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.scripts == 0
    assert all(link.startswith("#") for link in parsed.fetches), parsed.fetches
    assert parsed.ids == ["summary", "checks", "roster", *CHECKS]
    assert page.count('<tr class="finding">') == 10
    assert re.search(r"Covered services, % of active services</th><td class=\"n\">50.0<", page)


def test_html_escapes_every_value() -> None:
    g = GraphBuilder()
    evil = g.user("PUEVIL01", "owner", email="<b>@example.com")
    g.entities[-1] = g.entities[-1].model_copy(
        update={"properties": {**g.entities[-1].properties, "name": "<script>x()</script>&"}}
    )
    policy = g.policy("PEPEVIL1", 1)
    g.oncall(evil, g.service("PSEVIL01", policy), 1, "PEPEVIL1")
    page = render(build_report(g.graph(), NOW, '"><img src=x>'), "html")
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;&amp;" in page
    assert "&quot;&gt;&lt;img src=x&gt;" in page
    roster = page[page.index('<section id="roster">') :]
    assert "&lt;script&gt;x()&lt;/script&gt;&amp; &lt;&lt;b&gt;@example.com&gt;" in roster


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json, html"):
        render(build_report(GraphBuilder().graph(), NOW), "pdf")


def test_text_names_people_with_their_address_in_the_roster_and_the_admin_finding() -> None:
    text = render(build_report(planted(), NOW, "Acme"), "text")
    assert (
        "roster: who is on call now (4 active services)\n"
        "  service:PSGOOD1 (service:PSGOOD1): escalation policy escalation_policy:PEPTWO1\n"
        "    level 1: Fay First <fay@example.com> via schedule:PSCHOK1\n"
        "    level 2: Sam Second <sam@example.com> assigned directly\n"
    ) in text
    assert "  service:PSNOPOL (service:PSNOPOL): no escalation policy\n" in text
    assert "    level 2: nobody\n" in text
    admin = text[text.index("\nadmin_user: ") :]
    assert "      keys: user:PUOWNER (Olive Owner <olive@example.com>)\n" in admin
    assert "      Olive Owner <olive@example.com>: owner\n" in admin
    assert "      keys: user:PULONER (Lou Loner <lou@example.com>)\n" in text


def test_warnings_come_first_then_the_provenance() -> None:
    report = build_report(planted(), NOW, "Acme", provenance=PROVENANCE)
    text = render(report, "text")
    head = text.split("\n")
    assert head[3].startswith("WARNING: The graph is as of 2030-05-04T03:00:00Z, 2.4 days")
    assert head[4].startswith("WARNING: PagerDuty's audit-records feed is not available")
    assert "  Last full sync attempt: failed, 2030-05-06T03:00:09Z\n" in text
    assert (
        "  Users, teams, policies, schedules kept fresh by: light refresh (lag 312.5 s)\n" in text
    )
    assert "  Graph sink: jupiterone\n" in text
    page = render(report, "html")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.ids[:2] == ["provenance", "summary"]
    banner = page[page.index('<div class="warnings" role="alert">') :]
    assert page.index("warnings") < page.index('id="provenance"')
    assert banner.count("<strong>Warning:</strong>") == 2


def test_the_period_is_listed_in_each_format_and_escaped_in_html() -> None:
    report = build_report(planted(), NOW, "Acme", provenance=PROVENANCE, period=PERIOD)
    assert json.loads(render(report, "json"))["period"] == PERIOD
    text = render(report, "text")
    assert (
        "period: 2030-04-29T12:00:00Z to 2030-05-06T12:00:00Z (the change history holds"
        " entries from 2030-04-01T00:00:00.000Z)\n"
        "  level-1 coverage of each active service\n"
        "    api (service:PSGOOD1): 97.92 % covered at level 1, longest gap 180 minutes\n"
        "  Admin rights granted or revoked: 1\n"
        "    2030-05-01T10:00:00.000Z granted Fay First (user:PUFIRST) by Ada <Admin>"
        " (user PADMIN1)\n"
        "  Users created: none\n"
    ) in text
    assert (
        "    2030-05-02T10:00:00.000Z updated Main (escalation_policy:PEPTWO1) (numLoops)"
        " by unknown\n"
    ) in text
    page = render(report, "html")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.ids[-1] == "period" and parsed.scripts == 0
    assert "<p>The change history holds entries from 2030-04-01T00:00:00.000Z.</p>" in page
    assert "Ada &lt;Admin&gt; (user PADMIN1)" in page and "<Admin>" not in page
    assert re.search(r"api<br><code>service:PSGOOD1</code></td><td class=\"n\">97.92 %", page)
