"""Who is on call: schedules that rotate users, policies that escalate through levels."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.pagerduty.objects import iso, ref


@dataclass
class Schedule:
    id: str
    name: str
    rotation: list[str]  # user ids, one shift each, repeating
    shift_seconds: int
    epoch: float  # when the first shift started
    team_ids: list[str] = field(default_factory=list)

    def on_call_at(self, now: float) -> tuple[str, float, float]:
        shifts = int((now - self.epoch) // self.shift_seconds)
        start = self.epoch + shifts * self.shift_seconds
        return self.rotation[shifts % len(self.rotation)], start, start + self.shift_seconds

    def shifts(self, since: float, until: float) -> list[tuple[str, float, float]]:
        """Every shift overlapping [since, until]; the one holding `since` when they are equal."""
        first = int((since - self.epoch) // self.shift_seconds)
        last = max(first, math.ceil((until - self.epoch) / self.shift_seconds) - 1)
        return [
            self.on_call_at(self.epoch + n * self.shift_seconds) for n in range(first, last + 1)
        ]


@dataclass
class EscalationPolicy:
    id: str
    name: str
    # one list of targets per level: ("user", id) = permanent, ("schedule", id) = rotating
    levels: list[list[tuple[str, str]]]
    num_loops: int = 0
    escalation_delay_minutes: int = 30  # every level waits as long before escalating
    on_call_handoff_notifications: str = "if_has_services"
    team_ids: list[str] = field(default_factory=list)


def oncall_entries(
    policies: Mapping[str, EscalationPolicy],
    schedules: Mapping[str, Schedule],
    users: Mapping[str, dict[str, Any]],
    since: float,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """`GET /oncalls` over [since, until] (default: the instant `since`): one entry per policy
    level, target and shift, deleted users left out."""
    until = since if until is None else until
    entries: list[dict[str, Any]] = []
    for policy in policies.values():
        policy_ref = ref("escalation_policy", policy.id, policy.name)
        for level, targets in enumerate(policy.levels, start=1):
            for kind, target_id in targets:
                shifts: list[tuple[str, dict[str, Any] | None, str | None, str | None]]
                if kind == "user":
                    # permanently on call: PagerDuty's start, end and schedule are null
                    shifts = [(target_id, None, None, None)]
                else:
                    sched = schedules[target_id]
                    schedule = ref("schedule", sched.id, sched.name)
                    shifts = [
                        (u, schedule, iso(s), iso(e)) for u, s, e in sched.shifts(since, until)
                    ]
                entries.extend(
                    {
                        "escalation_policy": policy_ref,
                        "escalation_level": level,
                        "schedule": schedule,
                        "start": start,
                        "end": end,
                        "user": ref("user", user_id, users[user_id]["name"]),
                    }
                    for user_id, schedule, start, end in shifts
                    if user_id in users
                )
    return entries
