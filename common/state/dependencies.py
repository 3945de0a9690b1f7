"""The dependency pass's state in Redis: what each service and business service depended
on when last read, when each was last read, and the pass's last run (for /status).

The dependency pass (worker/dependencies.py) writes it; the full sync reads the kept
reads and says which dependents exist; /status reads the rest (the web process imports
nothing from the worker).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import redis

from common.state.keys import (
    CATALOG_DEPENDENCIES,
    CATALOG_DEPENDENTS,
    dependency_pass_key,
    text,
    text_list,
    text_map,
)

NEVER = 0.0  # the read time of a dependent not read yet: first in the queue


def kept_reads(connection: redis.Redis) -> list[dict[str, Any]]:
    """Each dependent's last read, as the service-dependency kind lists it:
    `{"id": "<dependent key>", "supporting": [keys]}`."""
    raw = text_map(connection.hgetall(CATALOG_DEPENDENCIES))
    return [{"id": key, "supporting": json.loads(value)} for key, value in sorted(raw.items())]


def keep_reads(connection: redis.Redis, reads: Mapping[str, Sequence[str]], at: float) -> None:
    """Keep these dependents' reads (key → what it depends on), read at `at` (epoch s)."""
    if not reads:
        return
    with connection.pipeline() as pipe:
        pipe.hset(CATALOG_DEPENDENCIES, mapping={k: json.dumps(list(v)) for k, v in reads.items()})
        pipe.zadd(CATALOG_DEPENDENTS, dict.fromkeys(reads, at), xx=True)
        pipe.execute()


def enlist(connection: redis.Redis, dependents: Iterable[str], *, complete: bool) -> int:
    """Queue the dependents not known yet for a first read (before any other); with
    `complete`, these are all there are: the others are forgotten. How many were new."""
    wanted = set(dependents)
    known = set(text_list(connection.zrange(CATALOG_DEPENDENTS, 0, -1)))
    gone = known - wanted if complete else set()
    with connection.pipeline() as pipe:
        if wanted - known:
            pipe.zadd(CATALOG_DEPENDENTS, dict.fromkeys(wanted - known, NEVER), nx=True)
        if gone:
            pipe.zrem(CATALOG_DEPENDENTS, *gone)
            pipe.hdel(CATALOG_DEPENDENCIES, *gone)
        pipe.execute()
    return len(wanted - known)


def forget(connection: redis.Redis, dependent: str) -> None:
    """A dependent PagerDuty deleted: no more reads of it, no kept read."""
    with connection.pipeline() as pipe:
        pipe.zrem(CATALOG_DEPENDENTS, dependent)
        pipe.hdel(CATALOG_DEPENDENCIES, dependent)
        pipe.execute()


def due(connection: redis.Redis, read_before: float, limit: int) -> list[str]:
    """Up to `limit` dependents last read before `read_before` (never read first, then
    the longest ago)."""
    found = connection.zrangebyscore(CATALOG_DEPENDENTS, "-inf", read_before, start=0, num=limit)
    return [text(cast(bytes | str, k)) for k in found]


def counts(connection: redis.Redis) -> tuple[int, int]:
    """(dependents known, of them never read)."""
    return connection.zcard(CATALOG_DEPENDENTS), connection.zcount(CATALOG_DEPENDENTS, NEVER, NEVER)


def oldest_read(connection: redis.Redis) -> float | None:
    """When the dependent read longest ago was read (None: none read, or none known)."""
    found = connection.zrangebyscore(
        CATALOG_DEPENDENTS, f"({NEVER}", "+inf", start=0, num=1, withscores=True
    )
    return float(found[0][1]) if found else None


def record_run(connection: redis.Redis, run: dict[str, Any]) -> None:
    connection.set(dependency_pass_key("last"), json.dumps(run, sort_keys=True))


def last_run(connection: redis.Redis) -> dict[str, Any] | None:
    raw = connection.get(dependency_pass_key("last"))
    return json.loads(text(raw)) if raw else None


def dependency_status(connection: redis.Redis, now: float | None = None) -> dict[str, Any]:
    """What /status shows of the dependency pass: how many services and business services
    it keeps, how many wait for a first read, how old the oldest read is, its last run."""
    known, never = counts(connection)
    oldest = oldest_read(connection)
    now = time.time() if now is None else now
    return {
        "dependents": known,
        "never_read": never,
        "oldest_read_age_s": round(now - oldest, 1) if oldest is not None else None,
        "last_run": last_run(connection),
    }
