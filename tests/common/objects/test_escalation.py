"""SPEC §5's escalation policy and schedule rows, from PagerDuty-shaped JSON."""

from __future__ import annotations

from typing import Any

import pytest

from common.objects import Build, build_graph
from common.objects.escalation_policy import policy_edges, transform_escalation_policy
from common.objects.schedule import coverage_gaps, schedule_edges, transform_schedule

DAY_MS = 24 * 3600 * 1000
START = 1_800_000_000_000  # the window's start, epoch ms (2027-01-15T08:00:00Z)


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def ref(kind: str, oid: str) -> dict[str, Any]:
    return {"id": oid, "type": f"{kind}_reference", "summary": oid}


@pytest.fixture
def policy() -> dict[str, Any]:
    """Level 1 a schedule and a user; level 2 the same user again and another schedule."""
    return {
        "id": "PEP0001",
        "type": "escalation_policy",
        "name": "Platform",
        "summary": "Platform",
        "description": None,
        "html_url": "https://acme.pagerduty.com/escalation_policies/PEP0001",
        "num_loops": 2,
        "on_call_handoff_notifications": "if_has_services",
        "escalation_rules": [
            {
                "id": "R1",
                "escalation_delay_in_minutes": 15,
                "targets": [ref("schedule", "PSC0001"), ref("user", "PUS0001")],
            },
            {
                "id": "R2",
                "escalation_delay_in_minutes": 30,
                "targets": [ref("user", "PUS0001"), ref("schedule", "PSC0002")],
            },
        ],
        "services": [ref("service", "PSV0001")],
        "teams": [ref("team", "PTM0001")],
    }


def schedule(entries: list[tuple[int, int]]) -> dict[str, Any]:
    """A schedule whose final schedule has these (start, end) ms entries."""
    return {
        "id": "PSC0001",
        "type": "schedule",
        "name": "Primary",
        "summary": "Primary",
        "description": "follow the sun",
        "html_url": "https://acme.pagerduty.com/schedules/PSC0001",
        "time_zone": "Europe/Dublin",
        "schedule_layers": [
            {"id": "L1", "users": [{"user": ref("user", "PUS0001")}]},
            {"id": "L2", "users": [{"user": ref("user", "PUS0002")}]},
        ],
        "users": [ref("user", "PUS0001")],
        "teams": [ref("team", "PTM0001")],
        "final_schedule": {
            "name": "Final Schedule",
            "rendered_schedule_entries": [
                {"start": iso(s), "end": iso(e), "user": ref("user", "PUS0001")} for s, e in entries
            ],
        },
    }


def test_policy_entity(policy: dict[str, Any]) -> None:
    assert transform_escalation_policy(policy, "Acme").to_j1() == {
        "_key": "escalation_policy:PEP0001",
        "_type": "pagerduty_escalation_policy",
        "_class": "Ruleset",
        "id": "PEP0001",
        "name": "Platform",
        "displayName": "Platform",
        "summary": "Platform",
        "webLink": "https://acme.pagerduty.com/escalation_policies/PEP0001",
        "numLoops": 2,
        "onCallHandoffNotifications": "if_has_services",
        "levels": 2,
        "escalationDelays": [15, 30],
        "tag.AccountName": "Acme",
    }


def test_policy_edges_carry_the_lowest_level_of_each_target(policy: dict[str, Any]) -> None:
    edges = {e.key: (e.type, e.properties) for e in policy_edges(policy)}
    assert edges == {
        "escalation_policy:PEP0001|has|schedule:PSC0001": (
            "pagerduty_escalation_policy_has_schedule",
            {"escalationLevel": 1},
        ),
        "escalation_policy:PEP0001|has|schedule:PSC0002": (
            "pagerduty_escalation_policy_has_schedule",
            {"escalationLevel": 2},
        ),
        "escalation_policy:PEP0001|assigned|user:PUS0001": (
            "pagerduty_escalation_policy_assigned_user",
            {"escalationLevel": 1},
        ),
        "service:PSV0001|uses|escalation_policy:PEP0001": (
            "pagerduty_service_uses_escalation_policy",
            {},
        ),
        "team:PTM0001|has|escalation_policy:PEP0001": (
            "pagerduty_team_has_escalation_policy",
            {},
        ),
    }


def test_a_fully_covered_schedule() -> None:
    window = (START, START + 7 * DAY_MS)
    entity = transform_schedule(schedule([(START - DAY_MS, START + 8 * DAY_MS)]), window)
    assert entity.class_ == "Configuration"
    props = entity.properties
    assert (props["timeZone"], props["layers"], props["finalScheduleCoverage"]) == (
        "Europe/Dublin",
        2,
        100.0,
    )
    assert "nextGapStartOn" not in props  # null is left out
    assert props["coverageGapStarts"] == [] and props["coverageGapMinutes"] == []


def test_gaps_are_found_with_their_start_and_length() -> None:
    """Uncovered: the first hour (in progress at the start), and 12 h from day 3."""
    window = (START, START + 7 * DAY_MS)
    hour = 3600 * 1000
    entries = [(START + hour, START + 3 * DAY_MS), (START + 3 * DAY_MS + 12 * hour, window[1])]
    props = transform_schedule(schedule(entries), window).properties
    assert props["nextGapStartOn"] == START  # a gap in progress: the window's start
    assert props["coverageGapStarts"] == [START, START + 3 * DAY_MS]
    assert props["coverageGapMinutes"] == [60.0, 720.0]
    assert props["finalScheduleCoverage"] == round(100 * (1 - 13 / (7 * 24)), 2)


def test_overlapping_entries_count_once() -> None:
    window = (START, START + 10_000)
    entries = [
        {"start": iso(START), "end": iso(START + 6000)},
        {"start": iso(START + 2000), "end": iso(START + 4000)},
    ]
    assert coverage_gaps(entries, window) == [(START + 6000, START + 10_000)]
    assert coverage_gaps([], window) == [window]


def test_a_schedule_read_without_a_window_has_no_coverage_properties() -> None:
    props = transform_schedule(schedule([])).properties
    assert {"finalScheduleCoverage", "nextGapStartOn", "coverageGapStarts"}.isdisjoint(props)


def test_schedule_has_users_of_every_layer_and_its_teams() -> None:
    keys = sorted(e.key for e in schedule_edges(schedule([])))
    assert keys == [
        "schedule:PSC0001|has|user:PUS0001",
        "schedule:PSC0001|has|user:PUS0002",
        "team:PTM0001|has|schedule:PSC0001",
    ]


def test_build_graph_keeps_only_edges_between_entities_it_holds(policy: dict[str, Any]) -> None:
    user = {"id": "PUS0001", "name": "Ada Lovelace", "email": "ada@example.com", "teams": []}
    listings = {"users": [user], "escalation_policies": [policy], "schedules": [schedule([])]}
    graph = build_graph(listings, Build())
    assert sorted(graph.relationships) == [
        "escalation_policy:PEP0001|assigned|user:PUS0001",
        "escalation_policy:PEP0001|has|schedule:PSC0001",
        "schedule:PSC0001|has|user:PUS0001",
    ]
