"""Entity writes to JupiterOne: written behind, one PATCH job per window."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from common.graph import Graph, diff
from common.sinks import SinkError
from common.sinks.jupiterone.syncjob import run_patch_job
from common.sinks.jupiterone.writebehind import WriteBehindBuffer
from sim.jupiterone import JupiterOneSim
from tests.common.sinks.jupiterone.helpers import (
    SCOPE,
    j1_client,
    make_j1_sink,
    record_of,
    service_entity,
    write,
)
from tests.waiting import wait_for


def scheduled_flushes(connection: redis.Redis) -> list[str]:
    registry = ScheduledJobRegistry(queue=Queue("pdgraph-webhooks", connection=connection))
    return registry.get_job_ids()


def test_updates_are_written_behind_in_one_patch_job_per_window(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    for n in range(20):  # 20 webhook jobs' changes, one of them twice
        sink.apply(write(sink, service_entity(n)))
    sink.apply(write(sink, service_entity(3, "renamed again")))
    assert j1.total_calls() == 0  # nothing sent yet: the webhook jobs are done already
    assert len(scheduled_flushes(redis_client)) == 1  # one flush job for the window
    assert sink.flush() == 20
    assert j1.calls == {"POST jobs": 1, "POST entities": 1, "POST finalize": 1, "GET job": 1}
    assert j1.graph().entities["service:PSHARED3"].properties["name"] == "renamed again"
    assert set(sink.index().entities) == set(j1.graph().entities)  # remembered once written
    assert sink.flush() == 0


def test_without_a_flush_scheduler_entity_writes_go_through_at_once(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """The CLI and any caller that passes no scheduler: apply writes before it returns."""
    sink = make_j1_sink(j1, redis_client, write_behind=False)
    sink.apply(write(sink, service_entity(1, "written through")))
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "written through"
    assert j1.calls == {"POST jobs": 1, "POST entities": 1, "POST finalize": 1, "GET job": 1}
    assert scheduled_flushes(redis_client) == []
    assert sink.waiting_writes() == 0
    assert sink.flush() == 0


def test_a_change_undone_before_the_flush_is_not_written(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1, "original")))
    sink.flush()
    sink.apply(write(sink, service_entity(1, "renamed")))
    back = diff(
        sink.index_around("service:PSHARED1"), Graph.of([service_entity(1, "original")], [])
    )
    assert back  # compared with the buffered rename, not with what was last written
    sink.apply(back)
    sink.flush()
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "original"


def test_a_failed_flush_keeps_the_changes_for_its_retry(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1)))
    j1.inject("/persister/synchronization/jobs/", 400, times=1)
    with pytest.raises(SinkError, match="PATCH job"):
        sink.flush()
    assert "service:PSHARED1" not in record_of(redis_client).index().entities  # not written
    sink.apply(write(sink, service_entity(1, "newer")))  # meanwhile
    assert sink.flush() == 1  # the retry sends the newest state of the key
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "newer"


def test_a_failed_flush_keeps_the_buffer_as_it_was_and_the_next_flush_sends_it(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """No newer write in between: what failed to go out is exactly what is sent next."""
    sink = make_j1_sink(j1, redis_client)
    written = [service_entity(n, f"written {n}") for n in range(3)]
    for entity in written:
        sink.apply(write(sink, entity))
    buffered = sink.index()
    j1.inject("/persister/synchronization/jobs/", 400, times=1)
    with pytest.raises(SinkError, match="PATCH job"):
        sink.flush()
    assert sink.waiting_writes() == 3
    assert sink.index() == buffered  # every change still waiting, unchanged
    assert not set(record_of(redis_client).index().entities) & {e.key for e in written}
    assert sink.flush() == 3
    assert [j1.graph().entities[e.key] for e in written] == written
    assert sink.waiting_writes() == 0 and sink.flush() == 0


def test_flushes_never_overlap_so_the_newest_write_lands_last(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """A slow PATCH job in flight; a newer write's flush waits for it instead of racing."""
    sink, other = make_j1_sink(j1, redis_client), make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1, "older")))
    j1.slow_down("/persister/synchronization/jobs/", 0.5, times=1)  # the first upload
    jobs = j1.calls["POST jobs"]
    first = threading.Thread(target=sink.flush)
    first.start()
    # the first flush has taken "older" and is uploading it
    wait_for(lambda: j1.calls["POST jobs"] > jobs, "the first flush to start its PATCH job")
    other.apply(write(other, service_entity(1, "newer")))
    assert other.flush() == 1  # waited for the first, then sent "newer"
    first.join(10)
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "newer"


def test_status_shows_changes_waiting_for_the_next_patch_job(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    from web.status import collect_status

    sink = make_j1_sink(j1, redis_client)
    for n in range(3):
        sink.apply(write(sink, service_entity(n)))
    assert collect_status(redis_client, sink)["graph"]["waiting_writes"] == 3
    sink.flush()
    assert collect_status(redis_client, sink)["graph"]["waiting_writes"] == 0


def test_an_entity_deleted_while_its_patch_job_is_in_flight_does_not_come_back(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """The delete lands in the record while the flush's PATCH job runs: the flush must not
    record the entity again afterwards (the next DIFF would upload it back)."""
    record = record_of(redis_client)
    entity = service_entity(4, "deleted meanwhile")
    send = partial(run_patch_job, j1_client(j1), SCOPE)

    def patch_while_deleted(objects: list[dict[str, Any]]) -> None:
        send(objects)
        buffer.drop([entity.key])  # what the sink does for a delete, meanwhile
        record.update([], [entity.key])

    buffer = WriteBehindBuffer(record, patch_while_deleted)
    buffer.write([entity])  # no scheduler: flushed at once
    assert entity.key not in record.index().entities
    assert buffer.waiting() == 0


def test_a_failed_flush_does_not_put_back_an_entity_deleted_meanwhile(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    record = record_of(redis_client)
    entity = service_entity(5)

    def failing_patch(objects: list[dict[str, Any]]) -> None:
        buffer.drop([entity.key])
        raise SinkError("PATCH job failed")

    buffer = WriteBehindBuffer(record, failing_patch)
    with pytest.raises(SinkError):
        buffer.write([entity])
    assert buffer.waiting() == 0  # the retry must not revive it
