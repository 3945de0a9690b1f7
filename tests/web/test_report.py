"""GET /report: the evidence report of the graph the sink holds, as HTML or JSON (Accept),
from either sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from common.config import Settings
from common.report.checks import CHECKS
from common.state.full_sync import NO_FULL_SYNC_YET
from sim.jupiterone import JupiterOneSim
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, make_j1_sink
from tests.read_tokens import READ_TOKEN, authorized
from tests.report_graphs import planted, planted_local_graph, record_synced
from web.app import create_app

SECRET = "report-test-secret"
PLANTED = [
    ("service_without_escalation_policy", ["service:PSNOPOL"]),
    ("service_level_without_oncall", ["service:PSHALF1", "escalation_policy:PEPTWO1"]),
    ("single_level_escalation_policy", ["escalation_policy:PEPONE1"]),
    ("schedule_coverage_gap", ["schedule:PSCHGAP"]),
    ("oncall_user_without_team", ["user:PULONER"]),
    ("disabled_service", ["service:PSOFF01"]),
    ("admin_user", ["user:PUOWNER"]),
    ("oncall_user_unreachable", ["user:PULONER"]),
    ("business_service_at_risk", ["business_service:PBAPP01", "service:PSOFF01"]),
    ("service_in_maintenance", ["service:PSSINGLE"]),
]


def app_client(settings: Settings, redis_client: redis.Redis) -> FlaskClient:
    settings = settings.model_copy(update={"read_tokens": [SecretStr(READ_TOKEN)]})
    return authorized(create_app(settings, redis_client).test_client())


@pytest.fixture
def local_client(
    make_settings: Callable[..., Settings], redis_client: redis.Redis, graph_path: str
) -> FlaskClient:
    """The app on a local graph holding the planted defects (a schedule gap in two days)."""
    planted_local_graph(graph_path, redis_client)
    settings = make_settings(
        account_name="Acme & Co",
        pagerduty_webhook_secrets=[SecretStr(SECRET)],
    )
    return app_client(settings, redis_client)


def test_json_with_accept_lists_each_planted_finding(local_client: FlaskClient) -> None:
    response = local_client.get("/report", headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert [(f["check"], f["keys"]) for f in body["findings"]] == PLANTED
    assert body["account_name"] == "Acme & Co"
    assert body["summary"]["services"] == 5
    assert body["summary"]["coveredServicesPct"] == 50.0
    assert body["generated_at"].endswith("Z")


def test_html_by_default_shows_the_summary_and_each_check(local_client: FlaskClient) -> None:
    response = local_client.get("/report", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert "Compliance evidence report: Acme &amp; Co" in page
    assert page.index('id="summary"') < page.index(f'id="{next(iter(CHECKS))}"')
    for check, keys in PLANTED:
        section = page[page.index(f'<section id="{check}"') :]
        section = section[: section.index("</section>")]
        assert all(f"<code>{key}</code>" in section for key in keys), check


def test_a_browser_without_accept_gets_html(local_client: FlaskClient) -> None:
    assert local_client.get("/report").content_type.startswith("text/html")


def test_json_says_as_of_when_and_who_is_on_call(local_client: FlaskClient) -> None:
    body = local_client.get("/report", headers={"Accept": "application/json"}).get_json()
    provenance = body["provenance"]
    assert provenance["graph_as_of"] == provenance["last_full_sync"]["at"]
    assert (provenance["sink"], provenance["graph_model"]) == ("local", "seed")
    assert provenance["warnings"] == []
    good = next(r for r in body["roster"] if r["key"] == "service:PSGOOD1")
    assert [(lv["level"], [p["email"] for p in lv["oncall"]]) for lv in good["levels"]] == [
        (1, ["fay@example.com"]),
        (2, ["sam@example.com"]),
    ]
    assert body["period"] is None


def test_period_adds_the_period_s_evidence_in_json_and_html(local_client: FlaskClient) -> None:
    body = local_client.get("/report?period=30", headers={"Accept": "application/json"}).get_json()
    assert body["period"]["to"] == body["generated_at"]
    assert {r["key"] for r in body["period"]["services"]} == {r["key"] for r in body["roster"]}
    page = local_client.get("/report?period=30", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<section id="period">' in html and "Level-1 coverage of each active service" in html
    plain = local_client.get("/report", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<section id="period">' not in plain  # a report of its own, cached apart


@pytest.mark.parametrize("days", ["0", "week", "-2", "1.5", "99999"])
def test_a_bad_period_is_400_saying_what_a_period_is(local_client: FlaskClient, days: str) -> None:
    response = local_client.get(f"/report?period={days}", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["message"] == (
        "period must be a whole number of days from 1 to 3650"
    )


@pytest.mark.parametrize("sink", ["local", "jupiterone"])
def test_a_graph_no_full_sync_completed_is_503_saying_what_to_run_and_creates_nothing(
    make_settings: Callable[..., Settings], redis_client: redis.Redis, graph_path: str, sink: str
) -> None:
    settings = make_settings(
        graph_sink=sink,
        jupiterone_account_id=J1_ACCOUNT,
        jupiterone_api_key=SecretStr(J1_KEY),
        pagerduty_webhook_secrets=[SecretStr(SECRET)],
    )
    client = app_client(settings, redis_client)
    for accept in ("application/json", "text/html"):
        response = client.get("/report", headers={"Accept": accept})
        assert response.status_code == 503
        assert NO_FULL_SYNC_YET in response.get_data(as_text=True)
    assert not Path(graph_path).exists()


def test_an_unreadable_graph_is_503(
    make_settings: Callable[..., Settings],
    redis_client: redis.Redis,
    tmp_path: pytest.TempPathFactory,
) -> None:
    not_sqlite = tmp_path / "graph.sqlite3"  # type: ignore[operator]
    not_sqlite.write_text("this is not an SQLite file " * 100)
    record_synced(redis_client)
    settings = make_settings(
        local_graph_path=str(not_sqlite),
        pagerduty_webhook_secrets=[SecretStr(SECRET)],
    )
    response = app_client(settings, redis_client).get("/report")
    assert response.status_code == 503
    assert response.get_json()["status"] == 503


@pytest.fixture
def j1() -> Iterator[JupiterOneSim]:
    with JupiterOneSim(J1_ACCOUNT, J1_KEY) as sim:
        yield sim


def test_the_jupiterone_sink_s_graph_in_its_model_gives_the_same_findings(
    j1: JupiterOneSim, make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.replace_all(planted("jupiterone", datetime.now(UTC)))
    record_synced(redis_client)
    settings = make_settings(
        graph_sink="jupiterone",
        graph_model="jupiterone",
        jupiterone_account_id=J1_ACCOUNT,
        jupiterone_api_key=SecretStr(J1_KEY),
        jupiterone_api_url=j1.api_url,
        jupiterone_graphql_url=j1.graphql_url,
        pagerduty_webhook_secrets=[SecretStr(SECRET)],
    )
    response = app_client(settings, redis_client).get(
        "/report", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert [(f["check"], f["keys"]) for f in response.get_json()["findings"]] == PLANTED
    provenance = response.get_json()["provenance"]
    assert (provenance["sink"], provenance["graph_model"]) == ("jupiterone", "jupiterone")
