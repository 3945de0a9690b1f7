"""How users, teams, memberships, escalation policies and schedules are kept fresh, as
Redis holds it: the mode (the audit-records feed, or the light refresh where PagerDuty
refuses the feed), the feed's position, and the last run of each mode. The worker writes
it; /status and /metrics read it (the web process imports nothing from the worker)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from common.state.keys import freshness_key, text, text_map

AUDIT = "audit"  # the audit-records feed, polled every AUDIT_POLL_SECONDS
REFRESH = "refresh"  # the light refresh every PEOPLE_REFRESH_MINUTES (feed refused)
MODES = (AUDIT, REFRESH)
# Not a mode: the catalog refresh (worker/catalog.py), which runs in either; its last run
# and changes are kept beside the modes'.
CATALOG = "catalog"
# What the light refresh cannot tell (it sees objects, not PagerDuty's audit records).
CANNOT_KNOW = (
    "without PagerDuty's audit trail, who made each change (actor and method) and changes "
    "undone between two light refreshes cannot be known"
)


def read_mode(connection: redis.Redis) -> dict[str, Any] | None:
    """`{"mode", "reason", "checked_at"}`, or None before the first poll found out."""
    raw = connection.get(freshness_key("mode"))
    return json.loads(text(raw)) if raw else None


def write_mode(
    connection: redis.Redis, mode: str, reason: str | None, checked_at: float | None = None
) -> None:
    record = {"mode": mode, "reason": reason, "checked_at": checked_at or time.time()}
    connection.set(freshness_key("mode"), json.dumps(record, sort_keys=True))


def record_run(connection: redis.Redis, mode: str, run: dict[str, Any]) -> None:
    """The run's record for /status, and the total of changes each mode has applied."""
    with connection.pipeline() as pipe:
        pipe.hset(freshness_key("last"), mode, json.dumps(run, sort_keys=True))
        pipe.hincrby(freshness_key("applied"), mode, int(run.get("changes_applied") or 0))
        pipe.execute()


def last_runs(connection: redis.Redis) -> dict[str, dict[str, Any]]:
    """Mode → the record of its last run."""
    return {
        mode: json.loads(raw)
        for mode, raw in text_map(connection.hgetall(freshness_key("last"))).items()
    }


def applied_totals(connection: redis.Redis) -> dict[str, int]:
    """Mode → changes (objects created, updated, deleted) applied since Redis was new."""
    return {
        mode: int(n) for mode, n in text_map(connection.hgetall(freshness_key("applied"))).items()
    }


def freshness_status(connection: redis.Redis, now: float | None = None) -> dict[str, Any]:
    """What /status shows: the mode and why, each mode's last run, and the lag: for the
    feed, from the newest change it wrote to its write; for the light refresh, the age of
    the last one (a change may wait that long)."""
    now = time.time() if now is None else now
    mode = read_mode(connection) or {"mode": None, "reason": None, "checked_at": None}
    runs = last_runs(connection)
    current = runs.get(mode["mode"] or "")
    lag = None
    if current is not None and mode["mode"] == AUDIT:
        lag = current.get("lag_s")
    elif current is not None:
        lag = round(now - float(current.get("finished_at") or now), 1)
    return {
        **mode,
        "cannot_know": CANNOT_KNOW if mode["mode"] == REFRESH else None,
        "last_poll": runs.get(AUDIT),
        "last_refresh": runs.get(REFRESH),
        "last_catalog": runs.get(CATALOG),
        "lag_s": lag,
        "changes_applied": applied_totals(connection),
    }
