"""Locks held across long waits (common.state.locks): a writer waiting on 429s longer than its
lock's timeout keeps the lock, so writes land in read order; sequence numbers only move
forward even when a lock is lost."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from common.clients.pagerduty import PagerDutyClient
from common.graph import ChangeSet
from common.sinks.jupiterone import writebehind
from common.sinks.jupiterone.writebehind import WriteBehindBuffer
from common.state import keys, locks
from sim.pagerduty import PagerDutySim
from tests.common.sinks.jupiterone.helpers import record_of, service_entity
from tests.conftest import API_KEY
from tests.waiting import wait_for
from worker import ordering
from worker.ordering import ServiceBusy, begin_reads, write_latest

SERVICE = "PSVC"


def seq(connection: redis.Redis, name: str) -> int:
    return int(connection.get(keys.service_refresh(SERVICE, name)) or 0)


def test_a_write_waiting_on_429s_longer_than_its_lock_keeps_it_and_lands_in_order(
    redis_client: redis.Redis, sim: PagerDutySim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LEASE_SECONDS", 1)
    monkeypatch.setattr(ordering, "WRITE_LOCK_WAIT", 0.2)
    service_id = sorted(sim.account.services)[0]
    # Three 429s of one second each: the older write waits three times its lock's timeout.
    sim.inject(f"/services/{service_id}", 429, times=3, headers={"Retry-After": "1"})
    client = PagerDutyClient(API_KEY, sim.url)
    landed: list[str] = []

    def write_older(keep: dict[str, bool]) -> ChangeSet:
        assert client.get_service(service_id) is not None
        landed.append("older")
        return ChangeSet()

    def write_newer(keep: dict[str, bool]) -> ChangeSet:
        landed.append("newer")
        return ChangeSet()

    older, newer = (begin_reads(redis_client, [service_id])[service_id] for _ in "ab")
    first = threading.Thread(
        target=write_latest,
        args=(redis_client, {service_id: older}, False, write_older),
        kwargs={"oncall_only": False},
    )
    first.start()
    wait_for(lambda: client.rate_limited >= 1, "the older write to meet a 429 under its lock")
    with pytest.raises(ServiceBusy):  # deferred (worker.jobs), not kept waiting behind it
        write_latest(redis_client, {service_id: newer}, False, write_newer, oncall_only=False)
    first.join(30)
    written, _ = write_latest(
        redis_client, {service_id: newer}, False, write_newer, oncall_only=False
    )
    assert client.rate_limited == 3
    assert landed == ["older", "newer"]
    assert written == [service_id]
    assert int(redis_client.get(keys.service_refresh(service_id, "written-seq")) or 0) == newer


def test_a_lower_sequence_written_after_a_higher_one_leaves_the_higher(
    redis_client: redis.Redis,
) -> None:
    older, newer = (begin_reads(redis_client, [SERVICE])[SERVICE] for _ in "ab")

    def write_newer(keep: dict[str, bool]) -> ChangeSet:
        return ChangeSet()

    def write_older(keep: dict[str, bool]) -> ChangeSet:
        # The older writer's lock is lost (a Redis failover, an expiry): the newer one
        # checks and writes in the meantime, and the older one records its sequence last.
        redis_client.delete(keys.service_refresh(SERVICE, "write-lock"))
        assert write_latest(redis_client, {SERVICE: newer}, False, write_newer, oncall_only=False)
        return ChangeSet()

    assert write_latest(redis_client, {SERVICE: older}, False, write_older, oncall_only=False)
    assert (seq(redis_client, "written-seq"), seq(redis_client, "oncall-seq")) == (newer, newer)


def test_a_flush_waiting_longer_than_its_lock_keeps_it(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of two flushes, the second waits for the first's PATCH job to end (else the older
    buffered writes could land last)."""
    monkeypatch.setattr(writebehind, "FLUSH_LOCK_TIMEOUT", 1)
    events: list[str] = []

    def patch(objects: list[dict[str, Any]]) -> None:
        name = objects[0]["name"]
        events.append(f"start {name}")
        if name == "first":
            time.sleep(3)  # a PATCH job waiting on 429s: three times the lock's timeout
        events.append(f"end {name}")

    buffer = WriteBehindBuffer(
        record_of(redis_client), patch, schedule_flush=lambda marker, delay: None
    )
    buffer.write([service_entity(1, "first")])
    first = threading.Thread(target=buffer.flush)
    first.start()
    wait_for(lambda: events == ["start first"], "the first flush to send its PATCH job")
    buffer.write([service_entity(1, "second")])
    assert buffer.flush() == 1
    first.join(30)
    assert events == ["start first", "end first", "start second", "end second"]
