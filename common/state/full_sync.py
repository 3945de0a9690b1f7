"""The record of full-sync runs in Redis (/status, /metrics, `pdgraph check`, the report),
the sync window, and the last webhook."""

from __future__ import annotations

import json
from typing import Any

import redis

from common.state.keys import (
    FULL_SYNC_HISTORY,
    FULL_SYNC_LAST,
    FULL_SYNC_LAST_OK,
    FULL_SYNC_LOCK,
    FULL_SYNC_TOUCHED,
    FULL_SYNC_WINDOW,
    LAST_WEBHOOK,
    text,
    text_list,
)

HISTORY_LENGTH = 50


# -- the record of full-sync runs: /status, /metrics, `pdgraph check` -------------------
# A run is recorded when it starts (outcome "running") and again when it ends. A run whose
# process was killed (SIGKILL, a dyno restart) never records its end: once its lock's
# lease has lapsed it reads as "abandoned", and the next run files it so in the history.
ABANDONED = "abandoned"
_ABANDONED_WHY = (
    "the run stopped without recording its end (its process was killed or lost Redis); "
    "its lock lapsed and the next scheduled sync runs"
)


def begin_full_sync(client: redis.Redis, run: dict[str, Any]) -> None:
    """Record a run as running (its caller holds the full-sync lock); a previous run still
    recorded as running died without a word: it goes to the history as abandoned."""
    previous = _load(client.get(FULL_SYNC_LAST))
    with client.pipeline() as pipe:
        if previous is not None and previous.get("outcome") == "running":
            abandoned = {**previous, "outcome": ABANDONED, "error": _ABANDONED_WHY}
            pipe.lpush(FULL_SYNC_HISTORY, json.dumps(abandoned, sort_keys=True))
        pipe.set(FULL_SYNC_LAST, json.dumps(run, sort_keys=True))
        pipe.execute()


def record_full_sync(client: redis.Redis, run: dict[str, Any]) -> None:
    """Record a run's end (the last ok one is kept apart: /status shows both)."""
    data = json.dumps(run, sort_keys=True)
    with client.pipeline() as pipe:
        pipe.set(FULL_SYNC_LAST, data)
        if run.get("outcome") == "ok":
            pipe.set(FULL_SYNC_LAST_OK, data)
        pipe.lpush(FULL_SYNC_HISTORY, data)
        pipe.ltrim(FULL_SYNC_HISTORY, 0, HISTORY_LENGTH - 1)
        pipe.execute()


def _load(data: bytes | str | None) -> dict[str, Any] | None:
    return json.loads(data) if data else None


def last_full_sync(client: redis.Redis) -> dict[str, Any] | None:
    """The last run: running, ended (ok, failed, aborted), or abandoned (recorded as
    running, but its lock has lapsed: nothing runs it any more)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(FULL_SYNC_LAST)
        pipe.exists(FULL_SYNC_LOCK)
        data, locked = pipe.execute()
    run = _load(data)
    if run is not None and run.get("outcome") == "running" and not locked:
        run.update(outcome=ABANDONED, error=_ABANDONED_WHY)
    return run


NO_FULL_SYNC_YET = (
    "no full sync has completed yet, so there is no graph to report on: run `pdgraph sync` "
    "(or wait for FULL_SYNC_CRON)"
)


def report_refusal(client: redis.Redis) -> str | None:
    """Why no evidence report can be given (None: it can). A graph no full sync completed
    is no evidence: an empty one would report every check passed."""
    return None if last_successful_full_sync(client) is not None else NO_FULL_SYNC_YET


def finished_at(run: dict[str, Any]) -> float | None:
    """When a full-sync run ended (epoch seconds): None while it runs, when it was
    abandoned (it never said), or for a record without its start."""
    started = run.get("started_at")
    if run.get("outcome") in ("running", ABANDONED) or not isinstance(started, int | float):
        return None
    return float(started) + float(run.get("duration_s") or 0)


def last_webhook(client: redis.Redis) -> dict[str, Any] | None:
    """The last webhook the receiver stored (at most a second old): its signal,
    `received_at` (epoch) and `job_id`."""
    raw = client.get(LAST_WEBHOOK)
    return json.loads(text(raw)) if raw else None


def last_successful_full_sync(client: redis.Redis) -> dict[str, Any] | None:
    """The last run that ended ok (the graph's as-of time), whatever came after it."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(FULL_SYNC_LAST_OK)
        pipe.lrange(FULL_SYNC_HISTORY, 0, -1)  # recorded before the last-ok key existed
        data, history = pipe.execute()
    runs = [_load(data), *(_load(item) for item in history)]
    return next((r for r in runs if r is not None and r.get("outcome") == "ok"), None)


# -- the full-sync window (SPEC §6): services refreshed while a full sync runs are refreshed
# again once it has written, since the sync read PagerDuty before their change.
FULL_SYNC_WINDOW_TTL = 6 * 3600  # a crashed sync must not leave the window open forever


def open_sync_window(client: redis.Redis) -> None:
    client.set(FULL_SYNC_WINDOW, "1", ex=FULL_SYNC_WINDOW_TTL)


def sync_window_is_open(client: redis.Redis) -> bool:
    return bool(client.exists(FULL_SYNC_WINDOW))


def mark_touched_during_sync(client: redis.Redis, service_id: str) -> None:
    client.sadd(FULL_SYNC_TOUCHED, service_id)


def close_sync_window(client: redis.Redis) -> list[str]:
    """Close the window; the services touched while it was open."""
    with client.pipeline() as pipe:
        pipe.smembers(FULL_SYNC_TOUCHED)
        pipe.delete(FULL_SYNC_TOUCHED, FULL_SYNC_WINDOW)
        touched, _ = pipe.execute()
    return sorted(text_list(touched))
