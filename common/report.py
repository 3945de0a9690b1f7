"""The compliance evidence report (SPEC §3 `pdgraph report`, §4 `GET /report`): pure.

A graph (what pdgraph holds, from either sink) and the time in, a report dict out; never
PagerDuty itself. Both graph models are read: objects are told apart by `_type`, never by
settings. Rendering is common/report_render.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.graph import Entity, Graph, Relationship
from common.transform import (
    ADMIN_ROLES,
    ONCALL_TYPES,
    POLICY_HAS_SCHEDULE,
    SCHEDULE,
    SERVICE,
    SERVICE_USES_POLICY,
    TEAM,
    TEAM_HAS_USER,
    USER,
)
from common.transform import ESCALATION_POLICY as POLICY

GAP_HORIZON = timedelta(days=7)
URGENT_GAP = timedelta(hours=24)

# check name → (title, what it proves), in report order.
CHECKS: dict[str, tuple[str, str]] = {
    "service_without_escalation_policy": (
        "Services without an escalation policy",
        "An incident on the service notifies nobody: no escalation policy the graph holds.",
    ),
    "service_level_without_oncall": (
        "Escalation levels with nobody on call",
        "An active service's escalation policy has a level at which nobody is on call now.",
    ),
    "single_level_escalation_policy": (
        "Escalation policies with a single level",
        "Nobody is escalated to when the first responder does not acknowledge.",
    ),
    "schedule_coverage_gap": (
        "On-call schedule gaps in the next 7 days",
        "A time in the next 7 days at which the schedule puts nobody on call.",
    ),
    "oncall_user_without_team": (
        "On-call users in no team",
        "A user on call now for a service who is in no team the API key can list.",
    ),
    "disabled_service": (
        "Disabled services",
        "A disabled service opens no incident for what it monitors.",
    ),
    "admin_user": (
        "Users with admin or owner role",
        "Who holds account-wide administrative rights (for access review).",
    ),
}


@dataclass
class _Model:
    """The graph read for the checks: entities by type, the edges the checks follow."""

    graph: Graph
    by_type: dict[str, list[Entity]] = field(default_factory=dict)
    policy_of: dict[str, str] = field(default_factory=dict)  # service key → policy key
    oncall: dict[str, list[Relationship]] = field(default_factory=dict)  # service key → edges
    users_in_team: set[str] = field(default_factory=set)
    schedule_policies: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, graph: Graph) -> _Model:
        model = cls(graph)
        for key in sorted(graph.entities):
            entity = graph.entities[key]
            model.by_type.setdefault(entity.type, []).append(entity)
        policies_by_id = {str(p.properties.get("id")): p.key for p in model.of(POLICY)}
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
        return model

    def of(self, type_: str) -> list[Entity]:
        return self.by_type.get(type_, [])

    def levels(self, policy_key: str) -> int:
        return _int(self.graph.entities[policy_key].properties.get("levels"))

    def services_using(self, policy_key: str) -> list[str]:
        return sorted(s for s, p in self.policy_of.items() if p == policy_key)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _name(entity: Entity) -> str:
    return str(entity.properties.get("name") or entity.key)


def _iso(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_active(service: Entity) -> bool:
    active = service.properties.get("active")
    if isinstance(active, bool):
        return active
    return service.properties.get("status") != "disabled"


def _finding(
    check: str, severity: str, keys: Iterable[str], message: str, **details: Any
) -> dict[str, Any]:
    return {
        "check": check,
        "severity": severity,
        "keys": list(keys),
        "message": message,
        "details": details,
    }


def _oncall_levels(edges: Iterable[Relationship]) -> set[int]:
    """The levels someone is on call at. An edge carries the user's lowest level (SPEC §5);
    `escalationLevels`, where an edge has it, lists every one."""
    levels: set[int] = set()
    for edge in edges:
        every = edge.properties.get("escalationLevels")
        if isinstance(every, list):
            levels.update(_int(level) for level in every)
        elif (level := _int(edge.properties.get("escalationLevel"))) > 0:
            levels.add(level)
    return levels


def services_without_policy(model: _Model) -> list[dict[str, Any]]:
    findings = []
    for service in model.of(SERVICE):
        if service.key in model.policy_of:
            continue
        named = service.properties.get("escalationPolicyId")
        why = (
            f"names escalation policy {named}, which the graph does not hold"
            if named
            else "names no escalation policy"
        )
        findings.append(
            _finding(
                "service_without_escalation_policy",
                "high",
                [service.key],
                f"Service {_name(service)} {why}.",
                service=_name(service),
                escalationPolicyId=named,
            )
        )
    return findings


def levels_without_oncall(model: _Model) -> list[dict[str, Any]]:
    findings = []
    for service in model.of(SERVICE):
        policy_key = model.policy_of.get(service.key)
        if not is_active(service) or policy_key is None:
            continue
        levels = model.levels(policy_key)
        covered = _oncall_levels(model.oncall.get(service.key, []))
        missing = [level for level in range(1, levels + 1) if level not in covered]
        if not missing:
            continue
        policy = model.graph.entities[policy_key]
        findings.append(
            _finding(
                "service_level_without_oncall",
                "high" if 1 in missing else "medium",
                [service.key, policy_key],
                f"Service {_name(service)}: nobody is on call at level"
                f"{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of"
                f" escalation policy {_name(policy)} ({levels} levels).",
                service=_name(service),
                escalationPolicy=_name(policy),
                levels=levels,
                levelsWithoutOncall=missing,
            )
        )
    return findings


def single_level_policies(model: _Model) -> list[dict[str, Any]]:
    return [
        _finding(
            "single_level_escalation_policy",
            "medium",
            [policy.key],
            f"Escalation policy {_name(policy)} has a single level: nobody is escalated to.",
            escalationPolicy=_name(policy),
            numLoops=policy.properties.get("numLoops"),
            services=model.services_using(policy.key),
        )
        for policy in model.of(POLICY)
        if model.levels(policy.key) == 1
    ]


def _gaps(schedule: Entity, now: datetime) -> list[dict[str, Any]]:
    """The schedule's gaps not over by `now` and starting within 7 days of it: start and
    minutes (None: only `nextGapStartOn` is known, not how long)."""
    now_ms, horizon_ms = now.timestamp() * 1000, (now + GAP_HORIZON).timestamp() * 1000
    starts = schedule.properties.get("coverageGapStarts")
    minutes = schedule.properties.get("coverageGapMinutes")
    if isinstance(starts, list):
        lengths = minutes if isinstance(minutes, list) else []
        spans = [(s, lengths[i] if i < len(lengths) else None) for i, s in enumerate(starts)]
    elif isinstance(next_gap := schedule.properties.get("nextGapStartOn"), int | float):
        spans = [(next_gap, None)]
    else:
        spans = []
    gaps = []
    for start, length in sorted(spans, key=lambda span: span[0]):
        end = None if length is None else start + length * 60_000
        if start >= horizon_ms or (end is not None and end <= now_ms):
            continue
        gaps.append({"start": _iso(start), "startOn": start, "minutes": length})
    return gaps


def schedule_gaps(model: _Model, now: datetime) -> list[dict[str, Any]]:
    findings = []
    urgent_ms = (now + URGENT_GAP).timestamp() * 1000
    for schedule in model.of(SCHEDULE):
        gaps = _gaps(schedule, now)
        if not gaps:
            continue
        first = gaps[0]
        length = f" for {first['minutes']:g} minutes" if first["minutes"] is not None else ""
        more = f" ({len(gaps)} gaps in all)" if len(gaps) > 1 else ""
        findings.append(
            _finding(
                "schedule_coverage_gap",
                "high" if first["startOn"] < urgent_ms else "medium",
                [schedule.key],
                f"Schedule {_name(schedule)} has nobody on call from {first['start']}{length}"
                f"{more}.",
                schedule=_name(schedule),
                gaps=gaps,
                finalScheduleCoverage=schedule.properties.get("finalScheduleCoverage"),
                escalationPolicies=sorted(model.schedule_policies.get(schedule.key, ())),
            )
        )
    return findings


def oncall_users_without_team(model: _Model) -> list[dict[str, Any]]:
    services_of: dict[str, set[str]] = {}
    for service_key, edges in model.oncall.items():
        for edge in edges:
            services_of.setdefault(edge.from_key, set()).add(service_key)
    findings = []
    for user in model.of(USER):
        if user.key not in services_of or user.key in model.users_in_team:
            continue
        services = sorted(services_of[user.key])
        findings.append(
            _finding(
                "oncall_user_without_team",
                "low",
                [user.key],
                f"User {_name(user)} is on call for {len(services)} service"
                f"{'s' if len(services) > 1 else ''} and is in no team.",
                user=_name(user),
                services=services,
            )
        )
    return findings


def disabled_services(model: _Model) -> list[dict[str, Any]]:
    return [
        _finding(
            "disabled_service",
            "medium",
            [service.key],
            f"Service {_name(service)} is disabled: it opens no incidents.",
            service=_name(service),
            status=service.properties.get("status"),
        )
        for service in model.of(SERVICE)
        if not is_active(service)
    ]


def admin_users(model: _Model) -> list[dict[str, Any]]:
    admins = [
        u
        for u in model.of(USER)
        if u.properties.get("admin") is True or u.properties.get("role") in ADMIN_ROLES
    ]
    if not admins:
        return []
    listed = [{"key": u.key, "name": _name(u), "role": u.properties.get("role")} for u in admins]
    return [
        _finding(
            "admin_user",
            "info",
            [u.key for u in admins],
            f"{len(admins)} user{'s' if len(admins) > 1 else ''} with the admin or owner role.",
            users=listed,
        )
    ]


def _summary(model: _Model) -> dict[str, Any]:
    active = [s for s in model.of(SERVICE) if is_active(s)]
    covered = [
        s
        for s in active
        if (policy := model.policy_of.get(s.key)) is not None
        and model.levels(policy) >= 2
        and model.oncall.get(s.key)
    ]
    return {
        "services": len(model.of(SERVICE)),
        "activeServices": len(active),
        "teams": len(model.of(TEAM)),
        "users": len(model.of(USER)),
        "policies": len(model.of(POLICY)),
        "schedules": len(model.of(SCHEDULE)),
        "coveredServices": len(covered),
        "coveredServicesPct": round(100 * len(covered) / len(active), 1) if active else None,
    }


def build_report(graph: Graph, now: datetime, account_name: str | None = None) -> dict[str, Any]:
    """The report (SPEC §3's JSON shape): summary, then findings in CHECKS order, each
    check's findings ordered by their keys."""
    model = _Model.read(graph)
    findings = [
        *services_without_policy(model),
        *levels_without_oncall(model),
        *single_level_policies(model),
        *schedule_gaps(model, now),
        *oncall_users_without_team(model),
        *disabled_services(model),
        *admin_users(model),
    ]
    order = list(CHECKS)
    findings.sort(key=lambda f: (order.index(f["check"]), f["keys"]))
    return {
        "generated_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account_name": account_name,
        "summary": _summary(model),
        "findings": findings,
    }


def findings_by_check(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every check (CHECKS order), with its findings (none: the check passed)."""
    grouped: dict[str, list[dict[str, Any]]] = {check: [] for check in CHECKS}
    for finding in report["findings"]:
        grouped.setdefault(finding["check"], []).append(finding)
    return grouped
