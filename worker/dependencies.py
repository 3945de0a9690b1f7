"""The dependency pass: what each service and business service depends on, read in the
background within a budget (SPEC §6; common/objects/service_dependency.py).

PagerDuty has no listing of dependencies, no webhook and no audit record for them: one
read per object. The clock queues a run every minute; a run reads the objects whose last
read is the oldest, as many as keep every object read once per PEOPLE_REFRESH_MINUTES
(⌈objects / PEOPLE_REFRESH_MINUTES⌉ a run), never more than half of
PAGERDUTY_REQUESTS_PER_MINUTE; objects never read yet come first and are read at that
cap. Each read is compared with the USES edges the sink holds from that object and only
the difference is written (`Cause("refresh", <run id>)`), then kept in Redis
(common/state/dependencies.py), where the full sync takes it from: the full sync reads no
dependency itself, so its time to a usable graph does not grow with them.

Which objects there are: the full sync says (its graph's services and business
services), the webhook path and the catalog refresh add those they create (read at the
next run) and drop those they delete, and once every PEOPLE_REFRESH_MINUTES a run asks the
sink, in case one of those was lost. A run does nothing while a full sync runs
(the sync's reads come first), and runs one at a time.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from common.config import Settings
from common.graph import Cause, ChangeSet, Graph, GraphIndex, diff
from common.objects import type_of_key
from common.objects.base import ends_of
from common.objects.service_dependency import (
    DEPENDENCY_TYPES,
    is_dependent,
    read_dependents,
    uses,
)
from common.sinks.base import GraphSink
from common.state import dependencies as state
from common.state.keys import FULL_SYNC_LOCK, dependency_pass_key
from common.state.locks import held_locks, lease
from worker.context import JobContext

log = logging.getLogger(__name__)

TICK_SECONDS = 60  # the clock queues a run every minute
BUDGET_SHARE = 0.5  # of PAGERDUTY_REQUESTS_PER_MINUTE, at most, for one run


@dataclass
class DependencyRun:
    """What /status shows of the pass's last run."""

    run_id: str
    started_at: float
    outcome: str = "running"  # ok | failed
    dependents: int = 0  # services and business services the pass keeps
    never_read: int = 0  # of them, not read yet when the run started
    budget: int = 0  # reads this run was allowed
    read: int = 0
    changes_applied: int = 0
    pagerduty_requests: int = 0
    finished_at: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reads_per_run(settings: Settings, dependents: int, never_read: int) -> int:
    """How many objects one run reads: enough to read each once per
    PEOPLE_REFRESH_MINUTES, at most half the request budget (all of that while some were
    never read)."""
    cap = max(1, int(settings.pagerduty_requests_per_minute * BUDGET_SHARE))
    if never_read:
        return cap
    return min(cap, math.ceil(dependents / settings.people_refresh_minutes))


def dependency_changes(sink: GraphSink, reads: Mapping[str, Sequence[str]]) -> ChangeSet:
    """What turns the USES edges the sink holds from each dependent read into what it
    read (edges go only between entities the sink holds)."""
    present = sink.existing({k for v in reads.values() for k in v} | set(reads))
    per_dependent = []
    for dependent, supporting in reads.items():
        held = sink.index_around(dependent).relationships
        own = {
            k: f
            for k, f in held.items()
            if type_of_key(k) in DEPENDENCY_TYPES and ends_of(k)[0] == dependent
        }
        made = (uses(dependent, s) for s in supporting if dependent in present and s in present)
        wanted = Graph.of([], (e for e in made if e is not None))
        per_dependent.append(diff(GraphIndex({}, own), wanted))
    return ChangeSet.merge(per_dependent)


def carry_over(graph: Graph, held: GraphIndex, read: set[str]) -> int:
    """Keep in `graph` the USES edges the sink holds from dependents with no kept read (the
    pass has not read them since Redis lost its reads): a full sync leaves them as they
    are rather than delete what it did not read. How many were kept."""
    kept = 0
    for key in held.relationships:
        source, target = ends_of(key)
        if source in read or type_of_key(key) not in DEPENDENCY_TYPES:
            continue
        edge = uses(source, target)
        if edge is not None and source in graph.entities and target in graph.entities:
            graph.relationships[edge.key] = edge
            kept += 1
    return kept


def note_dependents(connection: redis.Redis, changes: ChangeSet) -> None:
    """After a write between syncs: a service or business service it created is read at
    the next run (before any other), one it deleted no more."""
    created = [e.key for e in changes.create_entities if is_dependent(e.key)]
    if created:
        state.enlist(connection, created, complete=False)
    for key in filter(is_dependent, changes.delete_entities):
        state.forget(connection, key)


def enlist_graph(connection: redis.Redis, graph: Graph) -> int:
    """The full sync's word on which dependents exist: its graph's."""
    return state.enlist(connection, filter(is_dependent, graph.entities), complete=True)


def _list_from_sink(context: JobContext, now: float) -> None:
    """Once a PEOPLE_REFRESH_MINUTES, which dependents exist, from the sink."""
    period = context.settings.people_refresh_minutes * 60
    marker = dependency_pass_key("listed")
    if context.connection.set(marker, int(now), nx=True, ex=period):
        keys = context.sink.index().entities
        state.enlist(context.connection, filter(is_dependent, keys), complete=True)


def _read_due(context: JobContext, run: DependencyRun, now: float, everything: bool) -> None:
    connection, client, settings = context.connection, context.client, context.settings
    _list_from_sink(context, now)
    run.dependents, run.never_read = state.counts(connection)
    if everything:
        run.budget, read_before = run.dependents, now
    else:
        run.budget = reads_per_run(settings, run.dependents, run.never_read)
        read_before = now - settings.people_refresh_minutes * 60 + TICK_SECONDS
    dependents = state.due(connection, read_before, run.budget)
    reads = {str(r["id"]): r["supporting"] for r in read_dependents(client, dependents)}
    run.read = len(reads)
    changes = dependency_changes(context.sink, reads)
    if changes:
        context.sink.apply(changes, Cause("refresh", run.run_id))
    run.changes_applied = changes.total
    state.keep_reads(connection, reads, now)  # after the write: a failed one is read again


def read_dependencies(
    context: JobContext, now: float | None = None, *, everything: bool = False
) -> dict[str, Any]:
    """One run of the pass (the clock's every minute); what it did, or why it did not.
    `everything`: read every dependent now, whatever the budget (`pdgraph dependencies
    --all`)."""
    connection = context.connection
    now = time.time() if now is None else now
    if connection.exists(FULL_SYNC_LOCK):
        return {"skipped": "a full sync is running"}
    with held_locks("dependencies") as locks:
        if not locks.acquire(lease(connection, dependency_pass_key("lock")), blocking=False):
            return {"skipped": "another dependency run is running"}
        # Runs queued while a full sync held the worker run back to back after it: one a tick.
        last = state.last_run(connection)
        if not everything and last and 0 <= now - last["started_at"] < TICK_SECONDS / 2:
            return {"skipped": "a run started less than half a minute ago"}
        run = DependencyRun(f"dependencies-{int(now)}-{uuid.uuid4().hex[:8]}", now)
        requests_before = context.client.requests_made
        try:
            _read_due(context, run, now, everything)
            run.outcome = "ok"
        except Exception as exc:
            run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            run.pagerduty_requests = context.client.requests_made - requests_before
            run.finished_at = time.time()
            state.record_run(connection, run.as_dict())
            level = logging.INFO if run.outcome == "ok" else logging.ERROR
            log.log(level, "dependency pass %s", run.outcome, extra={"run": run.as_dict()})
    return run.as_dict()
