"""PagerDuty business services → `pagerduty_business_service` entities (Service, category
business) and team HAS business service (SPEC §5).

Listed with `/business_services`. They send no webhook and no audit record: the full sync
and the catalog refresh (worker/catalog.py) read them. What they depend on is read one
business service at a time by the dependency pass (common/objects/service_dependency.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    without_nulls,
)

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

BUSINESS_SERVICE = "pagerduty_business_service"
TEAM_HAS_BUSINESS_SERVICE = "pagerduty_team_has_business_service"
TEAM_HAS = EdgeType(TEAM_HAS_BUSINESS_SERVICE, "HAS", "team", "business_service")


def list_business_services(client: PagerDutyClient, _: AccountRead) -> Sequence[PagerDutyObject]:
    """Every business service (one listing; their dependencies are the dependency pass's)."""
    return client.listings.all_pages(
        Listing("/business_services", "business_services", [], object_id)
    )


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


def business_service_edges(business_service: PagerDutyObject, _: Build) -> list[Relationship]:
    team = business_service.get("team") or {}
    if not team.get("id"):
        return []
    return [
        TEAM_HAS.between(
            key_of("team", team["id"]), key_of("business_service", business_service["id"])
        )
    ]


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
    edges=(TEAM_HAS,),
    unannounced=True,
)
