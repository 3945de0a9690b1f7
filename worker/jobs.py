"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them)."""

from __future__ import annotations

import logging
import time
from typing import Any

from common.config import load_settings
from common.logs import configure_logging
from common.pagerduty import client_from_settings
from common.queueing import last_refresh_key, refresh_marker, request_service_refresh
from common.sinks import make_sink
from common.state import (
    connect,
    mark_touched_during_sync,
    sync_window_is_open,
)
from worker import incremental
from worker.full_sync import run_full_sync

log = logging.getLogger(__name__)

WRITE_LOCK_TIMEOUT = 30


def process_webhook(event: dict[str, Any]) -> str:
    """Route one delivered event (SPEC §6). The payload is a signal: nothing in it is trusted."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
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
    queued = request_service_refresh(connect(settings.redis_url), service_id)
    log.info(
        "service refresh queued" if queued else "service refresh already queued",
        extra={"event_id": event["id"], "type": event_type, "service_id": service_id},
    )
    return f"refresh of {service_id} {'queued' if queued else 'already queued'}"


def refresh_service(service_id: str) -> dict[str, Any]:
    """Re-read one service and write what changed in its entity and edges."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secret_values())
    connection = connect(settings.redis_url)
    keys = f"pdgraph:refresh:service:{service_id}"
    with connection.pipeline() as pipe:
        # Events from here on queue another refresh: this one may read PagerDuty too early.
        pipe.delete(refresh_marker(service_id))
        pipe.set(last_refresh_key(service_id), time.time(), ex=60)
        pipe.incr(f"{keys}:read-seq")
        pipe.expire(f"{keys}:read-seq", 86400)
        _, _, read_seq, _ = pipe.execute()
    window_at_read = sync_window_is_open(connection)
    sink = make_sink(settings)
    try:
        graph = incremental.read_service_graph(
            client_from_settings(settings, connection), sink, service_id, settings.account_name
        )
        # Refreshes of one service may overlap on two workers: the later read wins. The
        # lock covers only check-and-write, so a killed worker blocks nothing for long.
        with connection.lock(
            f"{keys}:write-lock",
            timeout=WRITE_LOCK_TIMEOUT,
            blocking_timeout=WRITE_LOCK_TIMEOUT * 2,
        ):
            written_seq = int(connection.get(f"{keys}:written-seq") or 0)
            if written_seq > read_seq:
                log.info("refresh superseded by a later read", extra={"service_id": service_id})
                return {"superseded": True}
            changes = incremental.write_service_graph(sink, service_id, graph)
            connection.set(f"{keys}:written-seq", read_seq, ex=86400)
    finally:
        sink.close()
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
    run, _ = run_full_sync(
        settings, redis_client=connect(settings.redis_url), allow_mass_delete=allow_mass_delete
    )
    return run.as_dict()
