"""PagerDuty JSON → graph objects (SPEC §5). Pure: no I/O, no clock, no settings.

The full sync and the webhook worker both call these: one mapping, two callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from common.graph import Entity, Graph, PropertyValue, Relationship

USER = "pagerduty_user"
TEAM = "pagerduty_team"
SERVICE = "pagerduty_service"
TEAM_HAS_USER = "pagerduty_team_has_user"
TEAM_ASSIGNED_SERVICE = "pagerduty_team_assigned_service"
USER_ONCALL_SERVICE = "pagerduty_user_oncall_service"

ADMIN_ROLES = frozenset({"admin", "owner"})

PagerDutyObject = Mapping[str, Any]


def user_key(user_id: str) -> str:
    return f"user:{user_id}"


def team_key(team_id: str) -> str:
    return f"team:{team_id}"


def service_key(service_id: str) -> str:
    return f"service:{service_id}"


# -- reading the graph back: what a key or object is, without matching substrings ----------

_ENTITY_TYPES = {"user": USER, "team": TEAM, "service": SERVICE}
_RELATIONSHIP_TYPES = {
    (TEAM, "HAS", USER): TEAM_HAS_USER,
    (TEAM, "ASSIGNED", SERVICE): TEAM_ASSIGNED_SERVICE,
    (USER, "ONCALL", SERVICE): USER_ONCALL_SERVICE,
}
ENTITY_TYPES = frozenset(_ENTITY_TYPES.values())
# What webhooks keep current: a full sync that changes these found drift (users, teams,
# memberships and shift hand-offs send no webhook; their changes are expected).
WEBHOOK_MAINTAINED_TYPES = frozenset({SERVICE, TEAM_ASSIGNED_SERVICE})


def entity_type_of(key: str) -> str | None:
    """The `_type` of the entity with this `_key` (`service:P1` → pagerduty_service)."""
    prefix, _, rest = key.partition(":")
    return _ENTITY_TYPES.get(prefix) if rest else None


def type_of_key(key: str) -> str | None:
    """The `_type` of the entity or relationship with this `_key` (None: not ours)."""
    parts = key.split("|")
    if len(parts) == 1:
        return entity_type_of(key)
    if len(parts) != 3:
        return None
    from_type, to_type = entity_type_of(parts[0]) or "", entity_type_of(parts[2]) or ""
    return _RELATIONSHIP_TYPES.get((from_type, parts[1].upper(), to_type))


def is_oncall_edge(key: str) -> bool:
    """Whether `key` is a user ONCALL service relationship's `_key`."""
    return type_of_key(key) == USER_ONCALL_SERVICE


def epoch_ms(timestamp: str | None) -> int | None:
    """ISO 8601 (PagerDuty's format) → epoch milliseconds, as JupiterOne wants times."""
    if not timestamp:
        return None
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def _common_properties(obj: PagerDutyObject, account_name: str | None) -> dict[str, PropertyValue]:
    name = obj.get("name") or obj.get("summary") or obj["id"]
    properties: dict[str, PropertyValue] = {
        "id": obj["id"],
        "name": name,
        "displayName": name,
        "summary": obj.get("summary"),
        "description": obj.get("description"),
        "webLink": obj.get("html_url"),
    }
    if account_name:
        properties["tag.AccountName"] = account_name
    return properties


def transform_user(user: PagerDutyObject, account_name: str | None = None) -> Entity:
    role = user.get("role")
    return Entity(
        key=user_key(user["id"]),
        type=USER,
        class_="User",
        properties={
            **_common_properties(user, account_name),
            "email": user.get("email"),
            "username": user.get("email"),
            "role": role,
            "admin": role in ADMIN_ROLES,
            # PagerDuty deletes users rather than deactivating them: a listed user is active.
            "active": True,
            "jobTitle": user.get("job_title"),
            "timeZone": user.get("time_zone"),
            "billed": user.get("billed"),
            "invitationSent": user.get("invitation_sent"),
        },
    )


