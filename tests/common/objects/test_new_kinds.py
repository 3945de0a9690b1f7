"""The object types read beyond the on-call chain (SPEC §5): business services and their
dependencies, integrations and vendors, users' reachability, tags, maintenance windows —
from PagerDuty's JSON shapes to graph objects, and through the registry."""

from __future__ import annotations

from typing import Any

from common.clients.pagerduty.client import without_integration_keys
from common.objects import KINDS, Build, build_graph, kind_named
from common.objects.maintenance_window import maintenance_properties, with_windows
from common.objects.service_dependency import supporting_of
from common.objects.tag import with_tags
from common.objects.user import reachability

BUSINESS = {
    "id": "PBS0001",
    "type": "business_service",
    "name": "Checkout",
    "summary": "Checkout",
    "description": "What customers pay through",
    "point_of_contact": "payments@example.com",
    "html_url": "https://acme.pagerduty.com/business_services/PBS0001",
    "team": {"id": "PTM0001", "type": "team_reference"},
}
# GET /service_dependencies/business_services/PBS0001 → relationships
DEPENDENCIES = [
    {
        "id": "D1",
        "type": "service_dependency",
        "dependent_service": {"id": "PBS0001", "type": "business_service_reference"},
        "supporting_service": {"id": "PSV0001", "type": "technical_service_reference"},
    },
    {
        "id": "D2",
        "type": "service_dependency",
        "dependent_service": {"id": "PBS0001", "type": "business_service_reference"},
        "supporting_service": {"id": "PBS0002", "type": "business_service_reference"},
    },
    {  # it supports another: that one's edge, not this one's
        "id": "D3",
        "type": "service_dependency",
        "dependent_service": {"id": "PBS0003", "type": "business_service_reference"},
        "supporting_service": {"id": "PBS0001", "type": "business_service_reference"},
    },
]
INTEGRATION = {
    "id": "PIN0001",
    "type": "generic_events_api_inbound_integration",
    "name": "Datadog",
    "summary": "Datadog",
    "created_at": "2026-01-02T03:04:05Z",
    "vendor": {"id": "PVE0001", "type": "vendor_reference"},
    "integration_key": "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
}


def test_a_business_service_with_its_team() -> None:
    kind = kind_named("business_service")
    assert kind is not None
    [entity], edges = kind.transform(BUSINESS, Build())
    assert (entity.key, entity.type, entity.class_) == (
        "business_service:PBS0001",
        "pagerduty_business_service",
        "Service",
    )
    assert entity.properties["category"] == ["business"]
    assert entity.properties["function"] == ["other"]
    assert entity.properties["pointOfContact"] == "payments@example.com"
    assert entity.properties["teamId"] == "PTM0001"
    assert sorted((e.type, e.key) for e in edges) == [
        ("pagerduty_team_has_business_service", "team:PTM0001|has|business_service:PBS0001"),
    ]


def test_what_a_business_service_depends_on_is_its_own_side_of_pagerdutys_answer() -> None:
    """PagerDuty answers with the dependencies on either side; D3 is PBS0003's edge."""
    supporting = supporting_of("business_service:PBS0001", DEPENDENCIES)
    assert supporting == ["business_service:PBS0002", "service:PSV0001"]
    kind = kind_named("service_dependency")
    assert kind is not None and kind.entity_type is None
    _, edges = kind.transform({"id": "business_service:PBS0001", "supporting": supporting}, Build())
    assert sorted((e.type, e.key) for e in edges) == [
        (
            "pagerduty_business_service_uses_business_service",
            "business_service:PBS0001|uses|business_service:PBS0002",
        ),
        (
            "pagerduty_business_service_uses_service",
            "business_service:PBS0001|uses|service:PSV0001",
        ),
    ]


def test_a_technical_service_uses_the_services_it_depends_on() -> None:
    answer = [
        {
            "id": "D4",
            "type": "service_dependency",
            "dependent_service": {"id": "PSV0002", "type": "technical_service_reference"},
            "supporting_service": {"id": "PSV0001", "type": "technical_service_reference"},
        },
        {  # a business service depending on it: the business service's edge
            "id": "D5",
            "type": "service_dependency",
            "dependent_service": {"id": "PBS0001", "type": "business_service_reference"},
            "supporting_service": {"id": "PSV0002", "type": "technical_service_reference"},
        },
    ]
    supporting = supporting_of("service:PSV0002", answer)
    assert supporting == ["service:PSV0001"]
    kind = kind_named("service_dependency")
    assert kind is not None
    _, [edge] = kind.transform({"id": "service:PSV0002", "supporting": supporting}, Build())
    assert (edge.type, edge.class_, edge.key) == (
        "pagerduty_service_uses_service",
        "USES",
        "service:PSV0002|uses|service:PSV0001",
    )


