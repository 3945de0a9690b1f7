"""The RQ worker class of the Procfile's `worker` process."""

from __future__ import annotations

import threading
from typing import Any

import redis
from rq.worker import HerokuWorker, WorkerStatus

# Imported here, in the parent: a work horse that had to import the job modules itself
# spent ~250 ms on it, every job.
import worker.jobs  # noqa: F401
from common.queueing import WEBHOOK_QUEUE

# RQ declares a job abandoned when its heartbeat TTL runs out: by default the monitoring
# interval (30 s) + 60 s of slack. A shorter slack lets a restarted worker requeue the job
# of a killed one sooner; heartbeats still come every interval, well inside it.
HEARTBEAT_SLACK_SECONDS = 15


class PdgraphWorker(HerokuWorker):
    """HerokuWorker that runs webhook jobs in its own process and forks only for the rest.

    A webhook job is one re-read and a small write (tens of ms): forking a work horse
    and rebuilding connections for each one capped two workers far below 50 events/s.
    They run in-process, reusing connections (worker.jobs' context), with a heartbeat
    thread so that a killed worker's job is still found and retried. A full sync still
    gets a work horse: its memory is returned when it ends, and SIGTERM reaches it.
    """

    def execute_job(self, job: Any, queue: Any) -> None:
        if queue.name != WEBHOOK_QUEUE:
            super().execute_job(job, queue)
            return
        execution = self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeats, args=(job, execution, done), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _heartbeats(self, job: Any, execution: Any, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except redis.RedisError:
                self.log.warning("heartbeat failed for job %s", job.id)

    @property
    def dequeue_timeout(self) -> int:
        # RQ blocks an idle worker for worker_ttl - 15 s (405 s by default) and runs its
        # maintenance (which requeues abandoned jobs) only between waits: wake at least
        # every maintenance interval so a killed worker's job is picked up in time.
        return int(max(1, min(self.worker_ttl - 15, self.maintenance_interval)))

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + HEARTBEAT_SLACK_SECONDS
