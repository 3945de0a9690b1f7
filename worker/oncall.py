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
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from common.clients.pagerduty import PagerDutyClient
from common.graph import Cause, ChangeSet, Graph
from common.objects import ONCALL_TYPES
from common.objects.base import SEED, GraphModel, OncallLevels, PagerDutyObject
from common.objects.oncall import oncall_edges_for_service, oncall_levels
from common.objects.service import service_key
from common.queueing import JobName, enqueue_with_marker, job_id_for
from common.schedule import HANDOFF_SLACK
from common.sinks import GraphSink
from common.sinks.scoped import scoped_changes
from common.state import keys
from common.state.full_sync import sync_window_is_open
from common.state.keys import HANDOFFS, SERVICE_POLICY
from worker.context import JobContext
from worker.ordering import begin_reads, write_latest

log = logging.getLogger(__name__)

HANDOFF_RETRY_TTL = 7 * 24 * 3600


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
            pipe.sadd(keys.handoff_due(due), *sorted(policies))
            pipe.expire(keys.handoff_due(due), max(60, int(due - now)) + HANDOFF_RETRY_TTL)
            pipe.zadd(HANDOFFS, {str(due): due})
        pipe.zremrangebyscore(HANDOFFS, "-inf", now - 3600)
        pipe.execute()
    queued = 0
    for due in sorted(by_due):
        # The marker outlives the wait: one job per hand-off second however often it is seen.
        queued += enqueue_with_marker(
            connection,
            JobName.REFRESH_ONCALL_HANDOFF,
            (due,),
            job_id_for("oncall-handoff", str(due)),
            marker=keys.handoff_queued(due),
            marker_ttl=max(60, int(due - now)) + 3600,
            description=f"on-call hand-off at {datetime.fromtimestamp(due, UTC):%H:%M:%S} UTC",
            delay=max(0.0, due - now),
        )
    return queued


def take_handoff(connection: redis.Redis, due: int) -> list[str]:
    """The policies handing off at `due`; a policy scheduled from now on queues a new job.
    They stay listed until handoff_done: a deferred or failed job finds them again."""
    with connection.pipeline() as pipe:
        pipe.delete(keys.handoff_queued(due))
        pipe.smembers(keys.handoff_due(due))
        _, members = pipe.execute()
    return sorted(keys.text_list(members))


def handoff_done(connection: redis.Redis, due: int, policies: Sequence[str]) -> None:
    """The hand-off's refresh of these policies is written."""
    if policies:
        connection.srem(keys.handoff_due(due), *policies)


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
    for sid, pid in keys.text_map(connection.hgetall(SERVICE_POLICY)).items():
        services.setdefault(pid, []).append(sid)
    return {pid: sorted(sids) for pid, sids in services.items()}


# -- the refresh ----------------------------------------------------------------------------


def oncall_changes(
    sink: GraphSink,
    service_id: str,
    policy_id: str,
    levels: OncallLevels,
    model: GraphModel = SEED,
) -> ChangeSet:
    """What to write so the service's on-call edges are the ones `levels` says (only those;
    none while the graph does not hold the service: its own refresh writes it whole)."""
    service = {"id": service_id, "escalation_policy": {"id": policy_id}}
    wanted = Graph.of([], oncall_edges_for_service(service, levels, model))
    return scoped_changes(sink, wanted, service_key(service_id), ONCALL_TYPES)


def read_oncalls(
    client: PagerDutyClient, connection: redis.Redis, policy_ids: Iterable[str]
) -> dict[str, dict[str, tuple[int, ...]]]:
    """Read the policies' on-calls, schedule their next hand-offs; user levels by policy."""
    oncalls = client.oncalls_for_policies(sorted(set(policy_ids)))
    schedule_handoffs(connection, oncalls)
    return oncall_levels(oncalls)


def summarize(results: Iterable[ChangeSet | None]) -> dict[str, Any]:
    changed = [c for c in results if c]
    return {
        "services_changed": len(changed),
        "edges_created": sum(len(c.create_relationships) for c in changed),
        "edges_deleted": sum(len(c.delete_relationships) for c in changed),
        "edges_updated": sum(len(c.update_relationships) for c in changed),
    }


def refresh_oncalls(
    context: JobContext, policy_ids: Sequence[str] | None, cause: Cause | None = None
) -> dict[str, Any]:
    """Rewrite the ONCALL edges of the services of these policies (None: of all), in one
    sink write (JupiterOne: the whole hand-off goes in one DIFF job of the scope).

    `cause` goes to the change history (default: `oncall`, `refresh-<epoch second>`)."""
    cause = cause or Cause("oncall", f"refresh-{int(time.time())}")
    connection, sink = context.connection, context.sink
    by_policy = services_by_policy(connection)
    if policy_ids is not None:
        by_policy = {p: by_policy[p] for p in policy_ids if p in by_policy}
    policy_of = {sid: pid for pid, sids in by_policy.items() for sid in sids}
    if not policy_of:
        return {"policies": 0, "services": 0, **summarize([])}
    seqs = begin_reads(connection, sorted(policy_of))
    window_at_read = sync_window_is_open(connection)
    levels = read_oncalls(context.client, connection, by_policy)
    # Most services did not change: found without any lock, then checked again under it.
    model = context.settings.graph_model
    changed = [
        sid for sid in sorted(policy_of) if oncall_changes(sink, sid, policy_of[sid], levels, model)
    ]
    per_service: list[ChangeSet] = []

    def write(keep: dict[str, bool]) -> ChangeSet:
        per_service.extend(oncall_changes(sink, sid, policy_of[sid], levels, model) for sid in keep)
        merged = ChangeSet.merge(per_service)
        sink.apply(merged, cause)
        return merged

    if changed:
        write_latest(
            connection, {sid: seqs[sid] for sid in changed}, window_at_read, write, oncall_only=True
        )
    return {"policies": len(by_policy), "services": len(policy_of), **summarize(per_service)}
