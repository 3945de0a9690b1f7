"""Read ordering (worker.ordering): the later read of a service wins, whatever order the
writes arrive in; a read taken while a full sync ran is read again after it."""

from __future__ import annotations

from collections.abc import Callable

import redis

from common.graph import ChangeSet
from common.state import keys
from common.state.full_sync import close_sync_window, open_sync_window
from worker.ordering import begin_reads, write_latest


def _writer(calls: list[str], name: str) -> Callable[[dict[str, bool]], ChangeSet]:
    def write(keep: dict[str, bool]) -> ChangeSet:
        calls.append(f"{name} keep_oncall={keep['PSVC']}")
        return ChangeSet()

    return write


def _latest(
    connection: redis.Redis, calls: list[str], name: str, seq: int, oncall_only: bool
) -> bool:
    written, _ = write_latest(
        connection, {"PSVC": seq}, False, _writer(calls, name), oncall_only=oncall_only
    )
    return bool(written)


def test_reads_are_numbered_in_the_order_they_begin(redis_client: redis.Redis) -> None:
    first = begin_reads(redis_client, ["A", "B"])
    second = begin_reads(redis_client, ["B"])
    assert first == {"A": 1, "B": 1}
    assert second == {"B": 2}


def test_older_reads_never_overwrite_newer_writes(redis_client: redis.Redis) -> None:
    calls: list[str] = []
    # A service refresh read first, an on-call refresh read later and wrote first:
    service_read, oncall_read = (begin_reads(redis_client, ["PSVC"])["PSVC"] for _ in "ab")
    assert _latest(redis_client, calls, "oncall", oncall_read, True)
    assert _latest(redis_client, calls, "service", service_read, False)  # its entity lands
    # An on-call read older than a service write that already landed is dropped whole.
    oncall_read, service_read = (begin_reads(redis_client, ["PSVC"])["PSVC"] for _ in "ab")
    assert _latest(redis_client, calls, "service", service_read, False)
    assert not _latest(redis_client, calls, "oncall", oncall_read, True)
    assert calls == [
        "oncall keep_oncall=False",
        "service keep_oncall=True",  # ... but the newer ONCALL edges are kept
        "service keep_oncall=False",
    ]


def test_a_service_write_older_than_a_written_one_is_dropped(redis_client: redis.Redis) -> None:
    calls: list[str] = []
    older, newer = (begin_reads(redis_client, ["PSVC"])["PSVC"] for _ in "ab")
    assert _latest(redis_client, calls, "newer", newer, False)
    assert not _latest(redis_client, calls, "older", older, False)
    assert calls == ["newer keep_oncall=False"]


def test_writes_inside_a_full_sync_window_are_refreshed_again_after_it(
    redis_client: redis.Redis,
) -> None:
    open_sync_window(redis_client)
    reads = begin_reads(redis_client, ["PSVC"])
    assert write_latest(redis_client, reads, True, _writer([], "w"), oncall_only=False)[0]
    assert close_sync_window(redis_client) == ["PSVC"]


def test_a_read_begun_inside_a_window_that_closed_before_its_write_is_read_again(
    redis_client: redis.Redis,
) -> None:
    reads = begin_reads(redis_client, ["PSVC"])  # the sync was running at read ...
    assert write_latest(redis_client, reads, True, _writer([], "w"), oncall_only=False)[0]
    assert redis_client.exists(keys.service_refresh("PSVC"))  # ... a refresh is queued


def test_queued_and_scheduled_jobs_outlive_the_clients_longest_wait(
    redis_client: redis.Redis,
) -> None:
    from rq import Queue

    from common.clients.http import RetryPolicy
    from common.clients.jupiterone import JupiterOneClient
    from common.clients.pagerduty import PagerDutyClient
    from common.queueing import JOB_TIMEOUT, WEBHOOK_QUEUE, JobName, enqueue_with_marker

    assert RetryPolicy().rate_limit_max_wait < JOB_TIMEOUT
    pagerduty = PagerDutyClient("key")
    jupiterone = JupiterOneClient("account", "key", "http://j1", "http://j1/graphql")
    for client in (pagerduty, jupiterone):  # each one call's worst case, as they are built
        assert client.retry.longest_call(client.timeout) < JOB_TIMEOUT
    queue = Queue(WEBHOOK_QUEUE, connection=redis_client)
    for delay in (0.0, 5.0):  # queued now, and scheduled (two RQ calls)
        job_id = f"timeout-test-{int(delay)}"
        assert enqueue_with_marker(
            redis_client,
            JobName.REFRESH_SERVICE,
            ("PSERVICE", None),
            job_id,
            marker=f"marker-{delay}",
            marker_ttl=60,
            description="timeout test",
            delay=delay,
        )
        job = queue.fetch_job(job_id)
        assert job is not None and job.timeout == JOB_TIMEOUT and job.kwargs == {}


def test_a_flush_job_outlives_its_lock_wait_patch_calls_and_poll(redis_client: redis.Redis) -> None:
    from rq import Queue

    from common.clients.http import RetryPolicy
    from common.queueing import WEBHOOK_QUEUE
    from common.sinks.jupiterone.writebehind import FLUSH_LOCK_WAIT
    from worker.flush import flush_scheduler

    flush_scheduler(redis_client)("flush-marker", 1.0)
    queue = Queue(WEBHOOK_QUEUE, connection=redis_client)
    [job] = [queue.fetch_job(i) for i in queue.scheduled_job_registry.get_job_ids()]
    assert job is not None and job.timeout is not None
    # start, upload and finalize may each wait their worst; the poll waits up to 1,800 s.
    patch_job = 3 * RetryPolicy().longest_call((5.0, 60.0)) + 1800
    assert job.timeout > FLUSH_LOCK_WAIT + patch_job
