"""PagerDuty JSON → graph objects (SPEC §5). Pure: no I/O, no clock, no settings.

The full sync and the incremental paths (webhooks, on-call refreshes, the audit feed) all
call these: one mapping, several callers. `model` is Settings.graph_model
(common.transform.model explains the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.graph import Entity, Graph, Relationship
from common.transform.entities import (
    ADMIN_ROLES,
    PagerDutyObject,
    epoch_ms,
    transform_service,
    transform_team,
    transform_user,
)
from common.transform.escalation import (
    COVERAGE_DAYS,
    Window,
    coverage_gaps,
    escalation_subgraph,
    policy_edges,
    schedule_edges,
    schedule_user_ids,
    service_uses_policy_edges,
    transform_escalation_policy,
    transform_schedule,
    window_ms,
)
from common.transform.model import (
    ENTITY_TYPES,
    ESCALATION_POLICY,
    ONCALL_TYPES,
    POLICY_ASSIGNED_USER,
    POLICY_HAS_SCHEDULE,
    SCHEDULE,
    SCHEDULE_HAS_USER,
    SEED,
    SERVICE,
    SERVICE_ASSIGNED_TEAM,
    SERVICE_USES_POLICY,
    TEAM,
    TEAM_ASSIGNED_SERVICE,
    TEAM_HAS_POLICY,
    TEAM_HAS_SCHEDULE,
    TEAM_HAS_USER,
    USER,
    USER_MONITORS_SERVICE,
    USER_ONCALL_SERVICE,
    WEBHOOK_MAINTAINED_TYPES,
    GraphModel,
    entity_type_of,
    is_oncall_edge,
    oncall_edge,
    policy_key,
    schedule_key,
    service_key,
    team_key,
    team_service_edge,
    type_of_key,
    user_key,
)


def team_has_user_edges(user: PagerDutyObject) -> list[Relationship]:
    return [
        Relationship.between(TEAM_HAS_USER, "HAS", team_key(team["id"]), user_key(user["id"]))
        for team in user.get("teams") or []
    ]


def assigned_edges_for_service(
    service: PagerDutyObject, model: GraphModel = SEED
) -> list[Relationship]:
    return [
        team_service_edge(team["id"], service["id"], model) for team in service.get("teams") or []
    ]


OncallLevels = Mapping[str, Mapping[str, tuple[int, ...]]]


def oncall_levels(oncalls: Iterable[PagerDutyObject]) -> dict[str, dict[str, tuple[int, ...]]]:
    """escalation policy id → {user id → every level at which they are on call, ascending}."""
    levels: dict[str, dict[str, set[int]]] = {}
    for oncall in oncalls:
        policy = oncall.get("escalation_policy") or {}
        user = oncall.get("user") or {}
        level = oncall.get("escalation_level")
        if not policy.get("id") or not user.get("id") or level is None:
            continue
        levels.setdefault(policy["id"], {}).setdefault(user["id"], set()).add(int(level))
    return {
        pid: {uid: tuple(sorted(found)) for uid, found in by_user.items()}
        for pid, by_user in levels.items()
    }


def oncall_edges_for_service(
    service: PagerDutyObject, levels_by_policy: OncallLevels, model: GraphModel = SEED
) -> list[Relationship]:
    """Every on-call user of every level of the service's policy (not one per policy):
    `escalationLevel` the lowest level, `escalationLevels` every level they are on call at."""
    policy_id = (service.get("escalation_policy") or {}).get("id")
    if not policy_id:
        return []
    return [
        oncall_edge(
            user_id,
            service["id"],
            {
                "escalationLevel": levels[0],
                "escalationLevels": list(levels),
                "escalationPolicyId": policy_id,
            },
            model,
        )
        for user_id, levels in sorted(levels_by_policy.get(policy_id, {}).items())
    ]


def service_subgraph(
    service: PagerDutyObject,
    levels_by_policy: OncallLevels,
    account_name: str | None = None,
    model: GraphModel = SEED,
) -> tuple[Entity, list[Relationship]]:
    """One service's entity with its team, policy and on-call edges (the webhook path's unit)."""
    return transform_service(service, account_name), [
        *assigned_edges_for_service(service, model),
        *service_uses_policy_edges(service),
        *oncall_edges_for_service(service, levels_by_policy, model),
    ]


def build_graph(
    users: Iterable[PagerDutyObject],
    teams: Iterable[PagerDutyObject],
    services: Iterable[PagerDutyObject],
    oncalls: Iterable[PagerDutyObject],
    account_name: str | None = None,
    *,
    policies: Iterable[PagerDutyObject] = (),
    schedules: Iterable[PagerDutyObject] = (),
    window: Window | None = None,
    model: GraphModel = SEED,
) -> Graph:
    """The complete graph of an account; edges whose ends are not both entities are dropped.

    Each listing is iterated once, so a caller may hand over iterators that let go of the
    raw objects as they are transformed. `window`: the 7 days the schedules' final
    schedules were read for (their coverage)."""
    levels = oncall_levels(oncalls)
    entities: list[Entity] = []
    relationships: list[Relationship] = []
    for user in users:
        entities.append(transform_user(user, account_name))
        relationships += team_has_user_edges(user)
    entities += (transform_team(t, account_name) for t in teams)
    for service in services:
        entity, edges = service_subgraph(service, levels, account_name, model)
        entities.append(entity)
        relationships += edges
    for policy in policies:
        entities.append(transform_escalation_policy(policy, account_name))
        relationships += policy_edges(policy)
    for schedule in schedules:
        entities.append(transform_schedule(schedule, window, account_name))
        relationships += schedule_edges(schedule)
    keys = {e.key for e in entities}
    return Graph.of(entities, (r for r in relationships if r.from_key in keys and r.to_key in keys))


def service_policies_of(graph: Graph) -> dict[str, str]:
    """Service id → escalation policy id, from the service entities of a graph."""
    return {
        str(e.properties["id"]): str(e.properties["escalationPolicyId"])
        for e in graph.entities.values()
        if e.type == SERVICE and e.properties.get("escalationPolicyId")
    }


__all__ = [
    "ADMIN_ROLES",
    "COVERAGE_DAYS",
    "ENTITY_TYPES",
    "ESCALATION_POLICY",
    "ONCALL_TYPES",
    "POLICY_ASSIGNED_USER",
    "POLICY_HAS_SCHEDULE",
    "SCHEDULE",
    "SCHEDULE_HAS_USER",
    "SEED",
    "SERVICE",
    "SERVICE_ASSIGNED_TEAM",
    "SERVICE_USES_POLICY",
    "TEAM",
    "TEAM_ASSIGNED_SERVICE",
    "TEAM_HAS_POLICY",
    "TEAM_HAS_SCHEDULE",
    "TEAM_HAS_USER",
    "USER",
    "USER_MONITORS_SERVICE",
    "USER_ONCALL_SERVICE",
    "WEBHOOK_MAINTAINED_TYPES",
    "GraphModel",
    "OncallLevels",
    "PagerDutyObject",
    "Window",
    "assigned_edges_for_service",
    "build_graph",
    "coverage_gaps",
    "entity_type_of",
    "epoch_ms",
    "escalation_subgraph",
    "is_oncall_edge",
    "oncall_edge",
    "oncall_edges_for_service",
    "oncall_levels",
    "policy_edges",
    "policy_key",
    "schedule_edges",
    "schedule_key",
    "schedule_user_ids",
    "service_key",
    "service_policies_of",
    "service_subgraph",
    "service_uses_policy_edges",
    "team_has_user_edges",
    "team_key",
    "transform_escalation_policy",
    "transform_schedule",
    "transform_service",
    "transform_team",
    "transform_user",
    "type_of_key",
    "user_key",
    "window_ms",
]
