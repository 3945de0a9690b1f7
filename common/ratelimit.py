"""The PagerDuty request budget, shared by every process that uses one API key.

PagerDuty allows 960 requests per minute per key across all callers (REST API rate
limits doc), so web, workers, clock and a manual `pdgraph sync` draw from one budget kept
in Redis: a sliding one-minute window of request times, plus a shared "pause until"
set when PagerDuty answers 429 or reports `ratelimit-remaining: 0`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis

from common import keys

# KEYS[1]: sorted set of request times (ms); KEYS[2]: pause-until (ms).
# ARGV: limit, window ms, member. Returns 0 when granted, else ms to wait.
# Redis' own clock is used so that processes on different hosts agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# KEYS[1]: pause-until (ms); ARGV[1]: pause length ms. Only ever extends a pause.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]))
end
return until_ms
"""

PAGERDUTY_REQUESTS_PER_MINUTE = 960


class RequestBudget(Protocol):
    def acquire(self) -> None:
        """Block until one more request is allowed."""

    def pause(self, seconds: float) -> None:
        """Stop every holder of this budget from sending for `seconds`."""


class RedisRequestBudget:
    """The budget of one API key, shared through Redis (works with fakeredis[lua])."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        limit: int = PAGERDUTY_REQUESTS_PER_MINUTE,
        window_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._window_key = keys.ratelimit(name, "window")
        self._pause_key = keys.ratelimit(name, "paused")
        self._limit = limit
        self._window_ms = int(window_seconds * 1000)
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._pause = client.register_script(_PAUSE)

    def acquire(self) -> None:
        while True:
            wait_ms = int(
                self._acquire(
                    keys=[self._window_key, self._pause_key],
                    args=[self._limit, self._window_ms, uuid.uuid4().hex],
                )
            )
            if wait_ms <= 0:
                return
            self._sleep(wait_ms / 1000)

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._pause(keys=[self._pause_key], args=[max(1, int(seconds * 1000))])


class LocalRequestBudget:
    """The same budget for one process only (tools and tests without Redis)."""

    def __init__(
        self,
        *,
        limit: int = PAGERDUTY_REQUESTS_PER_MINUTE,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _wait_needed(self) -> float:
        now = self._clock()
        if self._paused_until > now:
            return self._paused_until - now
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        if len(self._sent) < self._limit:
            self._sent.append(now)
            return 0.0
        return self._sent[0] + self._window - now

    def acquire(self) -> None:
        while True:
            with self._lock:
                wait = self._wait_needed()
            if wait <= 0:
                return
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
