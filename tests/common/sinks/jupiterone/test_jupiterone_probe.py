"""`pdgraph jupiterone probe` against the simulator, in both readings of what JupiterOne
does with a GraphQL-created relationship."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.sinks.jupiterone.probe import DUPLICATED, OWNED, run_probe
from sim.jupiterone import JupiterOneSim
from tests.cli import run_pdgraph
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, j1_client, j1_env

EXPECTED = {"scoped": OWNED, "unscoped": DUPLICATED}


@pytest.fixture(params=sorted(EXPECTED))
def j1(request: pytest.FixtureRequest) -> Iterator[JupiterOneSim]:
    with JupiterOneSim(J1_ACCOUNT, J1_KEY, graphql_relationships=request.param) as sim:
        yield sim


def nothing_held(j1: JupiterOneSim) -> bool:
    held = j1.account()
    return not held["entities"] and not held["relationships"]


def test_the_probe_reports_the_reading_and_leaves_nothing_behind(j1: JupiterOneSim) -> None:
    report = run_probe(j1_client(j1))
    assert report.graphql_relationships == EXPECTED[j1.graphql_relationships]
    assert report.lookups_ok and report.diff_owns_its_relationships and report.cleaned_up
    assert report.safe, report.reason()  # pdgraph writes no relationship through GraphQL
    assert "RateLimit-Limit" in report.rate_limit_headers  # the simulator's GraphQL sends them
    assert report.scope.startswith("pdgraph-probe-")
    assert j1.calls["graphql mutations"] >= 1  # it did create one through GraphQL ...
    assert nothing_held(j1)  # ... and removed every copy, and its entities


def test_a_failing_probe_still_cleans_up_and_says_why(j1: JupiterOneSim) -> None:
    j1.inject("/graphql", 400, times=100, after=1, body={"errors": [{"message": "boom"}]})
    report = run_probe(j1_client(j1))
    assert not report.safe
    assert "the probe failed" in report.reason()
    j1.faults.clear()
    report_after = run_probe(j1_client(j1))  # a second run finds a clean account
    assert report_after.safe
    assert nothing_held(j1)


def test_pdgraph_jupiterone_probe_exit_codes(j1: JupiterOneSim) -> None:
    result = run_pdgraph("jupiterone", "probe", env=j1_env(j1), timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"GraphQL relationship   {EXPECTED[j1.graphql_relationships]}" in result.stdout
    assert J1_KEY not in result.stdout + result.stderr
    assert nothing_held(j1)

    wrong_key = {**j1_env(j1), "JUPITERONE_API_KEY": "not-the-key-0123"}
    result = run_pdgraph("jupiterone", "probe", env=wrong_key, timeout=60)
    assert result.returncode == 1
    assert "not safe" in result.stderr and "not-the-key-0123" not in result.stderr

    missing = {k: v for k, v in j1_env(j1).items() if k != "JUPITERONE_ACCOUNT_ID"}
    result = run_pdgraph("jupiterone", "probe", env=missing, timeout=60)
    assert result.returncode == 2
    assert "JUPITERONE_ACCOUNT_ID" in result.stderr
