"""A JupiterOne simulator: sync jobs (DIFF/PATCH), GraphQL key lookups and mutations.

Implements what pdgraph uses, with the rules of shared/reference/jupiterone.md: Bearer +
`JupiterOne-Account` auth, 413 over the body limit, the validation rules (flat property
types, `_key` ≥ 10, no custom `_` properties, TitleCase / UPPER classes), PATCH refusing
relationships, DIFF deleting whatever the upload left out of the scope, job polling,
`queryV1` for the J1QL shapes pdgraph sends, `createRelationship`, `deleteRelationship`,
`deleteEntityV2` (aliased in one document), 429 with `RateLimit-*` headers, injectable
faults (sim._http) and `graph(scope)` for tests. `GET /_sim/graph?scope=` shows a scope.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from common.graph import Graph
from sim._http import SimServer, json_response, serve_until_interrupted

MAX_BODY = 5_000_000
PAGE_ROWS = 250  # J1QL rows per queryV1 page (then a cursor)
_SYSTEM = {"_key", "_type", "_class", "_fromEntityKey", "_toEntityKey", "_rawData"}
_ENTITY_CLASS = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_RELATIONSHIP_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")
_KEYS_LOOKUP = re.compile(
    r"^FIND \* WITH _scope = ('(?:[^'\\]|\\.)*')(?: AND _key = \((.*)\))?(?: LIMIT (\d+))?$",
    re.S,
)
_RELATIONSHIP_LOOKUP = re.compile(
    r"^FIND \* WITH _scope = ('(?:[^'\\]|\\.)*') THAT RELATES TO AS r \* "
    r"WHERE r\._key = \((.*)\) RETURN r\._id, r\._key$",
    re.S,
)
_FIELD = re.compile(r"(\w+)\s*:\s*(\w+)\s*\(([^)]*)\)")
_ARG = re.compile(r"(\w+)\s*:\s*\$(\w+)")
_STATUS_AFTER_FINALIZE = "FINALIZE_PENDING"


def _strings(text: str) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", s) for s in _STRING.findall(text)]


@dataclass
class Job:
    id: str
    scope: str
    mode: str
    status: str = "AWAITING_UPLOADS"
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)
    finish_at: float = 0.0
    error: str | None = None
    uploads: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": "api",
            "scope": self.scope,
            "syncMode": self.mode,
            "status": self.status,
            "numEntitiesUploaded": len(self.entities),
            "numRelationshipsUploaded": len(self.relationships),
            "error": self.error,
        }


@dataclass
class Scope:
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)  # _key → stored object
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)


class BadData(Exception):
    pass


def _check_properties(obj: dict[str, Any], what: str) -> None:
    key = obj.get("_key")
    if not isinstance(key, str) or len(key) < 10:
        raise BadData(f"{what} _key must be a string of at least 10 characters: {key!r}")
    if not isinstance(obj.get("_type"), str):
        raise BadData(f"{what} {key}: _type required")
    for name, value in obj.items():
        if name.startswith("_"):
            if name not in _SYSTEM:
                raise BadData(f"{what} {key}: custom property {name!r} must not start with '_'")
            continue
        if value is None or isinstance(value, str | bool | int | float):
            continue
        if isinstance(value, list) and len({type(v) for v in value}) <= 1:
            if all(isinstance(v, str | bool | int | float) for v in value):
                continue
        raise BadData(f"{what} {key}: property {name!r} is not a flat value")


def _validate(obj: Any, what: str, class_pattern: re.Pattern[str], class_rule: str) -> None:
    if not isinstance(obj, dict):
        raise BadData(f"{what} must be an object")
    _check_properties(obj, what)
    if not isinstance(obj.get("_class"), str) or not class_pattern.match(obj["_class"]):
        raise BadData(f"{what} {obj['_key']}: _class must be {class_rule}")


def validate_entity(obj: Any) -> None:
    _validate(obj, "entity", _ENTITY_CLASS, "TitleCase")


def validate_relationship(obj: Any) -> None:
    _validate(obj, "relationship", _RELATIONSHIP_CLASS, "UPPER_CASE")
    for end in ("_fromEntityKey", "_toEntityKey"):
        if not isinstance(obj.get(end), str):
            raise BadData(f"relationship {obj['_key']}: {end} required")


def _error(code: str, message: str, status: int) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


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
    ) -> None:
        super().__init__()
        self.account_id = account_id
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_body = max_body
        self.finalize_seconds = finalize_seconds
        self.scopes: dict[str, Scope] = {}
        self.jobs: dict[str, Job] = {}
        self.calls: Counter[str] = Counter()  # "POST jobs", "graphql queryV1", ...
        self.state_lock = threading.RLock()
        self._window: deque[float] = deque()

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
                    "entities": [_public(e) for e in held.entities.values()],
                    "relationships": [_public(r) for r in held.relationships.values()],
                }
            )

    def total_calls(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.requests.clear()

    # -- serving ----------------------------------------------------------------------------

    def fault_body(self, status: int) -> Any:
        return {"error": {"code": f"SIMULATED_{status}", "message": "Simulated fault"}}

    def handle(self, request: Request) -> Response:
        if request.path == "/_sim/graph":
            scope = request.args.get("scope", "pagerduty")
            return json_response(self.graph(scope).to_j1())
        label = self._label(request)
        with self.lock:
            self.calls[label] += 1
        faulted = self.log_and_fault(request, label)
        if faulted is not None:
            return faulted
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error("UNAUTHORIZED", "Unauthorized", 401)
        if request.headers.get("JupiterOne-Account") != self.account_id:
            return _error("FORBIDDEN", "API key not valid for this account", 403)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if request.content_length and request.content_length > self.max_body:
            return _error("PAYLOAD_TOO_LARGE", "Request entity too large", 413)
        body = request.get_data()
        if len(body) > self.max_body:
            return _error("PAYLOAD_TOO_LARGE", "Request entity too large", 413)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return _error("BAD_REQUEST", "body is not JSON", 400)
        with self.state_lock:
            if request.path == "/graphql":
                return self._graphql(payload)
            return self._persister(request.method, request.path, payload)

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
        response = _error("RATE_LIMITED", "Too many requests", 429)
        response.headers.update(
            {
                "RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
            }
        )
        return response

    # -- persister ------------------------------------------------------------------------

    def _persister(self, method: str, path: str, payload: dict[str, Any]) -> Response:
        prefix = "/persister/synchronization/jobs"
        if not path.startswith(prefix):
            return _error("NOT_FOUND", f"no route {path}", 404)
        parts = path[len(prefix) :].strip("/").split("/")
        if parts == [""]:
            if method != "POST":
                return _error("METHOD_NOT_ALLOWED", "POST only", 405)
            mode, scope = payload.get("syncMode"), payload.get("scope")
            if mode not in ("DIFF", "PATCH") or not isinstance(scope, str) or not scope:
                return _error("BAD_REQUEST", "syncMode DIFF|PATCH and a scope required", 400)
            job = Job(uuid.uuid4().hex, scope, mode)
            self.jobs[job.id] = job
            return json_response({"job": job.as_json()})
        job = self.jobs.get(parts[0])
        if job is None:
            return _error("NOT_FOUND", f"no sync job {parts[0]}", 404)
        action = parts[1] if len(parts) > 1 else ""
        if method == "GET" and not action:
            self._advance(job)
            return json_response({"job": job.as_json()})
        if method != "POST":
            return _error("METHOD_NOT_ALLOWED", "POST only", 405)
        if action == "abort":
            if job.status not in ("FINISHED", "ABORTED"):
                job.status, job.error = "ABORTED", str(payload.get("reason") or "")
            return json_response({"job": job.as_json()})
        if job.status != "AWAITING_UPLOADS":
            return _error("JOB_NOT_AWAITING_UPLOADS", f"job is {job.status}", 400)
        if action == "finalize":
            job.status = _STATUS_AFTER_FINALIZE
            job.finish_at = time.monotonic() + self.finalize_seconds
            return json_response({"job": job.as_json()})
        if action in ("entities", "relationships", "upload"):
            return self._upload(job, action, payload)
        return _error("NOT_FOUND", f"no route {path}", 404)

    def _upload(self, job: Job, action: str, payload: dict[str, Any]) -> Response:
        entities = payload.get("entities") or [] if action != "relationships" else []
        relationships = payload.get("relationships") or [] if action != "entities" else []
        if job.mode == "PATCH" and relationships:
            return _error("BAD_REQUEST", "PATCH sync jobs do not accept relationships", 400)
        try:
            for e in entities:
                validate_entity(e)
            for r in relationships:
                validate_relationship(r)
        except BadData as exc:
            return _error("BAD_DATA", str(exc), 400)
        job.entities.update({e["_key"]: e for e in entities})
        job.relationships.update({r["_key"]: r for r in relationships})
        job.uploads += 1
        return json_response({"job": job.as_json()})

    def _advance(self, job: Job) -> None:
        if job.status != _STATUS_AFTER_FINALIZE or time.monotonic() < job.finish_at:
            return
        scope = self.scopes.setdefault(job.scope, Scope())
        if job.mode == "PATCH":
            for key, obj in job.entities.items():
                scope.entities[key] = _stored(obj, scope.entities.get(key), job.scope)
            job.status = "FINISHED"
            return
        missing = [
            r["_key"]
            for r in job.relationships.values()
            if r["_fromEntityKey"] not in job.entities or r["_toEntityKey"] not in job.entities
        ]
        if missing:
            job.status, job.error = "ERROR_BAD_DATA", f"unknown entity keys in {missing[:3]}"
            return
        entities = {
            key: _stored(obj, scope.entities.get(key), job.scope)
            for key, obj in job.entities.items()
        }
        relationships = {}
        for key, obj in job.relationships.items():
            stored = _stored(obj, scope.relationships.get(key), job.scope)
            stored["_fromEntityId"] = entities[obj["_fromEntityKey"]]["_id"]
            stored["_toEntityId"] = entities[obj["_toEntityKey"]]["_id"]
            relationships[key] = stored
        scope.entities, scope.relationships = entities, relationships
        job.status = "FINISHED"

    # -- GraphQL ----------------------------------------------------------------------------

    def _graphql(self, payload: dict[str, Any]) -> Response:
        query = str(payload.get("query") or "")
        variables = payload.get("variables") or {}
        if "queryV1" in query:
            try:
                data = self._query_v1(str(variables.get("query", "")), variables.get("cursor"))
            except BadData as exc:
                return json_response({"data": None, "errors": [{"message": str(exc)}]})
            return json_response({"data": {"queryV1": data}})
        if not query.lstrip().startswith("mutation"):
            return json_response({"data": None, "errors": [{"message": "unsupported operation"}]})
        data: dict[str, Any] = {}
        errors = []
        for alias, op, arg_text in _FIELD.findall(query):
            args = {name: variables.get(var) for name, var in _ARG.findall(arg_text)}
            try:
                data[alias] = self._mutation(op, args)
            except BadData as exc:
                data[alias] = None
                errors.append({"message": str(exc), "path": [alias]})
        return json_response({"data": data, **({"errors": errors} if errors else {})})

    def _mutation(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if op == "deleteEntityV2":
            scope, key = self._entity_by_id(str(args.get("entityId")))
            entity = scope.entities.pop(key)
            for rel_key in [
                k
                for k, r in scope.relationships.items()
                if entity["_id"] in (r["_fromEntityId"], r["_toEntityId"])
            ]:
                del scope.relationships[rel_key]
            return {"entity": _public(entity)}
        if op == "createRelationship":
            from_scope, from_key = self._entity_by_id(str(args.get("fromEntityId")))
            _, to_key = self._entity_by_id(str(args.get("toEntityId")))
            key = str(args.get("relationshipKey"))
            if key in from_scope.relationships:
                raise BadData(f"relationship {key} already exists")
            obj = {
                **(args.get("properties") or {}),
                "_key": key,
                "_type": args.get("relationshipType"),
                "_class": args.get("relationshipClass"),
                "_fromEntityKey": from_key,
                "_toEntityKey": to_key,
            }
            validate_relationship(obj)
            stored = _stored(obj, None, None)
            stored["_fromEntityId"] = args["fromEntityId"]
            stored["_toEntityId"] = args["toEntityId"]
            from_scope.relationships[key] = stored
            return {"relationship": {"_id": stored["_id"], "_key": key}}
        if op == "deleteRelationship":
            rel_id = str(args.get("relationshipId"))
            for scope in self.scopes.values():
                for key, rel in scope.relationships.items():
                    if rel["_id"] == rel_id:
                        if (rel["_fromEntityId"], rel["_toEntityId"]) != (
                            args.get("fromEntityId"),
                            args.get("toEntityId"),
                        ):
                            raise BadData(f"relationship {rel_id} does not join those entities")
                        del scope.relationships[key]
                        return {"relationship": {"_id": rel_id, "_key": key}}
            raise BadData(f"relationship {rel_id} not found")
        raise BadData(f"unsupported mutation {op}")

    def _entity_by_id(self, entity_id: str) -> tuple[Scope, str]:
        for scope in self.scopes.values():
            for key, entity in scope.entities.items():
                if entity["_id"] == entity_id:
                    return scope, key
        raise BadData(f"entity {entity_id} not found")

    def _query_v1(self, j1ql: str, cursor: str | None) -> dict[str, Any]:
        j1ql = " ".join(j1ql.split())
        rows: list[dict[str, Any]]
        if match := _KEYS_LOOKUP.match(j1ql):
            scope = self.scopes.get(_strings(match.group(1))[0], Scope())
            keys = _strings(match.group(2)) if match.group(2) else list(scope.entities)
            rows = [
                {
                    "id": e["_id"],
                    "entity": {k: v for k, v in e.items() if k.startswith("_")},
                    "properties": {k: v for k, v in e.items() if not k.startswith("_")},
                }
                for k in keys
                if (e := scope.entities.get(k)) is not None
            ]
            if match.group(3):
                rows = rows[: int(match.group(3))]
        elif match := _RELATIONSHIP_LOOKUP.match(j1ql):
            scope = self.scopes.get(_strings(match.group(1))[0], Scope())
            rows = [
                {"r._id": r["_id"], "r._key": r["_key"]}
                for k in _strings(match.group(2))
                if (r := scope.relationships.get(k)) is not None
            ]
        else:
            raise BadData(f"J1QL not supported by the simulator: {j1ql[:120]}")
        start = int(cursor or 0)
        page = rows[start : start + PAGE_ROWS]
        more = start + PAGE_ROWS < len(rows)
        return {"type": "list", "data": page, "cursor": str(start + PAGE_ROWS) if more else None}


def _stored(obj: dict[str, Any], previous: dict[str, Any] | None, scope: str | None) -> dict:
    """The object as held: JupiterOne keeps an entity's `_id` across updates of its key."""
    stored = dict(obj)
    stored["_id"] = previous["_id"] if previous else uuid.uuid4().hex
    if scope is not None:
        stored["_scope"] = scope
    return stored


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in obj.items() if k not in ("_id", "_scope", "_fromEntityId", "_toEntityId")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--account-id", default="j1-sim-account")
    parser.add_argument("--api-key", default="j1-sim-key")
    parser.add_argument("--rate-limit", type=int, default=None)
    args = parser.parse_args()
    sim = JupiterOneSim(args.account_id, args.api_key, rate_limit=args.rate_limit)
    serve_until_interrupted(
        sim,
        args.port,
        "JupiterOne simulator at {url} (GraphQL {url}/graphql); "
        "graph at {url}/_sim/graph?scope=pagerduty",
    )


if __name__ == "__main__":
    main()
