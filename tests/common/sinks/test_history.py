"""The change history's pure part (common.sinks.history) and the local sink's history table."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from common.graph import Cause, ChangeSet, Entity, Graph, Relationship, diff
from common.sinks import SinkError
from common.sinks.history import (
    DAY,
    ChangeJournal,
    Query,
    decode_cursor,
    encode_cursor,
    parse_limit,
    parse_since,
    text_line,
)
from common.sinks.local import LocalSink
from sim.clock import Clock

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()
WEBHOOK = Cause("webhook", "01EVENTAAAA")


def user(uid: str, name: str, **extra: object) -> Entity:
    return Entity(
        key=f"user:{uid}",
        type="pagerduty_user",
        class_="User",
        properties={"name": name, "displayName": name, **extra},
    )


def oncall(uid: str, sid: str, level: int = 1) -> Relationship:
    return Relationship.between(
        "pagerduty_user_oncall_service",
        "ONCALL",
        f"user:{uid}",
        f"service:{sid}",
        {"escalationLevel": level},
    )


def test_a_created_object_lists_every_property_with_before_null() -> None:
    new = user("PAAAAAA", "Ann", role="admin", jobTitle=None)
    journal = ChangeJournal(ChangeSet(create_entities=[new]), {}, WEBHOOK, NOW)
    [entry] = journal.take_all()
    assert entry == {
        "at": "2026-11-30T12:00:00.000Z",
        "key": "user:PAAAAAA",
        "type": "pagerduty_user",
        "action": "created",
        "changes": {
            "_class": {"before": None, "after": "User"},
            "displayName": {"before": None, "after": "Ann"},
            "jobTitle": {"before": None, "after": None},
            "name": {"before": None, "after": "Ann"},
            "role": {"before": None, "after": "admin"},
        },
        "cause": {"kind": "webhook", "id": "01EVENTAAAA"},
        "source": "graph",
        "actor": None,
        "method": None,
    }


def test_an_update_lists_only_what_changed_and_a_delete_every_property_going_null() -> None:
    old, new = user("PAAAAAA", "Ann", role="user"), user("PAAAAAA", "Ann B", role="user")
    edge = oncall("PAAAAAA", "PSVC001")
    changes = ChangeSet(update_entities=[new], delete_relationships=[edge.key])
    before = {old.key: old.to_j1(), edge.key: edge.to_j1()}
    entries = {e["key"]: e for e in ChangeJournal(changes, before, None, NOW).take_all()}
    assert entries[old.key]["action"] == "updated"
    assert entries[old.key]["changes"] == {
        "name": {"before": "Ann", "after": "Ann B"},
        "displayName": {"before": "Ann", "after": "Ann B"},
    }
    deleted = entries[edge.key]
    assert (deleted["action"], deleted["type"], deleted["cause"]) == (
        "deleted",
        "pagerduty_user_oncall_service",
        None,
    )
    assert deleted["changes"]["_fromEntityKey"] == {"before": "user:PAAAAAA", "after": None}
    assert deleted["changes"]["escalationLevel"] == {"before": 1, "after": None}


def test_each_entry_is_taken_once_and_an_edge_update_is_one_entry_at_its_create() -> None:
    old, new = oncall("PAAAAAA", "PSVC001", 1), oncall("PAAAAAA", "PSVC001", 2)
    journal = ChangeJournal(ChangeSet(update_relationships=[new]), {old.key: old.to_j1()}, None, 0)
    assert journal.take([], [old.key]) == []  # the delete half of a delete + create
    [entry] = journal.take([new.key], [])
    assert entry["action"] == "updated"
    assert entry["changes"] == {"escalationLevel": {"before": 1, "after": 2}}
    assert journal.take([new.key], [old.key]) == []  # a retry records nothing more
    assert list(journal.take_all()) == []


def test_a_change_the_sink_cannot_see_records_nothing() -> None:
    same = user("PAAAAAA", "Ann")
    changes = ChangeSet(update_entities=[same], delete_entities=["user:PGONE00"])
    assert list(ChangeJournal(changes, {same.key: same.to_j1()}, None, NOW).take_all()) == []


def test_since_takes_iso_times_and_relative_ones() -> None:
    assert parse_since("2026-11-30T11:00:00Z", NOW) == NOW - 3600
    assert parse_since("2026-11-30T11:00:00", NOW) == NOW - 3600  # no zone: UTC
    assert parse_since("2026-11-30T13:00:00+02:00", NOW) == NOW - 3600
    assert parse_since("2026-11-30", NOW) == NOW - 12 * 3600
    assert parse_since("30m", NOW) == NOW - 1800
    assert parse_since("2h", NOW) == NOW - 7200
    assert parse_since("7d", NOW) == NOW - 7 * DAY
    for bad in ("yesterday", "2h ago", "-3d", "", "2026-13-01"):
        with pytest.raises(ValueError, match="neither an ISO-8601 time nor a relative"):
            parse_since(bad, NOW)


def test_limits_and_cursors_are_checked() -> None:
    assert parse_limit(None) == 100 and parse_limit("1000") == 1000
    for bad in ("0", "1001", "-1", "ten"):
        with pytest.raises(ValueError, match="limit"):
            parse_limit(bad)
    assert decode_cursor(encode_cursor("1712-3")) == "1712-3"
    for bad in ("garbage!", "e30", encode_cursor("x")[:-2]):
        with pytest.raises(ValueError, match="cursor"):
            decode_cursor(bad)


def test_a_text_line_shows_before_and_after_and_the_cause() -> None:
    old, new = user("PAAAAAA", "Ann"), user("PAAAAAA", "Änn")
    [entry] = ChangeJournal(
        ChangeSet(update_entities=[new]), {old.key: old.to_j1()}, WEBHOOK, NOW
    ).take_all()
    assert text_line(entry) == (
        '2026-11-30T12:00:00.000Z updated user:PAAAAAA (pagerduty_user) displayName: "Ann" → '
        '"Änn"; name: "Ann" → "Änn" cause webhook:01EVENTAAAA'
    )


# -- the local sink ---------------------------------------------------------------------------


def all_changes(sink: LocalSink, **filters: Any) -> list[dict[str, object]]:
    page, cursor = sink.changes(Query(**filters), cursor=None, limit=1000)
    assert cursor is None
    return page


def test_the_local_sink_records_each_applied_change_once_with_its_before_values(
    graph_path: str,
) -> None:
    sink = LocalSink(graph_path, clock=Clock(NOW))
    ann, bob, edge = user("PAAAAAA", "Ann"), user("PBBBBBB", "Bob"), oncall("PAAAAAA", "PSVC001")
    sink.apply(diff(Graph(), Graph.of([ann, bob], [edge])), Cause("audit", "R1"))
    renamed = user("PAAAAAA", "Ann B")
    new_graph = Graph.of([renamed], [])
    sink.apply(diff(sink.index(), new_graph), WEBHOOK)
    sink.apply(diff(sink.index(), new_graph), WEBHOOK)  # the same state again: nothing
    history = all_changes(sink)
    assert [(e["action"], e["key"], e["cause"]["id"]) for e in history] == [  # type: ignore[index]
        ("created", ann.key, "R1"),
        ("created", bob.key, "R1"),
        ("created", edge.key, "R1"),
        ("deleted", edge.key, "01EVENTAAAA"),
        ("deleted", bob.key, "01EVENTAAAA"),
        ("updated", ann.key, "01EVENTAAAA"),
    ]
    assert history[-1]["changes"] == {
        "displayName": {"before": "Ann", "after": "Ann B"},
        "name": {"before": "Ann", "after": "Ann B"},
    }
    assert history[4]["changes"]["name"] == {"before": "Bob", "after": None}  # type: ignore[index]
    assert [e["key"] for e in all_changes(sink, key=bob.key)] == [bob.key, bob.key]
    assert len(all_changes(sink, type_="pagerduty_user_oncall_service")) == 2


def test_replace_all_records_creates_updates_and_deletes_and_nothing_when_unchanged(
    graph_path: str,
) -> None:
    sink = LocalSink(graph_path, clock=Clock(NOW))
    first = Graph.of([user("PAAAAAA", "Ann"), user("PBBBBBB", "Bob")], [oncall("PBBBBBB", "PS1")])
    sink.replace_all(first, Cause("full_sync", "run-1"))
    second = Graph.of([user("PAAAAAA", "Ann", role="owner"), user("PCCCCCC", "Cy")], [])
    sink.replace_all(second, Cause("full_sync", "run-2"))
    sink.replace_all(Graph.from_j1(second.to_j1()), Cause("full_sync", "run-3"))
    edge = oncall("PBBBBBB", "PS1").key
    runs: dict[str, list[tuple[str, str]]] = {}
    for e in all_changes(sink):
        runs.setdefault(e["cause"]["id"], []).append((e["action"], e["key"]))  # type: ignore[index]
    assert {run: sorted(entries) for run, entries in runs.items()} == {
        "run-1": [("created", "user:PAAAAAA"), ("created", "user:PBBBBBB"), ("created", edge)],
        "run-2": [
            ("created", "user:PCCCCCC"),
            ("deleted", "user:PBBBBBB"),
            ("deleted", edge),
            ("updated", "user:PAAAAAA"),
        ],
    }
    [update] = all_changes(sink, key="user:PAAAAAA")[1:]
    assert update["changes"] == {"role": {"before": None, "after": "owner"}}


def test_paging_with_the_cursor_returns_every_change_once(graph_path: str) -> None:
    sink = LocalSink(graph_path, clock=Clock(NOW))
    for n in range(10):
        sink.apply(ChangeSet(create_entities=[user(f"P{n:06d}", f"user {n}")]), WEBHOOK)
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = sink.changes(Query(), cursor=cursor, limit=3)
        seen += [e["key"] for e in page]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"user:P{n:06d}" for n in range(10)] and pages == 4
    with pytest.raises(ValueError, match="cursor"):
        sink.changes(Query(), cursor=encode_cursor("x"), limit=3)


def test_history_older_than_the_retention_is_pruned_and_since_filters(graph_path: str) -> None:
    clock = Clock(NOW)
    sink = LocalSink(graph_path, history_days=30, clock=clock)
    sink.apply(ChangeSet(create_entities=[user("POLD000", "old")]), WEBHOOK)
    clock.now += 20 * DAY
    sink.apply(ChangeSet(create_entities=[user("PMID000", "mid")]), WEBHOOK)
    assert [e["key"] for e in all_changes(sink, since=NOW + DAY)] == ["user:PMID000"]
    clock.now += 11 * DAY
    assert [e["key"] for e in all_changes(sink)] == ["user:PMID000"]  # hidden before pruned
    sink.apply(ChangeSet(create_entities=[user("PNEW000", "new")]), WEBHOOK)
    rows = sqlite3.connect(graph_path).execute("SELECT key FROM changes ORDER BY id").fetchall()
    assert rows == [("user:PMID000",), ("user:PNEW000",)]  # the old row is gone from the file


def test_a_change_and_its_history_are_written_together_or_not_at_all(
    graph_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = LocalSink(graph_path, clock=Clock(NOW))

    def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sink, "_record", broken)
    with pytest.raises(SinkError):
        sink.apply(ChangeSet(create_entities=[user("PAAAAAA", "Ann")]), WEBHOOK)
    with pytest.raises(SinkError):
        sink.replace_all(Graph.of([user("PAAAAAA", "Ann")], []), WEBHOOK)
    monkeypatch.undo()
    assert len(sink.read_graph()) == 0
    assert sqlite3.connect(graph_path).execute("SELECT COUNT(*) FROM changes").fetchone() == (0,)
