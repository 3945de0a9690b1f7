"""One scoped write: what every incremental path (a webhook's service, an audit record's
object, an on-call hand-off, the light refresh) writes, and how.

A path owns a *scope*: the `_type`s it re-read (an object's entity and the edges its kind
owns, common/objects; the on-call edges of a service for a hand-off). What the sink holds
of those types around the object is diffed against what PagerDuty has now, and only the
difference is written:

- an edge goes only to an entity the graph holds (or the write creates), as the full
  sync's `build_graph`: what it points at is joined later by its own re-read;
- edges of other types touching the object belong to other paths and are left alone;
- an entity deleted loses every edge touching it, whatever its type (as a full sync
  would remove them).
"""

from __future__ import annotations

from collections.abc import Iterable

from common.graph import Cause, ChangeSet, Graph, GraphIndex, diff
from common.objects import type_of_key
from common.sinks.base import GraphSink


def in_scope(index: GraphIndex, scope: frozenset[str]) -> GraphIndex:
    """The objects of `index` whose `_type` is in `scope`."""
    return GraphIndex(
        {k: v for k, v in index.entities.items() if type_of_key(k) in scope},
        {k: v for k, v in index.relationships.items() if type_of_key(k) in scope},
    )


def with_edges_of_deleted(
    sink: GraphSink, changes: ChangeSet, held: Iterable[GraphIndex] = ()
) -> ChangeSet:
    """`changes`, plus every edge touching an entity it deletes (ONCALL, ASSIGNED, ...).
    `held`: indexes around entities already read (not read again)."""
    known = {k: index for index in held for k in index.entities}
    deleting = set(changes.delete_relationships)
    for key in changes.delete_entities:
        around = known.get(key) or sink.index_around(key)
        for edge in around.relationships:
            if edge not in deleting:
                deleting.add(edge)
                changes.delete_relationships.append(edge)
    return changes


def scoped_changes(sink: GraphSink, wanted: Graph, around: str, scope: frozenset[str]) -> ChangeSet:
    """What turns the sink's objects of `scope` around the entity `around` into `wanted`
    (empty: PagerDuty deleted it)."""
    held = sink.index_around(around)
    wanted_keys = set(wanted.entities)
    ends = {k for e in wanted.relationships.values() for k in (e.from_key, e.to_key)}
    present = sink.existing(ends - wanted_keys) | wanted_keys if ends else wanted_keys
    kept = Graph(
        wanted.entities,
        {
            k: e
            for k, e in wanted.relationships.items()
            if e.from_key in present and e.to_key in present
        },
    )
    return with_edges_of_deleted(sink, diff(in_scope(held, scope), kept), [held])


def write_scoped(
    sink: GraphSink, wanted: Graph, around: str, scope: frozenset[str], cause: Cause | None
) -> ChangeSet:
    """Write only what changed of `scope` around `around` (nothing when nothing did)."""
    changes = scoped_changes(sink, wanted, around, scope)
    if changes:
        sink.apply(changes, cause)
    return changes
