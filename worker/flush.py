"""The JupiterOne sink's write-behind flush, scheduled as an RQ job.

The sink asks for its flush through a plain callable (common/ must not name a
`worker.jobs` function); this builds that callable for the worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import redis
from rq import Queue, Retry

from common.queueing import WEBHOOK_QUEUE, enqueue_once, job_id_for

FLUSH_JOB = "worker.jobs.flush_jupiterone"
FLUSH_RETRY = Retry(max=6, interval=[1, 5, 30, 120, 600, 1800])
FLUSH_MARKER_TTL = 600  # the marker outlives any flush delay; the flush deletes it
# A flush may wait for another's lock (FLUSH_LOCK_WAIT, 600 s), then run a PATCH job: three
# calls that may each wait out 429s (RetryPolicy.longest_call, 1,140 s) and a poll to
# FINISHED (JupiterOneClient.wait_for_job, up to 1,800 s). RQ must not kill it sooner.
FLUSH_JOB_TIMEOUT = 2 * 3600


def flush_scheduler(connection: redis.Redis) -> Callable[[str, float], None]:
    """`schedule_flush(marker_key, delay)` for common.sinks.make_sink: queue one flush job
    `delay` seconds from now unless `marker_key` exists, setting the marker with the job."""
    queue = Queue(WEBHOOK_QUEUE, connection=connection)

    def schedule_flush(marker_key: str, delay: float) -> None:
        enqueue_once(
            queue,
            marker_key,
            FLUSH_MARKER_TTL,
            FLUSH_JOB,
            (),
            job_id_for("jupiterone-flush", uuid.uuid4().hex),
            retry=FLUSH_RETRY,
            description="write buffered entity changes to JupiterOne (PATCH job)",
            delay=delay,
            job_timeout=FLUSH_JOB_TIMEOUT,
        )

    return schedule_flush
