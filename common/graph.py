"""The graph model: JupiterOne entities and relationships, a graph, and the diff of two graphs.

JupiterOne's rules are enforced when an object is built, so an invalid object can never
reach a sink (docs.jupiterone.io, api/sync-jobs: `_key` ≥ 10 characters, flat property
types, no custom property starting with `_`, `_class` TitleCase / relationship UPPER).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | int | float | bool | None
PropertyValue = Scalar | list[str] | list[int] | list[float] | list[bool]

_ENTITY_CLASS = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_RELATIONSHIP_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


_KIND = {str: "string", int: "number", float: "number", bool: "boolean"}


def _check_properties(properties: Mapping[str, Any]) -> None:
    for name, value in properties.items():
        if name.startswith("_"):
            raise ValueError(f"custom property {name!r} must not start with '_'")
        if value is None or type(value) in _KIND:
            continue
        if type(value) is list:
            kinds = {_KIND.get(type(item)) for item in value}
            if None not in kinds and len(kinds) <= 1:
                continue
            raise ValueError(f"property {name!r} must be a homogeneous array of scalars")
        raise ValueError(f"property {name!r} must be a string, number, boolean or null")


class _GraphObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=10)
    type: str
    # Typed Any for pydantic: _check_properties below is the exact (and faster) check.
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _type_is_snake_case(cls, value: str) -> str:
        if not _TYPE.match(value):
            raise ValueError(f"_type {value!r} must be snake_case")
        return value

    @field_validator("properties", mode="before")
    @classmethod
    def _flat_properties(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            _check_properties(value)
        return value


class Entity(_GraphObject):
    class_: str

    @field_validator("class_")
    @classmethod
    def _class_is_title_case(cls, value: str) -> str:
        if not _ENTITY_CLASS.match(value):
            raise ValueError(f"entity _class {value!r} must be TitleCase")
        return value

    @model_validator(mode="after")
    def _has_names(self) -> Entity:
        for required in ("name", "displayName"):
            if not isinstance(self.properties.get(required), str):
                raise ValueError(f"entity {self.key} needs a string {required!r}")
        return self

    def to_j1(self) -> dict[str, Any]:
        return {"_key": self.key, "_type": self.type, "_class": self.class_, **self.properties}

    @classmethod
    def from_j1(cls, data: Mapping[str, Any]) -> Entity:
        properties = {k: v for k, v in data.items() if not k.startswith("_")}
        return cls(
            key=data["_key"], type=data["_type"], class_=data["_class"], properties=properties
        )


class Relationship(_GraphObject):
    class_: str
    from_key: str = Field(min_length=10)
    to_key: str = Field(min_length=10)

    @field_validator("class_")
    @classmethod
    def _class_is_upper(cls, value: str) -> str:
        if not _RELATIONSHIP_CLASS.match(value):
            raise ValueError(f"relationship _class {value!r} must be UPPER_CASE")
        return value

    @classmethod
    def between(
        cls,
        type_: str,
        class_: str,
        from_key: str,
        to_key: str,
        properties: dict[str, PropertyValue] | None = None,
    ) -> Relationship:
        """The SPEC §5 key: `<fromKey>|<class lower>|<toKey>`."""
        return cls(
            key=f"{from_key}|{class_.lower()}|{to_key}",
            type=type_,
            class_=class_,
            from_key=from_key,
            to_key=to_key,
            properties=properties or {},
        )

    def to_j1(self) -> dict[str, Any]:
        return {
            "_key": self.key,
            "_type": self.type,
            "_class": self.class_,
            "_fromEntityKey": self.from_key,
            "_toEntityKey": self.to_key,
            **self.properties,
        }

    @classmethod
    def from_j1(cls, data: Mapping[str, Any]) -> Relationship:
        properties = {k: v for k, v in data.items() if not k.startswith("_")}
        return cls(
            key=data["_key"],
            type=data["_type"],
            class_=data["_class"],
            from_key=data["_fromEntityKey"],
            to_key=data["_toEntityKey"],
            properties=properties,
        )


@dataclass
class Graph:
    """Entities and relationships by `_key`."""

    entities: dict[str, Entity] = field(default_factory=dict)
    relationships: dict[str, Relationship] = field(default_factory=dict)

    @classmethod
    def of(cls, entities: Iterable[Entity], relationships: Iterable[Relationship]) -> Graph:
        return cls({e.key: e for e in entities}, {r.key: r for r in relationships})

    def __len__(self) -> int:
        return len(self.entities) + len(self.relationships)

    def to_j1(self) -> dict[str, list[dict[str, Any]]]:
        """The JupiterOne bulk-upload shape, sorted by key so exports are comparable."""
        return {
            "entities": [self.entities[k].to_j1() for k in sorted(self.entities)],
            "relationships": [self.relationships[k].to_j1() for k in sorted(self.relationships)],
        }

    @classmethod
    def from_j1(cls, data: Mapping[str, Any]) -> Graph:
        return cls.of(
            (Entity.from_j1(e) for e in data.get("entities", [])),
            (Relationship.from_j1(r) for r in data.get("relationships", [])),
        )

    def index(self) -> GraphIndex:
        return GraphIndex(
            {k: fingerprint(e) for k, e in self.entities.items()},
            {k: fingerprint(r) for k, r in self.relationships.items()},
        )

    def counts_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in (*self.entities.values(), *self.relationships.values()):
            counts[obj.type] = counts.get(obj.type, 0) + 1
        return dict(sorted(counts.items()))


_Object = TypeVar("_Object", Entity, Relationship)


def canonical_properties(properties: Mapping[str, Any]) -> str:
    return json.dumps(properties, ensure_ascii=False, sort_keys=True)


def fingerprint(obj: Entity | Relationship, properties_json: str | None = None) -> str:
    """A digest of everything that makes up the object: equal digests, equal objects."""
    if properties_json is None:
        properties_json = canonical_properties(obj.properties)
    ends = f"{obj.from_key}\x1f{obj.to_key}" if isinstance(obj, Relationship) else ""
    text = f"{obj.key}\x1f{obj.type}\x1f{obj.class_}\x1f{ends}\x1f{properties_json}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class GraphIndex:
    """What is in a graph, as `_key` → fingerprint: enough to diff against, at little memory."""

    entities: dict[str, str] = field(default_factory=dict)
    relationships: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entities) + len(self.relationships)


CAUSE_KINDS = ("webhook", "audit", "refresh", "oncall", "full_sync")


@dataclass(frozen=True)
class Cause:
    """What made pdgraph write a change (SPEC §3 `pdgraph changes`): `kind` is one of
    CAUSE_KINDS, `id` the webhook event id, audit record id, or sync/refresh run id."""

    kind: str
    id: str
    # Who made the change in PagerDuty and how, when the cause says (an audit record's
    # actor `{type, id, name}` and method `{type, truncatedToken}`); None: not known.
    actor: Mapping[str, Any] | None = field(default=None, compare=False)
    method: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in CAUSE_KINDS:
            raise ValueError(f"cause kind {self.kind!r} is not one of {CAUSE_KINDS}")

    def as_dict(self) -> dict[str, str]:
        """The change history's `cause`: `{kind, id}`."""
        return {"kind": self.kind, "id": self.id}

    def as_job(self) -> dict[str, Any]:
        """Everything the cause holds, for a job's arguments (`Cause(**as_job())`)."""
        job: dict[str, Any] = self.as_dict()
        if self.actor is not None:
            job["actor"] = dict(self.actor)
        if self.method is not None:
            job["method"] = dict(self.method)
        return job


