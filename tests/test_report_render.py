"""The report as text, JSON and HTML (common/report_render.py)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from common.report import CHECKS, build_report
from common.report_render import render
from tests.report_graphs import NOW, GraphBuilder, planted


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
    assert "findings: 7\n" in text
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
    assert parsed.ids == ["summary", "checks", *CHECKS]
    assert page.count('<tr class="finding">') == 7
    assert re.search(r"Covered services, % of active services</th><td class=\"n\">50.0<", page)


def test_html_escapes_every_value() -> None:
    g = GraphBuilder()
    g.user("PUEVIL01", "owner")
    g.entities[-1] = g.entities[-1].model_copy(
        update={"properties": {**g.entities[-1].properties, "name": "<script>x()</script>&"}}
    )
    page = render(build_report(g.graph(), NOW, '"><img src=x>'), "html")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;&amp;" in page
    assert "&quot;&gt;&lt;img src=x&gt;" in page


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json, html"):
        render(build_report(GraphBuilder().graph(), NOW), "pdf")
