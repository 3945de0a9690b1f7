"""The graph as the compliance report reads it (common/report/checks.py's checks, the roster of
common/report/roster.py): entities by type, and the edges they follow, keyed for lookup.
Both graph models are read: objects are told apart by `_type`, never by settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.graph import Entity, Graph, Relationship
from common.objects.escalation_policy import (
    ESCALATION_POLICY,
    POLICY_ASSIGNED_USER,
    POLICY_HAS_SCHEDULE,
)
from common.objects.membership import TEAM_HAS_USER
from common.objects.oncall import ONCALL_TYPES
from common.objects.schedule import SCHEDULE_HAS_USER
from common.objects.service import SERVICE, SERVICE_USES_POLICY


def iso_seconds(epoch: float) -> str:
    """ISO-8601 UTC to the second, as the report gives times: `2026-11-30T15:31:01Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReportGraph:
    """The graph read for the checks: entities by type, the edges the checks follow."""

    graph: Graph
    by_type: dict[str, list[Entity]] = field(default_factory=dict)
    policy_of: dict[str, str] = field(default_factory=dict)  # service key → policy key
    oncall: dict[str, list[Relationship]] = field(default_factory=dict)  # service key → edges
    users_in_team: set[str] = field(default_factory=set)
    schedule_policies: dict[str, set[str]] = field(default_factory=dict)
    # policy key → {schedule key | user key → the lowest level it is a target at}
    policy_schedules: dict[str, dict[str, int]] = field(default_factory=dict)
    policy_users: dict[str, dict[str, int]] = field(default_factory=dict)
    schedule_users: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, graph: Graph) -> ReportGraph:
        model = cls(graph)
        for key in sorted(graph.entities):
            entity = graph.entities[key]
            model.by_type.setdefault(entity.type, []).append(entity)
        policies_by_id = {str(p.properties.get("id")): p.key for p in model.of(ESCALATION_POLICY)}
        for service in model.of(SERVICE):
            policy_id = service.properties.get("escalationPolicyId")
            if policy_id and str(policy_id) in policies_by_id:
                model.policy_of[service.key] = policies_by_id[str(policy_id)]
        for edge in sorted(graph.relationships.values(), key=lambda r: r.key):
            if edge.to_key not in graph.entities or edge.from_key not in graph.entities:
                continue
            if edge.type == SERVICE_USES_POLICY:
                model.policy_of[edge.from_key] = edge.to_key  # the edge wins over the id
            elif edge.type in ONCALL_TYPES:  # ONCALL (seed) or MONITORS (jupiterone)
                model.oncall.setdefault(edge.to_key, []).append(edge)
            elif edge.type == TEAM_HAS_USER:
                model.users_in_team.add(edge.to_key)
            elif edge.type == POLICY_HAS_SCHEDULE:
                model.schedule_policies.setdefault(edge.to_key, set()).add(edge.from_key)
                level = number(edge.properties.get("escalationLevel"))
                model.policy_schedules.setdefault(edge.from_key, {})[edge.to_key] = level
            elif edge.type == POLICY_ASSIGNED_USER:
                level = number(edge.properties.get("escalationLevel"))
                model.policy_users.setdefault(edge.from_key, {})[edge.to_key] = level
            elif edge.type == SCHEDULE_HAS_USER:
                model.schedule_users.setdefault(edge.from_key, set()).add(edge.to_key)
        return model

    def of(self, type_: str) -> list[Entity]:
        return self.by_type.get(type_, [])

    def levels(self, policy_key: str) -> int:
        return number(self.graph.entities[policy_key].properties.get("levels"))

    def services_using(self, policy_key: str) -> list[str]:
        return sorted(s for s, p in self.policy_of.items() if p == policy_key)


def finding(
    check: str, severity: str, keys: Iterable[str], message: str, **details: Any
) -> dict[str, Any]:
    """One finding of a check (SPEC §3's shape)."""
    return {
        "check": check,
        "severity": severity,
        "keys": list(keys),
        "message": message,
        "details": details,
    }


def number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def name_of(entity: Entity) -> str:
    return str(entity.properties.get("name") or entity.key)


def email_of(entity: Entity) -> str | None:
    """The user's address (the data model makes `email` a one-item array)."""
    email = entity.properties.get("email")
    if isinstance(email, list):
        email = email[0] if email else None
    return str(email) if email else None


def reachable(user: Entity) -> bool | None:
    """Whether PagerDuty can page the user: a high-urgency notification rule on one of its
    contact methods (None: the graph does not say, read before pdgraph kept it)."""
    notified = user.properties.get("notifiedOnHighUrgency")
    return notified if isinstance(notified, bool) else None


def is_active(service: Entity) -> bool:
    active = service.properties.get("active")
    if isinstance(active, bool):
        return active
    return service.properties.get("status") != "disabled"


def edge_levels(edge: Relationship) -> set[int]:
    """The levels an on-call edge's user is on call at. An edge carries the user's lowest
    level (SPEC §5); `escalationLevels`, where an edge has it, lists every one."""
    every = edge.properties.get("escalationLevels")
    if isinstance(every, list):
        return {number(level) for level in every}
    level = number(edge.properties.get("escalationLevel"))
    return {level} if level > 0 else set()


def oncall_levels(edges: Iterable[Relationship]) -> set[int]:
    """The levels someone is on call at."""
    return {level for edge in edges for level in edge_levels(edge)}
