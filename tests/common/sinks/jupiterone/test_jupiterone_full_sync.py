"""The full sync to JupiterOne: one DIFF job, against the simulator and a real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import requests

from common.clients.jupiterone import JupiterOneClient
from common.clients.ratelimit import RedisRequestBudget
from common.config import Settings
from common.sinks import SinkError
from common.sinks.jupiterone import JupiterOneSink
from common.state import keys
from sim.clock import Clock
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import Account, PagerDutySim
from tests.common.sinks.jupiterone.helpers import (
    J1_ACCOUNT,
    J1_KEY,
    full_sync,
    j1_client,
    make_j1_sink,
)
from tests.expected import expected_export
from tests.waiting import wait_for
from worker.cli.sync import failure_message


@pytest.fixture
def sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    """conftest's account on the simulator's own clock: who is on call does not move with
    today's date, nor between two syncs of a test."""
    return make_sim(Account.generate(seed=7, users=60, clock=clock))


def user_nobody_needs(account: Account) -> str:
    """A user in no schedule, policy or team: deleting them changes no other object or edge."""
    needed = {u for s in account.schedules.values() for u in s.rotation}
    needed |= {
        t for p in account.policies.values() for lvl in p.levels for k, t in lvl if k == "user"
    }
    return next(u for u in sorted(account.users, reverse=True) if u not in needed)


