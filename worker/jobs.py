"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
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
from common.sinks.jupiterone import JupiterOneSink
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
    reads: Mapping[str, int],
    window_at_read: bool,
    write: Callable[[dict[str, bool]], ChangeSet],
    *,
    oncall_only: bool,
) -> tuple[list[str], ChangeSet]:
    """Write what `reads` (service id → read sequence) found, unless a later read of a
    service was written already; returns the services written and what changed.

    Two sequences per service: `written-seq` (the whole service) and `oncall-seq` (its
    ONCALL edges, which on-call refreshes write too). `write` gets service id → True when
    a later read wrote the service's ONCALL edges (keep them). The services' locks are
    taken in sorted order (no deadlock) and cover only check-and-write: a killed worker
    blocks nothing for long. One `write` for all: one sink write for a whole hand-off.
    """
    connection = context.connection
    services = sorted(reads)
    with ExitStack() as locks:
        for service_id in services:
            locks.enter_context(
                connection.lock(
                    f"{_keys(service_id)}:write-lock",
                    timeout=WRITE_LOCK_TIMEOUT,
                    blocking_timeout=WRITE_LOCK_TIMEOUT * 2,
                )
            )
        names = [f"{_keys(sid)}:{seq}" for sid in services for seq in ("written-seq", "oncall-seq")]
        seqs = [int(v or 0) for v in connection.mget(names)]
        keep: dict[str, bool] = {}
        for n, service_id in enumerate(services):
            whole_seq, oncall_seq, read_seq = seqs[2 * n], seqs[2 * n + 1], reads[service_id]
            if whole_seq > read_seq or (oncall_only and oncall_seq > read_seq):
                log.info("refresh superseded by a later read", extra={"service_id": service_id})
                continue
            keep[service_id] = oncall_seq > read_seq
        if not keep:
            return [], ChangeSet()
        changes = write(keep)
        with connection.pipeline() as pipe:
            for service_id, newer_oncall in keep.items():
                if not oncall_only:
                    pipe.set(f"{_keys(service_id)}:written-seq", reads[service_id], ex=86400)
                if not newer_oncall:
                    pipe.set(f"{_keys(service_id)}:oncall-seq", reads[service_id], ex=86400)
            pipe.execute()
    for service_id in keep:
        if sync_window_is_open(connection):
            mark_touched_during_sync(connection, service_id)
        elif window_at_read:  # a full sync wrote after we read: read again
            request_service_refresh(connection, service_id)
    return list(keep), changes


def _refresh(context: JobContext, service_id: str) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges."""
    connection, sink = context.connection, context.sink
    reads = _begin_reads(connection, [service_id])
    window_at_read = sync_window_is_open(connection)
    graph, oncalls = incremental.read_service_graph(
        context.client, sink, service_id, context.settings.account_name
    )
    written, changes = _write_latest(
        context,
        reads,
        window_at_read,
        lambda keep: incremental.write_service_graph(
            sink, service_id, graph, keep_oncall=keep[service_id]
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
    """Rewrite the ONCALL edges of the services of these policies (None: of all), in one
    sink write (JupiterOne: one GraphQL request of mutations for the whole hand-off)."""
    connection, sink = context.connection, context.sink
    by_policy = oncall.services_by_policy(connection)
    if policy_ids is not None:
        by_policy = {p: by_policy[p] for p in policy_ids if p in by_policy}
    policy_of = {sid: pid for pid, sids in by_policy.items() for sid in sids}
    if not policy_of:
        return {"policies": 0, "services": 0, **oncall.summarize([])}
    seqs = _begin_reads(connection, sorted(policy_of))
    window_at_read = sync_window_is_open(connection)
    levels = oncall.read_oncalls(context.client, connection, by_policy)
    # Most services did not change: found without any lock, then checked again under it.
    changed = [
        sid for sid in sorted(policy_of) if oncall.oncall_changes(sink, sid, policy_of[sid], levels)
    ]
    per_service: list[ChangeSet] = []

    def write(keep: dict[str, bool]) -> ChangeSet:
        per_service.extend(oncall.oncall_changes(sink, sid, policy_of[sid], levels) for sid in keep)
        merged = ChangeSet.merge(per_service)
        sink.apply(merged)
        return merged

    if changed:
        _write_latest(
            context, {sid: seqs[sid] for sid in changed}, window_at_read, write, oncall_only=True
        )
    return {
        "policies": len(by_policy),
        "services": len(policy_of),
        **oncall.summarize(per_service),
    }


@metrics.timed("jupiterone_flush")
def flush_jupiterone() -> dict[str, Any]:
    """Send the entity creates/updates buffered by webhook jobs in one PATCH job."""
    context = job_context()
    sink = context.sink
    if not isinstance(sink, JupiterOneSink):  # GRAPH_SINK changed since it was queued
        return {"entities": 0}
    sent = sink.flush_pending()
    log.info("jupiterone entities written", extra={"entities": sent})
    return {"entities": sent}


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
