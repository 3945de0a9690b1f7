"""Connections to Redis: short timeouts everywhere, fail-fast in the web process."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: a dead Redis must answer fast, not hang a request."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


# The web process answers PagerDuty within its 5 s deadline even when Redis hangs (stopped,
# not refusing): one call gives up after REQUEST_SOCKET_TIMEOUT, and a request makes at
# most two (the delivery, then the buffered metrics), so a 503 comes within 2 s.
REQUEST_SOCKET_TIMEOUT = 0.75


def connect_fail_fast(url: str) -> redis.Redis:
    """The web process's client: short timeouts and no retry after one (redis-py's default
    retries thrice, 10 s in all); a dropped connection, as after a Redis restart, is
    retried once at once."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REQUEST_SOCKET_TIMEOUT,
        socket_timeout=REQUEST_SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )
