"""What the simulated account holds: scopes of stored objects, and sync jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

STATUS_AFTER_FINALIZE = "FINALIZE_PENDING"
UNSCOPED = ""  # where `--graphql-relationships unscoped` files GraphQL-created relationships
READINGS = ("scoped", "unscoped")  # what createRelationship does with its relationship


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


def as_stored(obj: dict[str, Any], previous: dict[str, Any] | None, scope: str | None) -> dict:
    """The object as held: JupiterOne keeps an entity's `_id` across updates of its key."""
    stored = dict(obj)
    stored["_id"] = previous["_id"] if previous else uuid.uuid4().hex
    if scope is not None:
        stored["_scope"] = scope
    return stored


def public(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in obj.items() if k not in ("_id", "_scope", "_fromEntityId", "_toEntityId")
    }


def drop_dangling(scopes: dict[str, Scope]) -> None:
    """Remove relationships (of any scope) whose ends are gone: no edge outlives its ends."""
    ids = {e["_id"] for scope in scopes.values() for e in scope.entities.values()}
    for scope in scopes.values():
        for key in [
            k
            for k, r in scope.relationships.items()
            if r["_fromEntityId"] not in ids or r["_toEntityId"] not in ids
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
