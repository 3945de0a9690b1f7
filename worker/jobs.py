"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them).

Each only wires a path together (the work is in service_refresh, oncall, full_sync) and is
timed for /metrics (`pdgraph_job_duration_seconds{job=...}`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from rq import Retry

from common import metrics
from common.graph import Cause
from common.signals import WebhookSignal
from worker import dependencies, oncall
from worker.coalescing import (
    claim_refresh_window,
    request_service_refresh,
    start_trailing_refresh,
)
from worker.context import job_context
from worker.freshness import light_refresh_due, poll_feed_or_refresh
from worker.full_sync import FullSyncAlreadyRunning, run_full_sync
from worker.ordering import ServiceBusy
from worker.service_refresh import refresh_service_graph

log = logging.getLogger(__name__)

# A job that finds a service being written by another is deferred, not kept waiting: RQ
# queues it again after each interval (the last one repeated), the worker free for other
# work meanwhile. A holder waiting out 429s keeps its lock up to ~10 min; these cover ~13.
DEFER = Retry(max=30, interval=[1, 2, 4, 8, 15, 30])


def deferred_when_busy(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run the job; when a service it writes is locked by another job, return DEFER (RQ's
    public way for a job to ask to run again later) instead of failing or blocking."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ServiceBusy as exc:
            log.info("job deferred: %s", exc, extra={"job": func.__name__})
            return DEFER

    return run


@metrics.timed("webhook")
@deferred_when_busy
def process_webhook(event: dict[str, Any]) -> str:
    """Route one delivered event (SPEC §6). The payload is a signal: nothing in it is trusted."""
    signal = WebhookSignal.from_job(event)
    context = job_context()
    if not signal.is_routed():  # pagey.ping and types we do not handle: logged, done
        log.info("webhook ignored", extra={"event_id": signal.id, "type": signal.event_type})
        return f"ignored {signal.event_type}"
    service_id = signal.service_to_refresh()
    if not service_id:
        log.warning("webhook without a service id", extra={"event_id": signal.id})
        return "no service id"
    connection = context.connection
    if claim_refresh_window(connection, service_id):
        # The leading edge: re-read now, in this job (one job per event, not two).
        changes = refresh_service_graph(context, service_id, Cause("webhook", signal.id))
        return f"refreshed {service_id}: {changes}"
    queued = request_service_refresh(connection, service_id, Cause("webhook", signal.id))
    log.info(
        "service refresh queued" if queued else "service refresh already queued",
        extra={"event_id": signal.id, "type": signal.event_type, "service_id": service_id},
    )
    return f"refresh of {service_id} {'queued' if queued else 'already queued'}"


@metrics.timed("refresh_service")
@deferred_when_busy
def refresh_service(service_id: str, cause: dict[str, Any] | None = None) -> dict[str, Any]:
    """The trailing edge: re-read a service whose coalescing window had events (`cause`:
    the first of them, for the change history)."""
    context = job_context()
    start_trailing_refresh(context.connection, service_id)
    return refresh_service_graph(context, service_id, Cause(**cause) if cause else None)


@metrics.timed("oncall_handoff")
@deferred_when_busy
def refresh_oncall_handoff(due: int) -> dict[str, Any]:
    """Re-read the on-calls of the policies whose shift ended at `due` (minus the slack)."""
    context = job_context()
    policies = oncall.take_handoff(context.connection, due)
    result = oncall.refresh_oncalls(context, policies, Cause("oncall", f"handoff-{due}"))
    oncall.handoff_done(context.connection, due, policies)  # kept until now: a deferral
    log.info("on-call hand-off refreshed", extra={"due": due, **result})
    return result


@metrics.timed("oncall_refresh")
@deferred_when_busy
def refresh_all_oncalls() -> dict[str, Any]:
    """The periodic safety refresh (ONCALL_REFRESH_MINUTES): every policy's on-calls."""
    result = oncall.refresh_oncalls(job_context(), None)
    log.info("on-call refresh", extra=result)
    return result


@metrics.timed("jupiterone_flush")
def flush_jupiterone() -> dict[str, Any]:
    """Send the entity creates/updates the sink buffered (JupiterOne: one PATCH job)."""
    sent = job_context().sink.flush()
    log.info("buffered graph writes sent", extra={"entities": sent})
    return {"entities": sent}


@metrics.timed("full_sync")
def full_sync(allow_mass_delete: bool = False) -> dict[str, Any]:
    """Reconcile the whole graph with PagerDuty; the run record is the job's result."""
    context = job_context()
    try:
        run, _ = run_full_sync(
            context.settings,
            redis_client=context.connection,
            allow_mass_delete=allow_mass_delete,
        )
    except FullSyncAlreadyRunning as exc:
        return {"outcome": "skipped", "reason": str(exc)}
    return run.as_dict()


@metrics.timed("audit_poll")
def poll_audit_records() -> dict[str, Any]:
    """Users, teams, memberships, policies, schedules changed since the last poll
    (AUDIT_POLL_SECONDS): re-read each once, write what changed (worker.audit_feed)."""
    return poll_feed_or_refresh(job_context())


@metrics.timed("people_refresh")
def light_refresh() -> dict[str, Any]:
    """The light refresh of users, teams, memberships, policies and schedules
    (PEOPLE_REFRESH_MINUTES), where PagerDuty refuses the audit-records feed
    (worker.light_refresh)."""
    return light_refresh_due(job_context())


@metrics.timed("dependency_pass")
def read_dependencies() -> dict[str, Any]:
    """The dependency pass's run of this minute: the services and business services whose
    dependencies are due, read and written (worker.dependencies)."""
    return dependencies.read_dependencies(job_context())


# The job's name before it was `light_refresh`: a job a clock of that release queued runs.
refresh_people = light_refresh
