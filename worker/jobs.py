"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them)."""

from __future__ import annotations

import logging
import os
from typing import Any

from common.config import Settings, load_settings
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
from worker import incremental
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
    return _context


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


def refresh_service(service_id: str) -> dict[str, Any]:
    """The trailing edge: re-read a service whose coalescing window had events."""
    context = job_context()
    with context.connection.pipeline() as pipe:
        # Events from here on queue another refresh: this one may read PagerDuty too early.
        pipe.delete(refresh_marker(service_id))
        pipe.set(window_key(service_id), "1", px=int(COALESCE_SECONDS * 1000))
        pipe.execute()
    return _refresh(context, service_id)


def _refresh(context: JobContext, service_id: str) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges."""
    connection, sink = context.connection, context.sink
    keys = f"pdgraph:refresh:service:{service_id}"
    with connection.pipeline() as pipe:
        pipe.incr(f"{keys}:read-seq")
        pipe.expire(f"{keys}:read-seq", 86400)
        read_seq, _ = pipe.execute()
    window_at_read = sync_window_is_open(connection)
    graph = incremental.read_service_graph(
        context.client, sink, service_id, context.settings.account_name
    )
    # Refreshes of one service may overlap on two workers: the later read wins. The lock
    # covers only check-and-write, so a killed worker blocks nothing for long.
    with connection.lock(
        f"{keys}:write-lock", timeout=WRITE_LOCK_TIMEOUT, blocking_timeout=WRITE_LOCK_TIMEOUT * 2
    ):
        written_seq = int(connection.get(f"{keys}:written-seq") or 0)
        if written_seq > read_seq:
            log.info("refresh superseded by a later read", extra={"service_id": service_id})
            return {"superseded": True}
        changes = incremental.write_service_graph(sink, service_id, graph)
        connection.set(f"{keys}:written-seq", read_seq, ex=86400)
    if sync_window_is_open(connection):
        mark_touched_during_sync(connection, service_id)
    elif window_at_read:  # a full sync wrote after we read: read again
        request_service_refresh(connection, service_id)
    log.info("service refreshed", extra={"service_id": service_id, "changes": changes.summary()})
    return changes.summary()


def full_sync(allow_mass_delete: bool = False) -> dict[str, Any]:
    """Reconcile the whole graph with PagerDuty; the run record is the job's result."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
    try:
        run, _ = run_full_sync(
            settings,
            redis_client=connect(settings.redis_url),
            allow_mass_delete=allow_mass_delete,
        )
    except FullSyncAlreadyRunning as exc:
        return {"outcome": "skipped", "reason": str(exc)}
    return run.as_dict()
