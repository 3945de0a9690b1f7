"""The simulator's audit trail: every Account mutation is served by `GET /audit/records`
in PagerDuty's shape (validated against the spec's schema), newest first, cursor-paged,
windowed and filtered (by root type, action, actor and method); each record names who made
the change and by which means; or refused with 402 / 403 like an account without the
feature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from sim.pagerduty.audit import Actor, api_key_actor, app_actor
from tests.sim.test_pagerduty_spec import assert_conforms, get

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


def test_a_change_is_the_account_owners_in_the_browser_unless_made_as_another_actor(
    audit_sim: PagerDutySim,
) -> None:
    a = audit_sim.account
    uid = next(iter(a.users))
    terraform = api_key_actor("PKEYTF1", "Terraform Cloud", token="pd-token-0123+Yx3")
    with a.acting_as(terraform):
        with a.acting_as(a.user_actor(uid)):
            a.add_team("Inner")
        a.add_team("Outer")
    a.add_team("After")
    after, outer, inner = records(audit_sim)
    assert inner["actors"] == [
        {
            "id": uid,
            "type": "user_reference",
            "summary": a.users[uid]["name"],
            "self": f"https://sim.pagerduty.test/users/{uid}",
            "html_url": f"https://acme.pagerduty.test/users/{uid}",
        }
    ]
    assert inner["method"] == {"type": "browser", "truncated_token": None}
    assert outer["actors"][0]["id"] == "PKEYTF1"
    assert outer["method"] == {"type": "api_token", "truncated_token": "+Yx3"}
    assert after["actors"][0]["summary"] == "Account Owner"
    assert after["method"] == {"type": "browser", "truncated_token": None}


def actors_and_methods(account: Account) -> list[Actor]:
    """One actor of each kind, by each means PagerDuty records."""
    ada, bo = sorted(account.users)[:2]
    return [
        account.user_actor(ada),  # in the web UI
        account.user_actor(bo, "api_token", token="u+token-B0b1"),  # the user's own API token
        account.user_actor(bo, "identity_provider"),  # by the identity provider (SSO)
        api_key_actor("PKEYTF1", "Terraform Cloud", token="pd-token-0123+Yx3"),
        app_actor("PAPPBK1", "Backstage", token="oauth-9qLk"),
        app_actor("PAPPOK1", "Okta SCIM", token="scim-Zz9q", method="other"),
    ]


def test_records_of_each_actor_kind_and_method_are_served_in_the_specs_shape(
    audit_sim: PagerDutySim, clock: Clock
) -> None:
    a = audit_sim.account
    uid = sorted(a.users)[5]
    actors = actors_and_methods(a)
    for i, actor in enumerate(actors):
        clock.now += 1
        with a.acting_as(actor):
            a.update_user(uid, job_title=f"title {i}")
    served = records(audit_sim)[::-1]  # oldest first, as written
    assert [(r["actors"][0]["type"], r["method"]["type"]) for r in served] == [
        ("user_reference", "browser"),
        ("user_reference", "api_token"),
        ("user_reference", "identity_provider"),
        ("api_key_reference", "api_token"),
        ("app_reference", "oauth"),
        ("app_reference", "other"),
    ]
    for record, actor in zip(served, actors, strict=True):
        [named] = record["actors"]
        assert (named["id"], named["summary"]) == (actor.id, actor.summary)
        assert set(named) == {"id", "type", "summary", "self", "html_url"}
        assert fields(record)["job_title"][1].startswith("title ")
    user = a.users[sorted(a.users)[0]]
    assert served[0]["actors"][0]["summary"] == user["name"]  # a real user of the account
    assert [r["method"]["truncated_token"] for r in served] == [
        None,
        "B0b1",
        None,
        "+Yx3",
        "9qLk",
        "Zz9q",
    ]
    key = served[3]["actors"][0]
    assert (key["self"], key["html_url"]) == (None, None)  # no REST resource to link


def test_a_role_change_is_a_role_field_with_before_and_after_naming_its_actor(
    audit_sim: PagerDutySim,
) -> None:
    a = audit_sim.account
    uid = next(u for u in sorted(a.users) if a.users[u]["role"] == "user")
    admin = a.user_actor(sorted(a.users)[0])
    with a.acting_as(admin):
        a.update_user(uid, role="admin")
        a.update_user(uid, role="user")
    revoked, granted = records(audit_sim, **{"root_resource_types[]": "users"})
    assert [(f["name"], f["before_value"], f["value"]) for f in granted["details"]["fields"]] == [
        ("role", "user", "admin")
    ]
    assert fields(revoked) == {"role": ("admin", "user")}
    assert {granted["actors"][0]["id"], revoked["actors"][0]["id"]} == {admin.id}


def test_records_filter_by_actor_method_and_action(audit_sim: PagerDutySim) -> None:
    a = audit_sim.account
    uid = sorted(a.users)[5]
    actors = actors_and_methods(a)
    for i, actor in enumerate(actors):
        with a.acting_as(actor):
            a.update_user(uid, job_title=f"title {i}")
    tid = a.add_team("By the owner")  # the account owner, in the browser
    a.delete_team(tid)

    def served(**params: Any) -> list[tuple[str, str]]:
        return [(r["actors"][0]["id"], r["method"]["type"]) for r in records(audit_sim, **params)]

    assert served(actor_type="app_reference") == [("PAPPOK1", "other"), ("PAPPBK1", "oauth")]
    bo = actors[1].id
    assert served(actor_type="user_reference", actor_id=bo) == [
        (bo, "identity_provider"),
        (bo, "api_token"),
    ]
    assert served(actor_type="api_key_reference", actor_id=bo) == []
    assert served(method_type="api_token") == [("PKEYTF1", "api_token"), (bo, "api_token")]
    assert served(method_type="api_token", method_truncated_token="+Yx3") == [
        ("PKEYTF1", "api_token")
    ]
    assert served(method_type="browser", **{"actions[]": "delete"}) == [("PSIMOWN", "browser")]
    assert len(served(**{"actions[]": ["create", "delete"]})) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"actor_type": "robot_reference"},
        {"actor_id": "PKEYTF1"},  # must be qualified by actor_type
        {"method_type": "carrier_pigeon"},
        {"method_truncated_token": "+Yx3"},  # must be qualified by method_type
        {"actions[]": "rename"},
        {"root_resource_types[]": "incidents"},
    ],
    ids=lambda params: next(iter(params)),
)
def test_a_filter_pagerduty_does_not_know_is_refused(
    audit_sim: PagerDutySim, params: dict[str, str]
) -> None:
    body = assert_conforms(get(audit_sim, "/audit/records", **params), "error_400", 400)
    [error] = body["error"]["errors"]
    assert next(iter(params)) in error


def test_an_actor_pagerduty_would_not_record_cannot_be_made() -> None:
    with pytest.raises(ValueError):
        Actor("P1", "robot_reference", "R2-D2")
    with pytest.raises(ValueError):
        Actor("P1", "user_reference", "Ada", "browser", "+Yx3")  # a session shows no token
    with pytest.raises(ValueError):
        Actor("P1", "api_key_reference", "Terraform", "api_token")  # a token shows its end
    with pytest.raises(ValueError):
        Actor("P1", "app_reference", "Backstage", "fax", "9qLk")


@pytest.mark.parametrize(("mode", "code"), [("402", 2014), ("403", 2010)])
def test_plan_or_key_without_the_audit_trail_is_refused(
    make_sim: Callable[..., PagerDutySim], mode: str, code: int
) -> None:
    sim = make_sim(audit_records=mode)
    body = assert_conforms(get(sim, "/audit/records"), f"error_{mode}", int(mode))
    assert body["error"]["code"] == code
    assert get(sim, "/users").status_code == 200  # only the audit trail is refused
