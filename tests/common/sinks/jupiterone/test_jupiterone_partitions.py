"""Edge partitions (issue 22): relationships in `<scope>-edges-<n>`, each change DIFFing the
partitions it touches — only on an account whose probe verified what that relies on, and
the whole-scope DIFF everywhere else; the cut-over both ways at a full sync. After each
step the whole account (every scope) is the expected graph: no `_key` twice, no stale edge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from common.sinks.jupiterone.layout import PARTITIONED, SCOPE, Layout
from common.sinks.jupiterone.partitions import PARTITIONS, partition_of, partition_scope
from common.sinks.jupiterone.probe import run_probe
from sim.jupiterone import JupiterOneSim
from tests.cli import run_pdgraph
from tests.common.sinks.jupiterone.helpers import (
    J1_ACCOUNT,
    J1_KEY,
    j1_client,
    j1_env,
    whole_account,
)
from tests.common.sinks.jupiterone.helpers import (
    SCOPE as ENTITY_SCOPE,
)
from tests.common.sinks.jupiterone.test_jupiterone_both_readings import more_webhooks
from tests.common.sinks.jupiterone.test_jupiterone_webhook_writes import rotate
from tests.conftest import API_KEY
from tests.expected import expected_export
from tests.read_tokens import JSON_AUTHORIZED, READ_TOKEN
from tests.stack import Stack

# The simulator's readings of what JupiterOne leaves undocumented → whether partitions
# are safe under them (the probe must find it out).
READINGS = {
    "accepts-and-deletes": ({}, True),
    "keeps-dangling-ends": ({"foreign_end_deleted": "keeps"}, True),
    "rejects-foreign-endpoints": ({"foreign_endpoints": "rejected"}, False),
    "partition-diff-keeps": ({"partition_diff": "keeps"}, False),
}


@pytest.fixture(params=sorted(READINGS))
def j1(request: pytest.FixtureRequest) -> Iterator[JupiterOneSim]:
    readings, _ = READINGS[request.param]
    with JupiterOneSim(J1_ACCOUNT, J1_KEY, **readings) as sim:
        sim.reading_name = request.param  # type: ignore[attr-defined]
        yield sim


def layout_of(connection: redis.Redis) -> Layout:
    return Layout(connection, J1_ACCOUNT, ENTITY_SCOPE)


def probe(j1: JupiterOneSim, connection: redis.Redis) -> bool:
    """`pdgraph jupiterone probe`'s verdict, kept where the sink reads it."""
    report = run_probe(j1_client(j1))
    assert report.safe and report.cleaned_up, report.reason()
    layout_of(connection).keep_verdict(report.partitions.as_dict(), report.partitions_safe)
    j1.reset_calls()  # the probe's own GraphQL mutation is not pdgraph's writing
    return report.partitions_safe


def scopes_holding_edges(j1: JupiterOneSim) -> set[str]:
    return {r["_scope"] for r in j1.account()["relationships"]}


def assert_account_is_expected(stack: Stack, j1: JupiterOneSim) -> None:
    stack.poll_feed()
    assert whole_account(j1) == expected_export(stack.sim.account)


def assert_layout(stack: Stack, j1: JupiterOneSim, layout: str) -> None:
    assert layout_of(stack.redis).held() == layout
    scopes = scopes_holding_edges(j1)
    if layout == PARTITIONED:
        assert ENTITY_SCOPE not in scopes and scopes
        assert all(s.startswith(f"{ENTITY_SCOPE}-edges-") for s in scopes)
        for r in j1.account()["relationships"]:
            assert r["_scope"] == partition_scope(ENTITY_SCOPE, partition_of(r["_key"]))
    else:
        assert scopes == {ENTITY_SCOPE}


def edges_uploaded_since(j1: JupiterOneSim, jobs_before: int) -> tuple[int, int]:
    """(DIFF jobs, objects they uploaded) among the jobs made after the first `jobs_before`."""
    jobs = [j for j in list(j1.jobs.values())[jobs_before:] if j.mode == "DIFF"]
    return len(jobs), sum(len(j.entities) + len(j.relationships) for j in jobs)


