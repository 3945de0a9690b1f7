"""PagerDuty business services → `pagerduty_business_service` entities (Service, category
business), team HAS business service, and their dependencies: business service USES
service or business service (SPEC §5).

Listed with `/business_services`; each one's dependencies read with
`/service_dependencies/business_services/{id}` (one request a business service). They
send no webhook and no audit record: the full sync reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.clients.pagerduty.errors import PagerDutyNotFoundError
from common.clients.pagerduty.listings import Listing, object_id
from common.graph import PropertyValue, Relationship
from common.objects.base import (
    AccountRead,
    Build,
    EdgeType,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    key_of,
    read_each,
    without_nulls,
)

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

BUSINESS_SERVICE = "pagerduty_business_service"
TEAM_HAS_BUSINESS_SERVICE = "pagerduty_team_has_business_service"
BUSINESS_USES_SERVICE = "pagerduty_business_service_uses_service"
BUSINESS_USES_BUSINESS = "pagerduty_business_service_uses_business_service"
TEAM_HAS = EdgeType(TEAM_HAS_BUSINESS_SERVICE, "HAS", "team", "business_service")
USES_SERVICE = EdgeType(BUSINESS_USES_SERVICE, "USES", "business_service", "service")
USES_BUSINESS = EdgeType(BUSINESS_USES_BUSINESS, "USES", "business_service", "business_service")
# A dependency's side, as PagerDuty names it → the kind of object it is.
SIDE_KINDS = {
    "business_service": "business_service",
    "business_service_reference": "business_service",
    "service": "service",
    "service_reference": "service",
    "technical_service_reference": "service",
}


def dependencies(client: PagerDutyClient, business_service_id: str) -> list[PagerDutyObject]:
    """The dependency relationships naming the business service (none on 404: deleted)."""
    path = f"/service_dependencies/business_services/{business_service_id}"
    try:
        return list(client.get(path).get("relationships") or [])
    except PagerDutyNotFoundError:
        return []


def list_business_services(client: PagerDutyClient, _: AccountRead) -> Sequence[PagerDutyObject]:
    """Every business service, each with the dependencies it is the dependent of."""
    listed = client.listings.all_pages(
        Listing("/business_services", "business_services", [], object_id)
    )
    found = read_each(client, lambda b: dependencies(client, b["id"]), listed)
    return [{**b, "dependencies": deps} for b, deps in zip(listed, found, strict=True)]


def business_service_properties(
    business_service: PagerDutyObject, build: Build
) -> dict[str, PropertyValue]:
    team = business_service.get("team") or {}
    properties: dict[str, PropertyValue] = {
        **common_properties(business_service, build.account_name),
        "category": ["business"],
        "function": ["other"],
        "pointOfContact": business_service.get("point_of_contact") or None,
        "teamId": team.get("id"),
    }
    return without_nulls(properties)


def _side(ref: PagerDutyObject) -> tuple[str, str] | None:
    kind = SIDE_KINDS.get(str(ref.get("type") or ""))
    return (kind, str(ref["id"])) if kind and ref.get("id") else None


def business_service_edges(business_service: PagerDutyObject, _: Build) -> list[Relationship]:
    key = key_of("business_service", business_service["id"])
    edges = []
    team = business_service.get("team") or {}
    if team.get("id"):
        edges.append(TEAM_HAS.between(key_of("team", team["id"]), key))
    for relationship in business_service.get("dependencies") or []:
        dependent = _side(relationship.get("dependent_service") or {})
        supporting = _side(relationship.get("supporting_service") or {})
        if dependent != ("business_service", business_service["id"]) or supporting is None:
            continue
        edge = USES_SERVICE if supporting[0] == "service" else USES_BUSINESS
        edges.append(edge.between(key, key_of(*supporting)))
    return edges


KIND = ObjectKind(
    name="business_service",
    listing="business_services",
    stage=1,
    write_order=7,
    list_all=list_business_services,
    entity_type=BUSINESS_SERVICE,
    entity_class="Service",
    properties=business_service_properties,
    relationships=business_service_edges,
    edges=(TEAM_HAS, USES_SERVICE, USES_BUSINESS),
    unannounced=True,
)
