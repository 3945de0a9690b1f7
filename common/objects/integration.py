"""PagerDuty service integrations → `pagerduty_service_integration` entities (Channel: how
alerts reach a service), with service HAS integration and vendor PROVIDES integration.

They come with the service listing (`include[]=integrations`: no request of their own in
a full sync). Whether PagerDuty sends `service.updated` when one is added or removed is
undocumented, so the catalog refresh reads them whole every PEOPLE_REFRESH_MINUTES
(the team and service listings: Σ⌈n/100⌉ requests), whichever way PagerDuty behaves.
An integration's `integration_key` lets anyone who has it open incidents: the PagerDuty
client drops it from every object it reads (common/clients/pagerduty), so it never
reaches a transform, the graph, the change history, a log line or the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.graph import PropertyValue, Relationship
from common.objects.base import (
    AccountRead,
    Build,
    EdgeType,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    epoch_ms,
    key_of,
    without_nulls,
)
from common.objects.service import list_services
from common.objects.team import list_teams

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

SERVICE_INTEGRATION = "pagerduty_service_integration"
SERVICE_HAS_INTEGRATION = "pagerduty_service_has_integration"
VENDOR_PROVIDES_INTEGRATION = "pagerduty_vendor_provides_service_integration"
HAS_INTEGRATION = EdgeType(SERVICE_HAS_INTEGRATION, "HAS", "service", "integration")
PROVIDES = EdgeType(VENDOR_PROVIDES_INTEGRATION, "PROVIDES", "vendor", "integration")


def _services(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """The services listed with this read; when they were not (the catalog refresh reads
    integrations without the services' kind), the listing read here: the teams', then the
    services' (Σ⌈n/100⌉ requests)."""
    if "services" in read.listings:
        return read.listings["services"]
    teams = read.listings.get("teams")
    if teams is None:
        teams = list_teams(client, read)
    return list_services(client, AccountRead(read.window, {"teams": teams}))


def list_integrations(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """The integrations of every service listed (each naming its service)."""
    return [
        {**integration, "service": {"id": service["id"]}}
        for service in _services(client, read)
        for integration in service.get("integrations") or []
        # a reference (`<type>_reference`: read without the include) is not the integration
        if integration.get("id") and not str(integration.get("type")).endswith("_reference")
    ]


def vendor_id(integration: PagerDutyObject) -> str | None:
    vendor = integration.get("vendor") or {}
    return str(vendor["id"]) if vendor.get("id") else None


def integration_properties(integration: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    properties: dict[str, PropertyValue] = {
        **common_properties(integration, build.account_name),
        "integrationType": integration.get("type"),
        "vendorId": vendor_id(integration),
        "createdOn": epoch_ms(integration.get("created_at")),
    }
    return without_nulls(properties)


def integration_edges(integration: PagerDutyObject, _: Build) -> list[Relationship]:
    key = key_of("integration", integration["id"])
    edges = [HAS_INTEGRATION.between(key_of("service", integration["service"]["id"]), key)]
    vendor = vendor_id(integration)
    if vendor:
        edges.append(PROVIDES.between(key_of("vendor", vendor), key))
    return edges


KIND = ObjectKind(
    name="integration",
    listing="integrations",
    stage=2,
    write_order=6,
    list_all=list_integrations,
    entity_type=SERVICE_INTEGRATION,
    entity_class="Channel",
    properties=integration_properties,
    relationships=integration_edges,
    edges=(HAS_INTEGRATION, PROVIDES),
    unannounced=True,
)
