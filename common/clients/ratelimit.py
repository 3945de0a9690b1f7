"""Request budgets, shared by every process that uses one API key or account.

PagerDuty allows 960 requests per minute per key across all callers (REST API rate
limits doc), so web, workers, clock and a manual `pdgraph sync` draw from one budget kept
in Redis: a sliding one-minute window of request times, plus a shared "pause until"
set when PagerDuty answers 429 or reports `ratelimit-remaining: 0`.

JupiterOne's GraphQL API counts tokens (one per query or mutation, N for an aliased
request of N) in more than one bucket (per account, per client), so a budget may hold
several windows, and a request may take several tokens at once: all or none, in every
window. `observe` lines the budget up with the server's `RateLimit-Remaining`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import redis

from common.state import keys

# Both scripts: Redis' own clock (ms), so that processes on different hosts agree; and
# adding `count` tokens of one score to a window (ZADD in chunks: Lua's unpack is bounded),
# keeping the set at least `ttl` ms.
_SHARED_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function add_tokens(key, score, prefix, count, ttl)
  local members = {}
  for n = 1, count do
    members[#members + 1] = score
    members[#members + 1] = prefix .. ':' .. n
    if #members >= 1000 then
      redis.call('ZADD', key, unpack(members))
      members = {}
    end
  end
  if #members > 0 then redis.call('ZADD', key, unpack(members)) end
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""

# KEYS[1]: pause-until (ms); KEYS[2..]: one sorted set of token times (ms) per window.
# ARGV: tokens, member prefix, then limit and window ms of each window in KEYS order.
# Returns 0 when the tokens were granted in every window, else ms to wait. A request of
# more tokens than a window's limit takes the whole window.
_ACQUIRE = (
    _SHARED_LUA
    + """
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return paused - now end
local tokens = tonumber(ARGV[1])
local wait = 0
for i = 2, #KEYS do
  local limit, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local over = redis.call('ZCARD', KEYS[i]) + math.min(tokens, limit) - limit
  if over > 0 then
    local nth = redis.call('ZRANGE', KEYS[i], over - 1, over - 1, 'WITHSCORES')
    wait = math.max(wait, 1, tonumber(nth[2]) + window - now)
  end
end
if wait > 0 then return wait end
for i = 2, #KEYS do
  local limit, window = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  add_tokens(KEYS[i], now, ARGV[2], math.min(tokens, limit), window)
end
return 0
"""
)

# KEYS: the window sorted sets; ARGV: remaining, reset ms, member prefix, then limit and
# window ms of each window. When the server has fewer tokens left than the tightest window
# (someone else spends this account's tokens), that many tokens are taken from every
# window (at most 10,000), until the server's reset. Returns the tokens taken.
_OBSERVE = (
    _SHARED_LUA
    + """
local remaining, reset = tonumber(ARGV[1]), tonumber(ARGV[2])
local free = nil
for i = 1, #KEYS do
  local limit, window = tonumber(ARGV[2 * i + 2]), tonumber(ARGV[2 * i + 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local f = limit - redis.call('ZCARD', KEYS[i])
  if free == nil or f < free then free = f end
end
local taken = math.min(free - remaining, 10000)
if taken <= 0 then return 0 end
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i + 3])
  add_tokens(KEYS[i], now + reset - window, ARGV[3], taken, math.max(reset, window))
end
return taken
"""
)

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

Window = tuple[int, float]  # (tokens, seconds)


class RequestBudget(Protocol):
    def acquire(self) -> None:
        """Block until one more request is allowed."""

    def pause(self, seconds: float) -> None:
        """Stop every holder of this budget from sending for `seconds`."""


class TokenBudget(RequestBudget, Protocol):
    def acquire(self, tokens: int = 1) -> None:
        """Block until `tokens` more are allowed in every window, and take them."""

    def observe(self, remaining: int, reset_seconds: float) -> None:
        """The server says `remaining` tokens are left, all back in `reset_seconds`."""


class RedisRequestBudget:
    """The budget of one API key, shared through Redis (works with fakeredis[lua]).

    `limit` per `window_seconds`, and as many more windows as `extra_windows` names (each
    (limit, seconds)); every window must have room for a request's tokens.
    """

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        limit: int = PAGERDUTY_REQUESTS_PER_MINUTE,
        window_seconds: float = 60.0,
        extra_windows: Sequence[Window] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        windows = [(limit, window_seconds), *extra_windows]
        self._window_keys = [keys.ratelimit(name, "window")] + [
            keys.ratelimit(name, f"window-{int(seconds * 1000)}ms-{n}")
            for n, (_, seconds) in enumerate(extra_windows, start=1)
        ]
        self._pause_key = keys.ratelimit(name, "paused")
        self._windows_args: list[int] = [
            v for lim, seconds in windows for v in (lim, int(seconds * 1000))
        ]
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._observe = client.register_script(_OBSERVE)
        self._pause = client.register_script(_PAUSE)

    def acquire(self, tokens: int = 1) -> None:
        while True:
            wait_ms = int(
                self._acquire(
                    keys=[self._pause_key, *self._window_keys],
                    args=[max(1, tokens), uuid.uuid4().hex, *self._windows_args],
                )
            )
            if wait_ms <= 0:
                return
            self._sleep(wait_ms / 1000)

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._pause(keys=[self._pause_key], args=[max(1, int(seconds * 1000))])

    def observe(self, remaining: int, reset_seconds: float) -> None:
        self._observe(
            keys=self._window_keys,
            args=[
                max(0, remaining),
                max(0, int(reset_seconds * 1000)),
                uuid.uuid4().hex,
                *self._windows_args,
            ],
        )


class LocalRequestBudget:
    """The same budget for one process only (tools and tests without Redis)."""

    def __init__(
        self,
        *,
        limit: int = PAGERDUTY_REQUESTS_PER_MINUTE,
        window_seconds: float = 60.0,
        extra_windows: Sequence[Window] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._windows = [(limit, window_seconds), *extra_windows]
        self._clock = clock
        self._sleep = sleep
        # Each window: the expiry times of the tokens it holds, sorted.
        self._held: list[list[float]] = [[] for _ in self._windows]
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _free(self, now: float) -> list[int]:
        """Drop expired tokens; the room left in each window."""
        self._held = [[t for t in held if t > now] for held in self._held]
        return [
            limit - len(held) for (limit, _), held in zip(self._windows, self._held, strict=True)
        ]

    def _take(self, tokens: list[int], expiries: list[float]) -> None:
        for n, held in enumerate(self._held):
            held.extend([expiries[n]] * tokens[n])
            held.sort()

    def _wait_needed(self, tokens: int) -> float:
        now = self._clock()
        if self._paused_until > now:
            return self._paused_until - now
        needs = [min(tokens, limit) for limit, _ in self._windows]
        wait = 0.0
        for free, need, held in zip(self._free(now), needs, self._held, strict=True):
            if need > free:
                wait = max(wait, held[need - free - 1] - now)
        if wait > 0:
            return wait
        self._take(needs, [now + seconds for _, seconds in self._windows])
        return 0.0

    def acquire(self, tokens: int = 1) -> None:
        while True:
            with self._lock:
                wait = self._wait_needed(max(1, tokens))
            if wait <= 0:
                return
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, remaining: int, reset_seconds: float) -> None:
        with self._lock:
            now = self._clock()
            taken = min(min(self._free(now)) - max(0, remaining), 10_000)
            if taken > 0:
                self._take([taken] * len(self._held), [now + reset_seconds] * len(self._held))
