"""Service dependencies → USES edges from the dependent to the supporting service (SPEC §5):
business service USES service or business service, service USES service.

PagerDuty lists no dependencies: each object's are one read,
`/service_dependencies/business_services/{id}` or `.../technical_services/{id}`, and
they send no webhook and no audit record. One read per service would make the full sync
of a 10,000-user account several minutes longer (it is rate-limit bound), so the
dependency pass (worker/dependencies.py) reads them in the background, a budgeted share
of PagerDuty's requests a minute, and keeps each object's last read in Redis
(common/state/dependencies.py). The full sync builds these edges from those reads: they
reach it as this kind's listing (`AccountRead.kept`), one object per dependent,
`{"id": "<dependent key>", "supporting": ["<kind>:<id>", ...]}`.

Each edge belongs to its dependent: PagerDuty answers an object's read with the
dependencies on either side of it, and only those it is the dependent of are its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from common.clients.pagerduty.errors import PagerDutyNotFoundError
from common.graph import Relationship
from common.objects.base import (
    AccountRead,
    Build,
    EdgeType,
    ObjectKind,
    PagerDutyObject,
    id_of,
    key_of,
    read_each,
)

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

BUSINESS_USES_SERVICE = "pagerduty_business_service_uses_service"
BUSINESS_USES_BUSINESS = "pagerduty_business_service_uses_business_service"
SERVICE_USES_SERVICE = "pagerduty_service_uses_service"
BUSINESS_USES = EdgeType(BUSINESS_USES_SERVICE, "USES", "business_service", "service")
BUSINESS_USES_BUSINESS_SERVICE = EdgeType(
    BUSINESS_USES_BUSINESS, "USES", "business_service", "business_service"
)
SERVICE_USES = EdgeType(SERVICE_USES_SERVICE, "USES", "service", "service")
DEPENDENCY_EDGES = (BUSINESS_USES, BUSINESS_USES_BUSINESS_SERVICE, SERVICE_USES)
DEPENDENCY_TYPES = frozenset(e.type for e in DEPENDENCY_EDGES)
_EDGE_BY_ENDS = {(e.from_kind, e.to_kind): e for e in DEPENDENCY_EDGES}
# The kinds that depend on others → the path segment of their dependencies' read.
DEPENDENT_KINDS = {"business_service": "business_services", "service": "technical_services"}
# A dependency's side, as PagerDuty names it (references in answers, plain in requests)
# → the kind of object it is.
SIDE_KINDS = {
    "business_service": "business_service",
    "business_service_reference": "business_service",
    "service": "service",
    "service_reference": "service",
    "technical_service_reference": "service",
}


def is_dependent(key: str) -> bool:
    """Whether the entity `key` names can depend on others (a service, a business one)."""
    return key.partition(":")[0] in DEPENDENT_KINDS


def _side(ref: PagerDutyObject) -> str | None:
    kind = SIDE_KINDS.get(str(ref.get("type") or ""))
    return key_of(kind, str(ref["id"])) if kind and ref.get("id") else None


def supporting_of(dependent: str, relationships: Sequence[PagerDutyObject]) -> list[str]:
    """The keys `dependent` depends on, of PagerDuty's dependency relationships naming it
    (on either side), sorted."""
    found = set()
    for relationship in relationships:
        supporting = _side(relationship.get("supporting_service") or {})
        if _side(relationship.get("dependent_service") or {}) == dependent and supporting:
            found.add(supporting)
    return sorted(found - {dependent})


def read_supporting(client: PagerDutyClient, dependent: str) -> list[str]:
    """What the service or business service `dependent` (its key) depends on now: one
    request (nothing on 404: deleted)."""
    kind = dependent.partition(":")[0]
    path = f"/service_dependencies/{DEPENDENT_KINDS[kind]}/{id_of(dependent)}"
    try:
        relationships = client.get(path).get("relationships") or []
    except PagerDutyNotFoundError:
        return []
    return supporting_of(dependent, relationships)


def read_dependents(client: PagerDutyClient, dependents: Iterable[str]) -> list[PagerDutyObject]:
    """Each dependent's read, as this kind lists it (one request each, on the client's page
    workers)."""
    keys = list(dependents)
    found = read_each(client, lambda key: read_supporting(client, key), keys)
    return [{"id": key, "supporting": s} for key, s in zip(keys, found, strict=True)]


def uses(dependent: str, supporting: str) -> Relationship | None:
    """The USES edge from `dependent` to `supporting` (None: not two dependent kinds)."""
    edge = _EDGE_BY_ENDS.get((dependent.partition(":")[0], supporting.partition(":")[0]))
    return edge.between(dependent, supporting) if edge else None


def dependency_edges(read: PagerDutyObject, _: Build) -> list[Relationship]:
    """The USES edges of one dependent's last read."""
    made = (uses(str(read["id"]), str(key)) for key in read.get("supporting") or [])
    return [edge for edge in made if edge is not None]


def list_kept(_: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """Not read from PagerDuty here: the dependency pass's last reads, handed in."""
    return read.kept.get("service_dependencies", ())


KIND = ObjectKind(
    name="service_dependency",
    listing="service_dependencies",
    stage=0,
    write_order=11,
    list_all=list_kept,
    relationships=dependency_edges,
    edges=DEPENDENCY_EDGES,
)
