"""How the API shows escalation policies, schedules, team members and expanded on-calls.

Derived from the account's state the way PagerDuty derives them: a schedule's rendered
entries are its fixed-length shifts, a shift whose user was deleted is a gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.pagerduty.escalation import EscalationPolicy, Schedule
from sim.pagerduty.objects import TIME_ZONE, iso, ref

if TYPE_CHECKING:
    from sim.pagerduty.account import Account


def _team_refs(account: Account, team_ids: list[str]) -> list[dict[str, Any]]:
    return [ref("team", t, account.teams[t]["name"]) for t in team_ids if t in account.teams]


def _target_ref(account: Account, kind: str, target_id: str) -> dict[str, Any]:
    name = account.users[target_id]["name"] if kind == "user" else account.schedules[target_id].name
    return ref(kind, target_id, name)


def policy_json(account: Account, policy: EscalationPolicy) -> dict[str, Any]:
    rules = [
        {
            "id": f"PR{policy.id[2:]}{level}",
            "escalation_delay_in_minutes": policy.escalation_delay_minutes,
            "targets": [_target_ref(account, kind, tid) for kind, tid in targets],
        }
        for level, targets in enumerate(policy.levels, start=1)
    ]
    services = [
        s for s in account.sorted_by_name("services") if s["escalation_policy_id"] == policy.id
    ]
    return {
        **ref("escalation_policy", policy.id, policy.name, reference=False),
        "name": policy.name,
        "description": None,  # PagerDuty sends null for a policy without one
        "num_loops": policy.num_loops,
        "on_call_handoff_notifications": policy.on_call_handoff_notifications,
        "escalation_rules": rules,
        "services": [ref("service", s["id"], s["name"]) for s in services],
        "teams": _team_refs(account, policy.team_ids),
    }


def _user_refs(account: Account, user_ids: list[str]) -> list[dict[str, Any]]:
    return [ref("user", u, account.users[u]["name"]) for u in user_ids if u in account.users]


def rendered(account: Account, schedule: Schedule, since: float, until: float) -> dict[str, Any]:
    """Entries clipped to [since, until] and the share of it someone is on call, in %."""
    entries = []
    covered = 0.0
    for user_id, start, end in schedule.shifts(since, until):
        # whole seconds, as the entries are written: the percentage agrees with them
        start, end = float(int(max(start, since))), float(int(min(end, until)))
        if user_id not in account.users or end <= start:
            continue  # a deleted user's shift is a gap
        covered += end - start
        entries.append(
            {
                "start": iso(start),
                "end": iso(end),
                "user": ref("user", user_id, account.users[user_id]["name"]),
            }
        )
    span = until - since
    coverage = 100.0 * covered / span if span > 0 else 100.0
    return {"rendered_schedule_entries": entries, "rendered_coverage_percentage": coverage}


def schedule_json(
    account: Account, schedule: Schedule, window: tuple[float, float] | None = None
) -> dict[str, Any]:
    """With a (since, until) window: the layer's and the final schedule's rendered entries."""
    layer: dict[str, Any] = {
        "id": f"PL{schedule.id[2:]}",
        "name": "Layer 1",
        "start": iso(schedule.epoch),
        "end": None,  # open-ended layer: PagerDuty sends null
        "rotation_virtual_start": iso(schedule.epoch),
        "rotation_turn_length_seconds": schedule.shift_seconds,
        "users": [{"user": u} for u in _user_refs(account, schedule.rotation)],
        "restrictions": [],
    }
    out: dict[str, Any] = {
        **ref("schedule", schedule.id, schedule.name, reference=False),
        "name": schedule.name,
        "description": None,
        "time_zone": TIME_ZONE,
        "schedule_layers": [layer],
        "users": _user_refs(account, list(dict.fromkeys(schedule.rotation))),
        "teams": _team_refs(account, schedule.team_ids),
        "escalation_policies": [
            ref("escalation_policy", p.id, p.name)
            for p in account.policies.values()
            if any(t == ("schedule", schedule.id) for level in p.levels for t in level)
        ],
    }
    if window is not None:
        shown = rendered(account, schedule, *window)
        layer.update(shown)
        out["final_schedule"] = {"name": "Final Schedule", **shown}
        out["overrides_subschedule"] = {
            "name": "Overrides",
            "rendered_schedule_entries": [],
            "rendered_coverage_percentage": 0.0,
        }
    return out


def members(account: Account, team_id: str) -> list[dict[str, Any]]:
    """`GET /teams/{id}/members`: the team's users by name, each with its role in the team."""
    if team_id not in account.teams:
        raise KeyError(team_id)
    return [
        {
            "user": ref("user", u["id"], u["name"]),
            "role": account.member_role(team_id, u["id"]),
        }
        for u in account.sorted_by_name("users")
        if team_id in u["team_ids"]
    ]


def expand_oncall(account: Account, oncall: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """`include[]=users|schedules|escalation_policies`: full objects instead of references."""
    out = dict(oncall)
    if "users" in include:
        out["user"] = account.user_json(account.users[oncall["user"]["id"]])
    if "escalation_policies" in include:
        policy = account.policies[oncall["escalation_policy"]["id"]]
        out["escalation_policy"] = policy_json(account, policy)
    if "schedules" in include and oncall["schedule"] is not None:
        out["schedule"] = schedule_json(account, account.schedules[oncall["schedule"]["id"]])
    return out
