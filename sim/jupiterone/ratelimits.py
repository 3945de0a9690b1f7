"""JupiterOne's documented GraphQL rate limits, as the simulator enforces them.

docs.jupiterone.io/api/rate-limiting: tokens per account (2,000 per 2 minutes) and per
client (1,000 per minute), replenished at a steady rate; every query or mutation costs
one, an aliased request of N mutations N; J1QL queries about 120 per 120 s. Token buckets
here: full at the start, refilled continuously. A request is charged in every bucket that
applies, all or nothing: short of tokens in any, it is answered 429 and charged nothing.

Headers, as the docs describe them: `RateLimit-Limit` the quota of the most limited bucket,
then each bucket's quota and window ("1000, 2000; window=120, 1000; window=60");
`RateLimit-Remaining` the fewest tokens left; `RateLimit-Reset` seconds until every bucket
is full again; `RateLimit-Requested` the tokens the request counted, served or not. Every
GraphQL answer carries them (the GraphQL buckets'); a 429 of the J1QL limit carries the
J1QL bucket's. What the docs leave open, assumed here: a request of more tokens than a
bucket holds is served when that bucket is full (it takes all of it); "client" is the API
key (one per simulator, so both GraphQL buckets apply to every request); the sync-job API
is not counted (the docs cover GraphQL only).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Window = tuple[int, float]  # (tokens, seconds)

DOCUMENTED_GRAPHQL: tuple[Window, ...] = ((2000, 120.0), (1000, 60.0))
DOCUMENTED_J1QL: Window = (120, 120.0)

_ALIASED_FIELD = re.compile(r"(\w+)\s*:\s*(\w+)\s*\(")


def graphql_cost(query: str) -> tuple[int, int]:
    """(tokens, J1QL queries) of one GraphQL document, counted the simulator's way: a
    `queryV1` field each, else an `alias: mutation(` field each, at least one."""
    j1ql = len(re.findall(r"\bqueryV1\s*\(", query))
    if j1ql:
        return j1ql, j1ql
    body = query[query.find("{") + 1 :] if "{" in query else query
    return max(1, len(_ALIASED_FIELD.findall(body))), 0


@dataclass
class Bucket:
    capacity: int
    seconds: float
    level: float = field(init=False)
    stamp: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.level = float(self.capacity)

    def refill(self, now: float) -> None:
        rate = self.capacity / self.seconds
        self.level = min(float(self.capacity), self.level + (now - self.stamp) * rate)
        self.stamp = now

    def need(self, tokens: int) -> int:
        return min(tokens, self.capacity)

    def time_to_full(self) -> float:
        return (self.capacity - self.level) * self.seconds / self.capacity


def _headers(buckets: Sequence[Bucket], requested: int, *, limited: bool) -> dict[str, str]:
    tightest = min(buckets, key=lambda b: b.level)
    reset = max(b.time_to_full() for b in buckets)
    quotas = ", ".join(f"{b.capacity}; window={b.seconds:g}" for b in buckets)
    return {
        "RateLimit-Limit": f"{tightest.capacity}, {quotas}",
        "RateLimit-Remaining": "0" if limited else str(max(0, math.floor(tightest.level))),
        "RateLimit-Reset": str(max(1 if limited else 0, math.ceil(reset))),
        "RateLimit-Requested": str(requested),
    }


class GraphQLLimits:
    """The account's buckets: `graphql` windows (None: unlimited) and the J1QL one."""

    def __init__(
        self,
        graphql: Sequence[Window] | None = DOCUMENTED_GRAPHQL,
        j1ql: Window | None = DOCUMENTED_J1QL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        now = clock()
        self.graphql = [Bucket(c, s) for c, s in graphql or ()]
        self.j1ql = [Bucket(*j1ql)] if j1ql else []
        for bucket in [*self.graphql, *self.j1ql]:
            bucket.stamp = now
        self._clock = clock
        self._lock = threading.Lock()

    def charge(self, query: str) -> tuple[str | None, dict[str, str], int, int]:
        """Charge one request: (the limit that refused it, "graphql" or "j1ql", None when
        served; its headers; its tokens; its J1QL queries)."""
        tokens, j1ql = graphql_cost(query)
        with self._lock:
            now = self._clock()
            for bucket in [*self.graphql, *self.j1ql]:
                bucket.refill(now)
            if j1ql and any(b.level < b.need(j1ql) for b in self.j1ql):
                return "j1ql", _headers(self.j1ql, tokens, limited=True), tokens, j1ql
            if any(b.level < b.need(tokens) for b in self.graphql):
                return "graphql", _headers(self.graphql, tokens, limited=True), tokens, j1ql
            for bucket in self.graphql:
                bucket.level -= bucket.need(tokens)
            for bucket in self.j1ql if j1ql else []:
                bucket.level -= bucket.need(j1ql)
            headers = _headers(self.graphql, tokens, limited=False) if self.graphql else {}
            return None, headers, tokens, j1ql
