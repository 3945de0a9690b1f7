"""One user, team, escalation policy or schedule: re-read it, build its part of the graph,
diff it against what the sink holds around it, write only what changed.

get (`GET /users/{id}`, `/teams/{id}` + `/teams/{id}/members`, ...; 404 = deleted) →
transform (common.transform, the same functions as the full sync) → load (the diff
against `index_around`, as worker/service_refresh.py does). The audit-records feed calls
this once per object however many records name it.

An object owns its entity and the edges of `OWN_EDGES` around it; edges of other types
that touch it (a user's ONCALL edges, a team's ASSIGNED edges, a schedule's policy HAS
edges) belong to other paths and are left alone, unless the object was deleted: then it
and every edge touching it go. A deleted user's schedules and policies are re-read after
it (`followers`: a schedule's coverage has a gap where the user's shifts were), and a
policy or schedule names the policies whose on-calls may have moved (`oncall_policies`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.clients.pagerduty import PagerDutyClient
from common.clients.pagerduty.snapshot import coverage_window as read_window
from common.graph import Cause, ChangeSet, Graph, GraphIndex, Relationship, diff
from common.sinks import GraphSink
from common.transform import (
    ESCALATION_POLICY,
    POLICY_ASSIGNED_USER,
    POLICY_HAS_SCHEDULE,
    SCHEDULE,
    SCHEDULE_HAS_USER,
    SERVICE_USES_POLICY,
    TEAM,
    TEAM_HAS_POLICY,
    TEAM_HAS_SCHEDULE,
    TEAM_HAS_USER,
    USER,
    entity_type_of,
    policy_edges,
    policy_key,
    schedule_edges,
    schedule_key,
    team_has_user_edges,
    team_key,
    transform_escalation_policy,
    transform_schedule,
    transform_team,
    transform_user,
    type_of_key,
    user_key,
    window_ms,
)
from worker.context import JobContext
from worker.oncall import refresh_oncalls

# The audit record's `root_resource.type` (without `_reference`) → the entity's `_type`.
KINDS = {
    "user": USER,
    "team": TEAM,
    "escalation_policy": ESCALATION_POLICY,
    "schedule": SCHEDULE,
}
OWN_EDGES = {
    USER: frozenset({TEAM_HAS_USER}),
    TEAM: frozenset({TEAM_HAS_USER}),
    ESCALATION_POLICY: frozenset(
        {POLICY_HAS_SCHEDULE, POLICY_ASSIGNED_USER, SERVICE_USES_POLICY, TEAM_HAS_POLICY}
    ),
    SCHEDULE: frozenset({SCHEDULE_HAS_USER, TEAM_HAS_SCHEDULE}),
}


@dataclass(frozen=True)
class ObjectRead:
    """An object as PagerDuty has it now: its entity key and graph (None: deleted)."""

    type: str
    key: str
    graph: Graph | None


def read_user(client: PagerDutyClient, user_id: str, account_name: str | None) -> ObjectRead:
    user = client.get_user(user_id)
    if user is None:
        return ObjectRead(USER, user_key(user_id), None)
    graph = Graph.of([transform_user(user, account_name)], team_has_user_edges(user))
    return ObjectRead(USER, user_key(user_id), graph)


def read_team(client: PagerDutyClient, team_id: str, account_name: str | None) -> ObjectRead:
    """The team and a HAS edge to each member (`/teams/{id}/members`, every page)."""
    team = client.get_team(team_id)
    members = client.team_members(team_id) if team is not None else None
    if team is None or members is None:
        return ObjectRead(TEAM, team_key(team_id), None)
    ref = {"id": team_id}
    edges = [
        edge
        for member in members
        if (member.get("user") or {}).get("id")
        for edge in team_has_user_edges({"id": member["user"]["id"], "teams": [ref]})
    ]
    return ObjectRead(
        TEAM, team_key(team_id), Graph.of([transform_team(team, account_name)], edges)
    )


def read_escalation_policy(
    client: PagerDutyClient, policy_id: str, account_name: str | None
) -> ObjectRead:
    policy = client.get_escalation_policy(policy_id)
    key = policy_key(policy_id)
    if policy is None:
        return ObjectRead(ESCALATION_POLICY, key, None)
    entity = transform_escalation_policy(policy, account_name)
    return ObjectRead(ESCALATION_POLICY, key, Graph.of([entity], policy_edges(policy)))


def read_schedule(
    client: PagerDutyClient, schedule_id: str, account_name: str | None
) -> ObjectRead:
    """The schedule, its coverage over the next 7 days as the full sync reads it."""
    since, until = read_window()
    schedule = client.get_schedule(schedule_id, (since, until))
    key = schedule_key(schedule_id)
    if schedule is None:
        return ObjectRead(SCHEDULE, key, None)
    window = window_ms((since, until))
    entity = transform_schedule(schedule, window, account_name)
    return ObjectRead(SCHEDULE, key, Graph.of([entity], schedule_edges(schedule)))


READERS: dict[str, Callable[[PagerDutyClient, str, str | None], ObjectRead]] = {
    USER: read_user,
    TEAM: read_team,
    ESCALATION_POLICY: read_escalation_policy,
    SCHEDULE: read_schedule,
}


def _ends(edge_key: str) -> tuple[str, str]:
    """The (from, to) entity keys of a relationship `_key` (`<from>|<class>|<to>`)."""
    parts = edge_key.split("|")
    return parts[0], parts[-1]


def edge_sources(sink: GraphSink, key: str, edge_types: frozenset[str]) -> list[str]:
    """The entities with an edge of these types to `key`, as the sink holds them."""
    return sorted(
        _ends(edge)[0]
        for edge in sink.index_around(key).relationships
        if type_of_key(edge) in edge_types and _ends(edge)[1] == key
    )


def followers(sink: GraphSink, read: ObjectRead) -> list[tuple[str, str]]:
    """(type, id) of the objects to re-read after this one is written: a deleted user's
    schedules and policies (PagerDuty took the user out of them; a schedule's coverage
    has a gap where its shifts were). Call it before the write, which deletes the edges."""
    if read.type != USER or read.graph is not None:
        return []
    sources = edge_sources(sink, read.key, frozenset({SCHEDULE_HAS_USER, POLICY_ASSIGNED_USER}))
    return [(str(entity_type_of(key)), key.partition(":")[2]) for key in dict.fromkeys(sources)]


def oncall_policies(sink: GraphSink, read: ObjectRead) -> set[str]:
    """The policies whose on-calls this object's change may have moved: the policy itself,
    or the policies escalating to the schedule (their edges are the policies' own, so the
    schedule's write left them)."""
    if read.type == ESCALATION_POLICY and read.graph is not None:
        return {read.key.partition(":")[2]}
    if read.type == SCHEDULE:
        return {
            key.partition(":")[2]
            for key in edge_sources(sink, read.key, frozenset({POLICY_HAS_SCHEDULE}))
        }
    return set()


def _other_end(edge: Relationship, key: str) -> str:
    return edge.to_key if edge.from_key == key else edge.from_key


def changes_around(sink: GraphSink, read: ObjectRead) -> ChangeSet:
    """What turns the sink's graph around the object into what PagerDuty has now.

    Edges go only to entities the graph holds (as the full sync's `build_graph`): a team
    created since is joined by the team's own re-read, or the next full sync.
    """
    held = sink.index_around(read.key)
    if read.graph is None:  # deleted: it and every edge touching it
        return diff(held, Graph())
    own = OWN_EDGES[read.type]
    held = GraphIndex(
        held.entities, {k: v for k, v in held.relationships.items() if type_of_key(k) in own}
    )
    edges = list(read.graph.relationships.values())
    present = sink.existing({_other_end(e, read.key) for e in edges})
    wanted = Graph(
        read.graph.entities,
        {e.key: e for e in edges if _other_end(e, read.key) in present},
    )
    return diff(held, wanted)


def write_object(sink: GraphSink, read: ObjectRead, cause: Cause) -> ChangeSet:
    """Write only what changed around the object (nothing when nothing did)."""
    changes = changes_around(sink, read)
    if changes:
        sink.apply(changes, cause=cause)
    return changes


def refresh_moved_oncalls(context: JobContext, policy_ids: set[str], cause: Cause) -> int:
    """Rewrite the ONCALL edges of these policies' services (one `/oncalls` read per 100
    policies; worker.oncall); the number of edges written."""
    if not policy_ids:
        return 0
    result = refresh_oncalls(context, sorted(policy_ids), cause)
    return int(result["edges_created"] + result["edges_deleted"] + result["edges_updated"])
