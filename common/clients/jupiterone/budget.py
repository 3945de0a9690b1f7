"""JupiterOne's rate limits on pdgraph's side: the budgets a client draws from, and what
a GraphQL request costs (docs/jupiterone-rate-limits.md).

docs.jupiterone.io/api/rate-limiting: GraphQL tokens, 2,000 per 2 minutes per account and
1,000 per minute per client, one per query or mutation (an aliased request of N mutations
costs N); J1QL queries about 120 per 120 s. The sync-job (persister) API has no published
limit: only a 429's pause is shared for it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from common.clients.ratelimit import LocalRequestBudget, RedisRequestBudget, TokenBudget, Window
from common.state import keys


@dataclass(frozen=True)
class JupiterOneLimits:
    """docs.jupiterone.io/api/rate-limiting: GraphQL tokens per account (2,000 per 2 min)
    and per client (1,000 per min); J1QL queries (about 120 per 120 s)."""

    graphql: tuple[Window, ...] = ((2000, 120.0), (1000, 60.0))
    j1ql: Window = (120, 120.0)


@dataclass(frozen=True)
class JupiterOneBudgets:
    """What a JupiterOne client draws from: GraphQL tokens, J1QL queries, and the sync-job
    API's (no published limit: only a 429's pause)."""

    graphql: TokenBudget
    j1ql: TokenBudget
    persister: TokenBudget
    observes: bool = True  # RateLimit-Remaining adjusts `graphql` (its limits are JupiterOne's)

    @classmethod
    def shared(
        cls,
        connection: redis.Redis,
        account_id: str,
        limits: JupiterOneLimits = JupiterOneLimits(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> JupiterOneBudgets:
        """The account's budgets in Redis, shared by every process writing to it."""
        (limit, seconds), *more = limits.graphql

        def budget(
            api: str, limit: int, seconds: float, more: Sequence[Window] = ()
        ) -> RedisRequestBudget:
            name = keys.jupiterone_budget(account_id, api)
            return RedisRequestBudget(
                connection,
                name,
                limit=limit,
                window_seconds=seconds,
                extra_windows=more,
                sleep=sleep,
            )

        return cls(
            graphql=budget("graphql", limit, seconds, more),
            j1ql=budget("j1ql", *limits.j1ql),
            persister=budget("persister", 1_000_000, 60.0),
        )

    @classmethod
    def local(
        cls,
        limits: JupiterOneLimits = JupiterOneLimits(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> JupiterOneBudgets:
        """The same budgets for one process (tools and tests without Redis)."""
        (limit, seconds), *more = limits.graphql
        j1ql_limit, j1ql_seconds = limits.j1ql
        return cls(
            graphql=LocalRequestBudget(
                limit=limit, window_seconds=seconds, extra_windows=more, sleep=sleep
            ),
            j1ql=LocalRequestBudget(limit=j1ql_limit, window_seconds=j1ql_seconds, sleep=sleep),
            persister=LocalRequestBudget(limit=1_000_000, sleep=sleep),
        )

    @classmethod
    def single(cls, budget: TokenBudget) -> JupiterOneBudgets:
        """One budget for everything (its tokens still counted per GraphQL field)."""
        return cls(graphql=budget, j1ql=_Untracked(), persister=budget, observes=False)


class _Untracked:
    """No limit and no pause: the J1QL part of `JupiterOneBudgets.single`."""

    def acquire(self, tokens: int = 1) -> None:
        return None

    def pause(self, seconds: float) -> None:
        return None

    def observe(self, remaining: int, reset_seconds: float) -> None:
        return None


class Charge(threading.local):
    """What the request this thread is sending costs (set before each `send`)."""

    api = "persister"
    tokens = 1
    j1ql = 0


class ChargedBudget:
    """The budget `RetryingClient.send` sees: it takes the current request's charge."""

    def __init__(self, budgets: JupiterOneBudgets, charge: Charge) -> None:
        self.budgets = budgets
        self.charge = charge

    def acquire(self) -> None:
        if self.charge.api != "graphql":
            self.budgets.persister.acquire()
            return
        if self.charge.j1ql:
            self.budgets.j1ql.acquire(self.charge.j1ql)
        self.budgets.graphql.acquire(self.charge.tokens)

    def pause(self, seconds: float) -> None:
        if self.charge.api == "graphql":
            self.budgets.graphql.pause(seconds)
            if self.charge.j1ql:  # a J1QL query's 429 may be the J1QL limit's
                self.budgets.j1ql.pause(seconds)
        else:
            self.budgets.persister.pause(seconds)


_GRAPHQL_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|#[^\n]*|[A-Za-z_]\w*|[{}():]')


def operation_fields(document: str) -> list[str]:
    """The top-level field names of a GraphQL document's first operation (aliases left
    out): what JupiterOne charges a token each for."""
    words = [t for t in _GRAPHQL_TOKEN.findall(document) if t[0] not in '#"']
    fields: list[str] = []
    depth = parens = 0
    for n, word in enumerate(words):
        if word == "{":
            depth += 1
        elif word == "}":
            depth -= 1
            if depth == 0:
                break
        elif word in "()":
            parens += 1 if word == "(" else -1
        elif depth == 1 and parens == 0 and word != ":":
            if n + 1 < len(words) and words[n + 1] == ":":
                continue  # an alias
            fields.append(word)
    return fields


def graphql_charge(body: bytes | None) -> tuple[int, int]:
    """(GraphQL tokens, J1QL queries) a GraphQL request body costs: a token per top-level
    field (at least one), a J1QL query per `queryV1` field."""
    try:
        query = json.loads(body or b"{}").get("query") or ""
    except (ValueError, AttributeError):
        return 1, 0
    fields = operation_fields(str(query))
    return max(1, len(fields)), fields.count("queryV1")


def first_number(value: str | None) -> float | None:
    """The first number of a header (RateLimit-Limit reads "1000, 1000; window=60, ...")."""
    match = re.search(r"\d+(?:\.\d+)?", value or "")
    return float(match.group()) if match else None
