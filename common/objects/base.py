"""What every PagerDuty object type declares, and what their transforms share.

A type's module (common/objects/<type>.py) holds everything that is that type's alone:
its `_type`, `_class` and `_key`, how it is listed and re-read from PagerDuty, its
transform (PagerDuty JSON → entities and edges, SPEC §5), the edges it owns and whether
the audit-records feed names it. `ObjectKind` is that declaration; the registry
(common/objects/__init__.py) lists the kinds once, in write order, and every path walks it.

Transforms are pure (no I/O, no clock, no settings); `list_all` and `read_one` are the
PagerDuty reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from common.graph import Entity, PropertyValue, Relationship

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

PagerDutyObject = Mapping[str, Any]
T = TypeVar("T")
R = TypeVar("R")
GraphModel = Literal["seed", "jupiterone"]
SEED: GraphModel = "seed"
Window = tuple[int, int]  # [start, end) in epoch milliseconds
# escalation policy id → {user id → every level at which they are on call, ascending}
OncallLevels = Mapping[str, Mapping[str, tuple[int, ...]]]
ObjectGraph = tuple[list[Entity], list[Relationship]]


def key_of(kind: str, object_id: str) -> str:
    """An entity's `_key`: `<kind>:<PagerDuty id>` (`service:P1`)."""
    return f"{kind}:{object_id}"


def id_of(key: str) -> str:
    """The PagerDuty id of an entity `_key` (`service:P1` → P1)."""
    return key.partition(":")[2]


def ends_of(edge_key: str) -> tuple[str, str]:
    """The (from, to) entity keys of a relationship `_key` (`<from>|<class>|<to>`)."""
    parts = edge_key.split("|")
    return parts[0], parts[-1]


@dataclass(frozen=True)
class EdgeType:
    """One relationship `_type`: its class and ends, and what PagerDuty does with it."""

    type: str
    class_: str
    from_kind: str  # the ObjectKind.name of its source (`team`)
    to_kind: str  # and of its target (`user`)
    model: GraphModel | None = None  # written only under this GRAPH_MODEL (None: both)
    seed_type: str | None = None  # the same edge's `_type` under the seed model
    event_less: bool = False  # changes with no webhook or audit record (shift hand-offs)
    # PagerDuty edits the edge's source when its target is deleted (a deleted user leaves
    # its schedules and policies): the source is re-read after the target's deletion.
    follows_deletion: bool = False

    def between(
        self,
        from_key: str,
        to_key: str,
        properties: Mapping[str, PropertyValue] | None = None,
    ) -> Relationship:
        return Relationship.between(
            self.type, self.class_, from_key, to_key, dict(properties) if properties else None
        )


@dataclass(frozen=True)
class Build:
    """What a transform needs besides the object itself."""

    account_name: str | None = None
    model: GraphModel = SEED
    window: Window | None = None  # the 7 days schedules' final schedules were read for
    levels: OncallLevels = field(default_factory=dict)  # who is on call, by policy
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # entity key → labels
    # service id → (start, end) in epoch milliseconds of the maintenance window it is in now
    maintenance: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountRead:
    """What a listing may need of the listings read before it (a lower `stage`)."""

    window: tuple[str, str]  # (since, until) of the schedules' coverage, ISO 8601 UTC
    listings: Mapping[str, Sequence[PagerDutyObject]]
    # Listings a background pass read before, handed in by the caller (the full sync:
    # the service dependencies, common/objects/service_dependency.py).
    kept: Mapping[str, Sequence[PagerDutyObject]] = field(default_factory=dict)

    def ids(self, listing: str) -> list[str]:
        return [str(o["id"]) for o in self.listings.get(listing, ())]


Lister = Callable[["PagerDutyClient", AccountRead], Sequence[PagerDutyObject]]
Properties = Callable[[PagerDutyObject, Build], dict[str, PropertyValue]]
Edges = Callable[[PagerDutyObject, Build], list[Relationship]]
Reader = Callable[["PagerDutyClient", str, Build], "ObjectGraph | None"]