def transform_team(team: PagerDutyObject, account_name: str | None = None) -> Entity:
    return Entity(
        key=team_key(team["id"]),
        type=TEAM,
        class_="Team",
        properties=_common_properties(team, account_name),
    )


def transform_service(service: PagerDutyObject, account_name: str | None = None) -> Entity:
    status = service.get("status")
    policy = service.get("escalation_policy") or {}
    return Entity(
        key=service_key(service["id"]),
        type=SERVICE,
        class_="Service",
        properties={
            **_common_properties(service, account_name),
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
        },
    )


def team_has_user_edges(user: PagerDutyObject) -> list[Relationship]:
    return [
        Relationship.between(TEAM_HAS_USER, "HAS", team_key(team["id"]), user_key(user["id"]))
        for team in user.get("teams") or []
    ]


def assigned_edges_for_service(service: PagerDutyObject) -> list[Relationship]:
    return [
        Relationship.between(
            TEAM_ASSIGNED_SERVICE, "ASSIGNED", team_key(team["id"]), service_key(service["id"])
        )
        for team in service.get("teams") or []
    ]


def lowest_oncall_levels(oncalls: Iterable[PagerDutyObject]) -> dict[str, dict[str, int]]:
    """escalation policy id → {user id → lowest escalation level at which they are on call}."""
    levels: dict[str, dict[str, int]] = {}
    for oncall in oncalls:
        policy = oncall.get("escalation_policy") or {}
        user = oncall.get("user") or {}
        level = oncall.get("escalation_level")
        if not policy.get("id") or not user.get("id") or level is None:
            continue
        by_user = levels.setdefault(policy["id"], {})
        by_user[user["id"]] = min(level, by_user.get(user["id"], level))
    return levels


def oncall_edges_for_service(
    service: PagerDutyObject, levels_by_policy: Mapping[str, Mapping[str, int]]
) -> list[Relationship]:
    """Every on-call user of every level of the service's policy (not one per policy)."""
    policy_id = (service.get("escalation_policy") or {}).get("id")
    if not policy_id:
        return []
    return [
        Relationship.between(
            USER_ONCALL_SERVICE,
            "ONCALL",
            user_key(user_id),
            service_key(service["id"]),
            {"escalationLevel": level, "escalationPolicyId": policy_id},
        )
        for user_id, level in sorted(levels_by_policy.get(policy_id, {}).items())
    ]


def service_subgraph(
    service: PagerDutyObject,
    levels_by_policy: Mapping[str, Mapping[str, int]],
    account_name: str | None = None,
) -> tuple[Entity, list[Relationship]]:
    """One service's entity with its ASSIGNED and ONCALL edges (the webhook path's unit)."""
    return transform_service(service, account_name), [
        *assigned_edges_for_service(service),
        *oncall_edges_for_service(service, levels_by_policy),
    ]


def build_graph(
    users: Iterable[PagerDutyObject],
    teams: Iterable[PagerDutyObject],
    services: Iterable[PagerDutyObject],
    oncalls: Iterable[PagerDutyObject],
    account_name: str | None = None,
) -> Graph:
    """The complete graph of an account; edges whose ends are not both entities are dropped."""
    users = list(users)
    services = list(services)
    entities = [
        *(transform_user(u, account_name) for u in users),
        *(transform_team(t, account_name) for t in teams),
        *(transform_service(s, account_name) for s in services),
    ]
    levels = lowest_oncall_levels(oncalls)
    relationships = [edge for user in users for edge in team_has_user_edges(user)]
    for service in services:
        relationships += assigned_edges_for_service(service)
        relationships += oncall_edges_for_service(service, levels)
    keys = {e.key for e in entities}
    return Graph.of(entities, (r for r in relationships if r.from_key in keys and r.to_key in keys))


def service_policies_of(graph: Graph) -> dict[str, str]:
    """Service id → escalation policy id, from the service entities of a graph."""
    return {
        str(e.properties["id"]): str(e.properties["escalationPolicyId"])
        for e in graph.entities.values()
        if e.type == SERVICE and e.properties.get("escalationPolicyId")
    }
