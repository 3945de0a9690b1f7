"""The simulator's audit trail: every Account mutation is served by `GET /audit/records`
in PagerDuty's shape (validated against the spec's schema), newest first, cursor-paged,
windowed and filtered; or refused with 402 / 403 like an account without the feature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.test_sim_pagerduty_spec import assert_conforms, get

HOUR = 3600


@pytest.fixture
def audit_sim(make_sim: Callable[..., PagerDutySim], clock: Clock) -> PagerDutySim:
    return make_sim(Account.generate(seed=7, users=30, clock=clock))


def records(sim: PagerDutySim, **params: Any) -> list[dict[str, Any]]:
    body = assert_conforms(get(sim, "/audit/records", **params), "audit_records")
    assert body["next_cursor"] is None
    result: list[dict[str, Any]] = body["records"]
    return result


def fields(record: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {f["name"]: (f.get("before_value"), f["value"]) for f in record["details"]["fields"]}


def test_a_generated_account_starts_with_an_empty_trail(audit_sim: PagerDutySim) -> None:
    assert records(audit_sim) == []


def test_user_mutations_are_recorded_with_before_and_after(
    audit_sim: PagerDutySim, clock: Clock
) -> None:
    a = audit_sim.account
    team = next(iter(a.teams))
    uid = a.add_user("Ada Lovelace", "ada@example.test", team_ids=[team])
    clock.now += 60
    a.update_user(uid, role="admin", name="Ada King")
    clock.now += 60
    a.delete_user(uid)
    deleted, updated, member, created = records(audit_sim)
    assert [r["action"] for r in (created, updated, deleted)] == ["create", "update", "delete"]
    for r in (created, updated, deleted):
        assert r["root_resource"]["id"] == uid
        assert r["root_resource"]["type"] == "user_reference"
    assert fields(created)["email"] == (None, "ada@example.test")
    assert fields(updated) == {"role": ("user", "admin"), "name": ("Ada Lovelace", "Ada King")}
    # created into a team: the team's update, in the same request as the user's create
    assert member["root_resource"]["id"] == team and member["action"] == "update"
    added = member["details"]["references"][0]
    assert added["name"] == "members" and added["added"][0]["id"] == uid
    context = member["execution_context"]["request_id"]
    assert context == created["execution_context"]["request_id"]
    assert updated["execution_context"]["request_id"] != context
    stamp = datetime.fromisoformat(deleted["execution_time"])
    assert stamp.timestamp() == clock.now and stamp.utcoffset() is not None


def test_team_and_membership_mutations_are_recorded(audit_sim: PagerDutySim) -> None:
    a = audit_sim.account
    uid = next(iter(a.users))
    tid = a.add_team("Platform", description="Runs it")
    a.add_member(tid, uid, role="observer")
    assert a.member_role(tid, uid) == "observer"
    a.remove_member(tid, uid)
    a.delete_team(tid)
    deleted, removed, added, created = records(audit_sim)
    assert [r["root_resource"]["id"] for r in (deleted, removed, added, created)] == [tid] * 4
    assert {r["root_resource"]["type"] for r in (deleted, removed, added, created)} == {
        "team_reference"
    }
    assert (created["action"], fields(created)["name"]) == ("create", (None, "Platform"))
    assert added["details"]["references"] == [
        {"name": "members", "added": [added["details"]["references"][0]["added"][0]]}
    ]
    assert added["details"]["references"][0]["added"][0]["id"] == uid
    assert removed["details"]["references"][0]["removed"][0]["id"] == uid
    assert (added["action"], removed["action"], deleted["action"]) == ("update",) * 2 + ("delete",)
    assert tid not in a.users[uid]["team_ids"]
    with pytest.raises(ValueError):
        a.update_user(uid, team_ids=[])


def test_service_mutations_are_recorded(audit_sim: PagerDutySim) -> None:
    a = audit_sim.account
    policy = next(iter(a.policies))
    team = next(iter(a.teams))
    sid = a.add_service("Checkout", escalation_policy_id=policy)
    a.update_service(sid, status="disabled", team_ids=[team])
    a.delete_service(sid)
    deleted, updated, created = records(audit_sim, **{"root_resource_types[]": "services"})
    assert [r["action"] for r in (created, updated, deleted)] == ["create", "update", "delete"]
    assert {r["root_resource"]["id"] for r in (created, updated, deleted)} == {sid}
    assert fields(created)["name"] == (None, "Checkout")
    assert fields(updated) == {"status": ("active", "disabled")}
    assert updated["details"]["references"][0]["added"][0]["id"] == team


def test_cursor_pages_return_every_record_once_newest_first(
    audit_sim: PagerDutySim, clock: Clock
) -> None:
    a = audit_sim.account
    users = list(a.users)
    for i, uid in enumerate(users):
        clock.now += 1 if i % 3 else 0  # several records share an execution_time
        a.update_user(uid, job_title=f"title {i}")
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(users)):  # bounded: a cursor that goes nowhere fails, not hangs
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = assert_conforms(get(audit_sim, "/audit/records", **params), "audit_records")
        seen += body["records"]
        a.add_team(f"written while paging {len(seen)}")  # later than the window's pages
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["records"]) == 7
    assert cursor is None
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids))  # none twice ...
    assert [r["root_resource"]["id"] for r in seen[: len(users)]] == users[::-1]
    times = [datetime.fromisoformat(r["execution_time"]) for r in seen]
    assert times == sorted(times, reverse=True)
    assert len(seen) == len(users)  # ... none missed, none written while paging
    assert get(audit_sim, "/audit/records", cursor="bogus").status_code == 400


def test_since_until_and_root_resource_types(audit_sim: PagerDutySim, clock: Clock) -> None:
    a = audit_sim.account
    start = clock.now
    uid = a.add_user("Old", "old@example.test")
    clock.now += 2 * HOUR
    tid = a.add_team("Middle")
    clock.now += 2 * HOUR
    a.update_user(uid, name="New")

    def iso(epoch: float) -> str:
        return datetime.fromtimestamp(epoch).astimezone().isoformat()

    middle = records(audit_sim, since=iso(start + HOUR), until=iso(start + 3 * HOUR))
    assert [r["root_resource"]["id"] for r in middle] == [tid]
    users = records(audit_sim, **{"root_resource_types[]": ["users"]})
    assert [r["action"] for r in users] == ["update", "create"]
    both = records(audit_sim, **{"root_resource_types[]": ["users", "teams"]})
    assert len(both) == 3
    assert records(audit_sim, **{"root_resource_types[]": "schedules"}) == []
    clock.now = start + 25 * HOUR  # the default window is the past 24 hours
    recent = records(audit_sim)  # the user's create, 25 hours ago, is outside it
    assert [(r["root_resource"]["id"], r["action"]) for r in recent] == [
        (uid, "update"),
        (tid, "create"),
    ]
    backwards = {"since": iso(start + HOUR), "until": iso(start)}
    assert_conforms(get(audit_sim, "/audit/records", **backwards), "error_400", 400)
    too_long = {"since": iso(start), "until": iso(start + 32 * 24 * HOUR)}
    assert get(audit_sim, "/audit/records", **too_long).status_code == 400


@pytest.mark.parametrize(("mode", "code"), [("402", 2014), ("403", 2010)])
def test_plan_or_key_without_the_audit_trail_is_refused(
    make_sim: Callable[..., PagerDutySim], mode: str, code: int
) -> None:
    sim = make_sim(audit_records=mode)
    body = assert_conforms(get(sim, "/audit/records"), f"error_{mode}", int(mode))
    assert body["error"]["code"] == code
    assert get(sim, "/users").status_code == 200  # only the audit trail is refused
