"""The RQ worker class of the Procfile's `worker` process."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from rq.worker import HerokuWorker, SimpleWorker, WorkerStatus

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
# A webhook-queue job cut off by a lost Redis runs again this long after Redis is back,
# even when its own retries are spent (the failure was Redis', not the job's).
REDIS_LOST_RETRY_SECONDS = 5


# RQ polls its command channel (`rq` stop-job commands) from a redis-py pubsub thread with a
# 60 s sleep; redis-py 8 waits for that thread when it is stopped, and an unsubscribed one
# sleeps its whole interval: every worker's teardown took up to a minute (a worker asked to
# stop sat in futex_wait; a test's burst worker, each drain). This interval bounds it.
PUBSUB_POLL_SECONDS = 0.5


class PromptStop:
    """RQ's command-channel subscription, polled every PUBSUB_POLL_SECONDS (mixed into
    every RQ worker class pdgraph runs, the tests' burst workers included)."""

    connection: Any
    pubsub: Any
    pubsub_thread: Any
    pubsub_channel_name: str
    handle_payload: Any
    _pubsub_exception_handler: Any

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class PromptSimpleWorker(PromptStop, SimpleWorker):
    """RQ's SimpleWorker (jobs in-process), stopping promptly: for `rq`-less callers that
    drain queues in a burst (tests, benchmarks)."""


class PdgraphWorker(PromptStop, HerokuWorker):
    """HerokuWorker that runs webhook jobs in its own process and forks only for the rest.

    A webhook job is one re-read and a small write (tens of ms): forking a work horse
    and rebuilding connections for each one capped two workers far below 50 events/s.
    They run in-process, reusing connections (worker.jobs' context), with a heartbeat
    thread so that a killed worker's job is still found and retried. A full sync still
    gets a work horse: its memory is returned when it ends, and SIGTERM reaches it.

    Its scheduler is back within seconds of Redis answering again (`_watch_scheduler`).

    Redis restarts, fails over and pauses: RQ's own loop quits on a Redis error raised
    outside its dequeue (a job's bookkeeping, a heartbeat, the suspension check), which
    left a deployment with no worker until someone restarted it. Here a Redis error
    fails the job it hit (`_job_cut_off`: retried once Redis answers) and never the
    process; heartbeats and maintenance that meet one are tried again at their next turn.
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
            try:
                super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:
                self.log.warning("maintenance skipped: Redis unavailable (%s)", type(exc).__name__)

    def stop_scheduler(self) -> None:
        self._scheduler_watch_done.set()
        if self._scheduler_watch is not None:
            self._scheduler_watch.join()
        super().stop_scheduler()  # type: ignore[no-untyped-call]

    def execute_job(self, job: Any, queue: Any) -> None:
        try:
            self._execute_job(job, queue)
        except redis.RedisError as exc:
            self._job_cut_off(job, queue, exc)

    def _execute_job(self, job: Any, queue: Any) -> None:
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

    def _job_cut_off(self, job: Any, queue: Any, exc: redis.RedisError) -> None:
        """The job met a Redis error RQ's bookkeeping could not record: wait for Redis, then
        record it failed, retried later (webhook-queue jobs always: a refresh is safe to
        repeat). Should Redis lose even that, RQ's maintenance finds the job abandoned."""
        reason = f"{type(exc).__name__}: Redis was lost while the job ran"
        self.log.error("job %s cut off: %s; retried once Redis answers", job.id, reason)
        self.wait_for_redis()
        if queue.name == WEBHOOK_QUEUE and not job.retries_left:
            job.retries_left, job.retry_intervals = 1, [REDIS_LOST_RETRY_SECONDS]
        execution = next((e for e in self.executions.values() if e.job_id == job.id), None)
        try:
            self.handle_job_failure(job, queue, exc_string=reason, execution=execution)
            self.set_state(WorkerStatus.IDLE)
        except redis.RedisError as again:
            self.log.error("job %s: its failure not recorded (%s)", job.id, type(again).__name__)

    def wait_for_redis(self) -> None:
        """Block until Redis answers a PING (or a stop is requested), backing off to
        RECONNECT_WAIT_MAX_SECONDS; re-register the worker if Redis came back empty."""
        wait, lost_at = 0.1, time.monotonic()
        while not self._stop_requested:
            try:
                self.connection.ping()
                break
            except redis.RedisError:
                time.sleep(wait)
                wait = min(wait * 2, self.max_connection_wait_time)
        else:
            return
        self.log.info("Redis answers again after %.1f s", time.monotonic() - lost_at)
        try:
            if not self.connection.exists(self.key):
                self.register_birth()  # type: ignore[no-untyped-call]
        except (redis.RedisError, ValueError):
            pass  # `rq info` lists it again at its next heartbeat

    # RQ's loop quits on any Redis error these raise; they are tried again at the next turn.

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:  # queued in the caller's pipeline: no I/O here
            super().heartbeat(timeout, pipeline=pipeline)
            return
        try:
            super().heartbeat(timeout)
        except redis.RedisError as exc:
            self.log.warning("worker heartbeat failed (%s)", type(exc).__name__)

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except redis.RedisError as exc:
            self.log.warning("heartbeat of job %s failed (%s)", job.id, type(exc).__name__)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline=pipeline)
        except redis.RedisError as exc:
            self.log.warning("worker state not recorded (%s)", type(exc).__name__)

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except redis.RedisError:
            self.wait_for_redis()

    def _heartbeats(self, job: Any, execution: Any, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            self.maintain_heartbeats(job, execution)  # a Redis error: logged, next turn

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