@dataclass
class ChangeSet:
    """What a sink must do to turn one graph into another."""

    create_entities: list[Entity] = field(default_factory=list)
    update_entities: list[Entity] = field(default_factory=list)
    delete_entities: list[str] = field(default_factory=list)
    create_relationships: list[Relationship] = field(default_factory=list)
    update_relationships: list[Relationship] = field(default_factory=list)
    delete_relationships: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.total > 0

    @classmethod
    def merge(cls, change_sets: Iterable[ChangeSet]) -> ChangeSet:
        """One change set doing what all of these do (they touch disjoint objects)."""
        merged = cls()
        for c in change_sets:
            merged.create_entities += c.create_entities
            merged.update_entities += c.update_entities
            merged.delete_entities += c.delete_entities
            merged.create_relationships += c.create_relationships
            merged.update_relationships += c.update_relationships
            merged.delete_relationships += c.delete_relationships
        return merged

    @property
    def total(self) -> int:
        return (
            len(self.create_entities)
            + len(self.update_entities)
            + len(self.delete_entities)
            + len(self.create_relationships)
            + len(self.update_relationships)
            + len(self.delete_relationships)
        )

    @property
    def deletions(self) -> int:
        return len(self.delete_entities) + len(self.delete_relationships)

    def summary(self) -> dict[str, int]:
        return {
            "entities_created": len(self.create_entities),
            "entities_updated": len(self.update_entities),
            "entities_deleted": len(self.delete_entities),
            "relationships_created": len(self.create_relationships),
            "relationships_updated": len(self.update_relationships),
            "relationships_deleted": len(self.delete_relationships),
        }

    def keys(self) -> list[str]:
        """The `_key` of every object it creates, updates or deletes."""
        return [line[2:] for line in self.lines()]

    def lines(self) -> list[str]:
        """One `+`/`~`/`-` line per changed key, for `pdgraph sync --dry-run`."""
        return [
            *(f"+ {e.key}" for e in self.create_entities),
            *(f"~ {e.key}" for e in self.update_entities),
            *(f"- {k}" for k in self.delete_entities),
            *(f"+ {r.key}" for r in self.create_relationships),
            *(f"~ {r.key}" for r in self.update_relationships),
            *(f"- {k}" for k in self.delete_relationships),
        ]


def _compare(
    known: Mapping[str, str], new: Mapping[str, _Object]
) -> tuple[list[_Object], list[_Object], list[str]]:
    """(created, updated, deleted keys) of one kind of object."""
    created: list[_Object] = []
    updated: list[_Object] = []
    for key, obj in new.items():
        previous = known.get(key)
        if previous is None:
            created.append(obj)
        elif previous != fingerprint(obj):
            updated.append(obj)
    return created, updated, [key for key in known if key not in new]


def diff(old: Graph | GraphIndex, new: Graph) -> ChangeSet:
    """The change set that turns `old` into `new`; equal objects produce nothing."""
    known = old.index() if isinstance(old, Graph) else old
    return ChangeSet(
        *_compare(known.entities, new.entities),
        *_compare(known.relationships, new.relationships),
    )
