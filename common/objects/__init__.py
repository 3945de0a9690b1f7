"""The registry of PagerDuty object types: the one list every path walks (SPEC §5).

Each type lives in its own module (team, user, schedule, escalation_policy, service,
oncall; membership holds the team HAS user edge both ends own) and declares itself as an
`ObjectKind` (common/objects/base.py). `KINDS` lists them once, in the order a full
sync's report names their listings; each declares its write order (an edge goes only to
an entity the graph holds, so what an object's edges point at comes first: a team before
the schedule assigned to it, a schedule before the policy escalating to it, a policy
before its services). The full sync (common/objects/account.py), the audit
feed, the light refresh, the webhook path, the report and the data-model test read the
types from here; a new type is one module and one line in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from common.graph import Graph, Relationship
from common.objects import (
    business_service,
    escalation_policy,
    integration,
    maintenance_window,
    oncall,
    schedule,
    service,
    service_dependency,
    tag,
    team,
    user,
    vendor,
)
from common.objects.base import (
    Build,
    EdgeType,
    GraphModel,
    ObjectKind,
    PagerDutyObject,
    ends_of,
    id_of,
)
from common.objects.escalation_policy import ESCALATION_POLICY
from common.objects.oncall import ONCALL_TYPES
from common.objects.schedule import SCHEDULE
from common.objects.service import SERVICE
from common.objects.team import TEAM
from common.objects.user import USER

KINDS: tuple[ObjectKind, ...] = (
    user.KIND,
    team.KIND,
    service.KIND,
    escalation_policy.KIND,
    schedule.KIND,
    oncall.KIND,
    business_service.KIND,
    integration.KIND,
    vendor.KIND,
    tag.KIND,
    maintenance_window.KIND,
    service_dependency.KIND,
)

# The full sync's listings, in the order its reports name them.
LISTINGS = tuple(kind.listing for kind in KINDS)
_BY_NAME = {kind.name: kind for kind in KINDS}
_BY_ENTITY_TYPE = {kind.entity_type: kind for kind in KINDS if kind.entity_type}
EDGE_TYPES: tuple[EdgeType, ...] = tuple({e.type: e for k in KINDS for e in k.edges}.values())
_EDGE_BY_ENDS = {(e.from_kind, e.class_.lower(), e.to_kind): e for e in EDGE_TYPES}
ENTITY_TYPES = frozenset(_BY_ENTITY_TYPE)
# Every `_type` pdgraph writes, under either graph model (what `--type` may name).
GRAPH_TYPES = ENTITY_TYPES | frozenset(e.type for e in EDGE_TYPES)
_EVENT_LESS = frozenset(e.type for e in EDGE_TYPES if e.event_less)
# What webhooks keep current: a full sync that changes these found drift (the others send
# no webhook, and shift hand-offs move on-call edges without one: their changes are expected).
WEBHOOK_MAINTAINED_TYPES = frozenset(t for k in KINDS if k.webhooks for t in k.scope) - _EVENT_LESS
# What the light refresh reads and writes where the audit-records feed is refused.
LIGHT_REFRESH_KINDS = tuple(k for k in KINDS if k.light_refresh)
# What the catalog refresh reads whole (no webhook, no audit record) in either mode.
CATALOG_KINDS = tuple(k for k in KINDS if k.unannounced)
# The edges a source is re-read for when their target is deleted (PagerDuty edited it).
FOLLOWS_DELETION = frozenset(e.type for e in EDGE_TYPES if e.follows_deletion)
# An edge the jupiterone graph model names differently → its seed model `_type`.
SEED_TYPES = {e.type: e.seed_type for e in EDGE_TYPES if e.seed_type}


def kind_named(name: str) -> ObjectKind | None:
    """The kind whose `_key` prefix / audit root type is `name` (`escalation_policy`)."""
    return _BY_NAME.get(name)


def kind_of_key(key: str) -> ObjectKind | None:
    """The kind of the entity with this `_key` (`schedule:P1` → the schedule kind)."""
    prefix, _, rest = key.partition(":")
    return _BY_NAME.get(prefix) if rest else None


def entity_type_of(key: str) -> str | None:
    """The `_type` of the entity with this `_key` (`service:P1` → pagerduty_service)."""
    kind = kind_of_key(key)
    return kind.entity_type if kind else None


def type_of_key(key: str) -> str | None:
    """The `_type` of the entity or relationship with this `_key` (None: not ours)."""
    parts = key.split("|")
    if len(parts) == 1:
        return entity_type_of(key)
    if len(parts) != 3:
        return None
    ends = (parts[0].partition(":")[0], parts[1], parts[2].partition(":")[0])
    edge = _EDGE_BY_ENDS.get(ends)
    return edge.type if edge and entity_type_of(parts[0]) and entity_type_of(parts[2]) else None


def build_graph(
    listings: Mapping[str, Iterable[PagerDutyObject]],
    build: Build,
    kinds: Sequence[ObjectKind] = KINDS,
    present: Iterable[str] = (),
) -> Graph:
    """The graph of these kinds' listings; an edge is kept only where both its ends are
    entities of the graph or `present` (entities the sink holds beyond these kinds).

    Each listing is iterated once, so a caller may hand over iterators that let go of
    the raw objects as they are transformed. Listings that inform others' transforms
    (on-calls: who is on call for a service) are taken first."""
    for kind in kinds:
        if kind.prepare is not None:
            build = kind.prepare(list(listings.get(kind.listing, ())), build)
    entities = []
    relationships: list[Relationship] = []
    for kind in kinds:
        if kind.entity_type is None and kind.relationships is None:
            continue
        for obj in listings.get(kind.listing, ()):
            made, edges = kind.transform(obj, build)
            entities += made
            relationships += edges
    keys = {e.key for e in entities} | set(present)
    return Graph.of(entities, (r for r in relationships if r.from_key in keys and r.to_key in keys))


def service_policies_of(graph: Graph) -> dict[str, str]:
    """Service id → escalation policy id, from the service entities of a graph."""
    return {
        str(e.properties["id"]): str(e.properties["escalationPolicyId"])
        for e in graph.entities.values()
        if e.type == SERVICE and e.properties.get("escalationPolicyId")
    }


__all__ = [
    "EDGE_TYPES",
    "ENTITY_TYPES",
    "ESCALATION_POLICY",
    "GRAPH_TYPES",
    "KINDS",
    "LISTINGS",
    "ONCALL_TYPES",
    "SCHEDULE",
    "SERVICE",
    "TEAM",
    "USER",
    "WEBHOOK_MAINTAINED_TYPES",
    "Build",
    "GraphModel",
    "ObjectKind",
    "build_graph",
    "ends_of",
    "entity_type_of",
    "id_of",
    "kind_named",
    "kind_of_key",
    "service_policies_of",
    "type_of_key",
]