def test_webhooks_nightly_sync_and_more_webhooks_in_the_layout_the_probe_allows(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    safe = probe(j1, j1_stack.redis)
    assert safe == READINGS[j1.reading_name][1]  # type: ignore[attr-defined]
    wanted = PARTITIONED if safe else SCOPE
    account = j1_stack.sim.account
    services, teams, users = sorted(account.services), sorted(account.teams), sorted(account.users)
    j1_stack.full_sync()  # the cut-over (or not)
    assert_layout(j1_stack, j1, wanted)
    assert_account_is_expected(j1_stack, j1)
    whole = len(whole_account(j1)["entities"]) + len(whole_account(j1)["relationships"])
    # 1. Webhook changes: a service's teams, a new service, an on-call rotation.
    jobs = len(j1.jobs)
    policy_id = account.services[services[3]]["escalation_policy_id"]
    rotate(j1_stack, policy_id, users[5])
    j1_stack.drain()
    n, uploaded = edges_uploaded_since(j1, jobs)
    if safe:  # the partitions of the two users' edges, a small share of the account
        assert n >= 1 and uploaded * 10 < whole
    else:
        assert uploaded >= whole * 0.9  # a DIFF of the whole scope
    account.update_service(services[0], team_ids=teams[:2])
    account.add_service(
        "partitioned", escalation_policy_id=sorted(account.policies)[0], team_ids=teams[1:3]
    )
    j1_stack.drain()
    assert_account_is_expected(j1_stack, j1)
    # 2. The nightly full sync.
    j1_stack.full_sync()
    assert_layout(j1_stack, j1, wanted)
    assert_account_is_expected(j1_stack, j1)
    # 3. More webhooks: the next rotation, a delete (its edges go from their partitions).
    more_webhooks(j1_stack, policy_id)
    assert_account_is_expected(j1_stack, j1)
    assert_layout(j1_stack, j1, wanted)
    assert j1.calls["graphql mutations"] == 0


@pytest.mark.parametrize("j1", ["accepts-and-deletes"], indirect=True)
def test_cut_over_to_partitions_and_back_leaves_no_duplicate_and_no_hole(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    assert probe(j1, j1_stack.redis)
    expected = expected_export(j1_stack.sim.account)
    assert whole_account(j1) == expected  # one scope, from the first sync
    j1_stack.full_sync()  # into partitions
    assert_layout(j1_stack, j1, PARTITIONED)
    assert whole_account(j1) == expected
    # The account no longer allows it (a later probe said so): back to one scope.
    layout_of(j1_stack.redis).keep_verdict({"reason": "re-probed"}, False)
    j1_stack.full_sync()
    assert_layout(j1_stack, j1, SCOPE)
    assert whole_account(j1) == expected
    emptied = {partition_scope(ENTITY_SCOPE, n) for n in range(PARTITIONS)}
    assert not scopes_holding_edges(j1) & emptied


@pytest.mark.parametrize("j1", ["accepts-and-deletes"], indirect=True)
def test_the_probe_command_keeps_its_verdict_for_status_and_check(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    env = {
        **j1_env(j1),
        "REDIS_URL": j1_stack.settings.redis_url,
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": j1_stack.sim.url,
    }
    result = run_pdgraph("jupiterone", "probe", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "edge partitions        verified" in result.stdout
    assert "next full sync moves them to edge partitions" in result.stdout
    assert layout_of(j1_stack.redis).wanted() == PARTITIONED
    checked = run_pdgraph("check", env=env, timeout=60)
    assert "relationships in one scope (edge partitions verified" in checked.stdout
    status = layout_status(j1_stack)
    assert (status["held"], status["wanted"], status["probe"]["safe"]) == (SCOPE, PARTITIONED, True)
    assert status["probe"]["foreign_endpoints"] == "accepted"
    j1_stack.full_sync()
    checked = run_pdgraph("check", env=env, timeout=60)
    assert "relationships in edge partitions (edge partitions verified" in checked.stdout
    assert layout_status(j1_stack)["held"] == PARTITIONED
    page = requests.get(status_url(j1_stack), auth=("anyone", READ_TOKEN), timeout=10)
    assert "JupiterOne: relationships in edge partitions" in " ".join(page.text.split())


def status_url(stack: Stack) -> str:
    return stack.receiver_url.removesuffix("/webhooks/pagerduty") + "/status"


def layout_status(stack: Stack) -> dict[str, Any]:
    """What `/status` (JSON) says of the JupiterOne layout."""
    answer = requests.get(status_url(stack), headers=JSON_AUTHORIZED, timeout=10)
    assert answer.status_code == 200, answer.text[:200]
    found: dict[str, Any] = answer.json()["jupiterone"]
    return found


@pytest.mark.parametrize("j1", ["accepts-and-deletes"], indirect=True)
def test_a_cut_over_that_failed_half_way_is_undone_by_the_next_sync_in_one_scope(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    assert probe(j1, j1_stack.redis)
    expected = expected_export(j1_stack.sim.account)
    # Partition DIFF jobs fail after some finished: the sync fails, one scope still held.
    refused = {"error": {"code": "BAD_REQUEST", "message": "injected"}}
    j1.inject("/persister/synchronization/jobs", 400, times=10_000, after=150, body=refused)
    with pytest.raises(Exception):  # noqa: B017 - whichever error the failed job raises
        j1_stack.full_sync()
    j1.faults.clear()
    assert layout_of(j1_stack.redis).held() == SCOPE
    assert scopes_holding_edges(j1) - {ENTITY_SCOPE}  # some partitions were written
    layout_of(j1_stack.redis).keep_verdict({"reason": "re-probed"}, False)
    j1_stack.full_sync()
    assert_layout(j1_stack, j1, SCOPE)
    assert whole_account(j1) == expected  # no duplicate left in a partition


def test_partitions_are_stable_and_bounded() -> None:
    keys = [f"user:P{n:05d}|oncall|service:P{n % 7}" for n in range(2000)]
    found = [partition_of(k) for k in keys]
    assert all(0 <= n < PARTITIONS for n in found)
    assert found == [partition_of(k) for k in keys]  # the same every time, every process
    assert partition_of("user:PA|oncall|service:PB") == partition_of("user:PA|has|team:PC")
    assert len(set(found)) > PARTITIONS * 0.9  # spread
