"""The graph SPEC §5 expects for a simulated account, written from the simulator's state.

Deliberately independent of common.transform: it is the oracle the pipeline (client →
transform → sink → export) is checked against, so it must not share code with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sim.pagerduty import Account


def _ms(ts: str | None) -> int | None:
    return None if ts is None else int(datetime.fromisoformat(ts).timestamp() * 1000)


def _edge(type_: str, class_: str, from_key: str, to_key: str, **properties: Any) -> dict[str, Any]:
    return {
        "_key": f"{from_key}|{class_.lower()}|{to_key}",
        "_type": type_,
        "_class": class_,
        "_fromEntityKey": from_key,
        "_toEntityKey": to_key,
        **properties,
    }


def expected_export(account: Account, account_name: str | None = None) -> dict[str, Any]:
    tag = {"tag.AccountName": account_name} if account_name else {}
    entities: list[dict[str, Any]] = []
    relationships: list[dict[str, Any]] = []

    def link(kind: str, oid: str) -> str:
        return account._links(kind, oid)["html_url"]

    def team_edges(type_: str, class_: str, team_ids: list[str], to_key: str) -> None:
        """An edge from each of the object's teams that still exists."""
        for t in team_ids:
            if t in account.teams:
                relationships.append(_edge(type_, class_, f"team:{t}", to_key))

    def named(kind: str, class_: str, obj: dict[str, Any]) -> dict[str, Any]:
        """What SPEC §5 gives every entity: key, type, class, id, names, description, link."""
        return {
            "_key": f"{kind}:{obj['id']}",
            "_type": f"pagerduty_{kind}",
            "_class": class_,
            "id": obj["id"],
            "name": obj["name"],
            "displayName": obj["name"],
            "summary": obj["name"],
            "description": obj["description"],
            "webLink": link(kind, obj["id"]),
        }

    for u in account.users.values():
        entities.append(
            {
                **named("user", "User", u),
                "email": u["email"],
                "username": u["email"],
                "role": u["role"],
                "admin": u["role"] in ("admin", "owner"),
                "active": True,
                "jobTitle": u["job_title"],
                "timeZone": u["time_zone"],
                "billed": u["billed"],
                "invitationSent": u["invitation_sent"],
                **tag,
            }
        )
        team_edges("pagerduty_team_has_user", "HAS", u["team_ids"], f"user:{u['id']}")
    for t in account.teams.values():
        entities.append({**named("team", "Team", t), **tag})
    oncall_levels: dict[str, dict[str, int]] = {}
    for o in account.oncalls_now():
        levels = oncall_levels.setdefault(o["escalation_policy"]["id"], {})
        uid = o["user"]["id"]
        levels[uid] = min(levels.get(uid, 99), o["escalation_level"])
    for s in account.services.values():
        sid, pid = s["id"], s["escalation_policy_id"]
        entities.append(
            {
                **named("service", "Service", s),
                "status": s["status"],
                "active": s["status"] != "disabled",
                "category": ["software"],
                "function": ["monitoring"],
                "endpoints": [link("service", sid)],
                "createdOn": _ms(s["created_at"]),
                "lastIncidentOn": _ms(s["last_incident_timestamp"]),
                "escalationPolicyId": pid,
                "alertCreation": s["alert_creation"],
                "autoResolveTimeout": s["auto_resolve_timeout"],
                "acknowledgementTimeout": s["acknowledgement_timeout"],
                **tag,
            }
        )
        team_edges("pagerduty_team_assigned_service", "ASSIGNED", s["team_ids"], f"service:{sid}")
        for uid, level in oncall_levels.get(pid, {}).items():
            if uid in account.users:
                relationships.append(
                    _edge(
                        "pagerduty_user_oncall_service",
                        "ONCALL",
                        f"user:{uid}",
                        f"service:{sid}",
                        escalationLevel=level,
                        escalationPolicyId=pid,
                    )
                )
    return {
        "entities": sorted(entities, key=lambda e: e["_key"]),
        "relationships": sorted(relationships, key=lambda r: r["_key"]),
    }
