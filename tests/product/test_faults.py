"""Routine operations against the Procfile's worker (issue 17): a Redis that restarts or
pauses, a worker killed during the full sync. Real processes, a real redis-server of the
test's own (with an append-only file, as a production Redis that keeps its data)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from common.config import Settings
from common.state import keys
from common.state.full_sync import last_full_sync
from common.state.keys import FULL_SYNC_LOCK
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import RedisServer
from tests.expected import expected_export
from tests.read_tokens import JSON_AUTHORIZED, READ_TOKEN
from tests.stack import Stack, configure_env
from tests.waiting import wait_for
from web.app import create_app
from worker import full_sync, jobs
from worker.clock import enqueue_full_sync
from worker.rqworker import PromptSimpleWorker


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone that keeps its data across a restart."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(data_dir=str(tmp_path / "redis")).start()
    yield server
    server.stop()


@pytest.fixture
def sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    """On the simulator's own clock: no hand-off falls due during a test, whatever the time."""
    return make_sim(Account.generate(seed=31, users=40, clock=clock))


class Processes:
    """`python -m worker` processes of the test, killed (with their children) at its end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: list[subprocess.Popen[bytes]] = []

    def worker(self) -> subprocess.Popen[bytes]:
        with open(self.logs / f"worker-{len(self.started)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def log(self, n: int = 0) -> str:
        return (self.logs / f"worker-{n}.log").read_text(errors="replace")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the worker and its children (the work horse has a process group of
        its own): what a dyno restart or an OOM kill does."""
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[str, str], Processes]]:
    made: list[Processes] = []

    def make(redis_url: str, graph_path: str) -> Processes:
        env = {**os.environ, "REDIS_URL": redis_url, "LOCAL_GRAPH_PATH": graph_path}
        made.append(Processes(env, tmp_path))
        return made[-1]

    yield make
    for each in made:
        each.stop_all()


