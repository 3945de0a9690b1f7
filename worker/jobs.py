"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import redis

from common import metrics
from common.config import Settings, load_settings
from common.graph import ChangeSet
from common.logs import configure_logging
from common.pagerduty import PagerDutyClient, client_from_settings
from common.queueing import (
    COALESCE_SECONDS,
    claim_refresh_window,
    refresh_marker,
    request_service_refresh,
    window_key,
)
from common.sinks import GraphSink, make_sink
from common.state import (
    connect,
    mark_touched_during_sync,
    sync_window_is_open,
)
from common.transform import service_key
from worker import incremental, oncall
from worker.full_sync import FullSyncAlreadyRunning, run_full_sync

log = logging.getLogger(__name__)


WRITE_LOCK_TIMEOUT = 120  # a JupiterOne PATCH job is polled to FINISHED inside it


class JobContext:
    """What webhook jobs reuse from one job to the next in a worker process.

    The sink and the PagerDuty client are made on first use: a ping needs neither.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection = connect(settings.redis_url)
        self.pid = os.getpid()
        self._sink: GraphSink | None = None
        self._client: PagerDutyClient | None = None

    @property
    def sink(self) -> GraphSink:
        if self._sink is None:
            self._sink = make_sink(self.settings, self.connection)
        return self._sink

    @property
    def client(self) -> PagerDutyClient:
        if self._client is None:
            self._client = client_from_settings(self.settings, self.connection)
        return self._client

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


_context: JobContext | None = None


def job_context() -> JobContext:
    """The process's context, rebuilt when the settings change or after a fork."""
    global _context
    settings = load_settings()
    if _context is None or _context.settings != settings or _context.pid != os.getpid():
        if _context is not None and _context.pid == os.getpid():
            _context.close()
        configure_logging(settings.log_level, settings.secret_values())
        _context = JobContext(settings)
        metrics.recorder.bind(_context.connection)
    return _context


@metrics.timed("webhook")
def process_webhook(event: dict[str, Any]) -> str:
    """Route one delivered event (SPEC §6). The payload is a signal: nothing in it is trusted."""
    context = job_context()
    event_type = event["event_type"]
    if event_type.startswith("service."):
        service_id = event.get("resource_id")
    elif event_type.startswith("incident."):
        service_id = event.get("service_id")  # on-call matters when incidents move
    else:  # pagey.ping and types we do not handle: logged, done
        log.info("webhook ignored", extra={"event_id": event["id"], "type": event_type})
        return f"ignored {event_type}"
    if not service_id:
        log.warning("webhook without a service id", extra={"event_id": event["id"]})
        return "no service id"
    connection = context.connection
    if claim_refresh_window(connection, service_id):
        # The leading edge: re-read now, in this job (one job per event, not two).
        changes = _refresh(context, service_id)
        return f"refreshed {service_id}: {changes}"
    queued = request_service_refresh(connection, service_id)
    log.info(
        "service refresh queued" if queued else "service refresh already queued",
        extra={"event_id": event["id"], "type": event_type, "service_id": service_id},
    )
    return f"refresh of {service_id} {'queued' if queued else 'already queued'}"


@metrics.timed("refresh_service")
def refresh_service(service_id: str) -> dict[str, Any]:
    """The trailing edge: re-read a service whose coalescing window had events."""
    context = job_context()
    with context.connection.pipeline() as pipe:
        # Events from here on queue another refresh: this one may read PagerDuty too early.
        pipe.delete(refresh_marker(service_id))
        pipe.set(window_key(service_id), "1", px=int(COALESCE_SECONDS * 1000))
        pipe.execute()
    return _refresh(context, service_id)


def _begin_reads(connection: redis.Redis, service_ids: Sequence[str]) -> dict[str, int]:
    """Number the reads about to happen: of two writes for one service, the later read wins."""
    with connection.pipeline() as pipe:
        for service_id in service_ids:
            pipe.incr(f"{_keys(service_id)}:read-seq")
            pipe.expire(f"{_keys(service_id)}:read-seq", 86400)
        replies = pipe.execute()
    return {sid: int(replies[2 * n]) for n, sid in enumerate(service_ids)}


def _keys(service_id: str) -> str:
    return f"pdgraph:refresh:service:{service_id}"


