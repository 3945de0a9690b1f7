"""The light refresh: users, teams, memberships, escalation policies and schedules where
the audit-records feed is refused (402: the plan has no Audit Trail; 403: the key is not
an admin/owner or account key).

Every PEOPLE_REFRESH_MINUTES: `/abilities`, `/teams`, `/users`, `/escalation_policies`
and `/schedules` through the full sync's listing code (100 a page, the 10,000 offset cap
worked around), and one `GET /schedules/{id}?since&until` per schedule for its coverage
over the next 7 days: 1 + Σ⌈n/100⌉ + schedules requests. What is read is diffed against
the objects of those types the sink holds (REFRESHED_TYPES: the entities, memberships,
policy → schedule / user, service → policy, team → policy / schedule, schedule → user),
and only what differs is written, with `Cause("refresh", <run id>)`. Edges go only to
entities the graph holds (a service's USES edge: to a service already in the graph). The
full sync's mass-delete guard applies, to these types only: a refresh that would delete
more than half of any of them (or all of one) writes nothing. A deleted user, team,
policy or schedule loses every edge touching it, as the full sync would remove them.
ONCALL edges are not this refresh's: the on-call refresh (ONCALL_REFRESH_MINUTES)
rewrites them.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from common.clients.pagerduty import PagerDutyClient, PagerDutyObject
from common.clients.pagerduty.snapshot import coverage_window as read_window
from common.clients.pagerduty.snapshot import read_schedules
from common.graph import Cause, ChangeSet, Graph, GraphIndex, diff
from common.sinks import GraphSink
from common.transform import (
    ESCALATION_POLICY,
    POLICY_ASSIGNED_USER,
    POLICY_HAS_SCHEDULE,
    SCHEDULE,
    SCHEDULE_HAS_USER,
    SERVICE,
    SERVICE_USES_POLICY,
    TEAM,
    TEAM_HAS_POLICY,
    TEAM_HAS_SCHEDULE,
    TEAM_HAS_USER,
    USER,
    escalation_subgraph,
    team_has_user_edges,
    transform_team,
    transform_user,
    type_of_key,
    window_ms,
)
from worker.full_sync import mass_delete_refusal
from worker.people_graph import edge_sources

log = logging.getLogger(__name__)

PEOPLE_TYPES = frozenset({USER, TEAM, TEAM_HAS_USER})
ESCALATION_TYPES = frozenset(
    {
        ESCALATION_POLICY,
        SCHEDULE,
        POLICY_HAS_SCHEDULE,
        POLICY_ASSIGNED_USER,
        SERVICE_USES_POLICY,
        TEAM_HAS_POLICY,
        TEAM_HAS_SCHEDULE,
        SCHEDULE_HAS_USER,
    }
)
REFRESHED_TYPES = PEOPLE_TYPES | ESCALATION_TYPES


class PeopleRefreshAborted(Exception):
    """The mass-delete guard stopped the refresh before it wrote anything."""


@dataclass
class RefreshRun:
    """What /status shows of one light refresh."""

    run_id: str
    started_at: float
    outcome: str = "running"  # ok | aborted | failed
    read: dict[str, int] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    changes_applied: int = 0
    oncall_policies: int = 0  # policies whose on-calls were re-read after it
    pagerduty_requests: int = 0
    finished_at: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run() -> RefreshRun:
    started = time.time()
    return RefreshRun(f"people-refresh-{int(started)}-{uuid.uuid4().hex[:8]}", started)


@dataclass
class PeopleRead:
    """What one light refresh read (I/O only; people_graph builds the graph)."""

    users: list[PagerDutyObject]
    teams: list[PagerDutyObject]
    policies: list[PagerDutyObject]
    schedules: list[PagerDutyObject]  # each with its final schedule over `window`
    window: tuple[str, str]  # (since, until), ISO 8601 UTC

    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "teams": len(self.teams),
            "escalation_policies": len(self.policies),
            "schedules": len(self.schedules),
        }


def get_people(client: PagerDutyClient) -> PeopleRead:
    """Every user, team, policy and schedule (I/O only), as the full sync reads them."""
    window = read_window()
    teams = client.list_teams() if "teams" in client.abilities() else []
    team_ids = [t["id"] for t in teams]
    users = client.list_users(team_ids)
    policies = client.list_escalation_policies(team_ids)
    listed = client.list_schedules()
    schedules = read_schedules(client, [s["id"] for s in listed], window)
    return PeopleRead(users, teams, policies, schedules, window)


def people_graph(read: PeopleRead, account_name: str | None, services: set[str]) -> Graph:
    """Users, teams, policies, schedules and the edges between them (the full sync's
    transforms); an edge from a service only where the graph holds it (`services`)."""
    escalation_entities, escalation_edges = escalation_subgraph(
        read.policies, read.schedules, window_ms(read.window), account_name
    )
    entities = [
        *(transform_user(u, account_name) for u in read.users),
        *(transform_team(t, account_name) for t in read.teams),
        *escalation_entities,
    ]
    keys = {e.key for e in entities} | services
    edges = [e for u in read.users for e in team_has_user_edges(u)] + escalation_edges
    return Graph.of(entities, (e for e in edges if e.from_key in keys and e.to_key in keys))


def held_people(sink: GraphSink) -> tuple[GraphIndex, set[str]]:
    """The objects of REFRESHED_TYPES the sink holds, and its service entity keys."""
    index = sink.index()
    return GraphIndex(
        {k: v for k, v in index.entities.items() if type_of_key(k) in REFRESHED_TYPES},
        {k: v for k, v in index.relationships.items() if type_of_key(k) in REFRESHED_TYPES},
    ), {k for k in index.entities if type_of_key(k) == SERVICE}


def moved_policies(sink: GraphSink, changes: ChangeSet) -> set[str]:
    """The policies whose on-calls these changes may have moved: a changed policy (or its
    targets), and the policies escalating to a changed schedule (read after the write)."""
    keys = [
        *(o.key for o in (*changes.create_entities, *changes.update_entities)),
        *(o.key for o in (*changes.create_relationships, *changes.update_relationships)),
        *changes.delete_entities,
        *changes.delete_relationships,
    ]
    policies: set[str] = set()
    for key in keys:
        type_, source = type_of_key(key), key.split("|")[0]
        if type_ in (ESCALATION_POLICY, POLICY_HAS_SCHEDULE, POLICY_ASSIGNED_USER):
            policies.add(source)
        elif type_ in (SCHEDULE, SCHEDULE_HAS_USER):
            policies.update(edge_sources(sink, source, frozenset({POLICY_HAS_SCHEDULE})))
    return {key.partition(":")[2] for key in policies}


def with_edges_of_deleted(sink: GraphSink, changes: ChangeSet) -> ChangeSet:
    """`changes`, plus every edge touching an entity it deletes (ONCALL, ASSIGNED, ...)."""
    deleting = set(changes.delete_relationships)
    for key in changes.delete_entities:
        for edge in sink.index_around(key).relationships:
            if edge not in deleting:
                deleting.add(edge)
                changes.delete_relationships.append(edge)
    return changes


def refresh_people(
    client: PagerDutyClient, sink: GraphSink, account_name: str | None, run: RefreshRun
) -> ChangeSet:
    """Read users, teams, policies and schedules, write what changed; raises
    PeopleRefreshAborted (guard)."""
    requests_before = client.requests_made
    try:
        read = get_people(client)
        run.read = read.counts()
        held, services = held_people(sink)
        changes = diff(held, people_graph(read, account_name, services))
        refusal = mass_delete_refusal(held, changes)
        if refusal is not None:
            run.outcome = "aborted"
            run.error = "light refresh stopped: " + refusal.replace("the sync", "it", 1)
            raise PeopleRefreshAborted(run.error)
        changes = with_edges_of_deleted(sink, changes)
        if changes:
            sink.apply(changes, cause=Cause("refresh", run.run_id))
        run.changes, run.changes_applied, run.outcome = changes.summary(), changes.total, "ok"
        return changes
    except PeopleRefreshAborted:
        raise
    except Exception as exc:
        run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.pagerduty_requests = client.requests_made - requests_before
        run.finished_at = time.time()
        level = logging.INFO if run.outcome == "ok" else logging.ERROR
        log.log(level, "people refresh %s", run.outcome, extra={"run": run.as_dict()})
