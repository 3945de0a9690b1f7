"""Who is on call: schedules that rotate users, policies that escalate through levels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.pagerduty.objects import iso, ref


@dataclass
class Schedule:
    id: str
    name: str
    rotation: list[str]  # user ids, one shift each, repeating
    shift_seconds: int
    epoch: float  # when the first shift started

    def on_call_at(self, now: float) -> tuple[str, float, float]:
        shifts = int((now - self.epoch) // self.shift_seconds)
        start = self.epoch + shifts * self.shift_seconds
        return self.rotation[shifts % len(self.rotation)], start, start + self.shift_seconds


@dataclass
class EscalationPolicy:
    id: str
    name: str
    # one list of targets per level: ("user", id) = permanent, ("schedule", id) = rotating
    levels: list[list[tuple[str, str]]]


def oncall_entries(
    policies: Mapping[str, EscalationPolicy],
    schedules: Mapping[str, Schedule],
    users: Mapping[str, dict[str, Any]],
    now: float,
) -> list[dict[str, Any]]:
    """`GET /oncalls` at `now`: one entry per policy level and target, deleted users left out."""
    entries = []
    for policy in policies.values():
        policy_ref = ref("escalation_policy", policy.id, policy.name)
        for level, targets in enumerate(policy.levels, start=1):
            for kind, target_id in targets:
                if kind == "user":
                    if target_id not in users:
                        continue
                    user_id, schedule, start, end = target_id, None, None, None
                else:
                    sched = schedules[target_id]
                    user_id, s, e = sched.on_call_at(now)
                    if user_id not in users:
                        continue
                    schedule = ref("schedule", sched.id, sched.name)
                    start, end = iso(s), iso(e)
                entries.append(
                    {
                        "escalation_policy": policy_ref,
                        "escalation_level": level,
                        "schedule": schedule,
                        "start": start,
                        "end": end,
                        "user": ref("user", user_id, users[user_id]["name"]),
                    }
                )
    return entries
