"""PagerDuty services → `pagerduty_service` entities (Service), with the edges a service
re-read writes: its teams, the escalation policy it uses, and who is on call for it.

Services send webhooks (`service.*`, `incident.*`): the webhook path re-reads one
(worker/service_refresh.py); the audit feed hands a service's records to that path too.
The team edge is `pagerduty_team_assigned_service` (team → service), or under
GRAPH_MODEL=jupiterone `pagerduty_service_assigned_team` (service → team).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.graph import Entity, PropertyValue, Relationship
from common.objects.base import (
    SEED,
    AccountRead,
    Build,
    EdgeType,
    GraphModel,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    epoch_ms,
    key_of,
    without_nulls,
)
from common.objects.maintenance_window import maintenance_properties
from common.objects.oncall import MONITORS, ONCALL, oncall_edges_for_service

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

SERVICE = "pagerduty_service"
TEAM_ASSIGNED_SERVICE = "pagerduty_team_assigned_service"
SERVICE_ASSIGNED_TEAM = "pagerduty_service_assigned_team"  # GRAPH_MODEL=jupiterone
SERVICE_USES_POLICY = "pagerduty_service_uses_escalation_policy"
TEAM_ASSIGNED = EdgeType(TEAM_ASSIGNED_SERVICE, "ASSIGNED", "team", "service", "seed")
ASSIGNED_TEAM = EdgeType(
    SERVICE_ASSIGNED_TEAM,
    "ASSIGNED",
    "service",
    "team",
    "jupiterone",
    seed_type=TEAM_ASSIGNED_SERVICE,
)
# Owned by both ends: a service's re-read and its policy's write it.
USES_POLICY = EdgeType(SERVICE_USES_POLICY, "USES", "service", "escalation_policy")


def service_key(service_id: str) -> str:
    return key_of("service", service_id)


def team_service_edge(team_id: str, service_id: str, model: GraphModel) -> Relationship:
    team, service = key_of("team", team_id), service_key(service_id)
    if model == "jupiterone":
        return ASSIGNED_TEAM.between(service, team)
    return TEAM_ASSIGNED.between(team, service)


def assigned_edges_for_service(
    service: PagerDutyObject, model: GraphModel = SEED
) -> list[Relationship]:
    return [
        team_service_edge(team["id"], service["id"], model) for team in service.get("teams") or []
    ]


def service_uses_policy_edges(service: PagerDutyObject) -> list[Relationship]:
    policy_id = (service.get("escalation_policy") or {}).get("id")
    if not policy_id:
        return []
    return [USES_POLICY.between(service_key(service["id"]), key_of("escalation_policy", policy_id))]


def service_properties(service: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    status = service.get("status")
    policy = service.get("escalation_policy") or {}
    properties: dict[str, PropertyValue] = {
        **common_properties(service, build.account_name),
        "status": status,
        "active": status != "disabled",
        "category": ["software"],
        "function": ["monitoring"],
        "endpoints": [service["html_url"]] if service.get("html_url") else [],
        "createdOn": epoch_ms(service.get("created_at")),
        "lastIncidentOn": epoch_ms(service.get("last_incident_timestamp")),
        "escalationPolicyId": policy.get("id"),
        "alertCreation": service.get("alert_creation"),
        "autoResolveTimeout": service.get("auto_resolve_timeout"),
        "acknowledgementTimeout": service.get("acknowledgement_timeout"),
        **maintenance_properties(service["id"], build),
    }
    return without_nulls(properties)


def service_edges(service: PagerDutyObject, build: Build) -> list[Relationship]:
    """Its team, policy and on-call edges (the webhook path's unit, with the entity)."""
    return [
        *assigned_edges_for_service(service, build.model),
        *service_uses_policy_edges(service),
        *oncall_edges_for_service(service, build.levels, build.model),
    ]


def list_services(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    return client.list_services(read.ids("teams"))


def get_service(
    client: PagerDutyClient, service_id: str
) -> tuple[PagerDutyObject | None, Sequence[PagerDutyObject]]:
    """The service as PagerDuty has it now (None: deleted) and its policy's on-calls."""
    service = client.get_service(service_id)
    if service is None:
        return None, []
    policy_id = (service.get("escalation_policy") or {}).get("id")
    oncalls = client.oncalls_for_policies([policy_id]) if policy_id else []
    return service, oncalls


KIND = ObjectKind(
    name="service",
    listing="services",
    stage=1,
    write_order=4,
    list_all=list_services,
    entity_type=SERVICE,
    entity_class="Service",
    properties=service_properties,
    relationships=service_edges,
    edges=(TEAM_ASSIGNED, ASSIGNED_TEAM, USES_POLICY, ONCALL, MONITORS),
    audited=True,
    webhooks=True,
)


def transform_service(service: PagerDutyObject, account_name: str | None = None) -> Entity:
    return KIND.entity(service, Build(account_name))
