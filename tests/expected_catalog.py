"""The part of SPEC §5's expected graph beyond the on-call chain, written from the
simulator's state: users' reachability, tags, maintenance windows, business services and
their dependencies, integrations and the vendors they use. Independent of common.objects,
as tests/expected.py is (which calls these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sim.pagerduty import Account
from sim.pagerduty.catalog_views import window_state
from sim.pagerduty.objects import iso


def _ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def edge(type_: str, class_: str, from_key: str, to_key: str, **properties: Any) -> dict[str, Any]:
    return {
        "_key": f"{from_key}|{class_.lower()}|{to_key}",
        "_type": type_,
        "_class": class_,
        "_fromEntityKey": from_key,
        "_toEntityKey": to_key,
        **properties,
    }


def tags(account: Account, kind: str, object_id: str) -> dict[str, Any]:
    labels = sorted(t["label"] for t in account.tags_of(kind, object_id))
    return {"tags": labels} if labels else {}


def reachability(account: Account, user_id: str) -> dict[str, Any]:
    methods = account.contact_methods_of(user_id)
    kinds = {m["type"].removesuffix("_contact_method") for m in methods.values()}
    notified = any(
        r["urgency"] == "high" and r["contact_method_id"] in methods
        for r in account.notification_rules_of(user_id).values()
    )
    return {"contactMethodTypes": sorted(kinds), "notifiedOnHighUrgency": notified}


def maintenance(account: Account, service_id: str) -> dict[str, Any]:
    now = account.clock()
    spans = [
        (_ms(iso(w["start"])), _ms(iso(w["end"])))
        for w in account.catalog.maintenance_windows.values()
        if service_id in w["service_ids"] and window_state(w, now) == "ongoing"
    ]
    if not spans:
        return {"inMaintenance": False}
    return {
        "inMaintenance": True,
        "maintenanceStartedOn": min(s for s, _ in spans),
        "maintenanceEndsOn": max(e for _, e in spans),
    }


def _entity(key: str, type_: str, class_: str, props: dict[str, Any], tag: dict[str, Any]) -> Any:
    return {
        "_key": key,
        "_type": type_,
        "_class": class_,
        **{k: v for k, v in props.items() if v is not None},
        **tag,
    }


def catalog(
    account: Account, tag: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Business services, integrations and used vendors, and their edges."""
    entities: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for b in account.catalog.business_services.values():
        key = f"business_service:{b['id']}"
        team = b["team_id"] if b["team_id"] in account.teams else None
        common = {"id": b["id"], "name": b["name"], "displayName": b["name"], "summary": b["name"]}
        props = {**common, "description": b["description"], "category": ["business"]}
        props |= {"function": ["other"], "pointOfContact": b["point_of_contact"], "teamId": team}
        entities.append(_entity(key, "pagerduty_business_service", "Service", props, tag))
        if team:
            edges.append(edge("pagerduty_team_has_business_service", "HAS", f"team:{team}", key))
    for dep in account.catalog.dependencies.values():
        (d_kind, d_id), (s_kind, s_id) = dep["dependent"], dep["supporting"]
        edges.append(
            edge(
                f"pagerduty_{d_kind}_uses_{s_kind}", "USES", f"{d_kind}:{d_id}", f"{s_kind}:{s_id}"
            )
        )
    used: set[str] = set()
    for i in account.catalog.integrations.values():
        key, service = f"integration:{i['id']}", account.services[i["service_id"]]
        common = {"id": i["id"], "name": i["name"], "displayName": i["name"], "summary": i["name"]}
        link = f"{account._links('service', service['id'])['html_url']}/integrations/{i['id']}"
        props = {**common, "webLink": link, "integrationType": i["type"]}
        props |= {"vendorId": i["vendor_id"], "createdOn": _ms(i["created_at"])}
        entities.append(_entity(key, "pagerduty_service_integration", "Channel", props, tag))
        edges.append(
            edge("pagerduty_service_has_integration", "HAS", f"service:{service['id']}", key)
        )
        if i["vendor_id"]:
            used.add(i["vendor_id"])
            edges.append(
                edge(
                    "pagerduty_vendor_provides_service_integration",
                    "PROVIDES",
                    f"vendor:{i['vendor_id']}",
                    key,
                )
            )
    for vid in sorted(used):
        v = account.vendors[vid]
        common = {"id": vid, "name": v["name"], "displayName": v["name"], "summary": v["name"]}
        props = {**common, "description": v["description"], "category": ["software"]}
        props["website"] = v["website_url"]
        entities.append(_entity(f"vendor:{vid}", "pagerduty_vendor", "Vendor", props, tag))
    return entities, edges
