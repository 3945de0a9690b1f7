"""When pdgraph's scheduled work runs next: the clock's schedules and the next hand-off.

The clock process queues these runs and /status shows when they come, so both read them
here (the web process imports nothing from the worker's modules).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis
from croniter import croniter

from common.config import Settings
from common.state.keys import HANDOFFS, text

FULL_SYNC = "full sync"
ONCALL_REFRESH = "on-call refresh"
AUDIT_POLL = "audit-records poll"
PEOPLE_REFRESH = "people light refresh"
DEPENDENCY_READS = "dependency reads"
HANDOFF_SLACK = 5  # seconds after a shift ends before its on-calls are read again


@dataclass(frozen=True)
class Schedule:
    what: str  # FULL_SYNC, ONCALL_REFRESH, AUDIT_POLL, PEOPLE_REFRESH or DEPENDENCY_READS
    next_after: Callable[[datetime], datetime]


def every(seconds: int) -> Callable[[datetime], datetime]:
    """Ticks every `seconds`, aligned on the epoch, so every clock computes the same ticks
    (and job ids)."""

    def next_tick(after: datetime) -> datetime:
        return datetime.fromtimestamp((int(after.timestamp()) // seconds + 1) * seconds, UTC)

    return next_tick


def schedules(settings: Settings) -> list[Schedule]:
    """The clock's runs: the full sync on FULL_SYNC_CRON (UTC), the on-call safety refresh
    every ONCALL_REFRESH_MINUTES, the audit-records poll every AUDIT_POLL_SECONDS and the
    light refresh of users and teams every PEOPLE_REFRESH_MINUTES (each job works only
    in its mode: common.state.freshness), and the dependency pass every minute."""

    def next_full_sync(after: datetime) -> datetime:
        due: datetime = croniter(settings.full_sync_cron, after).get_next(datetime)
        return due

    return [
        Schedule(FULL_SYNC, next_full_sync),
        Schedule(ONCALL_REFRESH, every(settings.oncall_refresh_minutes * 60)),
        Schedule(AUDIT_POLL, every(settings.audit_poll_seconds)),
        Schedule(PEOPLE_REFRESH, every(settings.people_refresh_minutes * 60)),
        Schedule(DEPENDENCY_READS, every(60)),
    ]


def next_runs(settings: Settings, now: datetime | None = None) -> dict[str, datetime]:
    """When the clock will next queue each of its runs (for /status)."""
    now = now or datetime.now(UTC)
    return {s.what: s.next_after(now) for s in schedules(settings)}


def next_handoff(connection: redis.Redis, now: float | None = None) -> float | None:
    """The next hand-off refresh due (epoch seconds), one just due included; None if none."""
    now = time.time() if now is None else now
    due = connection.zrangebyscore(HANDOFFS, now - HANDOFF_SLACK, "+inf", start=0, num=1)
    return float(text(cast(bytes | str, due[0]))) if due else None
