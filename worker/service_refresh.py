"""The webhook path for one service: re-read it, build its subgraph, diff, write the change.

get (the service and its policy's on-calls) → transform (common.transform, the same
functions as the full sync) → load (only what differs from what the sink holds), ordered
by read (worker.ordering) so that an older read never overwrites a newer one.
"""

from __future__ import annotations

import logging
from typing import Any

from common.graph import ChangeSet, Graph, diff
from common.pagerduty import PagerDutyClient, PagerDutyObject
from common.sinks import GraphSink
from common.state import sync_window_is_open
from common.transform import (
    is_oncall_edge,
    lowest_oncall_levels,
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
    client: PagerDutyClient, sink: GraphSink, service_id: str, account_name: str | None
) -> tuple[Graph, list[PagerDutyObject]]:
    """The service's entity and edges as PagerDuty has them now (empty: deleted), and the
    on-calls of its policy (they say when its next hand-off is).

    Edges come only from entities the graph holds: a team or user created since the last
    full sync gets its entity, and so its edges, from the next one.
    """
    service, oncalls = get_service(client, service_id)
    if service is None:
        return Graph(), []
    entity, edges = service_subgraph(service, lowest_oncall_levels(oncalls), account_name)
    present = sink.existing({e.from_key for e in edges})
    return Graph.of([entity], [e for e in edges if e.from_key in present]), oncalls


def write_service_graph(
    sink: GraphSink, service_id: str, graph: Graph, *, keep_oncall: bool = False
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
    sink.apply(changes)
    return changes


def refresh_service_graph(context: JobContext, service_id: str) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges (unless a later
    read of it was written first); schedule its policy's next hand-off."""
    connection, sink = context.connection, context.sink
    reads = begin_reads(connection, [service_id])
    window_at_read = sync_window_is_open(connection)
    graph, oncalls = read_service_graph(
        context.client, sink, service_id, context.settings.account_name
    )
    written, changes = write_latest(
        connection,
        reads,
        window_at_read,
        lambda keep: write_service_graph(sink, service_id, graph, keep_oncall=keep[service_id]),
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
