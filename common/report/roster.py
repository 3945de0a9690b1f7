"""The roster (SPEC §3 `roster`): who is on call now, service by service, level by
level, named, and by which schedule. Pure: the report's graph in, the roster out."""

from __future__ import annotations

from typing import Any

from common.objects.service import SERVICE
from common.report.model import ReportGraph, edge_levels, email_of, is_active, name_of, reachable


def _via(
    model: ReportGraph, policy_key: str, user_key: str, level: int
) -> tuple[str | None, str | None]:
    """(the schedule that puts the user on call at this level, "schedule" | "direct" | None).

    The on-call edge does not say (`/oncalls` does, pdgraph does not keep it yet), so it
    is derived from the policy's targets: its HAS schedule and ASSIGNED user edges, which
    carry the lowest level each target appears at, and the schedules' members. (None, None):
    the graph cannot tell (two schedules of the level hold the user; a target at several
    levels; the user both a direct target and in a schedule of the level)."""
    schedules = model.policy_schedules.get(policy_key, {})
    direct = model.policy_users.get(policy_key, {}).get(user_key)
    at_level = sorted(s for s, lowest in schedules.items() if lowest == level)
    holding = [s for s in at_level if user_key in model.schedule_users.get(s, ())]
    if direct == level:
        return (None, "direct") if not holding else (None, None)
    if len(holding) == 1:
        return holding[0], "schedule"
    if holding:
        return None, None
    if len(at_level) == 1 and direct is None:
        return at_level[0], "schedule"  # the level's one schedule (the user by an override)
    if at_level:
        return None, None
    # nothing at this level says: a target the edges show only at a lower level
    lower = [
        s
        for s, lowest in schedules.items()
        if lowest < level and user_key in model.schedule_users.get(s, ())
    ]
    if len(lower) == 1 and direct is None:
        return lower[0], "schedule"
    if not lower and direct is not None and direct < level:
        return None, "direct"
    return None, None


def roster(model: ReportGraph) -> list[dict[str, Any]]:
    """Each active service, its escalation policy, and who is on call now at each level."""
    out = []
    for service in model.of(SERVICE):
        if not is_active(service):
            continue
        policy_key = model.policy_of.get(service.key)
        row: dict[str, Any] = {
            "key": service.key,
            "service": name_of(service),
            "escalationPolicy": None,
            "escalationPolicyKey": policy_key,
            "levels": [],
        }
        out.append(row)
        if policy_key is None:
            continue
        row["escalationPolicy"] = name_of(model.graph.entities[policy_key])
        edges = model.oncall.get(service.key, [])
        for level in range(1, model.levels(policy_key) + 1):
            oncall = []
            for edge in edges:
                if level not in edge_levels(edge):
                    continue
                user = model.graph.entities[edge.from_key]
                via, assignment = _via(model, policy_key, user.key, level)
                oncall.append(
                    {
                        "key": user.key,
                        "name": name_of(user),
                        "email": email_of(user),
                        "via": via,
                        "assignment": assignment,
                        "reachable": reachable(user),
                    }
                )
            oncall.sort(key=lambda person: (person["name"], person["key"]))
            row["levels"].append({"level": level, "oncall": oncall})
    return out
