"""The webhook path for one service: re-read it, build its subgraph, diff, write the change.

get (the service and its policy's on-calls) → transform (common.transform, the same
functions as the full sync) → load (only what differs from what the sink holds).
"""

from __future__ import annotations

from common.graph import ChangeSet, Graph, diff
from common.pagerduty import PagerDutyClient, PagerDutyObject
from common.sinks import GraphSink
from common.transform import lowest_oncall_levels, service_key, service_subgraph


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
            {k: r for k, r in graph.relationships.items() if r.class_ != "ONCALL"},
        )
        held.relationships = {k: v for k, v in held.relationships.items() if "|oncall|" not in k}
    changes = diff(held, graph)
    sink.apply(changes)
    return changes
