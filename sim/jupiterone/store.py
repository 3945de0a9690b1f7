"""What the simulated account holds: scopes of stored objects, and sync jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

STATUS_AFTER_FINALIZE = "FINALIZE_PENDING"


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
