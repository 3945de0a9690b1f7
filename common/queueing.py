"""Queues, job ids, and queueing a job at most once (a marker written with it)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry

WEBHOOK_QUEUE = "pdgraph-webhooks"
SYNC_QUEUE = "pdgraph-sync"
QUEUES = (WEBHOOK_QUEUE, SYNC_QUEUE)  # a worker listens in this order: webhooks first

# RQ kills a job past its timeout (default 180 s). A webhook-queue job may wait on 429s
# (the clients give up after RetryPolicy.rate_limit_max_wait, 600 s) and on retries: its
# timeout must exceed that wait (RetryPolicy.longest_call: 960 s for PagerDuty, 1,140 s for
# JupiterOne), or the job is killed mid-wait and burns a retry.
JOB_TIMEOUT = 1800

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
    job_timeout: int = JOB_TIMEOUT,
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
                    # enqueue_at takes the job's own options as keywords: job_timeout.
                    queue.enqueue_at(when, func, *args, job_timeout=job_timeout, **options)
                else:
                    queue.enqueue_call(func, args=args, timeout=job_timeout, **options)
                pipe.execute()
                return True
            except redis.WatchError:
                continue  # another request touched the marker: look again
