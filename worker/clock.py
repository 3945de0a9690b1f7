"""The Procfile's `clock` process: queues the full sync on FULL_SYNC_CRON (UTC).

Each run's job id is derived from the minute it is scheduled for, and RQ's unique
enqueue refuses a second one, so two clocks queue one sync per tick; the full-sync lock
(worker.full_sync) keeps it to one at a time against `pdgraph sync` as well.

    python -m worker.clock
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

import redis
from croniter import croniter
from rq import Queue
from rq.exceptions import DuplicateJobError

from common.config import ConfigError, Settings, load_settings
from common.logs import configure_logging
from common.queueing import SYNC_QUEUE
from common.state import connect

log = logging.getLogger(__name__)

FULL_SYNC_TIMEOUT = 4 * 3600  # RQ kills a job past its timeout; a 50k-user sync takes minutes


def enqueue_full_sync(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the full sync of this tick; False when another clock already did."""
    job_id = f"full-sync-{scheduled_for.astimezone(UTC):%Y%m%dT%H%MZ}"
    try:
        Queue(SYNC_QUEUE, connection=connection).enqueue_call(
            "worker.jobs.full_sync",
            job_id=job_id,
            timeout=FULL_SYNC_TIMEOUT,
            result_ttl=7 * 24 * 3600,
            failure_ttl=30 * 24 * 3600,
            description=f"full sync for {scheduled_for.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            unique=True,
        )
    except DuplicateJobError:
        log.info("full sync already queued for this tick", extra={"job_id": job_id})
        return False
    log.info("full sync queued", extra={"job_id": job_id})
    return True


def run_clock(
    settings: Settings,
    connection: redis.Redis,
    stop: threading.Event,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    wait: Callable[[float], object] | None = None,
) -> None:
    """Until `stop` is set: wait for each FULL_SYNC_CRON time, then queue the sync."""
    wait = wait or stop.wait
    ticks = croniter(settings.full_sync_cron, now())
    while not stop.is_set():
        due: datetime = ticks.get_next(datetime)
        log.info("next full sync", extra={"at": due.isoformat()})
        while not stop.is_set():
            remaining = (due - now()).total_seconds()
            if remaining <= 0:
                break
            wait(min(remaining, 60))  # wakes at least once a minute (clock drift, SIGTERM)
        if stop.is_set():
            return
        try:
            enqueue_full_sync(connection, due)
        except redis.RedisError as exc:  # the next tick tries again; say so now
            log.error("could not queue the full sync: Redis unavailable (%s)", exc)


def main() -> None:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise SystemExit(f"pdgraph clock: configuration error: {exc}") from None
    configure_logging(settings.log_level, settings.secret_values())
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("clock started", extra={"cron": settings.full_sync_cron})
    run_clock(settings, connect(settings.redis_url), stop)


if __name__ == "__main__":
    main()
