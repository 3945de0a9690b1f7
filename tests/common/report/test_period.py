"""Evidence over a period (common/report/period.py, read through common/report/inputs.py):
a simulated week written to real sinks at controlled times, then the period report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from common.graph import Cause, Entity, Graph, Relationship, diff
from common.report.checks import build_report
from common.report.inputs import read_period
from common.report.render import render
from common.sinks import GraphSink
from common.sinks.history import audit_entry, iso
from common.sinks.jupiterone import JupiterOneSink
from common.sinks.local import LocalSink
from sim.jupiterone import JupiterOneSim
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, SCOPE, j1_client
from tests.report_graphs import NOW, PROVENANCE, GraphBuilder

END = NOW.timestamp()
HOUR, DAY = 3600.0, 86400.0
WEEK_START = END - 7 * DAY
LOADED_AT = WEEK_START - 2 * HOUR  # the initial load: before the period
ACTOR = {"type": "user", "id": "PADMIN1", "name": "Ada Admin"}


@dataclass
class Clock:
    now: float = LOADED_AT

    def __call__(self) -> float:
        return self.now


def oncall(user: str, service: str, *levels: int) -> Relationship:
    return Relationship.between(
        "pagerduty_user_oncall_service",
        "ONCALL",
        user,
        service,
        {
            "escalationLevel": min(levels),
            "escalationLevels": list(levels),
            "escalationPolicyId": "PEPWEEK",
        },
    )


def week_account() -> GraphBuilder:
    g = GraphBuilder()
    team = g.team("PTEAMWK")
    for uid, name in [("PUANNA", "Anna"), ("PUBEN", "Ben"), ("PUCARA", "Cara")]:
        g.user(uid, teams=(team,), name=name, email=f"{name.lower()}@example.com")
    g.user("PUDAVE", "admin", (team,), "Dave", "dave@example.com")
    policy = g.policy("PEPWEEK", 2)
    g.service("PSGAPPY", policy, team=team)
    g.service("PSSTEADY", policy, team=team)
    g.schedule("PSCHWEEK", policy, ("user:PUANNA", "user:PUBEN"))
    return g


@dataclass
class Week:
    """A sink the week is written to, as the worker would, at the clock's times."""

    sink: GraphSink
    clock: Clock
    entities: dict[str, Entity] = field(default_factory=dict)
    edges: dict[str, Relationship] = field(default_factory=dict)

    def write(self, at: float, cause: Cause) -> None:
        self.clock.now = at
        graph = Graph.of(self.entities.values(), self.edges.values())
        self.sink.apply(diff(self.sink.index(), graph), cause)
        self.sink.flush()

    def level1(self, at: float, service: str, user: str | None) -> None:
        """At `at` the service's level-1 on-call is `user` (None: nobody)."""
        for key, edge in list(self.edges.items()):
            levels = edge.properties.get("escalationLevels")
            if edge.to_key == service and isinstance(levels, list) and 1 in levels:
                del self.edges[key]
        if user is not None:
            edge = oncall(user, service, 1)
            self.edges[edge.key] = edge
        self.write(at, Cause("oncall", f"handoff-{int(at)}"))

    def set_levels(self, at: float, user: str, service: str, *levels: int) -> None:
        edge = oncall(user, service, *levels)
        self.edges[edge.key] = edge
        self.write(at, Cause("oncall", f"refresh-{int(at)}"))


def load_week(sink: GraphSink, clock: Clock) -> Week:
    """The week: on-call at level 1 of PSGAPPY changes hands every day at 09:00; nobody is
    on call there from 14:00 to 17:00 on the third day (the planted 3-hour gap), nor for
    30 minutes on the fifth, when Ben's edge says level 2 only. PSSTEADY: Cara throughout."""
    g = week_account()
    week = Week(sink, clock)
    week.entities = {e.key: e for e in g.entities}
    week.edges = {e.key: e for e in g.edges}
    for edge in (
        oncall("user:PUANNA", "service:PSGAPPY", 1),
        oncall("user:PUCARA", "service:PSGAPPY", 2),
        oncall("user:PUCARA", "service:PSSTEADY", 1, 2),
    ):
        week.edges[edge.key] = edge
    clock.now = LOADED_AT
    sink.replace_all(Graph.of(week.entities.values(), week.edges.values()), INITIAL_LOAD)
    sink.flush()
    gappy = "service:PSGAPPY"
    for day in range(7):
        nine = WEEK_START + day * DAY + 9 * HOUR - 12 * HOUR  # the period starts at noon
        if nine > WEEK_START:
            week.level1(nine, gappy, "user:PUBEN" if day % 2 else "user:PUANNA")
    third = WEEK_START + 2 * DAY  # noon on the third day
    week.level1(third + 2 * HOUR, gappy, None)
    week.level1(third + 5 * HOUR, gappy, "user:PUANNA")
    fifth = WEEK_START + 4 * DAY
    holder = "user:PUANNA"  # on call since 09:00 that day
    week.set_levels(fifth + 1 * HOUR, holder, gappy, 2)
    week.set_levels(fifth + 1.5 * HOUR, holder, gappy, 1)
    clock.now = END
    return week


