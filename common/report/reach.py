"""The checks of what pdgraph reads beyond the on-call chain (SPEC §3): whether the person
on call can be reached, which business services depend on an unwatched service, and which
services are in maintenance. Pure: the report's graph in, findings out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common.graph import Entity
from common.objects.business_service import BUSINESS_SERVICE
from common.objects.service import SERVICE
from common.objects.service_dependency import DEPENDENCY_TYPES
from common.report.model import (
    ReportGraph,
    email_of,
    finding,
    is_active,
    iso_seconds,
    name_of,
    oncall_levels,
    reachable,
)

LONG_MAINTENANCE_DAYS = 7


def unreachable_oncall_users(model: ReportGraph) -> list[dict[str, Any]]:
    """Users on call now for an active service whom PagerDuty cannot page (no high-urgency
    notification rule on a contact method they have)."""
    services_of: dict[str, list[str]] = {}
    for service_key, edges in model.oncall.items():
        service = model.graph.entities.get(service_key)
        if service is None or not is_active(service):
            continue
        for edge in edges:
            services_of.setdefault(edge.from_key, []).append(service_key)
    findings = []
    for user_key, services in sorted(services_of.items()):
        user = model.graph.entities.get(user_key)
        if user is None or reachable(user) is not False:
            continue
        findings.append(
            finding(
                "oncall_user_unreachable",
                "high",
                [user_key],
                f"User {name_of(user)} is on call for {len(services)} active service"
                f"{'s' if len(services) > 1 else ''} and has no high-urgency notification"
                " rule on a contact method: a page reaches nobody.",
                user=name_of(user),
                email=email_of(user),
                contactMethodTypes=user.properties.get("contactMethodTypes") or [],
                services=sorted(services),
            )
        )
    return findings


def _unwatched(model: ReportGraph, service: Entity) -> str | None:
    """Why an unwatched service is one (None: someone is on call at level 1 of it)."""
    if not is_active(service):
        return "disabled"
    if 1 not in oncall_levels(model.oncall.get(service.key, [])):
        return "nobody on call at level 1"
    return None


def _depends_on(model: ReportGraph, start: str) -> list[str]:
    """Every entity `start` depends on, directly or through others (each once)."""
    uses: dict[str, list[str]] = {}
    for edge in model.graph.relationships.values():
        if edge.type in DEPENDENCY_TYPES:
            uses.setdefault(edge.from_key, []).append(edge.to_key)
    seen, todo = {start}, [start]
    while todo:
        for supporting in uses.get(todo.pop(), []):
            if supporting not in seen:
                seen.add(supporting)
                todo.append(supporting)
    return sorted(seen - {start})


def business_services_at_risk(model: ReportGraph) -> list[dict[str, Any]]:
    """Business services depending, directly or not, on a disabled service or one with
    nobody on call at level 1."""
    findings = []
    for business in model.of(BUSINESS_SERVICE):
        risks = {
            key: why
            for key in _depends_on(model, business.key)
            if (service := model.graph.entities.get(key)) is not None
            and service.type == SERVICE
            and (why := _unwatched(model, service))
        }
        if not risks:
            continue
        names = [f"{name_of(model.graph.entities[k])} ({why})" for k, why in risks.items()]
        findings.append(
            finding(
                "business_service_at_risk",
                "high",
                [business.key, *risks],
                f"Business service {name_of(business)} depends on {', '.join(names)}.",
                businessService=name_of(business),
                services={k: why for k, why in risks.items()},
            )
        )
    return findings


def services_in_maintenance(model: ReportGraph, now: datetime) -> list[dict[str, Any]]:
    """Services in a maintenance window now (they open no incidents); medium past 7 days."""
    findings = []
    for service in model.of(SERVICE):
        if service.properties.get("inMaintenance") is not True:
            continue
        started = service.properties.get("maintenanceStartedOn")
        ends = service.properties.get("maintenanceEndsOn")
        days = (now.timestamp() * 1000 - started) / 86_400_000 if isinstance(started, int) else 0
        findings.append(
            finding(
                "service_in_maintenance",
                "medium" if days > LONG_MAINTENANCE_DAYS else "info",
                [service.key],
                f"Service {name_of(service)} is in a maintenance window"
                f"{f' open {days:.0f} days' if days >= 1 else ''}: it opens no incidents.",
                service=name_of(service),
                since=iso_seconds(started / 1000) if isinstance(started, int) else None,
                until=iso_seconds(ends / 1000) if isinstance(ends, int) else None,
            )
        )
    return findings
