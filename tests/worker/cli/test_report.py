"""`pdgraph report`: the evidence report of the local graph, run as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from common.report.checks import CHECKS
from common.sinks.local import LocalSink
from common.state.full_sync import NO_FULL_SYNC_YET, record_full_sync
from tests.cli import one_line_failure, run_pdgraph, said
from tests.report_graphs import planted_local_graph, record_synced


@pytest.fixture
def env(tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> dict[str, str]:
    graph = tmp_path / "graph.sqlite3"
    planted_local_graph(str(graph), redis_client)
    return {"LOCAL_GRAPH_PATH": str(graph), "ACCOUNT_NAME": "Acme", "REDIS_URL": redis_url}


def test_json_lists_the_planted_findings_and_exits_0(env: dict[str, str]) -> None:
    result = run_pdgraph("report", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f["check"] for f in report["findings"]] == list(CHECKS)
    assert report["account_name"] == "Acme"
    assert set(report) == {
        "generated_at",
        "account_name",
        "provenance",
        "summary",
        "roster",
        "findings",
        "period",
    }
    provenance = report["provenance"]
    assert provenance["graph_as_of"].endswith("Z")
    assert provenance["last_full_sync"] == {"at": provenance["graph_as_of"], "outcome": "ok"}
    assert provenance["people_feed"] == {"mode": None, "lag_seconds": None}  # never polled
    assert (provenance["sink"], provenance["graph_model"]) == ("local", "seed")
    assert provenance["last_webhook_at"] is None and provenance["warnings"] == []
    assert report["period"] is None
    assert [r["key"] for r in report["roster"]] == [
        "service:PSGOOD1",
        "service:PSHALF1",
        "service:PSNOPOL",
        "service:PSSINGLE",
    ]


def test_period_adds_the_evidence_of_the_last_days(env: dict[str, str]) -> None:
    result = run_pdgraph("report", "--format", "json", "--period", "7", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    period = report["period"]
    assert period["to"] == report["generated_at"]
    # the planted graph was loaded just now: coverage is measured from its load, and said so
    assert period["historyFrom"] is not None
    assert "The period asked for starts" in report["provenance"]["warnings"][0]
    assert [(r["key"], r["level1CoveredPct"]) for r in period["services"]] == [
        ("service:PSGOOD1", 100.0),
        ("service:PSHALF1", 100.0),
        ("service:PSNOPOL", 0.0),
        ("service:PSSINGLE", 100.0),
    ]
    assert period["usersCreated"] == []  # the load is no creation (its run: the first entry)


@pytest.mark.parametrize("days", ["0", "a week", "-1", "3651"])
def test_a_bad_period_is_one_line_and_exit_2(env: dict[str, str], days: str) -> None:
    result = run_pdgraph("report", "--period", days, env=env)
    assert one_line_failure(result, 2) == (
        "pdgraph: --period: period must be a whole number of days from 1 to 3650"
    )
    assert result.stdout == ""


def test_text_is_the_default(env: dict[str, str]) -> None:
    result = run_pdgraph("report", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pdgraph compliance evidence report\naccount: Acme\n")
    assert "findings: 10\n" in result.stdout
    assert "    level 1: Olive Owner <olive@example.com> assigned directly\n" in result.stdout
    assert "keys: user:PUOWNER (Olive Owner <olive@example.com>)\n" in result.stdout


def test_out_writes_the_html_file_and_says_so(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "evidence.html"
    result = run_pdgraph("report", "--format", "html", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert said(result.stderr) == [f"pdgraph: report written to {out} (10 findings)"]
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<table id="summary">' in page


def test_an_out_file_that_cannot_be_written_is_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "no-such-folder" / "evidence.json"
    result = run_pdgraph("report", "--format", "json", "--out", str(out), env=env)
    assert one_line_failure(result, 1).startswith(f"pdgraph: --out {out}: ")


def test_an_unknown_format_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_pdgraph("report", "--format", "pdf", env=env)
    assert result.returncode == 2
    assert "'pdf' is not one of 'text', 'json', 'html'" in result.stderr


def test_a_graph_never_synced_says_so_and_creates_none(tmp_path: Path, redis_url: str) -> None:
    absent = tmp_path / "graph.sqlite3"
    result = run_pdgraph("report", env={"LOCAL_GRAPH_PATH": str(absent), "REDIS_URL": redis_url})
    assert one_line_failure(result, 1) == f"pdgraph: {NO_FULL_SYNC_YET}"
    assert result.stdout == ""
    assert not absent.exists()


def test_a_graph_no_sync_completed_gets_no_empty_report(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    """The web page's read (or anything) made an empty graph file: still no report of it,
    which would say every check passed (issue 19)."""
    empty = tmp_path / "graph.sqlite3"
    LocalSink(str(empty)).close()
    record_full_sync(redis_client, {"id": "fullsync-x", "outcome": "failed", "started_at": 1.0})
    result = run_pdgraph("report", env={"LOCAL_GRAPH_PATH": str(empty), "REDIS_URL": redis_url})
    assert one_line_failure(result, 1) == f"pdgraph: {NO_FULL_SYNC_YET}"
    assert result.stdout == ""


def test_a_synced_graph_whose_file_is_gone_says_so_and_creates_none(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    absent = tmp_path / "graph.sqlite3"
    record_synced(redis_client)
    result = run_pdgraph("report", env={"LOCAL_GRAPH_PATH": str(absent), "REDIS_URL": redis_url})
    line = one_line_failure(result, 1)
    assert (
        line == f"pdgraph: LOCAL_GRAPH_PATH {absent}: no graph there yet (run pdgraph sync first)"
    )
    assert not absent.exists()
