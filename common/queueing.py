"""Queues, job ids, and the coalescing of service refreshes.

A burst of events for one service costs at most two re-reads: the first event opens a
window and re-reads at once; events inside it queue one trailing refresh (a marker key
and the RQ job, written in one transaction) for the window's end.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry

from common import keys

WEBHOOK_QUEUE = "pdgraph-webhooks"
SYNC_QUEUE = "pdgraph-sync"
QUEUES = (WEBHOOK_QUEUE, SYNC_QUEUE)  # a worker listens in this order: webhooks first

_RQ_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def job_id_for(prefix: str, identifier: str) -> str:
    """An RQ job id (only [A-Za-z0-9_-] allowed) derived from any identifier."""
    if _RQ_ID.match(identifier):
        return f"{prefix}-{identifier}"
    return f"{prefix}-h{hashlib.sha256(identifier.encode('utf-8')).hexdigest()[:40]}"


def enqueue_once(
    queue: Queue,
    marker: str,
    marker_ttl: int,
    func: str,
    args: tuple[Any, ...],
    job_id: str,
    *,
    retry: Retry | None = None,
    description: str | None = None,
    delay: float = 0.0,
) -> bool:
    """Queue `func(*args)` unless `marker` exists; set the marker with it, atomically.

    With a `delay` the job is scheduled (RQ's scheduler enqueues it when due).

    Returns False when the marker was already there (nothing queued). Raises
    redis.RedisError when Redis cannot be written: then nothing was stored at all.
    """
    with queue.connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marker)  # type: ignore[no-untyped-call]
                if pipe.exists(marker):
                    return False
                pipe.multi()
                pipe.set(marker, job_id, ex=marker_ttl)
                options: dict[str, Any] = {
                    "job_id": job_id,
                    "retry": retry,
                    "description": description,
                    "result_ttl": 3600,
                    "failure_ttl": 7 * 24 * 3600,
                    "pipeline": pipe,
                }
                if delay > 0:
                    when = datetime.now(UTC) + timedelta(seconds=delay)
                    queue.enqueue_at(when, func, *args, **options)
                else:
                    queue.enqueue_call(func, args=args, **options)
                pipe.execute()
                return True
            except redis.WatchError:
                continue  # another request touched the marker: look again


REFRESH_MARKER_TTL = 600
REFRESH_RETRY = Retry(max=5, interval=[0, 10, 60, 300, 900])  # first at once, as WEBHOOK_RETRY
COALESCE_SECONDS = 0.5  # at most one re-read of a service per window, plus a trailing one


def claim_refresh_window(connection: redis.Redis, service_id: str) -> bool:
    """Open the service's coalescing window; True if no re-read started within it.

    The caller that opens it re-reads at once (the leading edge). Events inside the
    window go to request_service_refresh (the trailing edge): N events within one window
    cost at most two re-reads.
    """
    return bool(
        connection.set(
            keys.service_refresh(service_id, "window"),
            "1",
            nx=True,
            px=int(COALESCE_SECONDS * 1000),
        )
    )


def request_service_refresh(connection: redis.Redis, service_id: str) -> bool:
    """Queue a refresh of the service unless one is queued and not yet started.

    It is scheduled for the end of the open coalescing window (if any). The refresh job
    deletes the marker before it re-reads, so an event that arrives after that queues
    one more: every event is covered by a re-read that starts after it arrived.
    """
    remaining_ms = connection.pttl(keys.service_refresh(service_id, "window"))
    return enqueue_once(
        Queue(WEBHOOK_QUEUE, connection=connection),
        keys.service_refresh(service_id),
        REFRESH_MARKER_TTL,
        "worker.jobs.refresh_service",
        (service_id,),
        job_id_for("refresh-service", f"{service_id}-{uuid.uuid4().hex[:12]}"),
        retry=REFRESH_RETRY,
        description=f"refresh service {service_id}",
        delay=max(0, remaining_ms) / 1000,
    )
