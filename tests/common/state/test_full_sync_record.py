"""The record of full-sync runs: a run killed mid-way is named (abandoned), not hidden
behind the previous good run, and `pdgraph check` warns about it (issue 17)."""

from __future__ import annotations

import json
import time

import fakeredis
import redis

from common.sinks.local import LocalSink
from common.state.full_sync import (
    begin_full_sync,
    last_full_sync,
    last_successful_full_sync,
    record_full_sync,
)
from common.state.keys import FULL_SYNC_HISTORY, FULL_SYNC_LOCK
from sim.pagerduty import PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY


def run(run_id: str, outcome: str, started_at: float = 1_000.0) -> dict[str, object]:
    return {"id": run_id, "outcome": outcome, "started_at": started_at, "duration_s": 2.0}


def test_a_running_sync_reads_as_abandoned_once_its_lock_has_lapsed(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    record_full_sync(fake_redis, run("good", "ok"))
    fake_redis.set(FULL_SYNC_LOCK, "token", px=60_000)  # the sync holds its lease
    begin_full_sync(fake_redis, run("killed", "running"))
    assert last_full_sync(fake_redis)["outcome"] == "running"  # type: ignore[index]
    fake_redis.delete(FULL_SYNC_LOCK)  # its process was killed: nobody renews the lease
    last = last_full_sync(fake_redis)
    assert last is not None and (last["id"], last["outcome"]) == ("killed", "abandoned")
    assert "killed" in last["error"]
    assert last_successful_full_sync(fake_redis)["id"] == "good"  # type: ignore[index]


def test_the_next_run_files_an_abandoned_one_in_the_history(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    record_full_sync(fake_redis, run("good", "ok"))
    begin_full_sync(fake_redis, run("killed", "running"))
    begin_full_sync(fake_redis, run("next", "running"))  # it holds the lock now
    record_full_sync(fake_redis, run("next", "failed"))
    history = [json.loads(item) for item in fake_redis.lrange(FULL_SYNC_HISTORY, 0, -1)]
    assert [(r["id"], r["outcome"]) for r in history] == [
        ("next", "failed"),
        ("killed", "abandoned"),
        ("good", "ok"),
    ]
    assert last_successful_full_sync(fake_redis)["id"] == "good"  # type: ignore[index]


def test_check_warns_when_the_last_sync_attempt_was_abandoned(
    sim: PagerDutySim, redis_url: str, redis_client: redis.Redis, graph_path: str
) -> None:
    LocalSink(graph_path).close()
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
    }
    record_full_sync(redis_client, run("good", "ok", started_at=time.time() - 86400))
    begin_full_sync(redis_client, run("killed", "running", started_at=time.time() - 600))
    result = run_pdgraph("check", env=env)
    assert result.returncode == 0, result.stderr  # a warning, not a failure
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARN")]
    assert len(warnings) == 1
    assert warnings[0].startswith("WARN  full sync: the last attempt, started ")
    assert "abandoned" in warnings[0] and "last success started" in warnings[0]

    record_full_sync(redis_client, run("next", "ok", started_at=time.time()))
    result = run_pdgraph("check", env=env)
    assert result.returncode == 0 and "WARN" not in result.stderr
