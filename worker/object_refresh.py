"""One user, team, escalation policy or schedule named by audit records: re-read it,
write what changed of its scope (common/sinks/scoped.py).

get (its kind's `read_one`: `GET /users/{id}`, `/teams/{id}` + members, ...; 404 =
deleted) → transform (the kind's, the same as the full sync's) → load (`write_scoped`
around its key, its kind's scope). The audit-records feed calls this once per object
however many records name it.

A deleted object's followers are re-read after it (the sources of its edges that
PagerDuty edits on a deletion: a deleted user's schedules and policies, whose coverage
has a gap where its shifts were), and a policy or schedule names the policies whose
on-calls may have moved (`moved_policies`).
"""

from __future__ import annotations

from collections.abc import Iterable

from common.graph import Cause, ChangeSet, Graph
from common.objects import (
    ESCALATION_POLICY,
    FOLLOWS_DELETION,
    SCHEDULE,
    Build,
    ObjectKind,
    ends_of,
    id_of,
    kind_of_key,
    type_of_key,
)
from common.objects.escalation_policy import POLICY_ASSIGNED_USER, POLICY_HAS_SCHEDULE
from common.objects.schedule import SCHEDULE_HAS_USER
from common.sinks import GraphSink
from common.sinks.scoped import write_scoped
from worker.context import JobContext
from worker.oncall import refresh_oncalls


def build_of(context: JobContext) -> Build:
    return Build(context.settings.account_name, context.settings.graph_model)


def reread(context: JobContext, kind: ObjectKind, object_id: str) -> Graph | None:
    """The object as PagerDuty has it now (None: deleted)."""
    read = kind.reread(context.client, object_id, build_of(context))
    return None if read is None else Graph.of(*read)


def edge_sources(sink: GraphSink, key: str, edge_types: Iterable[str]) -> list[str]:
    """The entities with an edge of these types to `key`, as the sink holds them."""
    types = frozenset(edge_types)
    return sorted(
        ends_of(edge)[0]
        for edge in sink.index_around(key).relationships
        if type_of_key(edge) in types and ends_of(edge)[1] == key
    )


def followers(sink: GraphSink, key: str) -> list[tuple[ObjectKind, str]]:
    """(kind, id) of the objects to re-read after the entity `key` is deleted: the sources
    of its FOLLOWS_DELETION edges (call it before the write, which deletes the edges)."""
    found = []
    for source in dict.fromkeys(edge_sources(sink, key, FOLLOWS_DELETION)):
        kind = kind_of_key(source)
        if kind is not None:
            found.append((kind, id_of(source)))
    return found


def moved_policies(sink: GraphSink, keys: Iterable[str]) -> set[str]:
    """The ids of the policies whose on-calls a change of these objects may have moved: a
    policy (or its targets), and the policies escalating to a schedule (read from the
    sink: call it after the write)."""
    policies: set[str] = set()
    for key in keys:
        type_, source = type_of_key(key), ends_of(key)[0]
        if type_ in (ESCALATION_POLICY, POLICY_HAS_SCHEDULE, POLICY_ASSIGNED_USER):
            policies.add(source)
        elif type_ in (SCHEDULE, SCHEDULE_HAS_USER):
            policies.update(edge_sources(sink, source, {POLICY_HAS_SCHEDULE}))
    return {id_of(key) for key in policies}


def refresh_object(
    context: JobContext, kind: ObjectKind, object_id: str, cause: Cause
) -> tuple[ChangeSet, set[str]]:
    """Re-read one object and write what changed, then its followers if it was deleted;
    what was written and the ids of the policies whose on-calls may have moved."""
    sink = context.sink
    written: list[ChangeSet] = []
    moved: set[str] = set()
    todo = [(kind, object_id)]
    while todo:
        kind, object_id = todo.pop(0)
        key = kind.key(object_id)
        graph = reread(context, kind, object_id)
        if graph is None and len(written) == 0:
            todo += followers(sink, key)
        written.append(write_scoped(sink, graph or Graph(), key, kind.scope, cause))
        # A deleted policy's services get a new policy by their own webhook.
        if graph is not None or kind.entity_type != ESCALATION_POLICY:
            moved |= moved_policies(sink, [key])
    return ChangeSet.merge(written), moved


def refresh_moved_oncalls(context: JobContext, policy_ids: set[str], cause: Cause) -> int:
    """Rewrite the on-call edges of these policies' services (one `/oncalls` read per 100
    policies; worker.oncall); the number of edges written."""
    if not policy_ids:
        return 0
    result = refresh_oncalls(context, sorted(policy_ids), cause)
    return int(result["edges_created"] + result["edges_deleted"] + result["edges_updated"])
