"""How the API shows the catalog (sim/pagerduty/catalog.py): business services, service
dependencies, integrations, tags and maintenance windows, each as the spec's schema and
examples show it (tests/fixtures/pagerduty_schema)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.pagerduty.objects import HOST, iso, links, ref
from sim.pagerduty.vendors import vendor_ref

if TYPE_CHECKING:
    from sim.pagerduty.account import Account

# a dependency's end -> its reference's type (the spec's examples)
NODE_TYPES = {
    "business_service": "business_service_reference",
    "service": "technical_service_reference",
}
# `filter` of GET /maintenance_windows -> the states it keeps ("open": ongoing or future)
WINDOW_FILTERS = {
    "past": ("past",),
    "future": ("future",),
    "ongoing": ("ongoing",),
    "open": ("ongoing", "future"),
    "all": ("past", "ongoing", "future"),
}


def business_service_json(account: Account, bs: dict[str, Any]) -> dict[str, Any]:
    """The spec's `BusinessService`; its example's html_url is null and its team a
    reference of id, type and self."""
    team_id = bs["team_id"]
    team = (
        {"id": team_id, "type": "team_reference", "self": f"{HOST}/teams/{team_id}"}
        if team_id in account.teams
        else None
    )
    return {
        "id": bs["id"],
        "type": "business_service",
        "summary": bs["name"],
        "self": f"{HOST}/business_services/{bs['id']}",
        "html_url": None,
        "name": bs["name"],
        "description": bs["description"],
        "point_of_contact": bs["point_of_contact"],
        "team": team,
    }


def dependency_json(dep: dict[str, Any]) -> dict[str, Any]:
    """One of `relationships[]`: its two ends as `{id, type}` only, as the spec shows."""
    (s_kind, s_id), (d_kind, d_id) = dep["supporting"], dep["dependent"]
    return {
        "supporting_service": {"id": s_id, "type": NODE_TYPES[s_kind]},
        "dependent_service": {"id": d_id, "type": NODE_TYPES[d_kind]},
        "id": dep["id"],
        "type": "service_dependency",
    }


def integration_ref(integration: dict[str, Any]) -> dict[str, Any]:
    """A service's `integrations[]` entry without `include[]=integrations`."""
    sid, iid = integration["service_id"], integration["id"]
    service_links = links("service", sid)
    return {
        "id": iid,
        "type": f"{integration['type']}_reference",
        "summary": integration["name"],
        "self": f"{service_links['self']}/integrations/{iid}",
        "html_url": f"{service_links['html_url']}/integrations/{iid}",
    }


def integration_json(account: Account, integration: dict[str, Any]) -> dict[str, Any]:
    """The spec's `Integration`, with the `integration_key` PagerDuty serves beside it (the
    secret events are sent with; the spec leaves it out, PagerDuty's API clients read it)."""
    service = account.services[integration["service_id"]]
    vendor_id = integration["vendor_id"]
    out = {
        **integration_ref(integration),
        "type": integration["type"],
        "name": integration["name"],
        "service": ref("service", service["id"], service["name"]),
        "created_at": integration["created_at"],
        "vendor": vendor_ref(vendor_id) if vendor_id else None,
        "integration_key": integration["integration_key"],
    }
    if "integration_email" in integration:
        out["integration_email"] = integration["integration_email"]
    return out


def tag_json(tag: dict[str, Any]) -> dict[str, Any]:
    """The spec's `Tag` (its example's html_url is null)."""
    return {
        "id": tag["id"],
        "type": "tag",
        "summary": tag["label"],
        "self": f"{HOST}/tags/{tag['id']}",
        "html_url": None,
        "label": tag["label"],
    }


def tagged_refs(account: Account, tag_id: str, kind: str) -> list[dict[str, Any]]:
    """`GET /tags/{id}/{users|teams|escalation_policies}`: the spec example's `{id, type}`
    references, by name."""
    if kind == "escalation_policy":
        names = {pid: p.name for pid, p in account.policies.items()}
    else:
        objects = account.users if kind == "user" else account.teams
        names = {oid: o["name"] for oid, o in objects.items()}
    ids = sorted(account.tagged_with(tag_id, kind), key=lambda o: (names[o].lower(), o))
    return [{"id": oid, "type": f"{kind}_reference"} for oid in ids]


def window_state(window: dict[str, Any], now: float) -> str:
    """past, ongoing or future on the account's clock."""
    if window["end"] <= now:
        return "past"
    return "future" if window["start"] > now else "ongoing"


def window_team_ids(account: Account, window: dict[str, Any]) -> list[str]:
    """A window's teams (read-only in the spec): its services' teams."""
    services = [account.services[s] for s in window["service_ids"] if s in account.services]
    return list(dict.fromkeys(t for s in services for t in s["team_ids"] if t in account.teams))


def window_json(account: Account, window: dict[str, Any]) -> dict[str, Any]:
    """The spec's `MaintenanceWindow`."""
    services = [account.services[s] for s in window["service_ids"] if s in account.services]
    return {
        **ref("maintenance_window", window["id"], window["description"], reference=False),
        "sequence_number": window["sequence_number"],
        "start_time": iso(window["start"]),
        "end_time": iso(window["end"]),
        "description": window["description"],
        "created_by": window["created_by"],
        "services": [ref("service", s["id"], s["name"]) for s in services],
        "teams": [
            ref("team", t, account.teams[t]["name"]) for t in window_team_ids(account, window)
        ],
    }


def maintenance_windows(
    account: Account,
    state: str,
    service_ids: list[str],
    team_ids: list[str],
    query: str | None,
) -> list[dict[str, Any]]:
    """`GET /maintenance_windows`' windows: in a state of WINDOW_FILTERS[state], of any of
    `service_ids` and `team_ids` where given, whose description holds `query`; by start."""
    now = account.clock()
    kept = WINDOW_FILTERS[state]
    wanted_services, wanted_teams = set(service_ids), set(team_ids)
    out = []
    for window in account.catalog.maintenance_windows.values():
        if window_state(window, now) not in kept:
            continue
        if wanted_services and not wanted_services.intersection(window["service_ids"]):
            continue
        if wanted_teams and not wanted_teams.intersection(window_team_ids(account, window)):
            continue
        if query and query.lower() not in (window["description"] or "").lower():
            continue
        out.append(window)
    return sorted(out, key=lambda w: (w["start"], w["sequence_number"]))
