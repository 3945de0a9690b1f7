"""The webhook path for one service: re-read it, build its subgraph, diff, write the change.

get (the service and its policy's on-calls) → transform (common.transform, the same
functions as the full sync) → load (only what differs from what the sink holds), ordered
by read (worker.ordering) so that an older read never overwrites a newer one.
"""

from __future__ import annotations

import logging
from typing import Any

from common.clients.pagerduty import PagerDutyClient, PagerDutyObject
from common.graph import Cause, ChangeSet, Graph, diff
from common.sinks import GraphSink
from common.state.full_sync import sync_window_is_open
from common.transform import (
    SEED,
    GraphModel,
    is_oncall_edge,
    oncall_levels,
    service_key,
    service_subgraph,
)
from worker import oncall
from worker.context import JobContext
from worker.ordering import begin_reads, write_latest

log = logging.getLogger(__name__)


def get_service(
    client: PagerDutyClient, service_id: str
) -> tuple[PagerDutyObject | None, list[PagerDutyObject]]:
    """The service as PagerDuty has it now (None: deleted) and its policy's on-calls."""
    service = client.get_service(service_id)
    if service is None:
        return None, []
    policy_id = (service.get("escalation_policy") or {}).get("id")
    oncalls = client.oncalls_for_policies([policy_id]) if policy_id else []
    return service, oncalls


def read_service_graph(
    client: PagerDutyClient,
    sink: GraphSink,
    service_id: str,
    account_name: str | None,
    model: GraphModel = SEED,
) -> tuple[Graph, list[PagerDutyObject]]:
    """The service's entity and edges as PagerDuty has them now (empty: deleted), and the
    on-calls of its policy (they say when its next hand-off is).

    Edges go only to entities the graph holds: a team, user or policy the graph does not
    hold yet gets its entity, and so its edges, from the audit feed or the next full sync.
    """
    service, oncalls = get_service(client, service_id)
    if service is None:
        return Graph(), []
    entity, edges = service_subgraph(service, oncall_levels(oncalls), account_name, model)
    others = {end for e in edges for end in (e.from_key, e.to_key) if end != entity.key}
    present = sink.existing(others) | {entity.key}
    kept = [e for e in edges if e.from_key in present and e.to_key in present]
    return Graph.of([entity], kept), oncalls


def write_service_graph(
    sink: GraphSink,
    service_id: str,
    graph: Graph,
    *,
    keep_oncall: bool = False,
    cause: Cause | None = None,
) -> ChangeSet:
    """Write only what differs between the sink and `graph` around the service.

    `keep_oncall`: the ONCALL edges the sink holds come from a newer read than `graph`
    (an on-call refresh wrote them after this read): leave them as they are.
    """
    held = sink.index_around(service_key(service_id))
    if keep_oncall:
        graph = Graph(
            graph.entities,
            {k: r for k, r in graph.relationships.items() if not is_oncall_edge(k)},
        )
        held.relationships = {k: v for k, v in held.relationships.items() if not is_oncall_edge(k)}
    changes = diff(held, graph)
    sink.apply(changes, cause)
    return changes


def refresh_service_graph(
    context: JobContext, service_id: str, cause: Cause | None = None
) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges (unless a later
    read of it was written first); schedule its policy's next hand-off."""
    connection, sink = context.connection, context.sink
    reads = begin_reads(connection, [service_id])
    window_at_read = sync_window_is_open(connection)
    settings = context.settings
    graph, oncalls = read_service_graph(
        context.client, sink, service_id, settings.account_name, settings.graph_model
    )
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
    entity = graph.entities.get(service_key(service_id))
    policy_id = entity.properties.get("escalationPolicyId") if entity else None
    oncall.record_service_policy(connection, service_id, str(policy_id) if policy_id else None)
    oncall.schedule_handoffs(connection, oncalls)
    log.info("service refreshed", extra={"service_id": service_id, "changes": changes.summary()})
    return changes.summary()