@dataclass(frozen=True)
class ObjectKind:
    """One PagerDuty object type as pdgraph reads and writes it.

    `edges` are the relationship types this kind owns: the ones its transform (or its
    re-read) makes, and a scoped write of one of its objects replaces (common/sinks/scoped.py).
    """

    name: str  # the `_key` prefix and the audit record's root type (`<name>_reference`)
    listing: str  # the listing's name in a full sync's report (`users`, `oncalls`)
    stage: int  # listed after the listings of lower stages (it needs their ids)
    # Written after kinds of a lower order: an edge goes only to an entity the graph
    # holds, so what an object's edges point at is written first.
    write_order: int
    list_all: Lister
    entity_type: str | None = None  # None: the listing only informs the others' (`prepare`)
    entity_class: str | None = None
    properties: Properties | None = None  # its entity's properties (SPEC §5)
    relationships: Edges | None = None  # the edges one object makes
    edges: tuple[EdgeType, ...] = ()
    read_one: Reader | None = None  # re-read one object by id (None: deleted in PagerDuty)
    prepare: Callable[[Sequence[PagerDutyObject], Build], Build] | None = None
    audited: bool = False  # /audit/records names it: the feed re-reads it
    webhooks: bool = False  # its changes arrive as webhooks: the webhook path re-reads it
    light_refresh: bool = False  # no webhook: the light refresh reads it (feed refused)
    # No webhook and no audit record: the catalog refresh reads it (worker.catalog).
    unannounced: bool = False

    @property
    def scope(self) -> frozenset[str]:
        """The `_type`s a write of one of its objects owns: its entity and its edges."""
        types = {e.type for e in self.edges}
        return frozenset(types | ({self.entity_type} if self.entity_type else set()))

    def key(self, object_id: str) -> str:
        return key_of(self.name, object_id)

    def entity(self, obj: PagerDutyObject, build: Build) -> Entity:
        """The object's entity."""
        if self.entity_type is None or self.entity_class is None or self.properties is None:
            raise TypeError(f"{self.name} objects have no entity")
        return Entity(
            key=self.key(obj["id"]),
            type=self.entity_type,
            class_=self.entity_class,
            properties=self.properties(obj, build),
        )

    def transform(self, obj: PagerDutyObject, build: Build) -> ObjectGraph:
        """The object's entity and the edges it makes (PagerDuty JSON → graph objects)."""
        edges = self.relationships(obj, build) if self.relationships else []
        return ([self.entity(obj, build)] if self.entity_type else []), edges

    def reread(self, client: PagerDutyClient, object_id: str, build: Build) -> ObjectGraph | None:
        """One object as PagerDuty has it now, transformed (None: deleted)."""
        if self.read_one is None:
            raise TypeError(f"{self.name} objects are not re-read one by one")
        return self.read_one(client, object_id, build)


def read_each(client: PagerDutyClient, read: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`read` of each item (one request each), in order, on the client's page workers."""
    with ThreadPoolExecutor(max_workers=max(1, client.page_workers)) as pool:
        return list(pool.map(read, items))


# -- what the transforms share ---------------------------------------------------------------


def epoch_ms(timestamp: str | None) -> int | None:
    """ISO 8601 (PagerDuty's format) → epoch milliseconds, as JupiterOne wants times."""
    if not timestamp:
        return None
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def without_nulls(
    properties: Mapping[str, PropertyValue], keep: frozenset[str] = frozenset()
) -> dict[str, PropertyValue]:
    return {k: v for k, v in properties.items() if v is not None or k in keep}


def common_properties(obj: PagerDutyObject, account_name: str | None) -> dict[str, PropertyValue]:
    name = obj.get("name") or obj.get("summary") or obj["id"]
    properties: dict[str, PropertyValue] = {
        "id": obj["id"],
        "name": name,
        "displayName": name,
        "summary": obj.get("summary"),
        "description": obj.get("description"),
        "webLink": obj.get("html_url"),
    }
    if account_name:
        properties["tag.AccountName"] = account_name
    return properties
