"""Hand-built graphs for the compliance report's tests: SPEC §5's objects, one defect each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from common.graph import Cause, Entity, Graph, GraphIndex, PropertyValue, Relationship, diff
from common.sinks.local import LocalSink
from common.state.full_sync import record_full_sync
from worker.full_sync import FullSyncRun

NOW = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)
MS = 1000


def at(delta: timedelta, now: datetime = NOW) -> int:
    """now + delta as epoch milliseconds (the graph's times)."""
    return int((now + delta).timestamp() * MS)


@dataclass
class GraphBuilder:
    """A graph in either model: `jupiterone` writes MONITORS and service ASSIGNED team."""

    model: str = "seed"
    entities: list[Entity] = field(default_factory=list)
    edges: list[Relationship] = field(default_factory=list)

    def _entity(self, key: str, type_: str, class_: str, **props: Any) -> str:
        name = props.pop("name", key)
        props = {"id": key.split(":")[1], "name": name, "displayName": name, **props}
        self.entities.append(Entity(key=key, type=type_, class_=class_, properties=props))
        return key

    def _edge(
        self, type_: str, class_: str, from_key: str, to_key: str, **props: PropertyValue
    ) -> None:
        self.edges.append(Relationship.between(type_, class_, from_key, to_key, props))

    def user(
        self,
        uid: str,
        role: str = "user",
        teams: tuple[str, ...] = (),
        name: str | None = None,
        email: str | None = None,
    ) -> str:
        """A user; named `name` <`email`> when given (else its key, and no address)."""
        props: dict[str, Any] = {"role": role, "admin": role in ("admin", "owner")}
        if name is not None:
            props["name"] = name
        if email is not None:
            props["email"] = [email]
        key = self._entity(f"user:{uid}", "pagerduty_user", "User", **props)
        for team in teams:
            self._edge("pagerduty_team_has_user", "HAS", team, key)
        return key

    def team(self, tid: str) -> str:
        return self._entity(f"team:{tid}", "pagerduty_team", "Team")

    def policy(self, pid: str, levels: int) -> str:
        return self._entity(
            f"escalation_policy:{pid}",
            "pagerduty_escalation_policy",
            "Ruleset",
            numLoops=0,
            onCallHandoffNotifications="if_has_services",
            levels=levels,
            escalationDelays=[30] * levels,
        )

    def service(
        self, sid: str, policy: str | None, status: str = "active", team: str | None = None
    ) -> str:
        policy_id = policy.split(":")[1] if policy else None
        key = self._entity(
            f"service:{sid}",
            "pagerduty_service",
            "Service",
            status=status,
            active=status != "disabled",
            escalationPolicyId=policy_id,
        )
        if policy is not None:
            self._edge("pagerduty_service_uses_escalation_policy", "USES", key, policy)
        if team is not None and self.model == "jupiterone":
            self._edge("pagerduty_service_assigned_team", "ASSIGNED", key, team)
        elif team is not None:
            self._edge("pagerduty_team_assigned_service", "ASSIGNED", team, key)
        return key

    def oncall(self, user: str, service: str, level: int, policy_id: str) -> None:
        type_, class_ = (
            ("pagerduty_user_monitors_service", "MONITORS")
            if self.model == "jupiterone"
            else ("pagerduty_user_oncall_service", "ONCALL")
        )
        self._edge(
            type_, class_, user, service, escalationLevel=level, escalationPolicyId=policy_id
        )

    def assign(self, policy: str, user: str, level: int) -> None:
        """The policy targets the user directly (lowest level `level`)."""
        self._edge(
            "pagerduty_escalation_policy_assigned_user",
            "ASSIGNED",
            policy,
            user,
            escalationLevel=level,
        )

    def schedule(
        self,
        sid: str,
        policy: str | None = None,
        users: tuple[str, ...] = (),
        level: int = 1,
        **props: PropertyValue,
    ) -> str:
        """A schedule of these users, a target of `policy` (lowest level `level`)."""
        key = self._entity(
            f"schedule:{sid}",
            "pagerduty_schedule",
            "Configuration",
            timeZone="UTC",
            layers=1,
            **props,
        )
        if policy is not None:
            self._edge(
                "pagerduty_escalation_policy_has_schedule",
                "HAS",
                policy,
                key,
                escalationLevel=level,
            )
        for user in users:
            self._edge("pagerduty_schedule_has_user", "HAS", key, user)
        return key

    def reach(self, user: str, notified: bool, kinds: tuple[str, ...] = ("email",)) -> None:
        """Whether PagerDuty can page the user (a high-urgency rule on a contact method)."""
        self.update(user, notifiedOnHighUrgency=notified, contactMethodTypes=list(kinds))

    def maintenance(self, service: str, start: int, end: int) -> None:
        self.update(service, inMaintenance=True, maintenanceStartedOn=start, maintenanceEndsOn=end)

    def business(self, bid: str, *uses: str) -> str:
        """A business service depending on these services or business services."""
        key = self._entity(
            f"business_service:{bid}",
            "pagerduty_business_service",
            "Service",
            category=["business"],
            function=["other"],
        )
        for used in uses:
            kind = "service" if used.startswith("service:") else "business_service"
            self._edge(f"pagerduty_business_service_uses_{kind}", "USES", key, used)
        return key

    def uses(self, dependent: str, supporting: str) -> None:
        """A technical service depending on another."""
        self._edge("pagerduty_service_uses_service", "USES", dependent, supporting)

    def update(self, key: str, **props: Any) -> None:
        """Set properties of an entity already added."""
        self.entities = [
            e
            if e.key != key
            else Entity(key=key, type=e.type, class_=e.class_, properties={**e.properties, **props})
            for e in self.entities
        ]

    def graph(self) -> Graph:
        return Graph.of(self.entities, self.edges)


def planted(model: str = "seed", now: datetime = NOW) -> Graph:
    """One defect per check, and objects that pass every check beside them; the schedule's
    gap is two days after `now`. On call: by a schedule at level 1 of PEPTWO1 (Fay, Lou),
    by direct assignment at its level 2 (Sam) and at PEPONE1's one level (Olive)."""
    g = GraphBuilder(model)
    team = g.team("PTEAM01")
    owner = g.user("PUOWNER", "owner", (team,), "Olive Owner", "olive@example.com")
    first = g.user("PUFIRST", "user", (team,), "Fay First", "fay@example.com")
    second = g.user("PUSECOND", "limited_user", (team,), "Sam Second", "sam@example.com")
    loner = g.user("PULONER", name="Lou Loner", email="lou@example.com")  # in no team
    g.reach(loner, False)  # and no high-urgency notification rule: unreachable
    g.user("PUIDLE")  # in no team, but on call for nothing: not a finding
    two_levels = g.policy("PEPTWO1", 2)
    one_level = g.policy("PEPONE1", 1)
    g.assign(two_levels, second, 2)
    g.assign(one_level, owner, 1)
    good = g.service("PSGOOD1", two_levels, team=team)
    g.oncall(first, good, 1, "PEPTWO1")
    g.oncall(second, good, 2, "PEPTWO1")
    g.service("PSNOPOL", None)
    half = g.service("PSHALF1", two_levels, status="warning")
    g.oncall(loner, half, 1, "PEPTWO1")
    g.service("PSOFF01", two_levels, status="disabled")  # nobody on call: disabled, not a gap
    single = g.service("PSSINGLE", one_level, team=team)
    g.maintenance(single, at(-timedelta(hours=2), now), at(timedelta(hours=1), now))
    g.business("PBAPP01", "service:PSOFF01")  # depends on the disabled service: at risk
    g.oncall(owner, single, 1, "PEPONE1")
    g.schedule("PSCHOK1", two_levels, (first,), finalScheduleCoverage=100)
    g.schedule(
        "PSCHGAP",
        two_levels,
        (loner,),
        finalScheduleCoverage=97.6,
        nextGapStartOn=at(timedelta(days=2), now),
        coverageGapStarts=[at(-timedelta(days=1), now), at(timedelta(days=2), now)],  # 1st: over
        coverageGapMinutes=[60, 240],
    )
    return g.graph()


def record_synced(connection: redis.Redis, run: FullSyncRun | None = None) -> None:
    """A completed full sync in Redis: what a report needs besides its graph (a graph no
    sync completed gets no report, never an empty one)."""
    run = run or FullSyncRun(started_at=time.time(), outcome="ok", duration_s=1.0)
    record_full_sync(connection, run.as_dict())


def planted_local_graph(graph_path: str, connection: redis.Redis) -> None:
    """The planted defects (a schedule gap in two days) as a synced local graph: loaded
    by a full sync run into an empty graph, as its record in Redis says."""
    graph = planted(now=datetime.now(UTC))
    run = FullSyncRun(started_at=time.time(), outcome="ok", duration_s=1.0)
    run.graph = graph.counts_by_type()
    run.changes = diff(GraphIndex(), graph).summary()
    sink = LocalSink(graph_path)
    sink.replace_all(graph, Cause("full_sync", run.id))
    sink.close()
    record_synced(connection, run)


# A report's provenance as report_inputs gathers it: a graph synced at 03:00 of NOW's day.
PROVENANCE: dict[str, Any] = {
    "graph_as_of": "2030-05-06T03:00:04Z",
    "last_full_sync": {"at": "2030-05-06T03:00:04Z", "outcome": "ok"},
    "people_feed": {"mode": "audit", "lag_seconds": 1.5},
    "last_webhook_at": "2030-05-06T11:59:30Z",
    "sink": "local",
    "graph_model": "seed",
}
