"""The period's admin changes from the audit feed itself: an admin granted and revoked
within one poll of the simulated account (the graph never shows it), then
`pdgraph report --period 1 --format json` as an operator runs it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from worker.context import JobContext
from worker.freshness import poll_feed_or_refresh


@pytest.fixture
def context(
    make_sim: Callable[..., PagerDutySim],
    make_job_context: Callable[..., JobContext],
    clock: Clock,
) -> tuple[JobContext, Account, PagerDutySim]:
    account = Account.generate(seed=5, users=30, clock=clock)
    sim = make_sim(account)
    return make_job_context(sim), account, sim


def test_a_grant_revoked_within_one_poll_is_in_the_period_with_who_did_it(
    context: tuple[JobContext, Account, PagerDutySim], clock: Clock, redis_url: str
) -> None:
    job, account, sim = context
    target, granter = [u for u, user in account.users.items() if user["role"] == "user"][:2]
    poll_feed_or_refresh(job)
    with account.acting_as(account.user_actor(granter)):
        account.update_user(target, role="admin")
        clock.now += 20
        account.update_user(target, role="user")  # undone before the next poll
    clock.now += 5
    assert poll_feed_or_refresh(job)["trail_entries"] == 2
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": job.settings.local_graph_path,
    }
    result = run_pdgraph("report", "--format", "json", "--period", "1", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    who = {"type": "user", "id": granter, "name": account.users[granter]["name"]}
    name = account.users[target]["name"]
    assert [
        (c["key"], c["name"], c["action"], c["actor"]) for c in report["period"]["adminChanges"]
    ] == [
        (f"user:{target}", name, "granted", who),
        (f"user:{target}", name, "revoked", who),
    ]
    # the full sync loaded the graph: nothing in it was "created in the period"
    assert report["period"]["usersCreated"] == []
    assert report["provenance"]["people_feed"]["mode"] == "audit"
    text = run_pdgraph("report", "--period", "1", env=env).stdout
    assert f"granted {name} (user:{target}) by {who['name']} (user {granter})" in text
