"""The HTTP face of a simulated JupiterOne account: Bearer + `JupiterOne-Account` auth,
413 over the body limit, 429 with `RateLimit-*` headers, then the persister API or GraphQL.

GraphQL is rate limited as JupiterOne documents it (sim/jupiterone/ratelimits.py: tokens
per account and per client, aliased mutations counted, the J1QL query limit), with the
`RateLimit-*` headers on every GraphQL answer; `graphql_limits` / `j1ql_limit` set the
buckets (small windows for tests, None for none). `rate_limit` is a plain limit on every
request, persister included.

`foreign_endpoints`, `partition_diff` and `foreign_end_deleted` pick the readings of what
JupiterOne leaves undocumented about relationships across scopes (the first value of
FOREIGN_ENDPOINTS, PARTITION_DIFF, FOREIGN_END_DELETED is the default; the readings are
described in sim/jupiterone/persister.py). `graph(scope)` lists a scope's relationships
even when their ends are another scope's entities (an edge partition)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

from werkzeug.wrappers import Request, Response

from common.graph import Graph
from sim._http import SimServer, json_response
from sim.jupiterone import graphql, persister
from sim.jupiterone.persister import error_response
from sim.jupiterone.ratelimits import DOCUMENTED_GRAPHQL, DOCUMENTED_J1QL, GraphQLLimits, Window
from sim.jupiterone.store import (
    FOREIGN_END_DELETED,
    FOREIGN_ENDPOINTS,
    PARTITION_DIFF,
    READINGS,
    CrossScopeReadings,
    Job,
    Scope,
    account_objects,
    public,
)

MAX_BODY = 5_000_000


class JupiterOneSim(SimServer):
    """The HTTP face of a JupiterOne account: the persister API and GraphQL at /graphql."""

    def __init__(
        self,
        account_id: str = "j1-sim-account",
        api_key: str = "j1-sim-key",
        *,
        rate_limit: int | None = None,  # requests per rate_window seconds; None = unlimited
        rate_window: float = 60.0,
        max_body: int = MAX_BODY,
        finalize_seconds: float = 0.0,  # how long a finalized job stays FINALIZE_PENDING
        graphql_relationships: str = "scoped",  # which scope createRelationship files into
        graphql_limits: Sequence[Window] | None = DOCUMENTED_GRAPHQL,  # token buckets
        j1ql_limit: Window | None = DOCUMENTED_J1QL,
        foreign_endpoints: str = FOREIGN_ENDPOINTS[0],  # a DIFF edge with both ends elsewhere
        partition_diff: str = PARTITION_DIFF[0],  # a DIFF leaving out such an edge of its scope
        foreign_end_deleted: str = FOREIGN_END_DELETED[0],  # other scopes' edges of a gone end
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body = max_body
        self.finalize_seconds = finalize_seconds
        if graphql_relationships not in READINGS:
            raise ValueError(f"graphql_relationships must be one of {READINGS}")
        self.graphql_relationships = graphql_relationships
        self.readings = CrossScopeReadings(foreign_endpoints, partition_diff, foreign_end_deleted)
        self.scopes: dict[str, Scope] = {}
        self.jobs: dict[str, Job] = {}
        self.calls: Counter[str] = Counter()  # "POST jobs", "graphql queryV1", ...
        self.state_lock = threading.RLock()
        self._window: deque[float] = deque()
        self.graphql_limits = GraphQLLimits(graphql_limits, j1ql_limit)
        self.charged: Counter[str] = Counter()  # tokens of served requests: graphql, j1ql
        self.refused: Counter[str] = Counter()  # 429s of the GraphQL limits: graphql, j1ql

    # -- what tests read ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def graph(self, scope: str = "pagerduty") -> Graph:
        """The scope's entities and relationships, as pdgraph's model (ids left out)."""
        with self.state_lock:
            held = self.scopes.get(scope, Scope())
            return Graph.from_j1(
                {
                    "entities": [public(e) for e in held.entities.values()],
                    "relationships": [public(r) for r in held.relationships.values()],
                }
            )

    def account(self) -> dict[str, list[dict[str, Any]]]:
        """Every entity and relationship of every scope (and of none), each with its
        `_scope`: duplicates of a `_key` show as two objects."""
        with self.state_lock:
            return account_objects(self.scopes)

    def total_calls(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.requests.clear()
            self.charged.clear()
            self.refused.clear()

    def set_graphql_limits(
        self, graphql: Sequence[Window] | None, j1ql: Window | None = None
    ) -> None:
        """New, full buckets (None: that limit off)."""
        self.graphql_limits = GraphQLLimits(graphql, j1ql)

    # -- serving ----------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        return {"error": {"code": f"SIMULATED_{status}", "message": "Simulated fault"}}

    def handle(self, request: Request) -> Response:
        if request.path == "/_sim/graph":
            scope = request.args.get("scope", "pagerduty")
            return json_response(self.graph(scope).to_j1())
        if request.path == "/_sim/account":
            return json_response(self.account())
        label = self._label(request)
        with self.lock:
            self.calls[label] += 1
        faulted = self.log_and_fault(request, label)
        if faulted is not None:
            return faulted
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error_response("UNAUTHORIZED", "Unauthorized", 401)
        if request.headers.get("JupiterOne-Account") != self.account_id:
            return error_response("FORBIDDEN", "API key not valid for this account", 403)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if request.content_length and request.content_length > self.max_body:
            return error_response("PAYLOAD_TOO_LARGE", "Request entity too large", 413)
        body = request.get_data()
        if len(body) > self.max_body:
            return error_response("PAYLOAD_TOO_LARGE", "Request entity too large", 413)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return error_response("BAD_REQUEST", "body is not JSON", 400)
        with self.state_lock:
            if request.path == "/graphql":
                return self._graphql(payload)
            return persister.route(
                self.jobs,
                self.scopes,
                request.method,
                request.path,
                payload,
                finalize_seconds=self.finalize_seconds,
                readings=self.readings,
            )

    def _graphql(self, payload: Any) -> Response:
        """Charge the request's tokens (429, charged nothing, when short), then answer it;
        the `RateLimit-*` headers either way."""
        query = str(payload.get("query") or "") if isinstance(payload, dict) else ""
        refused_by, headers, tokens, j1ql = self.graphql_limits.charge(query)
        if refused_by is None:
            with self.lock:
                self.charged.update({"graphql": tokens, "j1ql": j1ql})
            response = graphql.answer(
                self.scopes,
                payload,
                self.graphql_relationships,
                self.readings.foreign_end_deleted,
            )
        else:
            with self.lock:
                self.refused[refused_by] += 1
            response = error_response("RATE_LIMITED", "Too many requests", 429)
        response.headers.update(headers)
        return response

    def _label(self, request: Request) -> str:
        if request.path == "/graphql":
            query = str((request.get_json(silent=True) or {}).get("query", ""))
            return "graphql queryV1" if "queryV1" in query else "graphql mutations"
        parts = request.path.rstrip("/").split("/")
        tail = parts[-1] if len(parts) > 5 else ("job" if len(parts) == 5 else "jobs")
        return f"{request.method} {tail}"

    def _rate_limited(self) -> Response | None:
        if not self.rate_limit:
            return None
        now = time.monotonic()
        with self.lock:
            while self._window and self._window[0] <= now - self.rate_window:
                self._window.popleft()
            if len(self._window) < self.rate_limit:
                self._window.append(now)
                return None
            reset = max(1, int(self._window[0] + self.rate_window - now + 0.999))
        response = error_response("RATE_LIMITED", "Too many requests", 429)
        response.headers.update(
            {
                "RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
            }
        )
        return response

    # -- persister ------------------------------------------------------------------------
