"""The graph SPEC §5 expects for a simulated account, written from the simulator's state.

Deliberately independent of common.objects: it is the oracle the pipeline (client →
transform → sink → export) is checked against, so it must not share code with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sim.pagerduty import Account
from sim.pagerduty.objects import TIME_ZONE
from tests.expected_catalog import catalog, edge, maintenance, reachability, tags


def _ms(ts: str | None) -> int | None:
    return None if ts is None else int(datetime.fromisoformat(ts).timestamp() * 1000)


GraphModel = str  # "seed" | "jupiterone"


def _without_nulls(obj: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None or k in keep}


def _user(u: dict[str, Any]) -> dict[str, Any]:
    """SPEC §5's user properties beyond the common ones."""
    email = u["email"]
    login, domain = email.split("@", 1) if email and "@" in email else (None, None)
    words = u["name"].split(" ", 1)
    return {
        "email": [email] if email else None,
        "username": [email] if email else None,
        "shortLoginId": [login] if login else None,
        "emailDomain": [domain.lower()] if domain else None,
        "firstName": words[0] or None,
        "lastName": words[1].strip() or None if len(words) == 2 else None,
        "role": u["role"],
        "admin": u["role"] in ("admin", "owner"),
        "active": True,
        "isActive": True,
        "jobTitle": u["job_title"],
        "timeZone": u["time_zone"],
        "billed": u["billed"],
        "invitationSent": u["invitation_sent"],
    }


