"""What the simulated account holds: scopes of stored objects, and sync jobs.

An object's `_id` is derived from its scope and `_key` (UUIDv5, as JupiterOne does since
2025): the same `_key` in two scopes is two objects, and an entity deleted then written
again in its scope has its old `_id`, so a relationship naming it by (scope, key) joins it
again. A relationship's ends are held as entity `_id`s (`_fromEntityId`/`_toEntityId`);
one a sync job named by scope and key also holds that pair (`_fromScopeKey`/`_toScopeKey`,
internal like the ids: `public()` strips them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

STATUS_AFTER_FINALIZE = "FINALIZE_PENDING"
UNSCOPED = ""  # where `--graphql-relationships unscoped` files GraphQL-created relationships
READINGS = ("scoped", "unscoped")  # what createRelationship does with its relationship
# The readings of what JupiterOne leaves undocumented about relationships across scopes
# (sim/jupiterone/persister.py); the first of each is the simulator's default.
FOREIGN_ENDPOINTS = ("accepted", "rejected")  # a DIFF relationship with both ends elsewhere
PARTITION_DIFF = ("deletes", "keeps")  # a DIFF leaving out such a relationship of its scope
FOREIGN_END_DELETED = ("deletes", "keeps")  # an entity gone: other scopes' edges naming it
_INTERNAL = ("_id", "_scope", "_fromEntityId", "_toEntityId", "_fromScopeKey", "_toScopeKey")
_ID_NAMESPACE = uuid.UUID("6f1c1c9e-5b8a-4d5e-9a55-7a1f0d3c2b10")


@dataclass(frozen=True)
class CrossScopeReadings:
    """Which reading of each undocumented cross-scope behaviour the account follows."""

    foreign_endpoints: str = FOREIGN_ENDPOINTS[0]
    partition_diff: str = PARTITION_DIFF[0]
    foreign_end_deleted: str = FOREIGN_END_DELETED[0]

    def __post_init__(self) -> None:
        for name, allowed in (
            ("foreign_endpoints", FOREIGN_ENDPOINTS),
            ("partition_diff", PARTITION_DIFF),
            ("foreign_end_deleted", FOREIGN_END_DELETED),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}")


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


def object_id(kind: str, scope: str | None, key: str) -> str:
    """The `_id` of the `kind` ("entity" or "relationship") with this `_key` in `scope`
    (None: in none): the same on every write, so updates and re-creations keep it. The
    kind is part of it so that an entity and a relationship sharing a `_key` stay apart."""
    return uuid.uuid5(_ID_NAMESPACE, f"{kind}\x1f{scope or ''}\x1f{key}").hex


def as_stored(obj: dict[str, Any], scope: str | None, kind: str) -> dict[str, Any]:
    """The object as held: with its derived `_id` and, when it has one, its `_scope`."""
    stored = dict(obj)
    stored["_id"] = object_id(kind, scope, obj["_key"])
    if scope is not None:
        stored["_scope"] = scope
    return stored


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as uploaded: the simulator's internal fields left out."""
    return {k: v for k, v in obj.items() if k not in _INTERNAL}


def named_elsewhere(relationship: dict[str, Any], end: str, scope: str) -> bool:
    """Whether the relationship's `end` ("from"/"to") was named by a scope other than
    `scope` (the relationship's own): an endpoint another scope owns."""
    named = relationship.get(f"_{end}ScopeKey")
    return named is not None and named[0] != scope


def entity_ids(scopes: dict[str, Scope]) -> set[str]:
    return {e["_id"] for scope in scopes.values() for e in scope.entities.values()}


def drop_dangling(scopes: dict[str, Scope], foreign_end_deleted: str = "deletes") -> None:
    """Remove relationships (of any scope) whose ends are gone: no edge outlives its ends.
    With `foreign_end_deleted="keeps"`, an end another scope owns may be gone: the edge
    stays, pointing at (scope, key), and joins the entity again when it is written again."""
    ids = entity_ids(scopes)
    for name, scope in scopes.items():
        for key in [
            k
            for k, r in scope.relationships.items()
            if any(
                r[f"_{end}EntityId"] not in ids
                and not (foreign_end_deleted == "keeps" and named_elsewhere(r, end, name))
                for end in ("from", "to")
            )
        ]:
            del scope.relationships[key]


def account_objects(scopes: dict[str, Scope]) -> dict[str, list[dict[str, Any]]]:
    """Every object of every scope (GraphQL-created ones filed in no scope too), each with
    its `_scope` (null: none): what a test checks for duplicate `_key`s and stale edges."""
    entities: list[dict[str, Any]] = []
    relationships: list[dict[str, Any]] = []
    for name in sorted(scopes):
        scope = scopes[name]
        entities.extend({**public(e), "_scope": name or None} for e in scope.entities.values())
        relationships.extend(
            {**public(r), "_scope": name or None} for r in scope.relationships.values()
        )
    return {"entities": entities, "relationships": relationships}
