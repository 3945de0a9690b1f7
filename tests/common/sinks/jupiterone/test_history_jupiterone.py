"""The change history of the JupiterOne sink: a Redis stream beside the record, one entry
per change JupiterOne took (or the write-behind buffer accepted), never two."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from common.graph import Cause, ChangeSet, Entity, Graph, Relationship
from common.sinks import SinkError
from common.sinks.history import DAY, Query, encode_cursor
from common.sinks.jupiterone import JupiterOneSink
from common.state.keys import jupiterone_changes
from sim.clock import Clock
from sim.jupiterone import JupiterOneSim
from tests.common.sinks.jupiterone.helpers import (
    J1_ACCOUNT,
    SCOPE,
    graph_of,
    make_j1_sink,
    service_entity,
    write,
)
from tests.stack import Stack
from worker import jobs

WEBHOOK = Cause("webhook", "01EVENT")


def history(sink: JupiterOneSink, key: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = sink.changes(Query(key=key), cursor=cursor, limit=limit)
        entries += page
        if cursor is None:
            return entries


def objects(export: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["_key"]: o for kind in ("entities", "relationships") for o in export[kind]}


def expected_entries(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    old, new = objects(before), objects(after)
    return sorted(
        {("created", k) for k in new.keys() - old.keys()}
        | {("deleted", k) for k in old.keys() - new.keys()}
        | {("updated", k) for k in new.keys() & old.keys() if new[k] != old[k]}
    )


def actions(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((e["action"], e["key"]) for e in entries)


def stack_sink(stack: Stack) -> JupiterOneSink:
    return jobs.job_context().sink  # type: ignore[return-value]


def test_full_syncs_record_what_jupiterone_took_with_before_values(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    sink = stack_sink(j1_stack)
    first = history(sink)
    assert actions(first) == expected_entries({"entities": [], "relationships": []}, graph_of(j1))
    assert {e["cause"]["kind"] for e in first} == {"full_sync"}
    account = j1_stack.sim.account
    user_id = sorted(account.users)[2]
    before = graph_of(j1)
    j1_stack.sender.hold = True  # no webhook: the sync finds every change itself
    account.update_user(user_id, name="Renamed Person")
    account.delete_service(sorted(account.services)[1])
    account.add_user("New Person", "new.person@example.com")
    j1_stack.full_sync()
    entries = history(sink)[len(first) :]
    assert actions(entries) == expected_entries(before, graph_of(j1))
    assert {a for a, _ in actions(entries)} == {"created", "updated", "deleted"}
    renamed = next(e for e in entries if e["key"] == f"user:{user_id}")
    old_name = objects(before)[f"user:{user_id}"]["name"]
    assert renamed["changes"]["name"] == {"before": old_name, "after": "Renamed Person"}
    j1_stack.full_sync()
    assert len(history(sink)) == len(first) + len(entries)  # nothing changed: nothing recorded


def test_an_oncall_refresh_records_each_edge_change_once(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    sink = stack_sink(j1_stack)
    account = j1_stack.sim.account
    account.rotate_oncall(sorted(account.policies)[0], sorted(account.users)[6])
    before, seen = graph_of(j1), len(history(sink))
    result = jobs.refresh_all_oncalls()
    entries = history(sink)[seen:]  # recorded as the record took them, before the DIFF
    j1_stack.drain()  # the debounced DIFF job
    assert actions(entries) == expected_entries(before, graph_of(j1))
    assert len(entries) == result["edges_created"] + result["edges_deleted"] > 0
    assert {e["cause"]["kind"] for e in entries} == {"oncall"}


def test_written_behind_changes_are_recorded_once_when_buffered_whatever_the_flush_does(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1, "a")), WEBHOOK)
    sink.apply(write(sink, service_entity(1, "b")), Cause("webhook", "02EVENT"))  # not flushed
    j1.inject("/persister/synchronization/jobs/", 400, times=1)
    with pytest.raises(SinkError):
        sink.flush()
    assert sink.flush() == 1  # the retry
    assert graph_of(j1)["entities"][0]["name"] == "b"
    entries = history(sink)
    assert [(e["action"], e["cause"]["id"]) for e in entries] == [
        ("created", "01EVENT"),
        ("updated", "02EVENT"),
    ]
    assert entries[1]["changes"]["name"] == {"before": "a", "after": "b"}  # from the buffer


def test_an_edge_created_updated_and_deleted_is_recorded_with_its_before_values(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client, write_behind=False)
    user = Entity(
        key="user:PUSER01",
        type="pagerduty_user",
        class_="User",
        properties={"name": "U", "displayName": "U"},
    )
    service = service_entity(1)

    def edge(level: int) -> Relationship:
        return Relationship.between(
            "pagerduty_user_oncall_service",
            "ONCALL",
            user.key,
            service.key,
            {"escalationLevel": level},
        )

    sink.replace_all(Graph.of([user, service], []), Cause("full_sync", "run-1"))
    sink.apply(ChangeSet(create_relationships=[edge(1)]), WEBHOOK)
    sink.apply(ChangeSet(update_relationships=[edge(2)]), Cause("oncall", "handoff-1"))
    sink.apply(ChangeSet(delete_relationships=[edge(2).key]), Cause("oncall", "handoff-2"))
    entries = history(sink, key=edge(1).key)
    assert [(e["action"], e["cause"]["id"]) for e in entries] == [
        ("created", "01EVENT"),
        ("updated", "handoff-1"),
        ("deleted", "handoff-2"),
    ]
    assert entries[1]["changes"] == {"escalationLevel": {"before": 1, "after": 2}}
    assert entries[2]["changes"]["_fromEntityKey"] == {"before": user.key, "after": None}
    assert len(history(sink)) == 5


def test_paging_retention_and_filters_of_the_redis_history(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    clock = Clock(1_800_000_000.0)
    sink = make_j1_sink(j1, redis_client, write_behind=False, clock=clock, history_days=30)
    for n in range(25):
        sink.apply(write(sink, service_entity(n)), WEBHOOK)
    pages, cursor, keys = 0, None, []
    while True:
        page, cursor = sink.changes(Query(), cursor=cursor, limit=10)
        keys += [e["key"] for e in page]
        pages += 1
        if cursor is None:
            break
    assert keys == [f"service:PSHARED{n}" for n in range(25)]
    assert pages == 3
    assert [e["key"] for e in history(sink, key="service:PSHARED7")] == ["service:PSHARED7"]
    with pytest.raises(ValueError, match="cursor"):
        sink.changes(Query(), cursor=encode_cursor("nope"), limit=5)
    clock.now += 31 * DAY
    assert history(sink) == []  # older than the retention: not shown before it is trimmed
    sink.apply(write(sink, service_entity(1, "a month later")), WEBHOOK)
    assert [e["action"] for e in history(sink)] == ["updated"]
    assert redis_client.xlen(jupiterone_changes(J1_ACCOUNT, SCOPE)) == 1  # the rest trimmed
