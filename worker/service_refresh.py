"""The webhook path for one service: re-read it, build its subgraph, diff, write the change.

get (the service and its policy's on-calls) → transform (common.transform, the same
functions as the full sync) → load (only what differs from what the sink holds), ordered
by read (worker.ordering) so that an older read never overwrites a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from common.clients.pagerduty import PagerDutyClient
from common.graph import Cause, ChangeSet, Graph
from common.objects import ONCALL_TYPES, Build
from common.objects.base import PagerDutyObject
from common.objects.oncall import oncall_levels
from common.objects.service import KIND as SERVICE_KIND
from common.objects.service import get_service, service_key
from common.sinks import GraphSink
from common.sinks.scoped import write_scoped
from common.state.full_sync import sync_window_is_open
from worker import oncall
from worker.catalog import kept_window
from worker.context import JobContext
from worker.dependencies import note_dependents
from worker.ordering import begin_reads, write_latest

log = logging.getLogger(__name__)


def read_service_graph(
    client: PagerDutyClient, service_id: str, build: Build
) -> tuple[Graph, Sequence[PagerDutyObject]]:
    """The service's entity and edges as PagerDuty has them now (empty: deleted; with the
    maintenance window `build` says it is in), and the on-calls of its policy (they say
    when its next hand-off is)."""
    service, oncalls = get_service(client, service_id)
    if service is None:
        return Graph(), []
    build = replace(build, levels=oncall_levels(oncalls))
    return Graph.of(*SERVICE_KIND.transform(service, build)), oncalls


def write_service_graph(
    sink: GraphSink,
    service_id: str,
    graph: Graph,
    *,
    keep_oncall: bool = False,
    cause: Cause | None = None,
) -> ChangeSet:
    """Write only what differs between the sink and `graph` of the service's scope (its
    entity, team, policy and on-call edges; common.sinks.scoped: edges only to entities
    the graph holds, a team, user or policy it does not hold yet joined by its own read).

    `keep_oncall`: the on-call edges the sink holds come from a newer read than `graph`
    (an on-call refresh wrote them after this read): leave them as they are.
    """
    scope = SERVICE_KIND.scope - ONCALL_TYPES if keep_oncall else SERVICE_KIND.scope
    return write_scoped(sink, graph, service_key(service_id), scope, cause)


def refresh_service_graph(
    context: JobContext, service_id: str, cause: Cause | None = None
) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges (unless a later
    read of it was written first); schedule its policy's next hand-off."""
    connection, sink = context.connection, context.sink
    reads = begin_reads(connection, [service_id])
    window_at_read = sync_window_is_open(connection)
    settings = context.settings
    build = Build(
        settings.account_name,
        settings.graph_model,
        maintenance=kept_window(connection, service_id),
    )
    graph, oncalls = read_service_graph(context.client, service_id, build)
    written, changes = write_latest(
        connection,
        reads,
        window_at_read,
        lambda keep: write_service_graph(
            sink, service_id, graph, keep_oncall=keep[service_id], cause=cause
        ),
        oncall_only=False,
    )
    if not written:
        return {"superseded": True}
    note_dependents(connection, changes)
    entity = graph.entities.get(service_key(service_id))
    policy_id = entity.properties.get("escalationPolicyId") if entity else None
    oncall.record_service_policy(connection, service_id, str(policy_id) if policy_id else None)
    oncall.schedule_handoffs(connection, oncalls)
    log.info("service refreshed", extra={"service_id": service_id, "changes": changes.summary()})
    return changes.summary()
