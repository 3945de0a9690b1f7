"""Every job pdgraph queues has one spec (common.queueing.JOBS), and is queued at most once:
by its job id (RQ's unique enqueue) or by a marker written with it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import fakeredis
import pytest
import redis
from rq import Queue

from common.queueing import (
    DELIVERY_SEEN_TTL,
    FLUSH_JOB_TIMEOUT,
    FULL_SYNC_TIMEOUT,
    JOB_TIMEOUT,
    JOBS,
    SYNC_QUEUE,
    WEBHOOK_QUEUE,
    JobName,
    enqueue_unique,
    enqueue_with_marker,
    queue_for,
    register_queue,
)

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 3600


def test_every_job_name_is_a_function_of_worker_jobs() -> None:
    jobs = importlib.import_module("worker.jobs")
    for name, spec in JOBS.items():
        assert spec.func == f"worker.jobs.{name}"
        assert callable(getattr(jobs, name))
    assert set(JOBS) == set(JobName)


def test_no_job_function_is_named_outside_the_table() -> None:
    """The code names a job by JobName; its function path is written once, in JOBS."""
    named = []
    for package in ("common", "web", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "common" / "queueing.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if node.value.startswith("worker.jobs.") and " " not in node.value:
                        named.append(f"{path.relative_to(ROOT)}: {node.value}")
    assert named == []


def test_each_spec_keeps_its_queue_timeout_retries_and_ttls() -> None:
    def row(name: JobName) -> tuple[object, ...]:
        spec = JOBS[name]
        retry = (spec.retry.max, spec.retry.intervals) if spec.retry else None
        return spec.queue, spec.timeout, retry, spec.result_ttl, spec.failure_ttl

    assert row(JobName.PROCESS_WEBHOOK) == (
        WEBHOOK_QUEUE,
        JOB_TIMEOUT,
        (5, [2, 30, 120, 600, 1800]),
        DELIVERY_SEEN_TTL,
        4 * DELIVERY_SEEN_TTL,
    )
    assert DELIVERY_SEEN_TTL == 48 * 3600
    assert row(JobName.REFRESH_SERVICE) == (
        WEBHOOK_QUEUE,
        JOB_TIMEOUT,
        (5, [2, 10, 60, 300, 900]),
        3600,
        7 * DAY,
    )
    assert row(JobName.REFRESH_ONCALL_HANDOFF) == (WEBHOOK_QUEUE, JOB_TIMEOUT, None, 3600, 7 * DAY)
    assert row(JobName.FLUSH_JUPITERONE) == (
        WEBHOOK_QUEUE,
        FLUSH_JOB_TIMEOUT,
        (6, [1, 5, 30, 120, 600, 1800]),
        3600,
        7 * DAY,
    )
    assert FLUSH_JOB_TIMEOUT == 2 * 3600
    assert row(JobName.FULL_SYNC) == (SYNC_QUEUE, FULL_SYNC_TIMEOUT, None, 7 * DAY, 30 * DAY)
    assert FULL_SYNC_TIMEOUT == 4 * 3600
    assert row(JobName.REFRESH_ALL_ONCALLS) == (SYNC_QUEUE, 3600, None, DAY, 7 * DAY)
    assert row(JobName.POLL_AUDIT_RECORDS) == (WEBHOOK_QUEUE, JOB_TIMEOUT, None, 600, 7 * DAY)
    assert row(JobName.LIGHT_REFRESH) == (SYNC_QUEUE, 3600, None, DAY, 7 * DAY)


def test_a_job_id_is_queued_once_and_the_queue_is_registered(redis_client: redis.Redis) -> None:
    queue = queue_for(redis_client, JobName.FULL_SYNC)
    assert enqueue_unique(queue, JobName.FULL_SYNC, (), "full-sync-once", description="once")
    assert not enqueue_unique(queue, JobName.FULL_SYNC, (), "full-sync-once", description="again")
    assert queue.job_ids == ["full-sync-once"]
    assert queue.key.encode() in redis_client.smembers(Queue.redis_queues_keys)
    job = queue.fetch_job("full-sync-once")
    assert job is not None
    assert (job.func_name, job.timeout, job.result_ttl, job.failure_ttl, job.description) == (
        "worker.jobs.full_sync",
        FULL_SYNC_TIMEOUT,
        7 * DAY,
        30 * DAY,
        "once",
    )
    assert job.get_status() == "queued" and job.enqueued_at is not None


def test_a_unique_job_of_a_registered_queue_costs_one_round_trip(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = queue_for(redis_client, JobName.PROCESS_WEBHOOK)
    queue.get_redis_server_version()  # asked once (RQ caches it on the connection)
    sent: list[str] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def sending(conn: object, command: object, *args: object, **kwargs: object) -> object:
        sent.append(repr(command)[:40])
        return send(conn, command, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", sending)
    args = ({"id": "E1"},)
    kept = enqueue_unique(queue, JobName.PROCESS_WEBHOOK, args, "webhook-E1", description="e")
    sent_for_first = list(sent)
    sent.clear()
    assert kept is True
    again = enqueue_unique(
        queue, JobName.PROCESS_WEBHOOK, args, "webhook-E1", description="e", register_queue=False
    )
    assert again is False
    assert len(sent) == 1 and "EVALSHA" in sent[0]  # the unique script, nothing else
    assert len(sent_for_first) == 2  # RQ's own SADD to rq:queues, then the script
    job = queue.fetch_job("webhook-E1")
    assert job is not None and job.retries_left == 5 and job.args == args


def test_a_unique_job_without_registration_is_stored_and_registers_nothing(
    redis_client: redis.Redis,
) -> None:
    queue = queue_for(redis_client, JobName.PROCESS_WEBHOOK)
    assert enqueue_unique(
        queue,
        JobName.PROCESS_WEBHOOK,
        ({"id": "E2"},),
        "webhook-E2",
        description="e",
        register_queue=False,
    )
    assert queue.job_ids == ["webhook-E2"]
    assert redis_client.sismember(Queue.redis_queues_keys, queue.key) == 0
    register_queue(queue)
    assert redis_client.sismember(Queue.redis_queues_keys, queue.key) == 1


def test_a_job_for_another_queue_is_refused(fake_redis: fakeredis.FakeRedis) -> None:
    queue = queue_for(fake_redis, JobName.FULL_SYNC)
    with pytest.raises(ValueError, match="pdgraph-sync"):
        enqueue_unique(queue, JobName.PROCESS_WEBHOOK, (), "webhook-x", description="x")


@pytest.mark.parametrize("delay", [0.0, 30.0])
def test_a_marker_queues_one_job_until_the_job_deletes_it(
    redis_client: redis.Redis, delay: float
) -> None:
    def request(n: int) -> bool:
        return enqueue_with_marker(
            redis_client,
            JobName.REFRESH_SERVICE,
            ("PSVC", None),
            f"refresh-service-PSVC-{n}",
            marker="test:marker",
            marker_ttl=600,
            description="refresh service PSVC",
            delay=delay,
        )

    assert request(1) is True
    assert request(2) is False  # the marker is there: nothing queued
    assert redis_client.get("test:marker") == b"refresh-service-PSVC-1"
    assert 590 < redis_client.ttl("test:marker") <= 600
    queue = Queue(WEBHOOK_QUEUE, connection=redis_client)
    waiting = queue.scheduled_job_registry.get_job_ids() if delay else queue.job_ids
    assert waiting == ["refresh-service-PSVC-1"]
    job = queue.fetch_job("refresh-service-PSVC-1")
    assert job is not None and job.timeout == JOB_TIMEOUT and job.retries_left == 5
    redis_client.delete("test:marker")  # the job started
    assert request(3) is True


def test_a_marker_write_that_fails_stores_nothing(fake_redis: fakeredis.FakeRedis) -> None:
    def failing_execute(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("lost")

    pipeline_class = type(fake_redis.pipeline())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_class, "execute", failing_execute)
        with pytest.raises(redis.ConnectionError):
            enqueue_with_marker(
                fake_redis,
                JobName.FLUSH_JUPITERONE,
                (),
                "jupiterone-flush-1",
                marker="test:flush",
                marker_ttl=600,
                description="flush",
            )
    assert fake_redis.keys("*") == []
