"""PagerDuty schedules → `pagerduty_schedule` entities (Configuration: "definitions that
describe a resource": who is on call when), the users of their layers and their teams.

A schedule's coverage is computed from its final schedule (layers and overrides merged),
read for the 7 days from the read (`GET /schedules/{id}?since&until`, one request per
schedule): the share of that window someone is on call, and each gap (start, minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from common.graph import Entity, PropertyValue, Relationship
from common.objects.base import (
    AccountRead,
    Build,
    EdgeType,
    ObjectGraph,
    ObjectKind,
    PagerDutyObject,
    Window,
    common_properties,
    epoch_ms,
    key_of,
    read_each,
    without_nulls,
)

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

SCHEDULE = "pagerduty_schedule"
SCHEDULE_HAS_USER = "pagerduty_schedule_has_user"
TEAM_HAS_SCHEDULE = "pagerduty_team_has_schedule"
# PagerDuty takes a deleted user out of its schedules (a gap where its shifts were).
HAS_USER = EdgeType(SCHEDULE_HAS_USER, "HAS", "schedule", "user", follows_deletion=True)
TEAM_HAS = EdgeType(TEAM_HAS_SCHEDULE, "HAS", "team", "schedule")
COVERAGE_DAYS = 7  # a schedule's coverage is read for the 7 days from the read


def schedule_key(schedule_id: str) -> str:
    return key_of("schedule", schedule_id)


def coverage_window(now: datetime | None = None) -> tuple[str, str]:
    """The 7 days from now (whole seconds, UTC) a schedule's coverage is read for."""
    start = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = start + timedelta(days=COVERAGE_DAYS)
    return start.isoformat(), end.isoformat()


def window_ms(window: tuple[str, str]) -> Window:
    """A (since, until) read window, ISO 8601 as sent to PagerDuty, in epoch milliseconds."""
    return int(epoch_ms(window[0]) or 0), int(epoch_ms(window[1]) or 0)


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


def schedule_properties(schedule: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    """With its coverage over `build.window`, the 7 days its `final_schedule` was read for
    (None: not read)."""
    properties: dict[str, PropertyValue] = {
        **common_properties(schedule, build.account_name),
        "timeZone": schedule.get("time_zone"),
        "layers": len(schedule.get("schedule_layers") or []),
        **(_coverage_properties(schedule, build.window) if build.window else {}),
    }
    return without_nulls(properties)


def schedule_edges(schedule: PagerDutyObject) -> list[Relationship]:
    key = schedule_key(schedule["id"])
    return [
        *(
            HAS_USER.between(key, key_of("user", uid))
            for uid in sorted(schedule_user_ids(schedule))
        ),
        *(TEAM_HAS.between(key_of("team", t["id"]), key) for t in schedule.get("teams") or []),
    ]


def read_schedules(
    client: PagerDutyClient, schedule_ids: Sequence[str], window: tuple[str, str]
) -> list[PagerDutyObject]:
    """Each schedule with its layers and final schedule over `window` (one request each);
    a schedule deleted between the listing and its read is left out."""
    read = read_each(client, lambda sid: client.get_schedule(sid, window), schedule_ids)
    return [s for s in read if s is not None]


def list_schedules(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """Every schedule, each read with its coverage over the account read's window."""
    return read_schedules(client, [s["id"] for s in client.list_schedules()], read.window)


def read_schedule(client: PagerDutyClient, schedule_id: str, build: Build) -> ObjectGraph | None:
    """The schedule, its coverage over the next 7 days as the full sync reads it."""
    window = coverage_window()
    schedule = client.get_schedule(schedule_id, window)
    if schedule is None:
        return None
    return KIND.transform(schedule, replace(build, window=window_ms(window)))


KIND = ObjectKind(
    name="schedule",
    listing="schedules",
    stage=1,
    write_order=2,
    list_all=list_schedules,
    entity_type=SCHEDULE,
    entity_class="Configuration",
    properties=schedule_properties,
    relationships=lambda schedule, _: schedule_edges(schedule),
    edges=(HAS_USER, TEAM_HAS),
    read_one=read_schedule,
    audited=True,
    light_refresh=True,
)


def transform_schedule(
    schedule: PagerDutyObject, window: Window | None = None, account_name: str | None = None
) -> Entity:
    """`window`: the 7 days the schedule's `final_schedule` was read for (None: not read)."""
    return KIND.entity(schedule, Build(account_name, window=window))
