"""Which way users, teams, memberships, escalation policies and schedules are kept fresh,
and one run of it at a time.

The clock queues a feed poll every AUDIT_POLL_SECONDS and a light refresh every
PEOPLE_REFRESH_MINUTES; each job does its work only in its mode (common.state.freshness):
the feed where PagerDuty serves `/audit/records`, else the light refresh. The first poll
PagerDuty refuses switches to the light refresh (one log line, and a refresh at once);
a poll tried again later (a day on, or after a full sync) that works switches back.
Either way, the on-calls of the policies a run changed are re-read after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from common import metrics
from common.clients.pagerduty import AuditTrailUnavailable
from common.graph import Cause
from common.objects import CATALOG_KINDS
from common.state.freshness import AUDIT, CATALOG, REFRESH, read_mode, record_run
from common.state.keys import freshness_key
from common.state.locks import held_locks, lease
from worker.audit_feed import PollRun, feed_due, poll_feed, switch_mode
from worker.catalog import refresh_maintenance, refresh_tagged
from worker.context import JobContext
from worker.light_refresh import LightRefreshAborted, light_refresh, new_run
from worker.object_refresh import moved_policies, refresh_moved_oncalls

log = logging.getLogger(__name__)


@contextmanager
def freshness_lock(connection: redis.Redis) -> Iterator[bool]:
    """One feed poll or light refresh at a time, across clocks and workers; yields False
    (holding nothing) when another one runs."""
    lock = lease(connection, freshness_key("lock"))  # renewed while held; a dead run's lapses
    with held_locks("people") as locks:
        yield locks.acquire(lock, blocking=False)


def _counted(mode: str, outcome: str, changes: int) -> None:
    metrics.count("pdgraph_people_runs_total", {"mode": mode, "outcome": outcome})
    if changes:
        metrics.count("pdgraph_people_changes_total", {"mode": mode}, changes)


def poll_feed_or_refresh(context: JobContext) -> dict[str, Any]:
    """One feed poll, unless the feed is refused and not due to be tried again."""
    connection = context.connection
    if not feed_due(connection, time.time()):
        return {"mode": REFRESH, "skipped": "audit records unavailable; light refresh"}
    with freshness_lock(connection) as acquired:
        if not acquired:
            return {"skipped": "another poll or light refresh is running"}
        run = PollRun(started_at=time.time())
        try:
            poll_feed(context, run)
        except AuditTrailUnavailable as exc:
            run.outcome = "unavailable"
            if switch_mode(connection, REFRESH, str(exc)):
                return {"mode": REFRESH, **_refresh(context)}
            return {"mode": REFRESH, "reason": str(exc)}
        except Exception as exc:
            run.outcome, run.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if run.outcome != "unavailable":
                run.finished_at = time.time()
                record_run(connection, AUDIT, run.as_dict())
                _counted(AUDIT, run.outcome, run.changes_applied)
        switch_mode(connection, AUDIT, None)
    return {"mode": AUDIT, **run.as_dict()}


def light_refresh_due(context: JobContext) -> dict[str, Any]:
    """The periodic refresh: the catalog (what changes with no webhook and no audit
    record) in either mode, and the light refresh in refresh mode only (the feed covers
    the rest)."""
    mode = read_mode(context.connection)
    with freshness_lock(context.connection) as acquired:
        if not acquired:
            return {"skipped": "another poll or light refresh is running"}
        catalog = _catalog(context)
        if mode is None or mode["mode"] != REFRESH:
            return {
                "skipped": "the audit-records feed keeps users, teams, policies and"
                " schedules current",
                "catalog": catalog,
            }
        return {**_refresh(context), "catalog": catalog}


def _catalog(context: JobContext) -> dict[str, Any]:
    """The catalog refresh (worker.catalog; the caller holds the freshness lock)."""
    run = new_run("catalog-refresh")
    cause = Cause("refresh", run.run_id)
    try:
        light_refresh(context, run, CATALOG_KINDS)
        run.changes_applied += refresh_tagged(context, cause)
        run.changes_applied += refresh_maintenance(context, cause)
    except LightRefreshAborted:
        pass  # recorded and logged: nothing written, the full sync decides
    finally:
        record_run(context.connection, CATALOG, run.as_dict())
    return run.as_dict()


def _refresh(context: JobContext) -> dict[str, Any]:
    """A light refresh (the caller holds the people lock), recorded for /status."""
    run = new_run()
    try:
        changes = light_refresh(context, run)
        policies = moved_policies(context.sink, changes.keys())
        run.oncall_policies = len(policies)
        cause = Cause("refresh", run.run_id)
        run.changes_applied += refresh_moved_oncalls(context, policies, cause)
    except LightRefreshAborted:
        pass  # recorded and logged: nothing written, the full sync decides
    finally:
        record_run(context.connection, REFRESH, run.as_dict())
        _counted(REFRESH, run.outcome, run.changes_applied)
    return run.as_dict()
