"""Exactly one full sync at a time (a Redis lock with an owner and an expiry)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

import worker.full_sync as full_sync
from common.clients.pagerduty import PagerDutyClient, PagerDutyError, RetryPolicy
from common.config import Settings
from common.state.keys import FULL_SYNC_LOCK
from sim.pagerduty import PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from tests.waiting import wait_for
from worker.full_sync import FullSyncAlreadyRunning, run_full_sync


def test_a_second_sync_is_skipped_before_reading_anything(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    held = redis_client.lock(FULL_SYNC_LOCK, timeout=60)
    assert held.acquire(blocking=False)
    with pytest.raises(FullSyncAlreadyRunning):
        run_full_sync(settings, redis_client=redis_client)
    assert sum(sim.request_counts().values()) == 0
    held.release()
    run, _ = run_full_sync(settings, redis_client=redis_client)
    assert run.outcome == "ok"


def test_two_syncs_at_the_same_moment_run_once(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    sim.slow_down("/abilities", 0.5, times=2)  # both start while the other still runs
    outcomes: list[str] = []

    def sync() -> None:
        try:
            run, _ = run_full_sync(settings, redis_client=redis_client)
            outcomes.append(run.outcome)
        except FullSyncAlreadyRunning:
            outcomes.append("skipped")

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["ok", "skipped"]
    assert sim.request_counts()["/users"] == 1


def test_the_lock_is_released_when_a_sync_fails(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    sim.inject("/teams", 500, times=100)
    client = PagerDutyClient(API_KEY, sim.url, retry=RetryPolicy(backoff_base=0.001))
    with pytest.raises(PagerDutyError):
        run_full_sync(settings, redis_client=redis_client, client=client)
    assert not redis_client.exists(FULL_SYNC_LOCK)


def test_a_long_sync_keeps_its_lock_past_the_ttl(
    sim: PagerDutySim,
    settings: Settings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(full_sync, "LOCK_TTL_SECONDS", 1)
    sim.slow_down("/oncalls", 2.5)  # the sync outlives the lock's TTL twice over
    result: list[str] = []
    thread = threading.Thread(
        target=lambda: result.append(run_full_sync(settings, redis_client=redis_client)[0].outcome)
    )
    thread.start()
    wait_for(lambda: sim.request_counts()["/oncalls"] >= 1, "the sync to reach /oncalls")
    time.sleep(1.5)  # the sync's read outlives the lock's 1 s lease
    assert redis_client.exists(FULL_SYNC_LOCK)  # renewed, not expired
    with pytest.raises(FullSyncAlreadyRunning):
        run_full_sync(settings, redis_client=redis_client)
    thread.join(30)
    assert result == ["ok"]


def test_cli_says_a_sync_is_already_running(
    sim: PagerDutySim, redis_url: str, redis_client: redis.Redis, graph_path: str
) -> None:
    held = redis_client.lock(FULL_SYNC_LOCK, timeout=60)
    assert held.acquire(blocking=False)
    result = run_pdgraph(
        "sync",
        env={
            "PAGERDUTY_API_KEY": API_KEY,
            "PAGERDUTY_API_URL": sim.url,
            "REDIS_URL": redis_url,
            "LOCAL_GRAPH_PATH": graph_path,
        },
    )
    assert result.returncode == 1
    assert "another full sync is running" in result.stderr
    dry = run_pdgraph(
        "sync",
        "--dry-run",
        env={
            "PAGERDUTY_API_KEY": API_KEY,
            "PAGERDUTY_API_URL": sim.url,
            "REDIS_URL": redis_url,
            "LOCAL_GRAPH_PATH": graph_path,
        },
    )
    assert dry.returncode == 0  # a dry run writes nothing and needs no lock
