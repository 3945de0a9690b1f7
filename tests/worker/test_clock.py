"""The clock queues one full sync per FULL_SYNC_CRON tick, however many clocks run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue

import common.schedule
from common.config import Settings
from common.queueing import SYNC_QUEUE
from common.schedule import next_runs
from sim.redis_server import free_port
from tests.waiting import WAIT_SECONDS
from worker.clock import enqueue_full_sync, enqueue_oncall_refresh, run_clock


def test_two_clocks_queue_one_sync_per_tick(redis_client: redis.Redis) -> None:
    tick = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert enqueue_full_sync(redis_client, tick) is True
    assert enqueue_full_sync(redis_client, tick) is False  # the other clock, same tick
    assert enqueue_full_sync(redis_client, tick.replace(day=28)) is True  # the next day
    job_ids = Queue(SYNC_QUEUE, connection=redis_client).job_ids
    assert job_ids == ["full-sync-20261127T0300Z", "full-sync-20261128T0300Z"]
    job = Queue(SYNC_QUEUE, connection=redis_client).jobs[0]
    assert job.func_name == "worker.jobs.full_sync"
    assert job.timeout >= 3600


def test_the_clock_queues_at_each_cron_time_and_stops_on_request(
    redis_client: redis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(full_sync_cron="0 3 * * *")
    stop = threading.Event()
    fake_now = [datetime(2026, 11, 27, 2, 59, 30, tzinfo=UTC)]
    queue = Queue(SYNC_QUEUE, connection=redis_client)

    def syncs() -> list[str]:
        return [j for j in queue.job_ids if j.startswith("full-sync-")]

    def wait(seconds: float) -> None:  # time passes at once; two ticks, then stop
        fake_now[0] += timedelta(seconds=seconds)
        if len(syncs()) == 2:
            stop.set()

    run_clock(settings, redis_client, stop, now=lambda: fake_now[0], wait=wait)
    assert syncs() == ["full-sync-20261127T0300Z", "full-sync-20261128T0300Z"]
    assert fake_now[0] >= datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    # ... and an on-call refresh every ONCALL_REFRESH_MINUTES (15) in between, once each.
    refreshes = [j for j in queue.job_ids if j.startswith("oncall-refresh-")]
    assert refreshes[:2] == ["oncall-refresh-20261127T0300Z", "oncall-refresh-20261127T0315Z"]
    assert len(refreshes) == len(set(refreshes)) == 24 * 4 + 1


def test_two_clocks_queue_one_oncall_refresh_per_tick(redis_client: redis.Redis) -> None:
    tick = datetime(2026, 11, 27, 3, 15, tzinfo=UTC)
    assert enqueue_oncall_refresh(redis_client, tick) is True
    assert enqueue_oncall_refresh(redis_client, tick) is False
    job = Queue(SYNC_QUEUE, connection=redis_client).jobs[0]
    assert job.func_name == "worker.jobs.refresh_all_oncalls"


def test_next_runs_for_the_status_page() -> None:
    settings = Settings(full_sync_cron="0 3 * * *", oncall_refresh_minutes=10)
    runs = next_runs(settings, datetime(2026, 11, 27, 4, 1, tzinfo=UTC))
    assert {k: runs[k] for k in ("full sync", "on-call refresh")} == {
        "full sync": datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
        "on-call refresh": datetime(2026, 11, 27, 4, 10, tzinfo=UTC),
    }


def test_redis_down_at_a_tick_is_logged_and_survived(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    stop = threading.Event()
    ticks = iter([datetime(2000, 1, 1, tzinfo=UTC)])  # one tick, already due

    class OneTick:
        def __init__(self, *args: object) -> None:
            pass

        def get_next(self, _: type) -> datetime:
            try:
                return next(ticks)
            except StopIteration:
                stop.set()
                return datetime(2999, 1, 1, tzinfo=UTC)

    monkeypatch.setattr(common.schedule, "croniter", OneTick)
    run_clock(Settings(), dead, stop)
    assert "could not queue the full sync" in caplog.text


def wait_for_line(proc: subprocess.Popen[bytes], wanted: bytes) -> bytes:
    """The first line of the process's output holding `wanted`, read as it comes; fails
    if the process ends, or stays silent past the wait bound, without one."""
    found: list[bytes] = []

    def read() -> None:
        for line in proc.stdout or ():
            if wanted in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(WAIT_SECONDS)
    assert found, f"no line with {wanted!r} from the process"
    return found[0]


def test_clock_process_stops_on_sigterm(redis_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.clock"],
        env={**os.environ, "REDIS_URL": redis_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_for_line(proc, b'"msg": "clock started"')  # its SIGTERM handler is installed
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT_SECONDS) == 0


def test_procfile_run_starts_the_procfile_command(redis_url: str) -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    }
    proc = subprocess.Popen(
        [f"{root}/bin/procfile-run", "clock"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_for_line(proc, b'"msg": "clock started"')  # its SIGTERM handler is installed
    proc.send_signal(signal.SIGTERM)  # exec'd: the signal reaches the clock itself
    assert proc.wait(WAIT_SECONDS) == 0
    unknown = subprocess.run(
        [f"{root}/bin/procfile-run", "nope"], capture_output=True, text=True, check=False
    )
    assert unknown.returncode == 2
    assert "no 'nope' process in the Procfile" in unknown.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "redis://localhost:notaport/0"),
        ("REDIS_URL", "redis://localhost:99999/0"),
        ("FULL_SYNC_CRON", "every night"),
        ("ONCALL_REFRESH_MINUTES", "-5"),
    ],
)
def test_a_bad_configuration_is_one_line_naming_the_variable_and_exit_2(
    variable: str, value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.clock"],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"pdgraph clock: configuration error: {variable}")
    assert value not in result.stderr and "Traceback" not in result.stderr
