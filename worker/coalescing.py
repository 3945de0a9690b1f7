"""Coalescing of service refreshes: a burst of events for one service costs at most two
re-reads. The first event opens a window and re-reads at once (the leading edge); events
inside it queue one trailing refresh (a marker key and the RQ job, written in one
transaction) for the window's end.
"""

from __future__ import annotations

import uuid

import redis

from common.graph import Cause
from common.queueing import JobName, enqueue_with_marker, job_id_for
from common.state import keys

REFRESH_MARKER_TTL = 600
COALESCE_SECONDS = 0.5  # at most one re-read of a service per window, plus a trailing one
WINDOW_MS = int(COALESCE_SECONDS * 1000)


def claim_refresh_window(connection: redis.Redis, service_id: str) -> bool:
    """Open the service's coalescing window; True if no re-read started within it.

    The caller that opens it re-reads at once (the leading edge). Events inside the
    window go to request_service_refresh (the trailing edge): N events within one window
    cost at most two re-reads.
    """
    window = keys.service_refresh(service_id, "window")
    return bool(connection.set(window, "1", nx=True, px=WINDOW_MS))


def start_trailing_refresh(connection: redis.Redis, service_id: str) -> None:
    """The trailing refresh begins: events from now on queue another one (this one may
    read PagerDuty too early for them), and the window opens again."""
    with connection.pipeline() as pipe:
        pipe.delete(keys.service_refresh(service_id))
        pipe.set(keys.service_refresh(service_id, "window"), "1", px=WINDOW_MS)
        pipe.execute()


def request_service_refresh(
    connection: redis.Redis, service_id: str, cause: Cause | None = None
) -> bool:
    """Queue a refresh of the service unless one is queued and not yet started.

    It is scheduled for the end of the open coalescing window (if any). The refresh job
    deletes the marker before it re-reads, so an event that arrives after that queues
    one more: every event is covered by a re-read that starts after it arrived. The job
    carries the `cause` of the request that queued it (the first event it covers).
    """
    remaining_ms = connection.pttl(keys.service_refresh(service_id, "window"))
    return enqueue_with_marker(
        connection,
        JobName.REFRESH_SERVICE,
        (service_id, cause.as_job() if cause else None),
        job_id_for("refresh-service", f"{service_id}-{uuid.uuid4().hex[:12]}"),
        marker=keys.service_refresh(service_id),
        marker_ttl=REFRESH_MARKER_TTL,
        description=f"refresh service {service_id}",
        delay=max(0, remaining_ms) / 1000,
    )
