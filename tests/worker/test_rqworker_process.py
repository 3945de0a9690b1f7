"""The Procfile's worker as a real process: `rq worker` with PdgraphWorker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import JobStatus
from rq.scheduler import RQScheduler

from common.config import Settings
from common.queueing import JOB_TIMEOUT, WEBHOOK_QUEUE
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import RedisServer
from tests.stack import Stack, configure_env
from tests.waiting import wait_for

RQ = str(Path(sys.executable).parent / "rq")


@pytest.fixture
def sim(make_sim: Callable[..., PagerDutySim]) -> PagerDutySim:
    return make_sim(Account.generate(seed=23, users=40))


@pytest.fixture
def env(
    sim: PagerDutySim, redis_url: str, graph_path: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    return {**os.environ, **configure_env(monkeypatch, sim.url, redis_url, graph_path)}


@pytest.fixture
def start_worker(
    env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")
        proc = subprocess.Popen(
            [
                RQ,
                "worker",
                "--url",
                env["REDIS_URL"],
                "--worker-class",
                "worker.rqworker.PdgraphWorker",
                "--with-scheduler",
                "--maintenance-interval",
                "3",
                "--job-monitoring-interval",
                "1",
                "pdgraph-webhooks",
                "pdgraph-sync",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_worker_killed_mid_job_loses_nothing(
    sim: PagerDutySim,
    env: dict[str, str],
    redis_client: redis.Redis,
    start_worker: Callable[[], subprocess.Popen[bytes]],
) -> None:
    stack = Stack(sim, redis_client, Settings())
    stack.start_receiver()
    try:
        stack.full_sync()
        service_id = sorted(sim.account.services)[0]
        sim.slow_down(f"/services/{service_id}", 60)  # the refresh hangs on its re-read
        worker = start_worker()
        sim.account.update_service(service_id, name="renamed before the crash")
        assert stack.sender.deliveries[-1].statuses == [202]
        wait_for(lambda: stack.re_reads(service_id) == 1, "the refresh to start its read")
        os.killpg(worker.pid, signal.SIGKILL)  # worker and work horse, mid-job
        worker.wait(10)

        start_worker()  # a new worker notices the abandoned job and runs it again
        wait_for(
            lambda: stack.export_names().get(f"service:{service_id}") == "renamed before the crash",
            "the event to be processed after the restart",
        )
        assert stack.re_reads(service_id) == 2
    finally:
        stack.stop()


def test_the_scheduler_is_back_within_seconds_of_redis_returning(
    own_redis: RedisServer, env: dict[str, str], tmp_path: Path
) -> None:
    """RQ's scheduler process dies with the Redis connection and RQ starts it again only at
    its maintenance run (60 s in `python -m worker`): delayed refreshes waited ~84 s."""
    client = redis.Redis.from_url(own_redis.url)
    lock = RQScheduler.get_locking_key(WEBHOOK_QUEUE)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env={**env, "REDIS_URL": own_redis.url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: bool(client.exists(lock)), "the worker's scheduler to start")
        own_redis.stop()  # its data goes with it: the restarted Redis is empty
        time.sleep(3)  # the scheduler process meets the dead connection and exits
        own_redis.start()
        returned = time.monotonic()
        queue = Queue(WEBHOOK_QUEUE, connection=client)
        job = queue.enqueue_in(timedelta(seconds=1), "os.getpid", job_timeout=JOB_TIMEOUT)
        deadline = returned + 45  # RQ alone: its next maintenance run, ~60-84 s
        while job.get_status(refresh=True) != JobStatus.FINISHED:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-6000:]
            time.sleep(0.1)
        assert worker.poll() is None
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