def _write_latest(
    context: JobContext,
    service_id: str,
    read_seq: int,
    window_at_read: bool,
    write: Callable[[bool], ChangeSet],
    *,
    oncall_only: bool,
) -> ChangeSet | None:
    """Run `write` unless a later read of the service was written already (None then).

    Two sequences: `written-seq` (whole service) and `oncall-seq` (its ONCALL edges, also
    written by on-call refreshes). `write(True)` means: keep the ONCALL edges, a later read
    wrote them. The lock covers only check-and-write: a killed worker blocks nothing long.
    """
    connection, keys = context.connection, _keys(service_id)
    with connection.lock(
        f"{keys}:write-lock", timeout=WRITE_LOCK_TIMEOUT, blocking_timeout=WRITE_LOCK_TIMEOUT * 2
    ):
        seqs = connection.mget(f"{keys}:written-seq", f"{keys}:oncall-seq")
        whole_seq, oncall_seq = (int(v or 0) for v in seqs)
        if whole_seq > read_seq or (oncall_only and oncall_seq > read_seq):
            log.info("refresh superseded by a later read", extra={"service_id": service_id})
            return None
        newer_oncall = oncall_seq > read_seq
        changes = write(newer_oncall)
        with connection.pipeline() as pipe:
            if not oncall_only:
                pipe.set(f"{keys}:written-seq", read_seq, ex=86400)
            if not newer_oncall:
                pipe.set(f"{keys}:oncall-seq", read_seq, ex=86400)
            pipe.execute()
    if sync_window_is_open(connection):
        mark_touched_during_sync(connection, service_id)
    elif window_at_read:  # a full sync wrote after we read: read again
        request_service_refresh(connection, service_id)
    return changes


def _refresh(context: JobContext, service_id: str) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges."""
    connection, sink = context.connection, context.sink
    read_seq = _begin_reads(connection, [service_id])[service_id]
    window_at_read = sync_window_is_open(connection)
    graph, oncalls = incremental.read_service_graph(
        context.client, sink, service_id, context.settings.account_name
    )
    changes = _write_latest(
        context,
        service_id,
        read_seq,
        window_at_read,
        lambda keep: incremental.write_service_graph(sink, service_id, graph, keep_oncall=keep),
        oncall_only=False,
    )
    if changes is None:
        return {"superseded": True}
    entity = graph.entities.get(service_key(service_id))
    policy_id = entity.properties.get("escalationPolicyId") if entity else None
    oncall.record_service_policy(connection, service_id, str(policy_id) if policy_id else None)
    oncall.schedule_handoffs(connection, oncalls)
    log.info("service refreshed", extra={"service_id": service_id, "changes": changes.summary()})
    return changes.summary()


@metrics.timed("oncall_handoff")
def refresh_oncall_handoff(due: int) -> dict[str, Any]:
    """Re-read the on-calls of the policies whose shift ended at `due` (minus the slack)."""
    context = job_context()
    policies = oncall.take_handoff(context.connection, due)
    result = _refresh_oncalls(context, policies)
    log.info("on-call hand-off refreshed", extra={"due": due, **result})
    return result


@metrics.timed("oncall_refresh")
def refresh_all_oncalls() -> dict[str, Any]:
    """The periodic safety refresh (ONCALL_REFRESH_MINUTES): every policy's on-calls."""
    context = job_context()
    result = _refresh_oncalls(context, None)
    log.info("on-call refresh", extra=result)
    return result


def _refresh_oncalls(context: JobContext, policy_ids: Sequence[str] | None) -> dict[str, Any]:
    """Rewrite the ONCALL edges of the services of these policies (None: of all)."""
    connection, sink = context.connection, context.sink
    by_policy = oncall.services_by_policy(connection)
    if policy_ids is not None:
        by_policy = {p: by_policy[p] for p in policy_ids if p in by_policy}
    services = [(sid, pid) for pid, sids in sorted(by_policy.items()) for sid in sids]
    if not services:
        return {"policies": 0, "services": 0, **oncall.summarize([])}
    seqs = _begin_reads(connection, [sid for sid, _ in services])
    window_at_read = sync_window_is_open(connection)
    levels = oncall.read_oncalls(context.client, connection, by_policy)
    results: list[ChangeSet | None] = []
    for service_id, policy_id in services:
        if not oncall.oncall_changes(sink, service_id, policy_id, levels):
            continue  # the common case, checked without the lock

        def write(newer: bool, sid: str = service_id, pid: str = policy_id) -> ChangeSet:
            changes = oncall.oncall_changes(sink, sid, pid, levels)
            sink.apply(changes)
            return changes

        results.append(
            _write_latest(
                context, service_id, seqs[service_id], window_at_read, write, oncall_only=True
            )
        )
    return {"policies": len(by_policy), "services": len(services), **oncall.summarize(results)}


@metrics.timed("full_sync")
def full_sync(allow_mass_delete: bool = False) -> dict[str, Any]:
    """Reconcile the whole graph with PagerDuty; the run record is the job's result."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
    connection = connect(settings.redis_url)
    metrics.recorder.bind(connection)
    try:
        run, _ = run_full_sync(
            settings, redis_client=connection, allow_mass_delete=allow_mass_delete
        )
    except FullSyncAlreadyRunning as exc:
        return {"outcome": "skipped", "reason": str(exc)}
    return run.as_dict()
