"""Queues, job ids, every job pdgraph queues (JOBS), and the one way to queue a job at
most once: unique by its job id (RQ's own check) or by a marker key written with it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

WEBHOOK_QUEUE = "pdgraph-webhooks"
SYNC_QUEUE = "pdgraph-sync"
QUEUES = (WEBHOOK_QUEUE, SYNC_QUEUE)  # a worker listens in this order: webhooks first

# RQ kills a job past its timeout (default 180 s). A webhook-queue job may wait on 429s
# (the clients give up after RetryPolicy.rate_limit_max_wait, 600 s) and on retries: its
# timeout must exceed that wait (RetryPolicy.longest_call: 960 s for PagerDuty, 1,140 s for
# JupiterOne), or the job is killed mid-wait and burns a retry.
JOB_TIMEOUT = 1800
# A webhook job's record is the event's de-dup record: kept this long after it ran.
DELIVERY_SEEN_TTL = 48 * 3600  # ≥ 24 h, and covers PagerDuty's 48 h of retries
# A flush may wait for another's lock (FLUSH_LOCK_WAIT, 600 s), then run a PATCH job: three
# calls that may each wait out 429s (RetryPolicy.longest_call, 1,140 s) and a poll to
# FINISHED (JupiterOneClient.wait_for_job, up to 1,800 s). RQ must not kill it sooner.
FLUSH_JOB_TIMEOUT = 2 * 3600
FULL_SYNC_TIMEOUT = 4 * 3600  # a 50k-user sync takes minutes

_HOUR = 3600
_DAY = 24 * _HOUR


class JobName(StrEnum):
    """Every job pdgraph queues: a function of worker.jobs of that name."""

    PROCESS_WEBHOOK = "process_webhook"
    REFRESH_SERVICE = "refresh_service"
    REFRESH_ONCALL_HANDOFF = "refresh_oncall_handoff"
    FLUSH_JUPITERONE = "flush_jupiterone"
    FULL_SYNC = "full_sync"
    REFRESH_ALL_ONCALLS = "refresh_all_oncalls"
    POLL_AUDIT_RECORDS = "poll_audit_records"
    LIGHT_REFRESH = "light_refresh"
    READ_DEPENDENCIES = "read_dependencies"


@dataclass(frozen=True)
class JobSpec:
    """How a job is queued: RQ's function path, queue, timeout, retries, and how long RQ
    keeps its record after it finished (`result_ttl`) or failed (`failure_ttl`)."""

    func: str
    queue: str
    timeout: int
    retry: Retry | None
    result_ttl: int
    failure_ttl: int


# Retries back off: an attempt that failed at once (Redis restarting, a service locked)
# would fail again at once and hold a worker. The first comes 2 s later (after a killed
# worker, when RQ's scheduler is back: the dead one's lock lingers ~60 s).
JOBS: dict[JobName, JobSpec] = {
    JobName.PROCESS_WEBHOOK: JobSpec(
        "worker.jobs.process_webhook",
        WEBHOOK_QUEUE,
        JOB_TIMEOUT,
        Retry(max=5, interval=[2, 30, 120, 600, 1800]),
        DELIVERY_SEEN_TTL,
        DELIVERY_SEEN_TTL * 4,
    ),
    JobName.REFRESH_SERVICE: JobSpec(
        "worker.jobs.refresh_service",
        WEBHOOK_QUEUE,
        JOB_TIMEOUT,
        Retry(max=5, interval=[2, 10, 60, 300, 900]),
        _HOUR,
        7 * _DAY,
    ),
    JobName.REFRESH_ONCALL_HANDOFF: JobSpec(
        "worker.jobs.refresh_oncall_handoff", WEBHOOK_QUEUE, JOB_TIMEOUT, None, _HOUR, 7 * _DAY
    ),
    JobName.FLUSH_JUPITERONE: JobSpec(
        "worker.jobs.flush_jupiterone",
        WEBHOOK_QUEUE,
        FLUSH_JOB_TIMEOUT,
        Retry(max=6, interval=[1, 5, 30, 120, 600, 1800]),
        _HOUR,
        7 * _DAY,
    ),
    JobName.FULL_SYNC: JobSpec(
        "worker.jobs.full_sync", SYNC_QUEUE, FULL_SYNC_TIMEOUT, None, 7 * _DAY, 30 * _DAY
    ),
    JobName.REFRESH_ALL_ONCALLS: JobSpec(
        "worker.jobs.refresh_all_oncalls", SYNC_QUEUE, _HOUR, None, _DAY, 7 * _DAY
    ),
    # On the webhook queue: a poll is short, and a change's latency must not wait behind
    # a full sync.
    JobName.POLL_AUDIT_RECORDS: JobSpec(
        "worker.jobs.poll_audit_records", WEBHOOK_QUEUE, JOB_TIMEOUT, None, 600, 7 * _DAY
    ),
    JobName.LIGHT_REFRESH: JobSpec(
        "worker.jobs.light_refresh", SYNC_QUEUE, _HOUR, None, _DAY, 7 * _DAY
    ),
    # Every minute: kept an hour, not a day (1,440 records a day otherwise).
    JobName.READ_DEPENDENCIES: JobSpec(
        "worker.jobs.read_dependencies", SYNC_QUEUE, JOB_TIMEOUT, None, _HOUR, 7 * _DAY
    ),
}

_RQ_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def job_id_for(prefix: str, identifier: str) -> str:
    """An RQ job id (only [A-Za-z0-9_-] allowed) derived from any identifier."""
    if _RQ_ID.match(identifier):
        return f"{prefix}-{identifier}"
    return f"{prefix}-h{hashlib.sha256(identifier.encode('utf-8')).hexdigest()[:40]}"


def queue_for(connection: redis.Redis, name: JobName) -> Queue:
    """The RQ queue the job goes to."""
    return Queue(JOBS[name].queue, connection=connection)


def _create(
    queue: Queue, name: JobName, args: tuple[Any, ...], job_id: str, description: str
) -> Job:
    spec = JOBS[name]
    if queue.name != spec.queue:
        raise ValueError(f"{name} goes to {spec.queue}, not {queue.name}")
    return queue.create_job(
        spec.func,
        args=args,
        job_id=job_id,
        timeout=spec.timeout,
        retry=spec.retry,
        result_ttl=spec.result_ttl,
        failure_ttl=spec.failure_ttl,
        description=description,
    )


def enqueue_unique(
    queue: Queue,
    name: JobName,
    args: tuple[Any, ...],
    job_id: str,
    *,
    description: str,
    register_queue: bool = True,
) -> bool:
    """Queue the job unless a job with `job_id` exists; False if one does.

    RQ's unique enqueue: one Lua script checks the id, saves the job and pushes it, in
    one round trip. RQ adds the queue to `rq:queues` first, in a round trip of its own;
    a caller that registered it already (register_queue) passes `register_queue=False`:
    RQ then writes that SADD on a pipeline of ours, which is dropped (the job itself is
    stored by the script before enqueue_job returns).
    Raises redis.RedisError when Redis cannot be written: then nothing was queued.
    """
    job = _create(queue, name, args, job_id, description)
    try:
        if register_queue:
            queue.enqueue_job(job, unique=True)
        else:
            with queue.connection.pipeline() as dropped:
                queue.enqueue_job(job, pipeline=dropped, unique=True)
    except DuplicateJobError:
        return False
    return True


def register_queue(queue: Queue) -> None:
    """Put the queue in RQ's `rq:queues` set (what `rq info` lists)."""
    queue.connection.sadd(queue.redis_queues_keys, queue.key)


def enqueue_with_marker(
    connection: redis.Redis,
    name: JobName,
    args: tuple[Any, ...],
    job_id: str,
    *,
    marker: str,
    marker_ttl: int,
    description: str,
    delay: float = 0.0,
) -> bool:
    """Queue the job unless `marker` exists; set the marker with it, atomically (the job
    deletes the marker when it starts, so the next request queues another).

    With a `delay` the job is scheduled (RQ's scheduler enqueues it when due).

    Returns False when the marker was already there (nothing queued). Raises
    redis.RedisError when Redis cannot be written: then nothing was stored at all.
    """
    queue = queue_for(connection, name)
    job = _create(queue, name, args, job_id, description)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marker)  # type: ignore[no-untyped-call]
                if pipe.exists(marker):
                    return False
                pipe.multi()
                pipe.set(marker, job_id, ex=marker_ttl)
                if delay > 0:
                    queue.schedule_job(job, datetime.now(UTC) + timedelta(seconds=delay), pipe)
                else:
                    queue.enqueue_job(job, pipeline=pipe)
                pipe.execute()
                return True
            except redis.WatchError:
                continue  # another request touched the marker: look again
