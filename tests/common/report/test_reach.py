"""The checks of reachability, business-service dependencies and maintenance windows
(SPEC §3), on hand-built graphs: each finding, and the objects beside it that pass."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.graph import Graph
from common.report.checks import build_report
from tests.report_graphs import NOW, GraphBuilder, at


def _account() -> tuple[GraphBuilder, dict[str, str]]:
    """Two services watched at level 1 and one not, one disabled, two business services
    depending on them (one through the other)."""
    g = GraphBuilder()
    policy = g.policy("PEP0001", 2)
    ada = g.user("PUADA01", name="Ada", email="ada@example.com")
    bob = g.user("PUBOB01", name="Bob", email="bob@example.com")
    watched = g.service("PSWATCH", policy)
    g.oncall(ada, watched, 1, "PEP0001")
    level2 = g.service("PSLEVEL2", policy)
    g.oncall(bob, level2, 2, "PEP0001")  # nobody at level 1
    off = g.service("PSOFF01", policy, status="disabled")
    safe = g.business("PBSAFE1", watched)
    risky = g.business("PBRISK1", level2)
    upper = g.business("PBUPPER", safe, risky, off)
    return g, {
        "ada": ada,
        "bob": bob,
        "watched": watched,
        "level2": level2,
        "off": off,
        "safe": safe,
        "risky": risky,
        "upper": upper,
    }


def _findings(graph: Graph, check: str) -> list[dict[str, Any]]:
    return [f for f in build_report(graph, NOW)["findings"] if f["check"] == check]


def test_a_business_service_depending_on_an_unwatched_service_is_at_risk() -> None:
    g, k = _account()
    found = {f["keys"][0]: f for f in _findings(g.graph(), "business_service_at_risk")}
    assert set(found) == {k["risky"], k["upper"]}  # the safe one depends on a watched service
    assert found[k["risky"]]["severity"] == "high"
    assert found[k["risky"]]["details"]["services"] == {k["level2"]: "nobody on call at level 1"}
    # through the risky business service, and directly on the disabled one
    assert found[k["upper"]]["details"]["services"] == {
        k["level2"]: "nobody on call at level 1",
        k["off"]: "disabled",
    }


def test_a_business_service_is_at_risk_through_the_technical_services_it_depends_on() -> None:
    """Checkout → API (watched) → database (nobody at level 1): the risk is two hops down."""
    g, k = _account()
    policy = g.policy("PEP0002", 1)
    api, database = g.service("PSAPI01", policy), g.service("PSDB001", policy)
    g.oncall(k["ada"], api, 1, "PEP0002")
    g.uses(api, database)
    checkout = g.business("PBCHECK", api)
    found = {f["keys"][0]: f for f in _findings(g.graph(), "business_service_at_risk")}
    assert found[checkout]["details"]["services"] == {database: "nobody on call at level 1"}
    assert found[checkout]["keys"] == [checkout, database]


def test_an_oncall_user_without_a_high_urgency_rule_is_unreachable() -> None:
    g, k = _account()
    g.reach(k["ada"], False, ("sms",))
    g.reach(k["bob"], True)
    graph = g.graph()
    [finding] = _findings(graph, "oncall_user_unreachable")
    assert (finding["keys"], finding["severity"]) == ([k["ada"]], "high")
    assert finding["details"]["services"] == [k["watched"]]
    roster = {r["key"]: r for r in build_report(graph, NOW)["roster"]}
    [ada] = roster[k["watched"]]["levels"][0]["oncall"]
    [bob] = roster[k["level2"]]["levels"][1]["oncall"]
    assert (ada["reachable"], bob["reachable"]) == (False, True)


def test_a_user_the_graph_says_nothing_of_is_not_called_unreachable() -> None:
    g, _ = _account()
    assert _findings(g.graph(), "oncall_user_unreachable") == []  # read before pdgraph kept it


def test_a_service_in_maintenance_is_reported_medium_past_seven_days() -> None:
    g, k = _account()
    g.maintenance(k["watched"], at(-timedelta(hours=2)), at(timedelta(hours=1)))
    g.maintenance(k["level2"], at(-timedelta(days=9)), at(timedelta(days=30)))
    g.update(k["off"], inMaintenance=False)
    found = {f["keys"][0]: f["severity"] for f in _findings(g.graph(), "service_in_maintenance")}
    assert found == {k["watched"]: "info", k["level2"]: "medium"}


def test_the_summary_counts_the_new_types() -> None:
    g, _ = _account()
    summary = build_report(g.graph(), NOW)["summary"]
    assert (summary["businessServices"], summary["integrations"], summary["vendors"]) == (3, 0, 0)
