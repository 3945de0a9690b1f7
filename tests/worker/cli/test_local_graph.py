"""Reading commands on a local graph that does not exist yet: they say so and create nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.pagerduty import PagerDutySim
from tests.cli import one_line_failure, run_pdgraph, said
from tests.conftest import API_KEY


@pytest.fixture(params=["missing file", "missing folder"])
def absent_graph(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "missing file":
        return tmp_path / "graph.sqlite3"
    return tmp_path / "nope" / "graph.sqlite3"


def test_export_of_a_graph_never_synced_says_so_and_creates_none(absent_graph: Path) -> None:
    result = run_pdgraph("export", env={"LOCAL_GRAPH_PATH": str(absent_graph)})
    line = one_line_failure(result, 1)
    assert line == (
        f"pdgraph: LOCAL_GRAPH_PATH {absent_graph}: no graph there yet (run pdgraph sync first)"
    )
    assert result.stdout == ""
    assert not absent_graph.exists()


def test_check_of_a_graph_never_synced_says_so_and_creates_none(
    sim: PagerDutySim, redis_url: str, absent_graph: Path
) -> None:
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": str(absent_graph),
    }
    result = run_pdgraph("check", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line.split(":")[0] for line in said(result.stdout)] == [
        "ok    Redis",
        "ok    PagerDuty",
        "ok    PagerDuty audit records",
    ]
    assert said(result.stderr) == [
        f"FAIL  sink (local): LOCAL_GRAPH_PATH {absent_graph}: no graph there yet "
        "(run pdgraph sync first)"
    ]
    assert not absent_graph.exists()


def test_sync_creates_the_graph_that_export_then_reads(
    sim: PagerDutySim, redis_url: str, tmp_path: Path
) -> None:
    graph = tmp_path / "graph.sqlite3"
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": str(graph),
    }
    assert run_pdgraph("sync", env=env).returncode == 0
    assert graph.is_file()
    assert run_pdgraph("export", env=env).returncode == 0
    assert run_pdgraph("check", env=env).returncode == 0