INITIAL_LOAD = Cause("full_sync", "fullsync-20300429T100000.000Z")
TRUE_UNCOVERED = 3.5 * HOUR  # the 3-hour gap and the half hour on the fifth day


@pytest.fixture(params=["local", "jupiterone"])
def sink_and_clock(
    request: pytest.FixtureRequest, tmp_path: Any, redis_client: redis.Redis
) -> Iterator[tuple[GraphSink, Clock]]:
    clock = Clock()
    if request.param == "local":
        sink: GraphSink = LocalSink(str(tmp_path / "graph.sqlite3"), clock=clock)
        yield sink, clock
        sink.close()
        return
    with JupiterOneSim(J1_ACCOUNT, J1_KEY) as j1:
        sink = JupiterOneSink(j1_client(j1), redis_client, SCOPE, clock=clock)
        yield sink, clock
        sink.close()


def test_a_week_with_a_planted_three_hour_gap_reports_its_share_and_longest_gap(
    sink_and_clock: tuple[GraphSink, Clock], redis_client: redis.Redis
) -> None:
    sink, clock = sink_and_clock
    load_week(sink, clock)
    period = read_period(sink, redis_client, sink.read_graph(), NOW, 7)

    assert (period["from"], period["to"]) == ("2030-04-29T12:00:00Z", "2030-05-06T12:00:00Z")
    assert period["historyFrom"] == iso(LOADED_AT)
    by_key = {row["key"]: row for row in period["services"]}
    gappy = by_key["service:PSGAPPY"]
    true_pct = 100 * (7 * DAY - TRUE_UNCOVERED) / (7 * DAY)
    assert abs(gappy["level1CoveredPct"] - true_pct) < 100 * 60 / (7 * DAY)  # a minute's share
    assert abs(gappy["longestUncoveredMinutes"] - 180) <= 1
    steady = by_key["service:PSSTEADY"]
    assert (steady["level1CoveredPct"], steady["longestUncoveredMinutes"]) == (100.0, 0.0)
    # the initial load created every user: none was "created in the period"
    assert period["usersCreated"] == period["usersDeleted"] == []


def test_a_period_longer_than_the_history_is_measured_from_its_first_entry_and_says_so(
    sink_and_clock: tuple[GraphSink, Clock], redis_client: redis.Redis
) -> None:
    sink, clock = sink_and_clock
    load_week(sink, clock)
    graph = sink.read_graph()
    period = read_period(sink, redis_client, graph, NOW, 30)
    gappy = next(r for r in period["services"] if r["key"] == "service:PSGAPPY")
    measured = END - LOADED_AT  # from the initial load, not 30 days back
    assert abs(gappy["level1CoveredPct"] - 100 * (measured - TRUE_UNCOVERED) / measured) < 0.01
    report = build_report(graph, NOW, provenance=PROVENANCE, period=period)
    [warning] = report["provenance"]["warnings"]
    assert warning.startswith("The period asked for starts 2030-04-06T12:00:00Z, but the change")
    assert f"begins {iso(LOADED_AT)}" in warning
    assert f"WARNING: {warning}" in render(report, "text")


def audit_record(record_id: str, at: float, action: str, fields: list[Any]) -> dict[str, Any]:
    """A PagerDuty audit record as `GET /audit/records` gives it (Ada, in the web UI)."""
    return {
        "id": record_id,
        "execution_time": iso(at),
        "action": action,
        "actors": [{"id": ACTOR["id"], "type": "user_reference", "summary": ACTOR["name"]}],
        "method": {"type": "browser", "truncated_token": None},
        "details": {"fields": fields},
    }


def role(before: str, after: str) -> list[dict[str, Any]]:
    return [{"name": "role", "before_value": before, "value": after}]