def test_full_sync_writes_the_expected_graph_and_a_second_deletes_exactly_what_went(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert j1.calls["POST jobs"] == 1 and j1.calls["POST finalize"] == 1
    assert sink.read_graph().to_j1() == expected_export(sim.account)  # the record agrees
    ids_before = {k: e["_id"] for k, e in j1.scopes["pagerduty"].entities.items()}
    before = j1.graph()

    account = sim.account
    gone_service = sorted(account.services)[0]
    gone_user = user_nobody_needs(account)
    account.delete_service(gone_service)
    account.delete_user(gone_user)
    full_sync(j1_settings, redis_client, sink)

    after = j1.graph()
    assert after.to_j1() == expected_export(account)
    removed = set(before.entities) - set(after.entities)
    assert removed == {f"service:{gone_service}", f"user:{gone_user}"}
    assert not set(after.relationships) - set(before.relationships)
    # Everything else kept its JupiterOne _id: updated in place, never deleted and re-created.
    ids_after = {k: e["_id"] for k, e in j1.scopes["pagerduty"].entities.items()}
    assert all(ids_before[k] == v for k, v in ids_after.items())


def synced_then_changed(
    j1: JupiterOneSim, settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> tuple[JupiterOneSink, dict[str, Any]]:
    """A sink after one full sync, the graph it wrote, and PagerDuty changed since."""
    sink = make_j1_sink(j1, redis_client)
    full_sync(settings, redis_client, sink)
    before = j1.graph().to_j1()
    sim.account.delete_service(sorted(sim.account.services)[0])
    return sink, before


def test_an_upload_failure_aborts_the_job_and_leaves_the_previous_graph(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink, before = synced_then_changed(j1, j1_settings, redis_client, sim)
    # The entity upload passes, the relationship upload is refused.
    j1.inject("/persister/synchronization/jobs/", 400, after=1, body={"error": {"code": "X"}})
    with pytest.raises(SinkError, match="aborted, nothing in scope 'pagerduty' was deleted"):
        full_sync(j1_settings, redis_client, sink)
    last_job = list(j1.jobs.values())[-1]
    assert last_job.status == "ABORTED" and last_job.uploads == 1
    assert j1.graph().to_j1() == before
    assert sink.read_graph().to_j1() == before  # the record was not moved either


def test_a_job_that_ends_in_error_fails_the_sync_and_says_so(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink, before = synced_then_changed(j1, j1_settings, redis_client, sim)
    j1.inject(
        "/persister/synchronization/jobs/",
        200,
        after=3,  # entities, relationships, finalize pass; the first poll says ERROR_BAD_DATA
        body={"job": {"id": "x", "status": "ERROR_BAD_DATA"}},
    )
    with pytest.raises(SinkError, match=r"finalized but did not finish .*ERROR_BAD_DATA") as info:
        full_sync(j1_settings, redis_client, sink)
    # Finalized: JupiterOne may have applied part of the DIFF. Say so, never "nothing changed".
    assert "may have been updated or deleted" in str(info.value)
    line, code = failure_message(info.value)
    assert code == 1 and "nothing was changed" not in line and "next full sync" in line
    assert list(j1.jobs.values())[-1].status == "ABORTED"
    assert j1.graph().to_j1() == before
    assert sink.read_graph().to_j1() == before


def test_a_slow_finalize_is_polled_until_finished(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.finalize_seconds = 0.4  # FINALIZE_PENDING for a while, as JupiterOne takes its time
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert j1.calls["GET job"] >= 3  # polled with growing pauses, not hammered
    assert j1.calls["GET job"] <= 6


def test_a_413_splits_the_batch_and_every_object_still_arrives(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.max_body = 20_000
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    job = list(j1.jobs.values())[-1]
    assert job.uploads > 4  # many small bodies
    assert j1.calls["POST entities"] > job.uploads // 2  # the 413s were answered too


def test_429_waits_for_ratelimit_reset_and_the_sync_completes(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.inject(
        "/persister/synchronization/jobs",
        429,
        times=2,
        headers={"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
    )
    slept: list[float] = []
    client = j1_client(j1, sleep=slept.append)
    sink = JupiterOneSink(client, redis_client, "pagerduty")
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert client.rate_limited == 2
    assert len(slept) >= 2 and all(0.9 < s <= 1.0 for s in slept[:2])  # RateLimit-Reset: 1


def test_a_429_pauses_every_process_of_the_account(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """The pause is kept in Redis: another worker's next request waits it out too."""

    def client() -> JupiterOneClient:
        budget = RedisRequestBudget(redis_client, "jupiterone:test", limit=1_000_000)
        return j1_client(j1, budget=budget)

    first, second = client(), client()
    j1.inject("/graphql", 429, times=1, headers={"RateLimit-Reset": "1"})
    first.query("FIND * WITH _scope = 'pagerduty' LIMIT 1")  # 429, waits, succeeds
    assert first.rate_limited == 1
    j1.inject("/graphql", 429, times=1, headers={"RateLimit-Reset": "2"})
    paused = threading.Thread(target=first.query, args=("FIND * WITH _scope = 'x' LIMIT 1",))
    paused.start()
    paused_key = keys.ratelimit("jupiterone:test", "paused")
    wait_for(
        lambda: first.rate_limited == 2 and redis_client.exists(paused_key),
        "the first worker's second 429 to pause the account",
    )
    started = time.monotonic()
    second.query("FIND * WITH _scope = 'pagerduty' LIMIT 1")
    assert time.monotonic() - started > 0.4  # the second waited without a 429 of its own
    assert second.rate_limited == 0
    paused.join(5)


def test_the_simulator_rate_limits_with_ratelimit_headers(j1: JupiterOneSim) -> None:
    j1.rate_limit, j1.rate_window = 2, 30.0
    headers = {"Authorization": f"Bearer {J1_KEY}", "JupiterOne-Account": J1_ACCOUNT}
    url = f"{j1.url}/persister/synchronization/jobs/nope"
    codes = [requests.get(url, headers=headers, timeout=5) for _ in range(3)]
    assert [r.status_code for r in codes] == [404, 404, 429]
    assert int(codes[-1].headers["RateLimit-Reset"]) >= 1
    assert codes[-1].headers["RateLimit-Remaining"] == "0"


def test_the_simulator_enforces_the_validation_rules(j1: JupiterOneSim) -> None:
    client = j1_client(j1)
    job = client.start_job("pagerduty", "PATCH")
    good = {"_key": "service:PABCDEF", "_type": "pagerduty_service", "_class": "Service"}
    bad = [
        {**good, "_key": "short"},
        {**good, "nested": {"a": 1}},
        {**good, "_custom": "x"},
        {**good, "_class": "service"},
        {**good, "mixed": [1, "a"]},
    ]
    for obj in bad:
        with pytest.raises(Exception, match="BAD_DATA"):
            client.upload(job, "entities", [obj])
    rel = {**good, "_class": "HAS", "_fromEntityKey": "team:PAAAAAA", "_toEntityKey": good["_key"]}
    with pytest.raises(Exception, match="PATCH sync jobs do not accept relationships"):
        client.upload(job, "relationships", [rel])
