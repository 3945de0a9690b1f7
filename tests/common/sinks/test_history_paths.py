"""Every path that writes the graph records each change once, with its cause (local sink):
full sync, webhook refresh, on-call refresh and hand-off."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from common.sinks.history import Query
from common.sinks.local import LocalSink
from common.state import keys
from common.state.full_sync import last_full_sync
from sim.pagerduty import Account
from tests.stack import Stack
from worker import jobs

Entry = dict[str, Any]


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(Account.generate(seed=21, users=80))


def history(stack: Stack, key: str | None = None) -> list[Entry]:
    """The whole history, page by page (small pages: the cursor is exercised too)."""
    sink = LocalSink(stack.settings.local_graph_path)
    entries: list[Entry] = []
    cursor = None
    while True:
        page, cursor = sink.changes(Query(key=key), cursor=cursor, limit=97)
        entries += page
        if cursor is None:
            return entries


def objects(export: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["_key"]: o for kind in ("entities", "relationships") for o in export[kind]}


def expected_entries(before: dict[str, Any], after: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, key) of every object that differs between two exports: worked out from the
    graphs themselves, not from what the sink was told."""
    old, new = objects(before), objects(after)
    return (
        {("created", k) for k in new.keys() - old.keys()}
        | {("deleted", k) for k in old.keys() - new.keys()}
        | {("updated", k) for k in new.keys() & old.keys() if new[k] != old[k]}
    )


def actions(entries: list[Entry]) -> list[tuple[str, str]]:
    return [(e["action"], e["key"]) for e in entries]


def test_the_first_full_sync_records_every_object_as_created_once(stack: Stack) -> None:
    entries = history(stack)
    export = stack.export()
    assert sorted(actions(entries)) == sorted(("created", key) for key in objects(export))
    run = last_full_sync(stack.redis)
    assert run is not None and run["id"].startswith("fullsync-")
    assert all(e["cause"] == {"kind": "full_sync", "id": run["id"]} for e in entries)
    user = next(e for e in entries if e["key"] == export["entities"][-1]["_key"])
    assert all(c["before"] is None for c in user["changes"].values())
    assert user["changes"]["name"]["after"] == export["entities"][-1]["name"]


def test_a_full_sync_records_creates_updates_and_deletes_with_before_and_after(
    stack: Stack,
) -> None:
    account = stack.sim.account
    first_run = last_full_sync(stack.redis)
    seen, before = len(history(stack)), stack.export()
    user_id = sorted(account.users)[4]
    old_name = objects(before)[f"user:{user_id}"]["name"]
    stack.sender.hold = True  # no webhook: the sync finds every change itself
    account.update_user(user_id, name="Zoë Renamed")
    account.delete_service(sorted(account.services)[2])
    account.add_user("Brand New", "brand.new@example.com")
    stack.full_sync()
    entries = history(stack)[seen:]
    run = last_full_sync(stack.redis)
    assert run is not None and first_run is not None and run["id"] != first_run["id"]
    assert {e["cause"]["id"] for e in entries} == {run["id"]}
    assert sorted(actions(entries)) == sorted(expected_entries(before, stack.export()))
    assert {a for a, _ in actions(entries)} == {"created", "updated", "deleted"}
    renamed = next(e for e in entries if e["key"] == f"user:{user_id}")
    assert renamed["changes"]["name"] == {"before": old_name, "after": "Zoë Renamed"}
    assert "email" not in renamed["changes"]  # only what changed
    stack.full_sync()  # nothing changed since: nothing recorded
    assert len(history(stack)) == seen + len(entries)


def test_a_webhook_refresh_records_its_changes_once_with_the_event_id(stack: Stack) -> None:
    account = stack.sim.account
    service_id = sorted(account.services)[0]
    key = f"service:{service_id}"
    old_name = objects(stack.export())[key]["name"]
    seen = len(history(stack))
    account.update_service(service_id, name="Renamed · 名前 ✨")
    event_id = json.loads(stack.sender.deliveries[-1].body)["event"]["id"]
    stack.drain()
    entries = history(stack)[seen:]
    assert actions(entries) == [("updated", key)]
    assert entries[0]["changes"]["name"] == {"before": old_name, "after": "Renamed · 名前 ✨"}
    assert entries[0]["cause"] == {"kind": "webhook", "id": event_id}
    jobs.refresh_service(service_id)  # the same state read again: nothing recorded
    assert len(history(stack)) == seen + 1


def test_a_deleted_service_records_the_entity_and_each_edge_with_their_last_values(
    stack: Stack,
) -> None:
    account = stack.sim.account
    service_id = sorted(account.services)[1]
    before = stack.export()
    seen = len(history(stack))
    account.delete_service(service_id)
    event_id = json.loads(stack.sender.deliveries[-1].body)["event"]["id"]
    stack.drain()
    entries = history(stack)[seen:]
    assert sorted(actions(entries)) == sorted(expected_entries(before, stack.export()))
    assert {e["action"] for e in entries} == {"deleted"} and len(entries) > 1
    assert all(e["cause"] == {"kind": "webhook", "id": event_id} for e in entries)
    gone = next(e for e in entries if e["key"] == f"service:{service_id}")
    held = objects(before)[f"service:{service_id}"]
    assert gone["changes"]["name"] == {"before": held["name"], "after": None}


def test_a_trailing_refresh_records_the_event_that_queued_it(stack: Stack) -> None:
    account = stack.sim.account
    service_id = sorted(account.services)[3]
    seen = len(history(stack))
    account.update_service(service_id, name="first")
    account.update_service(service_id, name="second")  # inside the coalescing window
    second = json.loads(stack.sender.deliveries[-1].body)["event"]["id"]
    first = json.loads(stack.sender.deliveries[-2].body)["event"]["id"]
    stack.drain()
    entries = history(stack)[seen:]
    # The leading refresh (first event) read the final name already: the trailing one
    # (queued by the second event) finds nothing to change, and records nothing.
    assert [e["cause"]["id"] for e in entries] in ([first], [first, second])
    assert entries[-1]["changes"]["name"]["after"] == "second"


def test_an_oncall_refresh_records_each_edge_change_once(stack: Stack) -> None:
    account = stack.sim.account
    policy_id = sorted(account.policies)[0]
    account.rotate_oncall(policy_id, sorted(account.users)[7])
    before, seen = stack.export(), len(history(stack))
    result = jobs.refresh_all_oncalls()
    entries = history(stack)[seen:]
    assert sorted(actions(entries)) == sorted(expected_entries(before, stack.export()))
    changed = result["edges_created"] + result["edges_deleted"] + result["edges_updated"]
    assert len(entries) == changed > 0
    assert {e["cause"]["kind"] for e in entries} == {"oncall"}
    assert {e["type"] for e in entries} == {"pagerduty_user_oncall_service"}
    assert jobs.refresh_all_oncalls()["services_changed"] == 0
    assert len(history(stack)) == seen + len(entries)  # nothing changed: nothing recorded


def test_a_handoff_records_its_changes_with_the_handoff_as_cause(stack: Stack) -> None:
    account = stack.sim.account
    policy_id = sorted(account.policies)[1]
    account.rotate_oncall(policy_id, sorted(account.users)[9])
    seen = len(history(stack))
    due = 1_900_000_000
    stack.redis.sadd(keys.handoff_due(due), policy_id)
    jobs.refresh_oncall_handoff(due)
    entries = history(stack)[seen:]
    assert entries
    assert all(e["cause"] == {"kind": "oncall", "id": f"handoff-{due}"} for e in entries)
