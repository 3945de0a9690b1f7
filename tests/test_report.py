"""The compliance report's checks (common/report.py) on hand-built graphs: each planted
defect is found, nothing else is, in both graph models."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from common.graph import Graph
from common.report import CHECKS, build_report
from tests.report_graphs import NOW, GraphBuilder, at, planted


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
        {"key": "user:PUOWNER", "name": "user:PUOWNER", "role": "owner"}
    ]


def test_an_empty_graph_has_no_findings_and_no_coverage_figure() -> None:
    report = build_report(Graph(), NOW)
    assert report["findings"] == []
    assert report["summary"]["coveredServicesPct"] is None
    assert report["account_name"] is None


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
