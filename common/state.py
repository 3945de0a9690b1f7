"""pdgraph's own state in Redis: connections and the record of full-sync runs."""

from __future__ import annotations

import json
from typing import Any

import redis

FULL_SYNC_LAST = "pdgraph:fullsync:last"
FULL_SYNC_HISTORY = "pdgraph:fullsync:history"
HISTORY_LENGTH = 50


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: a dead Redis must answer fast, not hang a request."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def record_full_sync(client: redis.Redis, run: dict[str, Any]) -> None:
    data = json.dumps(run, sort_keys=True)
    with client.pipeline() as pipe:
        pipe.set(FULL_SYNC_LAST, data)
        pipe.lpush(FULL_SYNC_HISTORY, data)
        pipe.ltrim(FULL_SYNC_HISTORY, 0, HISTORY_LENGTH - 1)
        pipe.execute()


def last_full_sync(client: redis.Redis) -> dict[str, Any] | None:
    data = client.get(FULL_SYNC_LAST)
    return json.loads(data) if data else None
