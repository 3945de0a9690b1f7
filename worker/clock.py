"""The Procfile's `clock` process: queues the full sync on FULL_SYNC_CRON (UTC), the
on-call safety refresh every ONCALL_REFRESH_MINUTES, the audit-records poll every
AUDIT_POLL_SECONDS, the light refresh of users, teams, memberships, policies and
schedules every PEOPLE_REFRESH_MINUTES (where the audit feed is unavailable; the catalog
refresh runs with it in either mode) and the dependency pass every minute.

Each run's job id is derived from the tick it is scheduled for (its minute; the audit
poll's second), and RQ's unique enqueue (common.queueing.enqueue_unique) refuses a
second one, so two clocks queue one run per tick; the full-sync lock
(worker.full_sync) keeps the sync to one at a time against `pdgraph sync` as well.
(Hand-off refreshes are not the clock's: they are scheduled from the on-call end times
each read of /oncalls returns, see worker.oncall.)

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

from common.config import Settings, settings_or_exit
from common.logs import configure_logging
from common.queueing import JobName, enqueue_unique, queue_for
from common.schedule import (
    AUDIT_POLL,
    DEPENDENCY_READS,
    FULL_SYNC,
    ONCALL_REFRESH,
    PEOPLE_REFRESH,
    schedules,
)
from common.state.connection import connect

log = logging.getLogger(__name__)


def _enqueue_tick(
    connection: redis.Redis,
    what: str,
    name: JobName,
    prefix: str,
    tick: datetime,
    *,
    tick_format: str = "%Y%m%dT%H%MZ",
) -> bool:
    """Queue the job once for this tick (job id from the tick); False if a clock already did."""
    job_id = f"{prefix}-{tick.astimezone(UTC).strftime(tick_format)}"
    queued = enqueue_unique(
        queue_for(connection, name),
        name,
        (),
        job_id,
        description=f"{what} for {tick.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    )
    if queued:
        log.info(f"{what} queued", extra={"job_id": job_id})
    else:
        log.info(f"{what} already queued for this tick", extra={"job_id": job_id})
    return queued


def enqueue_full_sync(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the full sync of this tick; False when another clock already did."""
    return _enqueue_tick(connection, FULL_SYNC, JobName.FULL_SYNC, "full-sync", scheduled_for)


def enqueue_oncall_refresh(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the periodic on-call refresh of this tick; False when another clock did."""
    return _enqueue_tick(
        connection, ONCALL_REFRESH, JobName.REFRESH_ALL_ONCALLS, "oncall-refresh", scheduled_for
    )


def enqueue_audit_poll(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the audit-records poll of this tick (ticks are seconds apart: the job id
    names the second)."""
    return _enqueue_tick(
        connection,
        AUDIT_POLL,
        JobName.POLL_AUDIT_RECORDS,
        "audit-poll",
        scheduled_for,
        tick_format="%Y%m%dT%H%M%SZ",
    )


def enqueue_people_refresh(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the light refresh of users and teams of this tick (it does nothing while the
    audit-records feed works)."""
    return _enqueue_tick(
        connection, PEOPLE_REFRESH, JobName.LIGHT_REFRESH, "people-refresh", scheduled_for
    )


def enqueue_dependency_reads(connection: redis.Redis, scheduled_for: datetime) -> bool:
    """Queue the dependency pass's run of this minute (worker.dependencies)."""
    return _enqueue_tick(
        connection, DEPENDENCY_READS, JobName.READ_DEPENDENCIES, "dependency-reads", scheduled_for
    )


# What queues each of the schedules (common.schedule) when it is due.
ENQUEUE: dict[str, Callable[[redis.Redis, datetime], bool]] = {
    FULL_SYNC: enqueue_full_sync,
    ONCALL_REFRESH: enqueue_oncall_refresh,
    AUDIT_POLL: enqueue_audit_poll,
    PEOPLE_REFRESH: enqueue_people_refresh,
    DEPENDENCY_READS: enqueue_dependency_reads,
}


def run_clock(
    settings: Settings,
    connection: redis.Redis,
    stop: threading.Event,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    wait: Callable[[float], object] | None = None,
) -> None:
    """Until `stop` is set: wait for the next due run, then queue it."""
    wait = wait or stop.wait
    plan = schedules(settings)
    start = now()
    due = [s.next_after(start) for s in plan]
    while not stop.is_set():
        index = min(range(len(plan)), key=lambda i: due[i])
        schedule, at = plan[index], due[index]
        log.info(f"next {schedule.what}", extra={"at": at.isoformat()})
        while not stop.is_set():
            remaining = (at - now()).total_seconds()
            if remaining <= 0:
                break
            wait(min(remaining, 60))  # wakes at least once a minute (clock drift, SIGTERM)
        if stop.is_set():
            return
        try:
            ENQUEUE[schedule.what](connection, at)
        except redis.RedisError as exc:  # the next tick tries again; say so now
            log.error("could not queue the %s: Redis unavailable (%s)", schedule.what, exc)
        due[index] = schedule.next_after(at)


def main() -> None:
    settings = settings_or_exit("clock")
    configure_logging(settings.log_level, settings.secret_values())
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(
        "clock started",
        extra={
            "cron": settings.full_sync_cron,
            "oncall_refresh_minutes": settings.oncall_refresh_minutes,
            "audit_poll_seconds": settings.audit_poll_seconds,
            "people_refresh_minutes": settings.people_refresh_minutes,
        },
    )
    run_clock(settings, connect(settings.redis_url), stop)


if __name__ == "__main__":
    main()
