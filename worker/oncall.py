"""On-call freshness without webhooks: PagerDuty sends no event when a shift hands over.

Every read of `/oncalls` (full sync, webhook refresh, on-call refresh) tells when each
current shift ends. For each escalation policy the earliest `end` is a hand-off: a job
is scheduled `HANDOFF_SLACK` seconds after it that re-reads the on-calls of every policy
handing off at that second (one `/oncalls` request per 100 policies) and rewrites only
the ONCALL edges that changed. The clock adds a periodic safety refresh of every policy
(ONCALL_REFRESH_MINUTES) for what a schedule edit or a lost job would otherwise leave
stale until the nightly sync.

Which services a policy covers is kept in Redis (service → policy), written by the full
sync and by every service refresh, so a hand-off needs no service reads at all.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import redis
from rq import Queue

from common.graph import ChangeSet, Graph, GraphIndex, diff
from common.pagerduty import PagerDutyClient, PagerDutyObject
from common.queueing import WEBHOOK_QUEUE, enqueue_once, job_id_for
from common.sinks import GraphSink
from common.transform import lowest_oncall_levels, oncall_edges_for_service, service_key

log = logging.getLogger(__name__)

HANDOFF_SLACK = 5  # seconds after a shift ends before its on-calls are read again
SERVICE_POLICY = "pdgraph:oncall:service-policy"  # hash: service id → escalation policy id
HANDOFFS = "pdgraph:oncall:handoffs"  # sorted set: due second → due second (for /status)
HANDOFF_RETRY_TTL = 7 * 24 * 3600


def due_key(due: int) -> str:
    return f"pdgraph:oncall:due:{due}"


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def next_handoffs(oncalls: Iterable[PagerDutyObject]) -> dict[str, float]:
    """Escalation policy id → the earliest end of one of its current shifts."""
    ends: dict[str, float] = {}
    for oncall in oncalls:
        policy_id = (oncall.get("escalation_policy") or {}).get("id")
        end = _epoch(oncall.get("end"))
        if policy_id and end is not None:
            ends[policy_id] = min(end, ends.get(policy_id, end))
    return ends


def schedule_handoffs(
    connection: redis.Redis, oncalls: Iterable[PagerDutyObject], *, now: float | None = None
) -> int:
    """Schedule a refresh right after each policy's next hand-off; how many were new."""
    by_due: dict[int, set[str]] = {}
    for policy_id, end in next_handoffs(oncalls).items():
        by_due.setdefault(math.ceil(end) + HANDOFF_SLACK, set()).add(policy_id)
    if not by_due:
        return 0
    now = time.time() if now is None else now
    with connection.pipeline() as pipe:
        for due, policies in by_due.items():
            pipe.sadd(due_key(due), *sorted(policies))
            pipe.expire(due_key(due), max(60, int(due - now)) + HANDOFF_RETRY_TTL)
            pipe.zadd(HANDOFFS, {str(due): due})
        pipe.zremrangebyscore(HANDOFFS, "-inf", now - 3600)
        pipe.execute()
    queue = Queue(WEBHOOK_QUEUE, connection=connection)
    queued = 0
    for due in sorted(by_due):
        # The marker outlives the wait: one job per hand-off second however often it is seen.
        queued += enqueue_once(
            queue,
            f"{due_key(due)}:queued",
            max(60, int(due - now)) + 3600,
            "worker.jobs.refresh_oncall_handoff",
            (due,),
            job_id_for("oncall-handoff", str(due)),
            description=f"on-call hand-off at {datetime.fromtimestamp(due, UTC):%H:%M:%S} UTC",
            delay=max(0.0, due - now),
        )
    return queued


def take_handoff(connection: redis.Redis, due: int) -> list[str]:
    """The policies handing off at `due`; a policy scheduled from now on queues a new job."""
    with connection.pipeline() as pipe:
        pipe.delete(f"{due_key(due)}:queued")
        pipe.smembers(due_key(due))
        pipe.delete(due_key(due))
        _, members, _ = pipe.execute()
    return sorted(m.decode() if isinstance(m, bytes) else m for m in members)


def next_handoff(connection: redis.Redis, now: float | None = None) -> float | None:
    now = time.time() if now is None else now
    due = connection.zrangebyscore(HANDOFFS, now - HANDOFF_SLACK, "+inf", start=0, num=1)
    return float(cast(Any, due[0])) if due else None


# -- which services a policy covers -----------------------------------------------------------


def record_service_policies(connection: redis.Redis, policies: Mapping[str, str]) -> None:
    """Replace the whole service → policy map (the full sync read every service)."""
    with connection.pipeline(transaction=True) as pipe:
        pipe.delete(SERVICE_POLICY)
        if policies:
            pipe.hset(SERVICE_POLICY, mapping=dict(policies))  # type: ignore[arg-type]
        pipe.execute()


def record_service_policy(connection: redis.Redis, service_id: str, policy_id: str | None) -> None:
    if policy_id:
        connection.hset(SERVICE_POLICY, service_id, policy_id)
    else:
        connection.hdel(SERVICE_POLICY, service_id)


def services_by_policy(connection: redis.Redis) -> dict[str, list[str]]:
    services: dict[str, list[str]] = {}
    for service_id, policy_id in connection.hgetall(SERVICE_POLICY).items():
        sid = service_id.decode() if isinstance(service_id, bytes) else service_id
        pid = policy_id.decode() if isinstance(policy_id, bytes) else policy_id
        services.setdefault(pid, []).append(sid)
    return {pid: sorted(sids) for pid, sids in services.items()}


def service_policies_of(graph: Graph) -> dict[str, str]:
    """Service id → policy id, from the service entities of a graph."""
    return {
        str(e.properties["id"]): str(e.properties["escalationPolicyId"])
        for e in graph.entities.values()
        if e.type == "pagerduty_service" and e.properties.get("escalationPolicyId")
    }


# -- the refresh ----------------------------------------------------------------------------


def oncall_changes(
    sink: GraphSink, service_id: str, policy_id: str, levels: Mapping[str, Mapping[str, int]]
) -> ChangeSet:
    """What to write so the service's ONCALL edges are the ones `levels` says (only those)."""
    key = service_key(service_id)
    service = {"id": service_id, "escalation_policy": {"id": policy_id}}
    edges = oncall_edges_for_service(service, levels)
    present = sink.existing([key, *(e.from_key for e in edges)])
    if key not in present:
        return ChangeSet()  # not in the graph (yet): its own refresh writes it whole
    around = sink.index_around(key)
    held = GraphIndex(
        relationships={k: v for k, v in around.relationships.items() if "|oncall|" in k}
    )
    return diff(held, Graph.of([], [e for e in edges if e.from_key in present]))


def read_oncalls(
    client: PagerDutyClient, connection: redis.Redis, policy_ids: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Read the policies' on-calls, schedule their next hand-offs; user levels by policy."""
    oncalls = client.oncalls_for_policies(sorted(set(policy_ids)))
    schedule_handoffs(connection, oncalls)
    return lowest_oncall_levels(oncalls)


def summarize(results: Iterable[ChangeSet | None]) -> dict[str, Any]:
    changed = [c for c in results if c]
    return {
        "services_changed": len(changed),
        "edges_created": sum(len(c.create_relationships) for c in changed),
        "edges_deleted": sum(len(c.delete_relationships) for c in changed),
        "edges_updated": sum(len(c.update_relationships) for c in changed),
    }
