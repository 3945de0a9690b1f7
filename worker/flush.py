"""The JupiterOne sink's write-behind flush, scheduled as an RQ job.

The sink asks for its flush through a plain callable (a sink queues no job itself);
this builds that callable for the worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import redis

from common.queueing import JobName, enqueue_with_marker, job_id_for

FLUSH_MARKER_TTL = 600  # the marker outlives any flush delay; the flush deletes it


def flush_scheduler(connection: redis.Redis) -> Callable[[str, float], None]:
    """`schedule_flush(marker_key, delay)` for common.sinks.make_sink: queue one flush job
    `delay` seconds from now unless `marker_key` exists, setting the marker with the job."""

    def schedule_flush(marker_key: str, delay: float) -> None:
        enqueue_with_marker(
            connection,
            JobName.FLUSH_JUPITERONE,
            (),
            job_id_for("jupiterone-flush", uuid.uuid4().hex),
            marker=marker_key,
            marker_ttl=FLUSH_MARKER_TTL,
            description="write buffered entity changes to JupiterOne (PATCH job)",
            delay=delay,
        )

    return schedule_flush