def test_the_full_sync_builds_dependencies_from_the_passs_reads_not_pagerduty() -> None:
    kind = kind_named("service_dependency")
    assert kind is not None
    reads = [{"id": "service:PSV0002", "supporting": ["service:PSV0001"]}]
    from common.objects.base import AccountRead

    assert kind.list_all(None, AccountRead(("", ""), {}, {"service_dependencies": reads})) == reads  # type: ignore[arg-type]
    assert kind.list_all(None, AccountRead(("", ""), {})) == ()  # type: ignore[arg-type]


def test_integrations_come_with_their_service_and_vendor_and_never_their_key() -> None:
    service = without_integration_keys(
        {"id": "PSV0001", "name": "API", "integrations": [dict(INTEGRATION)]}
    )
    assert "integration_key" not in service["integrations"][0]
    vendor = {"id": "PVE0001", "name": "Datadog", "website_url": "https://www.datadoghq.com"}
    listings: dict[str, Any] = {"services": [service], "vendors": [vendor]}
    integration_kind = kind_named("integration")
    assert integration_kind is not None
    listings["integrations"] = integration_kind.list_all(None, _read(listings))  # type: ignore[arg-type]
    graph = build_graph(listings, Build(), present=["service:PSV0001"])
    integration = graph.entities["integration:PIN0001"]
    assert (integration.type, integration.class_) == ("pagerduty_service_integration", "Channel")
    assert integration.properties["integrationType"] == "generic_events_api_inbound_integration"
    assert integration.properties["vendorId"] == "PVE0001"
    assert integration.properties["createdOn"] == 1767323045000
    assert "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5" not in repr(graph)
    assert graph.entities["vendor:PVE0001"].properties["category"] == ["software"]
    assert sorted(graph.relationships) == [
        "service:PSV0001|has|integration:PIN0001",
        "vendor:PVE0001|provides|integration:PIN0001",
    ]


def test_integration_references_make_no_integration() -> None:
    """A service read without `include[]=integrations` names them by reference only."""
    ref = {"id": "PIN0001", "type": "generic_events_api_inbound_integration_reference"}
    listings: dict[str, Any] = {"services": [{"id": "PSV0001", "integrations": [ref]}]}
    integration_kind = kind_named("integration")
    assert integration_kind is not None
    assert integration_kind.list_all(None, _read(listings)) == []  # type: ignore[arg-type]


def _read(listings: dict[str, Any]) -> Any:
    from common.objects.base import AccountRead

    return AccountRead(("", ""), listings)


def test_a_user_is_reachable_with_a_high_urgency_rule_on_a_contact_method_it_has() -> None:
    email = {"id": "PC1", "type": "email_contact_method", "address": "ada@example.com"}
    sms = {"id": "PC2", "type": "sms_contact_method", "address": "5555550100"}
    rule = {"id": "PR1", "urgency": "high", "contact_method": {"id": "PC1"}}
    assert reachability({"contact_methods": [email, sms], "notification_rules": [rule]}) == {
        "contactMethodTypes": ["email", "sms"],
        "notifiedOnHighUrgency": True,
    }
    low = {**rule, "urgency": "low"}
    assert not reachability({"contact_methods": [email], "notification_rules": [low]})[
        "notifiedOnHighUrgency"
    ]
    gone = {**rule, "contact_method": {"id": "PC9"}}  # a rule on a contact method deleted
    assert not reachability({"contact_methods": [email], "notification_rules": [gone]})[
        "notifiedOnHighUrgency"
    ]
    assert reachability({}) == {"contactMethodTypes": [], "notifiedOnHighUrgency": False}


def test_tags_become_a_sorted_property_of_what_they_are_on() -> None:
    tags = [
        {"id": "T1", "label": "pci", "keys": ["user:PUSER01", "team:PTEAM01"]},
        {"id": "T2", "label": "eu", "keys": ["user:PUSER01"]},
    ]
    build = with_tags(tags, Build())
    user = kind_named("user")
    team = kind_named("team")
    assert user is not None and team is not None
    ada = user.entity({"id": "PUSER01", "name": "Ada", "email": "ada@example.com"}, build)
    assert ada.properties["tags"] == ["eu", "pci"]
    assert team.entity({"id": "PTEAM01", "name": "Ops"}, build).properties["tags"] == ["pci"]
    assert "tags" not in team.entity({"id": "PTEAM02", "name": "Dev"}, build).properties


def test_a_service_in_an_ongoing_window_says_so_and_until_when() -> None:
    window = {
        "id": "PMW0001",
        "start_time": "2026-12-01T00:00:00Z",
        "end_time": "2026-12-31T00:00:00Z",
        "services": [{"id": "PSV0001", "type": "service_reference"}],
    }
    build = with_windows([window], Build())
    assert maintenance_properties("PSV0001", build) == {
        "inMaintenance": True,
        "maintenanceStartedOn": 1796083200000,
        "maintenanceEndsOn": 1798675200000,
    }
    assert maintenance_properties("PSV0002", build) == {"inMaintenance": False}


def test_every_kind_with_an_entity_has_a_unique_key_prefix_and_class() -> None:
    named = [k.name for k in KINDS]
    assert len(named) == len(set(named))
    assert all(k.entity_class for k in KINDS if k.entity_type)