def _gaps(account: Account, schedule: Any, since: float, until: float) -> list[tuple[int, int]]:
    """[start, end) in epoch ms of each part of the window whose shift's user is gone."""
    gaps: list[tuple[int, int]] = []
    t = since
    while t < until:
        n = int((t - schedule.epoch) // schedule.shift_seconds)
        # the API writes whole seconds: a shift boundary is seen truncated
        end = min(float(int(schedule.epoch + (n + 1) * schedule.shift_seconds)), until)
        if end <= t:
            end = t + 1
        if schedule.rotation[n % len(schedule.rotation)] not in account.users:
            start_ms, end_ms = int(t * 1000), int(end * 1000)
            if gaps and gaps[-1][1] == start_ms:
                start_ms = gaps.pop()[0]
            gaps.append((start_ms, end_ms))
        t = end
    return gaps


def _coverage(account: Account, schedule: Any) -> dict[str, Any]:
    window = account.coverage_windows.get(schedule.id)
    if window is None:
        return {}
    gaps = _gaps(account, schedule, *window)
    span = int(window[1] * 1000) - int(window[0] * 1000)
    missing = sum(e - s for s, e in gaps)
    return {
        "finalScheduleCoverage": round(100.0 * (span - missing) / span, 2),
        "nextGapStartOn": gaps[0][0] if gaps else None,
        "coverageGapStarts": [s for s, _ in gaps],
        "coverageGapMinutes": [round((e - s) / 60000, 1) for s, e in gaps],
    }


def expected_export(
    account: Account, account_name: str | None = None, model: GraphModel = "seed"
) -> dict[str, Any]:
    tag = {"tag.AccountName": account_name} if account_name else {}
    entities: list[dict[str, Any]] = []
    relationships: list[dict[str, Any]] = []

    def link(kind: str, oid: str) -> str:
        return account._links(kind, oid)["html_url"]

    def team_edges(type_: str, class_: str, team_ids: list[str], to_key: str) -> None:
        """An edge from each of the object's teams that still exists."""
        for t in team_ids:
            if t in account.teams:
                relationships.append(edge(type_, class_, f"team:{t}", to_key))

    def entity(kind: str, class_: str, obj: dict[str, Any], **props: Any) -> None:
        """What SPEC §5 gives every entity: key, type, class, id, names, description, link;
        null properties left out (but the User schema's required nullable ones)."""
        keep = ("firstName", "lastName", "email", "username", "shortLoginId")
        common = {
            "id": obj["id"],
            "name": obj["name"],
            "displayName": obj["name"],
            "summary": obj["name"],
            "description": obj.get("description"),
            "webLink": link(kind, obj["id"]),
        }
        entities.append(
            {
                "_key": f"{kind}:{obj['id']}",
                "_type": f"pagerduty_{kind}",
                "_class": class_,
                **_without_nulls({**common, **props}, keep if class_ == "User" else ()),
                **tag,
            }
        )

    for u in account.users.values():
        extra = {**reachability(account, u["id"]), **tags(account, "user", u["id"])}
        entity("user", "User", u, **_user(u), **extra)
        team_edges("pagerduty_team_has_user", "HAS", u["team_ids"], f"user:{u['id']}")
    for t in account.teams.values():
        entity("team", "Team", t, **tags(account, "team", t["id"]))
    _policies_and_schedules(account, entity, team_edges, relationships)
    _services(account, entity, relationships, model)
    more_entities, more_edges = catalog(account, tag)
    entities += more_entities
    relationships += more_edges
    return {
        "entities": sorted(entities, key=lambda e: e["_key"]),
        "relationships": sorted(relationships, key=lambda r: r["_key"]),
    }


def _policies_and_schedules(
    account: Account, entity: Any, team_edges: Any, relationships: list[dict[str, Any]]
) -> None:
    for p in account.policies.values():
        key = f"escalation_policy:{p.id}"
        entity(
            "escalation_policy",
            "Ruleset",
            {"id": p.id, "name": p.name},
            numLoops=p.num_loops,
            onCallHandoffNotifications=p.on_call_handoff_notifications,
            levels=len(p.levels),
            escalationDelays=[p.escalation_delay_minutes] * len(p.levels),
            **tags(account, "escalation_policy", p.id),
        )
        team_edges("pagerduty_team_has_escalation_policy", "HAS", p.team_ids, key)
        lowest: dict[tuple[str, str], int] = {}
        for level, targets in enumerate(p.levels, start=1):
            for kind, tid in targets:
                lowest.setdefault((kind, tid), level)
        for (kind, tid), level in lowest.items():
            if kind == "schedule" and tid in account.schedules:
                relationships.append(
                    edge(
                        "pagerduty_escalation_policy_has_schedule",
                        "HAS",
                        key,
                        f"schedule:{tid}",
                        escalationLevel=level,
                    )
                )
            elif kind == "user" and tid in account.users:
                relationships.append(
                    edge(
                        "pagerduty_escalation_policy_assigned_user",
                        "ASSIGNED",
                        key,
                        f"user:{tid}",
                        escalationLevel=level,
                    )
                )
    for sc in account.schedules.values():
        key = f"schedule:{sc.id}"
        entity(
            "schedule",
            "Configuration",
            {"id": sc.id, "name": sc.name},
            timeZone=TIME_ZONE,
            layers=1,
            **_coverage(account, sc),
        )
        team_edges("pagerduty_team_has_schedule", "HAS", sc.team_ids, key)
        for uid in sorted(set(sc.rotation)):
            if uid in account.users:
                relationships.append(edge("pagerduty_schedule_has_user", "HAS", key, f"user:{uid}"))


def _services(
    account: Account, entity: Any, relationships: list[dict[str, Any]], model: GraphModel
) -> None:
    oncall_levels: dict[str, dict[str, set[int]]] = {}
    for o in account.oncalls_now():
        levels = oncall_levels.setdefault(o["escalation_policy"]["id"], {})
        levels.setdefault(o["user"]["id"], set()).add(o["escalation_level"])
    oncall_type, oncall_class = (
        ("pagerduty_user_monitors_service", "MONITORS")
        if model == "jupiterone"
        else ("pagerduty_user_oncall_service", "ONCALL")
    )
    for s in account.services.values():
        sid, pid = s["id"], s["escalation_policy_id"]
        entity(
            "service",
            "Service",
            s,
            status=s["status"],
            active=s["status"] != "disabled",
            category=["software"],
            function=["monitoring"],
            endpoints=[link_of(account, "service", sid)],
            createdOn=_ms(s["created_at"]),
            lastIncidentOn=_ms(s["last_incident_timestamp"]),
            escalationPolicyId=pid,
            alertCreation=s["alert_creation"],
            autoResolveTimeout=s["auto_resolve_timeout"],
            acknowledgementTimeout=s["acknowledgement_timeout"],
            **maintenance(account, sid),
        )
        for t in s["team_ids"]:
            if t in account.teams:
                ends = (
                    (f"service:{sid}", f"team:{t}")
                    if model == "jupiterone"
                    else (
                        f"team:{t}",
                        f"service:{sid}",
                    )
                )
                type_ = (
                    "pagerduty_service_assigned_team"
                    if model == "jupiterone"
                    else "pagerduty_team_assigned_service"
                )
                relationships.append(edge(type_, "ASSIGNED", *ends))
        if pid in account.policies:
            relationships.append(
                edge(
                    "pagerduty_service_uses_escalation_policy",
                    "USES",
                    f"service:{sid}",
                    f"escalation_policy:{pid}",
                )
            )
        for uid, level in oncall_levels.get(pid, {}).items():
            if uid in account.users:
                relationships.append(
                    edge(
                        oncall_type,
                        oncall_class,
                        f"user:{uid}",
                        f"service:{sid}",
                        escalationLevel=min(level),
                        escalationLevels=sorted(level),
                        escalationPolicyId=pid,
                    )
                )


def link_of(account: Account, kind: str, oid: str) -> str:
    return account._links(kind, oid)["html_url"]
