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

# RQ's scheduler process dies on a Redis connection error, and RQ restarts it only at its
# maintenance runs (every MAINTENANCE_INTERVAL, 60 s): delayed jobs waited ~84 s after a
# Redis outage. PdgraphWorker looks this often instead; RQ's lock (its name, kept by the
# worker across restarts) still gives one scheduler per queue.
SCHEDULER_CHECK_SECONDS = 2.0
# RQ's worker waits before reconnecting, doubling up to this (RQ: 60 s): a Redis back after
# an outage is used within it.
RECONNECT_WAIT_MAX_SECONDS = 2.0


class PdgraphWorker(HerokuWorker):
    """HerokuWorker that runs webhook jobs in its own process and forks only for the rest.

    A webhook job is one re-read and a small write (tens of ms): forking a work horse
    and rebuilding connections for each one capped two workers far below 50 events/s.
    They run in-process, reusing connections (worker.jobs' context), with a heartbeat
    thread so that a killed worker's job is still found and retried. A full sync still
    gets a work horse: its memory is returned when it ends, and SIGTERM reaches it.

    Its scheduler is back within seconds of Redis answering again (`_watch_scheduler`).
    """

    max_connection_wait_time = RECONNECT_WAIT_MAX_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scheduler_guard = threading.Lock()  # one starter at a time: one process
        self._scheduler_watch_done = threading.Event()
        self._scheduler_watch: threading.Thread | None = None

    def _start_scheduler(self, burst: bool = False, *args: Any, **kwargs: Any) -> None:
        with self._scheduler_guard:
            super()._start_scheduler(burst, *args, **kwargs)
        if not burst and self.scheduler is not None:
            self._scheduler_watch = threading.Thread(target=self._watch_scheduler, daemon=True)
            self._scheduler_watch.start()

    def _watch_scheduler(self) -> None:
        """Restart the scheduler process when it is gone and this worker can take its lock
        (RQ's own check, run_maintenance_tasks, comes only every maintenance interval)."""
        while not self._scheduler_watch_done.wait(SCHEDULER_CHECK_SECONDS):
            with self._scheduler_guard:
                scheduler = self.scheduler
                if scheduler is None or self._scheduler_watch_done.is_set():
                    return
                process = scheduler._process
                if process is not None and process.is_alive():
                    continue
                try:
                    scheduler.acquire_locks(auto_start=True)  # type: ignore[no-untyped-call]
                except redis.RedisError:
                    continue  # Redis is still away: look again at the next check

    def run_maintenance_tasks(self) -> None:
        with self._scheduler_guard:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]

    def stop_scheduler(self) -> None:
        self._scheduler_watch_done.set()
        if self._scheduler_watch is not None:
            self._scheduler_watch.join()
        super().stop_scheduler()  # type: ignore[no-untyped-call]

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
