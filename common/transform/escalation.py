"""Escalation policies and schedules → entities and edges (SPEC §5).

An escalation policy is a `Ruleset` in JupiterOne's data model ("rules that govern … or
monitor an IT system": its escalation rules decide who is paged, in which order); a
schedule is a `Configuration` ("definitions that describe a resource": who is on call
when). Policy and Procedure, the other candidates, are written documents (RecordEntity:
title, summary and content required).

A schedule's coverage is computed from its final schedule (layers and overrides merged),
read for the 7 days from the sync's start: the share of that window someone is on call,
and each gap (start, minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.graph import Entity, PropertyValue, Relationship
from common.transform.entities import (
    PagerDutyObject,
    common_properties,
    epoch_ms,
    without_nulls,
)
from common.transform.model import (
    ESCALATION_POLICY,
    POLICY_ASSIGNED_USER,
    POLICY_HAS_SCHEDULE,
    SCHEDULE,
    SCHEDULE_HAS_USER,
    SERVICE_USES_POLICY,
    TEAM_HAS_POLICY,
    TEAM_HAS_SCHEDULE,
    policy_key,
    schedule_key,
    service_key,
    team_key,
    user_key,
)

COVERAGE_DAYS = 7  # a schedule's coverage is read for the 7 days from the read
Window = tuple[int, int]  # [start, end) in epoch milliseconds


def transform_escalation_policy(policy: PagerDutyObject, account_name: str | None = None) -> Entity:
    rules = policy.get("escalation_rules") or []
    properties: dict[str, PropertyValue] = {
        **common_properties(policy, account_name),
        "numLoops": policy.get("num_loops"),
        "onCallHandoffNotifications": policy.get("on_call_handoff_notifications"),
        "levels": len(rules),
        "escalationDelays": [int(r.get("escalation_delay_in_minutes") or 0) for r in rules],
    }
    return Entity(
        key=policy_key(policy["id"]),
        type=ESCALATION_POLICY,
        class_="Ruleset",
        properties=without_nulls(properties),
    )


def _target_kind(target: PagerDutyObject) -> str:
    """ "user" or "schedule" (PagerDuty writes `user_reference`, `schedule_reference`)."""
    return str(target.get("type") or "").removesuffix("_reference")


def _lowest_levels(policy: PagerDutyObject, kind: str) -> dict[str, int]:
    """Target id → the lowest level (1-based) at which a target of this kind appears."""
    levels: dict[str, int] = {}
    for level, rule in enumerate(policy.get("escalation_rules") or [], start=1):
        for target in rule.get("targets") or []:
            if _target_kind(target) == kind and target.get("id"):
                levels.setdefault(target["id"], level)
    return levels


def policy_edges(policy: PagerDutyObject) -> list[Relationship]:
    """The policy's schedules and direct users (with the lowest level), the services using
    it, and its teams."""
    key = policy_key(policy["id"])
    return [
        *(
            Relationship.between(
                POLICY_HAS_SCHEDULE, "HAS", key, schedule_key(sid), {"escalationLevel": level}
            )
            for sid, level in sorted(_lowest_levels(policy, "schedule").items())
        ),
        *(
            Relationship.between(
                POLICY_ASSIGNED_USER, "ASSIGNED", key, user_key(uid), {"escalationLevel": level}
            )
            for uid, level in sorted(_lowest_levels(policy, "user").items())
        ),
        *(
            Relationship.between(SERVICE_USES_POLICY, "USES", service_key(s["id"]), key)
            for s in policy.get("services") or []
        ),
        *(
            Relationship.between(TEAM_HAS_POLICY, "HAS", team_key(t["id"]), key)
            for t in policy.get("teams") or []
        ),
    ]


def service_uses_policy_edges(service: PagerDutyObject) -> list[Relationship]:
    policy_id = (service.get("escalation_policy") or {}).get("id")
    if not policy_id:
        return []
    return [
        Relationship.between(
            SERVICE_USES_POLICY, "USES", service_key(service["id"]), policy_key(policy_id)
        )
    ]


def coverage_gaps(entries: Iterable[PagerDutyObject], window: Window) -> list[Window]:
    """The parts of `window` no rendered entry covers, in order."""
    spans = sorted(
        (max(window[0], start), min(window[1], end))
        for entry in entries
        if (start := epoch_ms(entry.get("start"))) is not None
        and (end := epoch_ms(entry.get("end"))) is not None
    )
    gaps: list[Window] = []
    covered_to = window[0]
    for start, end in spans:
        if start > covered_to:
            gaps.append((covered_to, start))
        covered_to = max(covered_to, end)
    if covered_to < window[1]:
        gaps.append((covered_to, window[1]))
    return gaps


def _coverage_properties(schedule: PagerDutyObject, window: Window) -> dict[str, PropertyValue]:
    final = schedule.get("final_schedule")
    if final is None:  # read without a window: coverage unknown
        return {}
    gaps = coverage_gaps(final.get("rendered_schedule_entries") or [], window)
    span = window[1] - window[0]
    uncovered = sum(end - start for start, end in gaps)
    return {
        "finalScheduleCoverage": round(100.0 * (span - uncovered) / span, 2) if span else 100.0,
        "nextGapStartOn": gaps[0][0] if gaps else None,
        "coverageGapStarts": [start for start, _ in gaps],
        "coverageGapMinutes": [round((end - start) / 60000, 1) for start, end in gaps],
    }


def schedule_user_ids(schedule: PagerDutyObject) -> list[str]:
    """Users of any layer (the schedule's own `users` when it shows no layers)."""
    ids: dict[str, None] = {}
    for layer in schedule.get("schedule_layers") or []:
        for member in layer.get("users") or []:
            user = member.get("user") or member
            if user.get("id"):
                ids[user["id"]] = None
    if not ids:
        ids = {u["id"]: None for u in schedule.get("users") or [] if u.get("id")}
    return list(ids)


def transform_schedule(
    schedule: PagerDutyObject, window: Window | None = None, account_name: str | None = None
) -> Entity:
    """`window`: the 7 days the schedule's `final_schedule` was read for (None: not read)."""
    properties: dict[str, PropertyValue] = {
        **common_properties(schedule, account_name),
        "timeZone": schedule.get("time_zone"),
        "layers": len(schedule.get("schedule_layers") or []),
        **(_coverage_properties(schedule, window) if window else {}),
    }
    return Entity(
        key=schedule_key(schedule["id"]),
        type=SCHEDULE,
        class_="Configuration",
        properties=without_nulls(properties),
    )


def schedule_edges(schedule: PagerDutyObject) -> list[Relationship]:
    key = schedule_key(schedule["id"])
    return [
        *(
            Relationship.between(SCHEDULE_HAS_USER, "HAS", key, user_key(uid))
            for uid in sorted(schedule_user_ids(schedule))
        ),
        *(
            Relationship.between(TEAM_HAS_SCHEDULE, "HAS", team_key(t["id"]), key)
            for t in schedule.get("teams") or []
        ),
    ]


def window_ms(window: tuple[str, str]) -> Window:
    """A (since, until) read window, ISO 8601 as sent to PagerDuty, in epoch milliseconds."""
    return int(epoch_ms(window[0]) or 0), int(epoch_ms(window[1]) or 0)


def escalation_subgraph(
    policies: Sequence[PagerDutyObject],
    schedules: Sequence[PagerDutyObject],
    window: Window | None,
    account_name: str | None = None,
) -> tuple[list[Entity], list[Relationship]]:
    """Entities and edges of these policies and schedules."""
    entities = [
        *(transform_escalation_policy(p, account_name) for p in policies),
        *(transform_schedule(s, window, account_name) for s in schedules),
    ]
    edges = [
        *(e for p in policies for e in policy_edges(p)),
        *(e for s in schedules for e in schedule_edges(s)),
    ]
    return entities, edges
