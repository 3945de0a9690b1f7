"""GraphQL at /graphql: `queryV1` for the J1QL shapes pdgraph sends, and the mutations
`createRelationship`, `deleteRelationship`, `deleteEntityV2` (aliased in one document).

JupiterOne does not document which subgraph a GraphQL-created relationship joins; the
simulator models both readings (`reading`): "scoped" files it in its from-entity's scope
(a DIFF of that scope owns it), "unscoped" in no scope (a DIFF neither owns nor deletes
it, and a DIFF upload of the same `_key` makes a second edge). A relationship lookup
(`FIND * WITH _scope = S THAT RELATES TO AS r * ...`) filters the *entities* by scope, so
it returns every copy of a `_key` joined to an entity of S, whatever scope the edge is in
(a cross-scope edge of `S-edges-3` between two entities of S included), never an edge
with an end missing (kept by `foreign_end_deleted="keeps"`, sim/jupiterone/persister.py);
`RETURN r._id, r._key` or `RETURN r._id, r._key, r._scope` (null: the edge has none).
`deleteEntityV2` deletes edges naming the entity as a DIFF deleting it would.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from sim._http import json_response
from sim.jupiterone.store import (
    UNSCOPED,
    Scope,
    as_stored,
    drop_dangling,
    entity_ids,
    public,
)
from sim.jupiterone.validation import BadData, validate_relationship

PAGE_ROWS = 250  # J1QL rows per queryV1 page (then a cursor)
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")
_KEYS_LOOKUP = re.compile(
    r"^FIND \* WITH _scope = ('(?:[^'\\]|\\.)*')(?: AND _key = \((.*)\))?(?: LIMIT (\d+))?$",
    re.S,
)
_RELATIONSHIP_LOOKUP = re.compile(
    r"^FIND \* WITH _scope = ('(?:[^'\\]|\\.)*') THAT RELATES TO AS r \* "
    r"WHERE r\._key = \((.*)\) RETURN r\._id, r\._key(, r\._scope)?$",
    re.S,
)
_FIELD = re.compile(r"(\w+)\s*:\s*(\w+)\s*\(([^)]*)\)")
_ARG = re.compile(r"(\w+)\s*:\s*\$(\w+)")


def _strings(text: str) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", s) for s in _STRING.findall(text)]


def answer(
    scopes: dict[str, Scope],
    payload: dict[str, Any],
    reading: str = "scoped",
    foreign_end_deleted: str = "deletes",
) -> Response:
    """One GraphQL request against the account's scopes (`reading`: see the module;
    `foreign_end_deleted`: sim/jupiterone/persister.py)."""
    query = str(payload.get("query") or "")
    variables = payload.get("variables") or {}
    if "queryV1" in query:
        try:
            data = _query_v1(scopes, str(variables.get("query", "")), variables.get("cursor"))
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
            data[alias] = _mutation(scopes, op, args, reading, foreign_end_deleted)
        except BadData as exc:
            data[alias] = None
            errors.append({"message": str(exc), "path": [alias]})
    return json_response({"data": data, **({"errors": errors} if errors else {})})


def _mutation(
    scopes: dict[str, Scope],
    op: str,
    args: dict[str, Any],
    reading: str,
    foreign_end_deleted: str,
) -> dict[str, Any]:
    if op == "deleteEntityV2":
        scope_name, key = _entity_by_id(scopes, str(args.get("entityId")))
        entity = scopes[scope_name].entities.pop(key)
        drop_dangling(scopes, foreign_end_deleted)
        return {"entity": public(entity)}
    if op == "createRelationship":
        from_scope, from_key = _entity_by_id(scopes, str(args.get("fromEntityId")))
        _, to_key = _entity_by_id(scopes, str(args.get("toEntityId")))
        filed = from_scope if reading == "scoped" else UNSCOPED
        held = scopes.setdefault(filed, Scope())
        key = str(args.get("relationshipKey"))
        if key in held.relationships:
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
        stored = as_stored(obj, filed or None, "relationship")
        stored["_fromEntityId"] = args["fromEntityId"]
        stored["_toEntityId"] = args["toEntityId"]
        held.relationships[key] = stored
        return {"relationship": {"_id": stored["_id"], "_key": key}}
    if op == "deleteRelationship":
        rel_id = str(args.get("relationshipId"))
        for scope in scopes.values():
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


def _entity_by_id(scopes: dict[str, Scope], entity_id: str) -> tuple[str, str]:
    """(scope name, `_key`) of the entity with this `_id`."""
    for name, scope in scopes.items():
        for key, entity in scope.entities.items():
            if entity["_id"] == entity_id:
                return name, key
    raise BadData(f"entity {entity_id} not found")


def _relationship_rows(scopes: dict[str, Scope], match: re.Match[str]) -> list[dict[str, Any]]:
    """Every edge with a wanted `_key`, of any scope, joined to an entity of the scope
    named and with both ends present (a traversal never reaches a missing entity)."""
    scope = scopes.get(_strings(match.group(1))[0], Scope())
    ids = {e["_id"] for e in scope.entities.values()}
    present = entity_ids(scopes)
    wanted = set(_strings(match.group(2)))
    rows = []
    for name, held in scopes.items():
        for r in held.relationships.values():
            ends = {r["_fromEntityId"], r["_toEntityId"]}
            if r["_key"] in wanted and ids & ends and ends <= present:
                row = {"r._id": r["_id"], "r._key": r["_key"]}
                if match.group(3):
                    row["r._scope"] = name or None
                rows.append(row)
    return rows


def _query_v1(scopes: dict[str, Scope], j1ql: str, cursor: str | None) -> dict[str, Any]:
    j1ql = " ".join(j1ql.split())
    rows: list[dict[str, Any]]
    if match := _KEYS_LOOKUP.match(j1ql):
        scope = scopes.get(_strings(match.group(1))[0], Scope())
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
        rows = _relationship_rows(scopes, match)
    else:
        raise BadData(f"J1QL not supported by the simulator: {j1ql[:120]}")
    start = int(cursor or 0)
    page = rows[start : start + PAGE_ROWS]
    more = start + PAGE_ROWS < len(rows)
    return {"type": "list", "data": page, "cursor": str(start + PAGE_ROWS) if more else None}