def test_an_admin_grant_revoked_before_pdgraph_read_the_user_is_listed_with_its_actor(
    sink_and_clock: tuple[GraphSink, Clock], redis_client: redis.Redis
) -> None:
    """PagerDuty's audit records keep what the graph never showed; a graph write caused by
    a record repeats it (left out); one the light refresh saw has no actor."""
    sink, clock = sink_and_clock
    week = load_week(sink, clock)
    grant_at, revoke_at = WEEK_START + DAY, WEEK_START + DAY + 20 * 60
    sink.record_trail(
        [
            audit_entry(audit_record("PAR0001", grant_at, "update", role("user", "admin")), *BEN),
            audit_entry(audit_record("PAR0002", revoke_at, "update", role("admin", "user")), *BEN),
            audit_entry(
                audit_record("PAR0003", revoke_at + HOUR, "update", role("admin", "user")), *DAVE
            ),
        ]
    )
    # the feed applied Dave's revocation to the graph (caused by its record: a repeat)
    dave = week.entities["user:PUDAVE"]
    week.entities[dave.key] = dave.model_copy(
        update={"properties": {**dave.properties, "role": "user", "admin": False}}
    )
    week.write(revoke_at + HOUR + 30, Cause("audit", "PAR0003", actor=ACTOR))
    # Cara made admin, seen by the light refresh (the feed unavailable): nobody named
    cara = week.entities["user:PUCARA"]
    week.entities[cara.key] = cara.model_copy(
        update={"properties": {**cara.properties, "role": "owner", "admin": True}}
    )
    week.write(WEEK_START + 3 * DAY, Cause("refresh", "people-3"))
    clock.now = END

    period = read_period(sink, redis_client, sink.read_graph(), NOW, 7)
    assert [(c["key"], c["name"], c["action"], c["actor"]) for c in period["adminChanges"]] == [
        ("user:PUBEN", "Ben", "granted", ACTOR),
        ("user:PUBEN", "Ben", "revoked", ACTOR),
        ("user:PUDAVE", "Dave", "revoked", ACTOR),
        ("user:PUCARA", "Cara", "granted", None),
    ]
    assert [c["at"] for c in period["adminChanges"][:2]] == [iso(grant_at), iso(revoke_at)]
    text = render(build_report(sink.read_graph(), NOW, period=period), "text")
    assert f"{iso(grant_at)} granted Ben (user:PUBEN) by Ada Admin (user PADMIN1)" in text


BEN = ("user:PUBEN", "pagerduty_user")
DAVE = ("user:PUDAVE", "pagerduty_user")


def test_users_created_and_deleted_and_policy_and_schedule_changes_are_listed(
    tmp_path: Any, redis_client: redis.Redis
) -> None:
    clock = Clock()
    sink = LocalSink(str(tmp_path / "graph.sqlite3"), clock=clock)
    week = load_week(sink, clock)
    g = GraphBuilder()
    eve = g.user("PUEVE", name="Eve", email="eve@example.com")
    week.entities[eve] = g.entities[-1]
    week.write(WEEK_START + DAY, Cause("refresh", "people-1"))
    del week.entities[eve]
    week.write(WEEK_START + 2 * DAY, Cause("refresh", "people-2"))
    schedule = week.entities["schedule:PSCHWEEK"]
    recomputed = {**schedule.properties, "finalScheduleCoverage": 97.5}
    week.entities[schedule.key] = schedule.model_copy(update={"properties": recomputed})
    week.write(WEEK_START + 3 * DAY, Cause("full_sync", "fullsync-nightly"))  # not a change
    renamed = {**recomputed, "name": "Week rotation"}
    week.entities[schedule.key] = schedule.model_copy(update={"properties": renamed})
    week.write(WEEK_START + 4 * DAY, Cause("refresh", "people-4"))
    policy_change = audit_record(
        "PAR0010", WEEK_START + 5 * DAY, "update", [{"name": "num_loops", "value": "2"}]
    )
    sink.record_trail([audit_entry(policy_change, "escalation_policy:PEPWEEK", POLICY)])
    clock.now = END

    period = read_period(sink, redis_client, sink.read_graph(), NOW, 7)
    assert [(c["key"], c["name"], c["action"]) for c in period["usersCreated"]] == [
        ("user:PUEVE", "Eve", "created")
    ]
    assert [(c["key"], c["name"], c["action"]) for c in period["usersDeleted"]] == [
        ("user:PUEVE", "Eve", "deleted")
    ]
    assert [(c["key"], c["action"], c["fields"]) for c in period["scheduleChanges"]] == [
        ("schedule:PSCHWEEK", "updated", ["name"])
    ]
    assert [(c["key"], c["fields"], c["actor"]) for c in period["policyChanges"]] == [
        ("escalation_policy:PEPWEEK", ["num_loops"], ACTOR)
    ]
    sink.close()


POLICY = "pagerduty_escalation_policy"