@pytest.fixture
def stack(
    sim: PagerDutySim,
    aof_redis: RedisServer,
    graph_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    """The receiver (in this process) and a first full sync, on the test's own Redis."""
    configure_env(monkeypatch, sim.url, aof_redis.url, graph_path)
    monkeypatch.setenv("READ_TOKENS", READ_TOKEN)
    stack = Stack(sim, redis.Redis.from_url(aof_redis.url), Settings())
    stack.start_receiver()
    stack.full_sync()
    yield stack
    stack.stop()


def name_in_graph(stack: Stack, service_id: str) -> str | None:
    return stack.export_names().get(f"service:{service_id}")


def rename(stack: Stack, service_id: str, name: str) -> int:
    """Rename the service in PagerDuty; the status its webhook delivery got."""
    stack.sim.account.update_service(service_id, name=name)
    return stack.sender.deliveries[-1].statuses[-1]


def seconds_to_apply(stack: Stack, service_id: str, name: str, procs: Processes) -> float:
    """Rename the service now (its delivery answered 202); how long until the worker wrote
    the name (waited for with the generous bound: a slow one fails saying how slow)."""
    sent = time.monotonic()
    assert rename(stack, service_id, name) == 202
    wait_for(lambda: name_in_graph(stack, service_id) == name, f"{name!r}", detail=procs.log)
    return time.monotonic() - sent


def test_a_redis_restart_neither_stops_the_worker_nor_loses_an_accepted_delivery(
    stack: Stack, aof_redis: RedisServer, graph_path: str, processes: Callable[..., Processes]
) -> None:
    procs = processes(aof_redis.url, graph_path)
    worker = procs.worker()
    first, second, third = sorted(stack.sim.account.services)[:3]
    # The refresh is mid re-read when Redis goes: its write meets the dead connection.
    stack.sim.slow_down(f"/services/{first}", 1.5)
    assert rename(stack, first, "renamed before the restart") == 202
    wait_for(lambda: stack.re_reads(first) == 1, "the refresh to start its re-read")
    aof_redis.stop()
    assert rename(stack, second, "renamed while Redis is away") == 503  # PagerDuty retries
    # The outage, longer than redis-py's own retries (~4 s): the re-read ends while Redis
    # is away and the refresh's write fails.
    time.sleep(8)
    aof_redis.start()

    assert seconds_to_apply(stack, third, "renamed after the restart", procs) < 20
    assert worker.poll() is None, procs.log()
    assert stack.sender.retry_failed() == 0  # PagerDuty's retry of the 503
    # Nothing answered 202 is lost: the cut-off refresh ran again, the retried one too.
    wait_for(lambda: stack.export() == expected_export(stack.sim.account), "the whole graph")
    assert worker.poll() is None
    log = procs.log()
    assert "unhandled exception" not in log and "quitting" not in log
    assert "cut off" in log  # the refresh that met the restart failed and was retried


def test_a_redis_paused_for_8_s_mid_job_delays_the_next_delivery_by_seconds(
    stack: Stack, aof_redis: RedisServer, graph_path: str, processes: Callable[..., Processes]
) -> None:
    procs = processes(aof_redis.url, graph_path)
    worker = procs.worker()
    service_id = sorted(stack.sim.account.services)[0]
    stack.sim.slow_down(f"/services/{service_id}", 1.0)
    assert rename(stack, service_id, "renamed before the pause") == 202
    wait_for(lambda: stack.re_reads(service_id) == 1, "the refresh to start its re-read")
    aof_redis.pause()
    time.sleep(8)  # the pause: the refresh's writes hang on it
    aof_redis.resume()

    assert seconds_to_apply(stack, service_id, "renamed after the pause", procs) < 15
    assert worker.poll() is None, procs.log()
    wait_for(lambda: stack.export() == expected_export(stack.sim.account), "the whole graph")


def test_a_service_locked_by_a_dead_attempt_defers_its_job_and_frees_the_worker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt that died holding a service's write lock (its release failed with Redis
    away) blocks nobody: the next job for that service is deferred, not kept waiting, the
    worker takes other work meanwhile, and the lease lapses within seconds."""
    monkeypatch.setattr("common.state.locks.LEASE_SECONDS", 2)
    monkeypatch.setattr("worker.ordering.WRITE_LOCK_WAIT", 0.2)
    locked, other = sorted(stack.sim.account.services)[:2]
    dead = stack.redis.lock(keys.service_refresh(locked, "write-lock"), timeout=2)
    assert dead.acquire(blocking=False)  # its holder is gone: nobody renews or releases it

    stack.sim.account.update_service(locked, name="renamed while locked")  # queued first
    stack.sim.account.update_service(other, name="renamed meanwhile")
    # One pass over the queue: the locked service's job is put off, the other one is done.
    PromptSimpleWorker(stack.queues(), connection=stack.redis).work(burst=True)
    assert name_in_graph(stack, other) == "renamed meanwhile"
    assert name_in_graph(stack, locked) != "renamed while locked"
    scheduled = ScheduledJobRegistry(queue=stack.queues()[0]).get_job_ids()
    deferred = [j for j in scheduled if j.startswith("webhook-")]
    assert len(deferred) == 1  # RQ runs it again later (its Retry), nothing failed
    stack.drain()  # the lease lapses within its 2 s: the deferred job writes
    assert name_in_graph(stack, locked) == "renamed while locked"
    assert stack.export() == expected_export(stack.sim.account)
    assert not FailedJobRegistry(queue=stack.queues()[0]).get_job_ids()


def test_a_job_finding_its_service_locked_asks_rq_to_run_it_again_later(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.ordering.WRITE_LOCK_WAIT", 0.2)
    service_id = sorted(stack.sim.account.services)[0]
    stack.sim.account.update_service(service_id, name="renamed while locked")
    held = stack.redis.lock(keys.service_refresh(service_id, "write-lock"), timeout=60)
    assert held.acquire(blocking=False)
    try:
        result = jobs.refresh_service(service_id)
    finally:
        held.release()
    assert result is jobs.DEFER  # RQ's Retry: queued again after 1, 2, 4 ... 30 s
    assert name_in_graph(stack, service_id) != "renamed while locked"  # nothing written


def test_a_worker_killed_during_the_full_sync_is_named_and_the_next_sync_runs(
    sim: PagerDutySim,
    redis_url: str,
    redis_client: redis.Redis,
    graph_path: str,
    processes: Callable[..., Processes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_env(monkeypatch, sim.url, redis_url, graph_path)
    monkeypatch.setenv("READ_TOKENS", READ_TOKEN)
    procs = processes(redis_url, graph_path)
    Stack(sim, redis_client, Settings()).full_sync()  # the previous good run
    worker = procs.worker()
    sim.slow_down("/oncalls", 600)  # the sync hangs in its reads
    tick = datetime.now(UTC).replace(second=0, microsecond=0)
    assert enqueue_full_sync(redis_client, tick)

    def sync_running() -> bool:
        run = last_full_sync(redis_client) or {}
        return run.get("outcome") == "running" and bool(redis_client.exists(FULL_SYNC_LOCK))

    wait_for(sync_running, "the full sync to start", detail=procs.log)
    procs.kill(worker)  # worker and work horse: a dyno restart mid-sync

    # Its lock is a lease: gone within LOCK_TTL_SECONDS, not 300 s.
    killed = time.monotonic()
    wait_for(lambda: not redis_client.exists(FULL_SYNC_LOCK), "the sync's lock to lapse")
    assert time.monotonic() - killed <= full_sync.LOCK_TTL_SECONDS + 5
    app = create_app(Settings(), redis_client)
    status = app.test_client().get("/status", headers=JSON_AUTHORIZED).get_json()
    assert status["last_full_sync"]["outcome"] == "abandoned"
    assert status["last_successful_full_sync"]["outcome"] == "ok"
    metrics = app.test_client().get("/metrics", headers=JSON_AUTHORIZED).get_data(as_text=True)
    assert 'pdgraph_full_sync_last_outcome{outcome="abandoned"} 1.0' in metrics
    assert "pdgraph_full_sync_last_success 0.0" in metrics

    # The next scheduled sync runs: no "another one is running".
    procs.worker()
    next_tick = tick + timedelta(minutes=1)  # the next cron tick: its own job id
    assert enqueue_full_sync(redis_client, next_tick)
    job_id = f"full-sync-{next_tick:%Y%m%dT%H%MZ}"
    wait_for(
        lambda: Job.fetch(job_id, connection=redis_client).is_finished,
        "the next full sync",
        detail=lambda: procs.log(1),
    )
    result = Job.fetch(job_id, connection=redis_client).return_value()
    assert result["outcome"] == "ok", result
    status = app.test_client().get("/status", headers=JSON_AUTHORIZED).get_json()
    assert status["last_full_sync"]["outcome"] == "ok"
    history = [json.loads(item) for item in redis_client.lrange(keys.FULL_SYNC_HISTORY, 0, 2)]
    assert [run["outcome"] for run in history[:2]] == ["ok", "abandoned"]
