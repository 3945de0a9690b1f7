"""/report in a real browser (headless Chromium): what an auditor sees. Run by `make e2e`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from common.config import Settings
from common.report.checks import CHECKS
from tests.e2e.test_status_page import CHROMIUM, FLAGS, visible_text
from tests.read_tokens import READ_TOKEN
from tests.report_graphs import planted_local_graph
from tests.stack import serve
from web.app import create_app

pytestmark = pytest.mark.e2e

# What the planted graph's findings say, check by check (tests/report_graphs.py).
PLANTED = {
    "service_without_escalation_policy": "Service service:PSNOPOL names no escalation policy.",
    "service_level_without_oncall": "Service service:PSHALF1: nobody is on call at level 2 of"
    " escalation policy escalation_policy:PEPTWO1 (2 levels).",
    "single_level_escalation_policy": "Escalation policy escalation_policy:PEPONE1 has a single"
    " level: nobody is escalated to.",
    "schedule_coverage_gap": "Schedule schedule:PSCHGAP has nobody on call from",
    "oncall_user_without_team": "User Lou Loner is on call for 1 service and is in no team.",
    "disabled_service": "Service service:PSOFF01 is disabled: it opens no incidents.",
    "admin_user": "1 user with the admin or owner role.",
}


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_an_auditor_sees_the_summary_table_and_each_planted_finding(
    make_settings: Callable[..., Settings],
    redis_client: redis.Redis,
    graph_path: str,
    tmp_path: Path,
) -> None:
    planted_local_graph(graph_path, redis_client)
    settings = make_settings(
        account_name="Acme <Prod>",
        pagerduty_webhook_secrets=[SecretStr("e2e-report-secret")],
        read_tokens=[SecretStr(READ_TOKEN)],
    )
    assert CHROMIUM is not None
    server, base = serve(create_app(settings, redis_client))
    try:
        profile = tmp_path / "chromium-profile"
        common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=3000"]
        url = base.replace("http://", f"http://auditor:{READ_TOKEN}@") + "/report"
        dom = subprocess.run(
            [*common, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        subprocess.run(
            [*common, "--window-size=1100,1400", f"--screenshot={tmp_path / 'report.png'}", url],
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        server.shutdown()
        server.server_close()

    text = visible_text(dom)
    assert "Compliance evidence report: Acme <Prod>" in text
    summary = text[text.index("Summary") : text.index("Checks")]
    for row in (
        "Services 5",
        "Active services 4",
        "Teams 1",
        "Users 5",
        "Escalation policies 2",
        "Schedules 2",
        "Covered services, % of active services 50.0",
    ):
        assert row in summary
    sections = [text.index(f"{title} {check}") for check, (title, _) in CHECKS.items()]
    assert sections == sorted(sections) and sections[0] > text.index("Checks")
    for check, message in PLANTED.items():
        start = text.index(f"{CHECKS[check][0]} {check}")
        assert message in text[start:], check
    assert re.search(r"Schedule schedule:PSCHGAP has nobody on call from \S+Z for 240 min", text)
    provenance = text[text.index("Provenance") : text.index("Summary")]
    assert "Graph as of (last successful full sync)" in provenance
    roster = text[text.index("Roster: who is on call now") :]
    assert "Fay First <fay@example.com> via schedule:PSCHOK1" in roster
    assert "Sam Second <sam@example.com> assigned directly" in roster
    assert (tmp_path / "report.png").stat().st_size > 10_000  # a page was rendered
