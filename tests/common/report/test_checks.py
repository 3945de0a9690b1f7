"""The compliance report's checks (common/report/checks.py) on hand-built graphs: each planted
defect is found, nothing else is, in both graph models."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from common.graph import Graph
from common.report.checks import CHECKS, build_report
from tests.report_graphs import NOW, PROVENANCE, GraphBuilder, at, planted


def found(report: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [(f["check"], f["severity"], f["keys"]) for f in findings]


@pytest.mark.parametrize("model", ["seed", "jupiterone"])
def test_each_planted_defect_is_found_and_nothing_else(model: str) -> None:
    report = build_report(planted(model), NOW, "Acme")
    assert found(report) == [
        ("service_without_escalation_policy", "high", ["service:PSNOPOL"]),
        (
            "service_level_without_oncall",
            "medium",
            ["service:PSHALF1", "escalation_policy:PEPTWO1"],
        ),
        ("single_level_escalation_policy", "medium", ["escalation_policy:PEPONE1"]),
        ("schedule_coverage_gap", "medium", ["schedule:PSCHGAP"]),
        ("oncall_user_without_team", "low", ["user:PULONER"]),
        ("disabled_service", "medium", ["service:PSOFF01"]),
        ("admin_user", "info", ["user:PUOWNER"]),
        ("oncall_user_unreachable", "high", ["user:PULONER"]),
        ("business_service_at_risk", "high", ["business_service:PBAPP01", "service:PSOFF01"]),
        ("service_in_maintenance", "info", ["service:PSSINGLE"]),
    ]
    assert [f["check"] for f in report["findings"]] == list(CHECKS)
    assert report["generated_at"] == "2030-05-06T12:00:00Z"
    assert report["account_name"] == "Acme"


@pytest.mark.parametrize("model", ["seed", "jupiterone"])
def test_the_summary_counts_each_type_and_the_covered_services(model: str) -> None:
    summary = build_report(planted(model), NOW)["summary"]
    # active: GOOD, NOPOL, HALF (warning), SINGLE; covered (≥ 2 levels, someone on call):
    # GOOD and HALF (level 2 of HALF is a finding of its own), not SINGLE (one level)
    assert summary == {
        "services": 5,
        "activeServices": 4,
        "teams": 1,
        "users": 5,
        "policies": 2,
        "schedules": 2,
        "businessServices": 1,
        "integrations": 0,
        "vendors": 0,
        "coveredServices": 2,
        "coveredServicesPct": 50.0,
    }


def test_findings_say_which_levels_gaps_services_and_admins() -> None:
    by_check = {f["check"]: f for f in build_report(planted(), NOW)["findings"]}
    assert by_check["service_level_without_oncall"]["details"]["levelsWithoutOncall"] == [2]
    gap = by_check["schedule_coverage_gap"]
    assert gap["details"]["gaps"] == [
        {"start": "2030-05-08T12:00:00Z", "startOn": at(timedelta(days=2)), "minutes": 240}
    ]
    assert "from 2030-05-08T12:00:00Z for 240 minutes" in gap["message"]
    assert gap["details"]["escalationPolicies"] == ["escalation_policy:PEPTWO1"]
    assert by_check["single_level_escalation_policy"]["details"]["services"] == ["service:PSSINGLE"]
    assert by_check["oncall_user_without_team"]["details"]["services"] == ["service:PSHALF1"]
    assert by_check["admin_user"]["details"]["users"] == [
        {
            "key": "user:PUOWNER",
            "name": "Olive Owner",
            "email": "olive@example.com",
            "role": "owner",
        }
    ]
    assert by_check["oncall_user_without_team"]["details"]["email"] == "lou@example.com"


def test_an_empty_graph_has_no_findings_and_no_coverage_figure() -> None:
    report = build_report(Graph(), NOW)
    assert report["findings"] == [] and report["roster"] == []
    assert report["summary"]["coveredServicesPct"] is None
    assert report["account_name"] is None
    assert report["provenance"] is None and report["period"] is None


def person(
    key: str,
    name: str,
    email: str,
    via: str | None,
    assignment: str | None,
    reachable: bool | None = None,
) -> Any:
    return {
        "key": key,
        "name": name,
        "email": email,
        "via": via,
        "assignment": assignment,
        "reachable": reachable,
    }


@pytest.mark.parametrize("model", ["seed", "jupiterone"])
def test_the_roster_names_who_is_on_call_at_each_level_of_each_active_service(model: str) -> None:
    roster = build_report(planted(model), NOW)["roster"]
    fay = person("user:PUFIRST", "Fay First", "fay@example.com", "schedule:PSCHOK1", "schedule")
    sam = person("user:PUSECOND", "Sam Second", "sam@example.com", None, "direct")
    lou = person(
        "user:PULONER", "Lou Loner", "lou@example.com", "schedule:PSCHGAP", "schedule", False
    )
    olive = person("user:PUOWNER", "Olive Owner", "olive@example.com", None, "direct")
    two = {"escalationPolicy": "escalation_policy:PEPTWO1"}
    assert roster == [
        {
            "key": "service:PSGOOD1",
            "service": "service:PSGOOD1",
            **two,
            "escalationPolicyKey": "escalation_policy:PEPTWO1",
            "levels": [{"level": 1, "oncall": [fay]}, {"level": 2, "oncall": [sam]}],
        },
        {
            "key": "service:PSHALF1",
            "service": "service:PSHALF1",
            **two,
            "escalationPolicyKey": "escalation_policy:PEPTWO1",
            "levels": [{"level": 1, "oncall": [lou]}, {"level": 2, "oncall": []}],
        },
        {
            "key": "service:PSNOPOL",
            "service": "service:PSNOPOL",
            "escalationPolicy": None,
            "escalationPolicyKey": None,
            "levels": [],
        },
        {
            "key": "service:PSSINGLE",
            "service": "service:PSSINGLE",
            "escalationPolicy": "escalation_policy:PEPONE1",
            "escalationPolicyKey": "escalation_policy:PEPONE1",
            "levels": [{"level": 1, "oncall": [olive]}],
        },
    ]  # PSOFF01 is disabled: no roster


def _via_of(g: GraphBuilder, service: str) -> list[tuple[int, str, str | None, str | None]]:
    [row] = [r for r in build_report(g.graph(), NOW)["roster"] if r["key"] == service]
    return [
        (level["level"], p["key"], p["via"], p["assignment"])
        for level in row["levels"]
        for p in level["oncall"]
    ]


def test_via_is_the_schedule_of_the_level_that_holds_the_user_and_unknown_when_two_do() -> None:
    g = GraphBuilder()
    policy = g.policy("PEPVIA01", 3)
    service = g.service("PSVIA001", policy)
    ann, bob, cat = (g.user(u) for u in ("PUVIAANN", "PUVIABOB", "PUVIACAT"))
    g.schedule("PSCHVIA1", policy, (ann, bob), level=1)
    g.schedule("PSCHVIA2", policy, (bob,), level=1)  # Bob is in both level-1 schedules
    g.schedule("PSCHVIA3", policy, (cat,), level=3)
    g.oncall(ann, service, 1, "PEPVIA01")
    g.oncall(bob, service, 1, "PEPVIA01")
    g.oncall(cat, service, 3, "PEPVIA01")
    assert _via_of(g, service) == [
        (1, ann, "schedule:PSCHVIA1", "schedule"),
        (1, bob, None, None),  # the graph cannot tell which
        (3, cat, "schedule:PSCHVIA3", "schedule"),
    ]


def test_a_user_in_none_of_the_level_s_schedules_is_on_call_by_its_one_schedule() -> None:
    """An override puts someone outside the schedule's layers on call: the level's only
    schedule is still what pages them."""
    g = GraphBuilder()
    policy = g.policy("PEPVIA02", 2)
    service = g.service("PSVIA002", policy)
    stand_in, direct = g.user("PUSTANDIN"), g.user("PUDIRECT")
    g.schedule("PSCHVIA4", policy, level=1)
    g.assign(policy, direct, 2)
    g.oncall(stand_in, service, 1, "PEPVIA02")
    g.oncall(direct, service, 2, "PEPVIA02")
    assert _via_of(g, service) == [
        (1, stand_in, "schedule:PSCHVIA4", "schedule"),
        (2, direct, None, "direct"),
    ]


def test_a_user_both_assigned_and_in_a_schedule_of_the_level_has_no_via() -> None:
    g = GraphBuilder()
    policy = g.policy("PEPVIA03", 1)
    service = g.service("PSVIA003", policy)
    both = g.user("PUBOTHWAYS")
    g.schedule("PSCHVIA5", policy, (both,), level=1)
    g.assign(policy, both, 1)
    g.oncall(both, service, 1, "PEPVIA03")
    assert _via_of(g, service) == [(1, both, None, None)]


def test_provenance_is_reported_as_given_and_a_recent_graph_needs_no_warning() -> None:
    report = build_report(planted(), NOW, provenance=PROVENANCE)
    assert report["provenance"] == {**PROVENANCE, "warnings": []}


def test_a_graph_no_full_sync_confirmed_for_a_day_says_so() -> None:
    stale = {
        **PROVENANCE,
        "graph_as_of": "2030-05-05T11:00:00Z",
        "last_full_sync": {"at": "2030-05-06T03:10:00Z", "outcome": "failed"},
    }
    [warning] = build_report(planted(), NOW, provenance=stale)["provenance"]["warnings"]
    assert warning.startswith(
        "The graph is as of 2030-05-05T11:00:00Z, 25 hours before this report: no full sync"
        " has succeeded for more than 24 hours (the last attempt: failed, 2030-05-06T03:10:00Z)."
    )
    just = {**PROVENANCE, "graph_as_of": "2030-05-05T12:00:00Z"}
    assert build_report(planted(), NOW, provenance=just)["provenance"]["warnings"] == []


def test_without_the_audit_feed_the_report_says_actors_and_undone_changes_are_unknown() -> None:
    refresh = {**PROVENANCE, "people_feed": {"mode": "light_refresh", "lag_seconds": 400.0}}
    [warning] = build_report(planted(), NOW, provenance=refresh)["provenance"]["warnings"]
    assert "audit-records feed is not available" in warning
    assert "who made a change (its actor) cannot be known" in warning
    assert "a change undone between two refreshes" in warning


def test_nobody_on_call_at_level_one_is_high_and_lists_every_level() -> None:
    g = GraphBuilder()
    policy = g.policy("PEPTHREE", 3)
    service = g.service("PSNOBODY", policy)
    g.oncall(g.user("PUTHIRD", teams=(g.team("PTEAM02"),)), service, 3, "PEPTHREE")
    [finding] = build_report(g.graph(), NOW)["findings"]
    assert (finding["check"], finding["severity"]) == ("service_level_without_oncall", "high")
    assert finding["details"]["levelsWithoutOncall"] == [1, 2]
    assert "levels 1, 2 of" in finding["message"]


def test_edges_listing_every_level_of_a_user_cover_each_of_them() -> None:
    g = GraphBuilder()
    policy = g.policy("PEPTWO2", 2)
    service = g.service("PSBOTH1", policy)
    user = g.user("PUBOTH1", teams=(g.team("PTEAM03"),))
    g.edges.append(
        g.edges[-1].model_copy(
            update={
                "type": "pagerduty_user_oncall_service",
                "class_": "ONCALL",
                "key": f"{user}|oncall|{service}",
                "from_key": user,
                "to_key": service,
                "properties": {"escalationLevel": 1, "escalationLevels": [1, 2]},
            }
        )
    )
    assert build_report(g.graph(), NOW)["findings"] == []


def test_a_service_naming_a_policy_the_graph_lacks_has_none() -> None:
    g = GraphBuilder()
    g.service("PSLOST01", None)
    g.entities[-1] = g.entities[-1].model_copy(
        update={"properties": {**g.entities[-1].properties, "escalationPolicyId": "PEPGONE"}}
    )
    [finding] = build_report(g.graph(), NOW)["findings"]
    assert finding["check"] == "service_without_escalation_policy"
    assert finding["details"]["escalationPolicyId"] == "PEPGONE"
    assert "names escalation policy PEPGONE, which the graph does not hold" in finding["message"]


def test_a_service_found_by_its_policy_id_without_a_uses_edge_has_one() -> None:
    g = GraphBuilder()
    policy = g.policy("PEPTWO3", 2)
    service = g.service("PSIDONLY", policy)
    g.edges = [e for e in g.edges if e.type != "pagerduty_service_uses_escalation_policy"]
    g.oncall(g.user("PUONE001", teams=(g.team("PTEAM04"),)), service, 1, "PEPTWO3")
    g.oncall(g.user("PUTWO001", teams=("team:PTEAM04",)), service, 2, "PEPTWO3")
    report = build_report(g.graph(), NOW)
    assert report["findings"] == []
    assert report["summary"]["coveredServicesPct"] == 100.0


def test_a_gap_starting_within_a_day_is_high() -> None:
    g = GraphBuilder()
    g.schedule(
        "PSCHSOON",
        coverageGapStarts=[at(timedelta(hours=20))],
        coverageGapMinutes=[30.5],
        finalScheduleCoverage=99.7,
    )
    [finding] = build_report(g.graph(), NOW)["findings"]
    assert (finding["check"], finding["severity"]) == ("schedule_coverage_gap", "high")
    assert "for 30.5 minutes" in finding["message"]


def test_a_gap_in_progress_is_reported_and_one_over_is_not() -> None:
    g = GraphBuilder()
    g.schedule("PSCHNOW1", coverageGapStarts=[at(-timedelta(hours=1))], coverageGapMinutes=[120])
    g.schedule("PSCHOVER", coverageGapStarts=[at(-timedelta(hours=3))], coverageGapMinutes=[120])
    assert found(build_report(g.graph(), NOW)) == [
        ("schedule_coverage_gap", "high", ["schedule:PSCHNOW1"])
    ]


def test_without_gap_lists_the_next_gap_start_is_reported_without_a_length() -> None:
    g = GraphBuilder()
    g.schedule("PSCHNEXT", nextGapStartOn=at(timedelta(days=3)), finalScheduleCoverage=90)
    g.schedule("PSCHFULL", finalScheduleCoverage=100)
    [finding] = build_report(g.graph(), NOW)["findings"]
    assert finding["keys"] == ["schedule:PSCHNEXT"]
    assert finding["severity"] == "medium"
    assert finding["details"]["gaps"] == [
        {"start": "2030-05-09T12:00:00Z", "startOn": at(timedelta(days=3)), "minutes": None}
    ]
    assert (
        finding["message"]
        == "Schedule schedule:PSCHNEXT has nobody on call from 2030-05-09T12:00:00Z."
    )


def test_admins_and_owners_are_one_finding_listing_them() -> None:
    g = GraphBuilder()
    for uid, role in [("PUADMIN2", "admin"), ("PUADMIN1", "owner"), ("PUPLAIN1", "observer")]:
        g.user(uid, role)
    [finding] = build_report(g.graph(), NOW)["findings"]
    assert finding["keys"] == ["user:PUADMIN1", "user:PUADMIN2"]
    assert finding["message"] == "2 users with the admin or owner role."


def test_the_report_does_not_depend_on_the_order_the_graph_was_read_in() -> None:
    graph = planted()
    reversed_graph = Graph.of(
        reversed(list(graph.entities.values())), reversed(list(graph.relationships.values()))
    )
    assert json.dumps(build_report(graph, NOW)) == json.dumps(build_report(reversed_graph, NOW))
