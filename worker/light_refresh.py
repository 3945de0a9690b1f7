"""The light refresh: users, teams, memberships, escalation policies and schedules where
the audit-records feed is refused (402: the plan has no Audit Trail; 403: the key is not
an admin/owner or account key).

Every PEOPLE_REFRESH_MINUTES it reads the listings of the kinds that send no webhook
(common.objects.LIGHT_REFRESH_KINDS: `/abilities`, `/teams`, `/users`,
`/escalation_policies`, `/schedules` and one `GET /schedules/{id}?since&until` per
schedule for its coverage: 1 + Σ⌈n/100⌉ + schedules requests) through the full sync's
reading and graph building (common.objects.account, build_graph), diffs the graph
against the objects of those kinds' scopes the sink holds, and writes only what differs,
with `Cause("refresh", <run id>)`. Edges go only to entities the graph holds (a
service's USES edge: to a service already in the graph). The full sync's mass-delete
guard applies, to these types only: a refresh that would delete more than half of any of
them (or all of one) writes nothing. A deleted object loses every edge touching it
(common.sinks.scoped). On-call edges are not this refresh's: the on-call refresh
(ONCALL_REFRESH_MINUTES) rewrites them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from common.graph import Cause, ChangeSet, diff
from common.objects import LIGHT_REFRESH_KINDS, ObjectKind, build_graph
from common.objects.account import read_account
from common.sinks.scoped import in_scope, with_edges_of_deleted
from worker.catalog import remember
from worker.context import JobContext
from worker.dependencies import note_dependents
from worker.full_sync import failed, mass_delete_refusal

log = logging.getLogger(__name__)


class LightRefreshAborted(Exception):
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


def new_run(name: str = "people-refresh") -> RefreshRun:
    started = time.time()
    return RefreshRun(f"{name}-{int(started)}-{uuid.uuid4().hex[:8]}", started)


def refresh_changes(context: JobContext, run: RefreshRun, kinds: Sequence[ObjectKind]) -> ChangeSet:
    """Read the kinds, build their graph, and what turns the sink's into it; raises
    LightRefreshAborted (guard)."""
    settings, sink = context.settings, context.sink
    snapshot = read_account(context.client, kinds)
    run.read = snapshot.counts()
    remember(context.connection, snapshot.listings)  # the tags it writes
    index = sink.index()
    held = in_scope(index, frozenset(t for k in kinds for t in k.scope))
    others = (k for k in index.entities if k not in held.entities)
    build = snapshot.build(settings.account_name, settings.graph_model)
    graph = build_graph(snapshot.consuming(), build, kinds, present=others)
    changes = diff(held, graph)
    refusal = mass_delete_refusal(held, changes, "the light refresh")
    if refusal is not None:
        run.outcome, run.error = "aborted", refusal
        raise LightRefreshAborted(refusal)
    return with_edges_of_deleted(sink, changes)


def light_refresh(
    context: JobContext, run: RefreshRun, kinds: Sequence[ObjectKind] = LIGHT_REFRESH_KINDS
) -> ChangeSet:
    """Read users, teams, policies and schedules (or these kinds), write what changed;
    raises LightRefreshAborted (guard)."""
    client = context.client
    requests_before = client.requests_made
    try:
        changes = refresh_changes(context, run, kinds)
        if changes:
            context.sink.apply(changes, cause=Cause("refresh", run.run_id))
            note_dependents(context.connection, changes)
        run.changes, run.changes_applied, run.outcome = changes.summary(), changes.total, "ok"
        return changes
    except Exception as exc:
        failed(run, exc, LightRefreshAborted)
    finally:
        run.pagerduty_requests = client.requests_made - requests_before
        run.finished_at = time.time()
        level = logging.INFO if run.outcome == "ok" else logging.ERROR
        log.log(level, "light refresh %s", run.outcome, extra={"run": run.as_dict()})
