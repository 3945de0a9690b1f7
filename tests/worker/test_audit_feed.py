"""Users, teams and memberships reach the graph through the audit-records feed: each
mutation of the simulated account is one audit record, read by a poll, re-read once per
object, written as the diff (PagerDuty simulator over sockets, real Redis, SQLite sink)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq import Queue

from common.graph import Cause, ChangeSet
from common.objects.user import USER
from common.queueing import WEBHOOK_QUEUE
from common.sinks.history import Query
from common.sinks.local import LocalSink
from common.state import keys
from common.state.freshness import AUDIT, freshness_status, read_mode
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from sim.pagerduty.audit import api_key_actor
from tests.expected import expected_export
from worker.context import JobContext
from worker.freshness import poll_feed_or_refresh

PEOPLE_TYPES = {"pagerduty_user", "pagerduty_team", "pagerduty_team_has_user"}


@pytest.fixture
def account(clock: Clock) -> Account:
    return Account.generate(seed=5, users=60, clock=clock)


@pytest.fixture
def feed_sim(make_sim: Callable[..., PagerDutySim], account: Account) -> PagerDutySim:
    return make_sim(account)


@pytest.fixture
def context(feed_sim: PagerDutySim, make_job_context: Callable[..., JobContext]) -> JobContext:
    return make_job_context(feed_sim)


def people_of(export: dict[str, Any]) -> dict[str, Any]:
    """The users, teams and memberships of an export (what the feed keeps current)."""
    return {
        "entities": [e for e in export["entities"] if e["_type"] in PEOPLE_TYPES],
        "relationships": [r for r in export["relationships"] if r["_type"] in PEOPLE_TYPES],
    }


def graph_people(context: JobContext) -> dict[str, Any]:
    return people_of(LocalSink(context.settings.local_graph_path).read_graph().to_j1())


def test_every_user_team_and_membership_mutation_reaches_the_graph(
    context: JobContext, account: Account, clock: Clock
) -> None:
    users, teams = list(account.users), list(account.teams)
    assert graph_people(context) == people_of(expected_export(account))
    clock.now += 30
    account.update_user(users[0], name="Renamed Person", role="admin", job_title="SRE")
    new_team = account.add_team("Platform", description="Runs it")
    new_user = account.add_user("New Hire", "new.hire@example.test", team_ids=[teams[0]])
    account.add_member(new_team, users[1])
    member = next(u for u in users if teams[1] in account.users[u]["team_ids"])
    account.remove_member(teams[1], member)
    account.delete_user(users[2])
    account.delete_team(teams[2])
    clock.now += 30
    result = poll_feed_or_refresh(context)
    assert result["mode"] == AUDIT and result["outcome"] == "ok"
    graph = graph_people(context)
    assert graph == people_of(expected_export(account))
    keys_held = {e["_key"] for e in graph["entities"]}
    assert {f"user:{new_user}", f"team:{new_team}"} <= keys_held
    # a second poll reads the same records again (the overlap) and writes nothing
    again = poll_feed_or_refresh(context)
    assert again["new_records"] == 0 and again["changes_applied"] == 0


def test_a_deleted_user_loses_every_edge_touching_it(
    context: JobContext, account: Account, clock: Clock
) -> None:
    sink = LocalSink(context.settings.local_graph_path)
    oncall = next(
        r for r in sink.read_graph().relationships.values() if r.type.endswith("oncall_service")
    )
    user_id = oncall.from_key.partition(":")[2]
    assert sink.index_around(oncall.from_key).relationships  # ONCALL, HAS, ... edges
    account.delete_user(user_id)
    clock.now += 10
    poll_feed_or_refresh(context)
    around = sink.index_around(oncall.from_key)
    assert around.entities == {} and around.relationships == {}


def test_records_for_one_object_cost_one_re_read(
    context: JobContext, account: Account, feed_sim: PagerDutySim, clock: Clock
) -> None:
    user_id = next(iter(account.users))
    for i in range(5):
        clock.now += 1
        account.update_user(user_id, job_title=f"title {i}")
    feed_sim.reset_requests()
    result = poll_feed_or_refresh(context)
    assert (result["new_records"], result["objects"]) == (5, 1)
    assert feed_sim.request_counts()[f"/users/{user_id}"] == 1
    title = LocalSink(context.settings.local_graph_path).read_graph().entities[f"user:{user_id}"]
    assert title.properties["jobTitle"] == "title 4"


def test_late_and_duplicate_records_are_each_written_once(
    context: JobContext, account: Account, feed_sim: PagerDutySim, clock: Clock
) -> None:
    first, late = list(account.users)[:2]
    clock.now += 100
    account.update_user(first, name="First Change")
    poll_feed_or_refresh(context)
    # A record PagerDuty shows only now, dated before the one the last poll ended on.
    clock.now -= 90
    account.update_user(late, name="Late Change")
    clock.now += 120
    feed_sim.reset_requests()
    result = poll_feed_or_refresh(context)
    assert result["records"] == 2  # the overlap reads the first record again ...
    assert result["new_records"] == 1  # ... and skips it: written already
    counts = feed_sim.request_counts()
    assert counts[f"/users/{late}"] == 1 and counts[f"/users/{first}"] == 0
    names = {e["_key"]: e["name"] for e in graph_people(context)["entities"]}
    assert names[f"user:{late}"] == "Late Change" and names[f"user:{first}"] == "First Change"


class FailingSink:
    """The real sink, failing on its Nth apply (a worker killed mid-batch)."""

    def __init__(self, sink: LocalSink, fail_at: int, applied: list[tuple[str, str]]) -> None:
        self.sink, self.fail_at, self.applied = sink, fail_at, applied
        self.calls = 0

    def apply(self, changes: ChangeSet, cause: Cause | None = None) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("worker killed")
        self.sink.apply(changes, cause)
        self.applied += [(line, cause.id if cause else "") for line in changes.lines()]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


def test_a_poll_killed_mid_batch_loses_nothing_and_applies_each_change_once(
    context: JobContext, account: Account, redis_client: redis.Redis, clock: Clock
) -> None:
    users = list(account.users)[:6]
    for i, user_id in enumerate(users):
        clock.now += 1
        account.update_user(user_id, name=f"Changed {i}")
    applied: list[tuple[str, str]] = []
    real = LocalSink(context.settings.local_graph_path)
    context._sink = FailingSink(real, 4, applied)
    with pytest.raises(RuntimeError):
        poll_feed_or_refresh(context)
    assert redis_client.get(keys.freshness_key("position")) is None  # not advanced
    assert len(applied) == 3
    context._sink = FailingSink(real, 0, applied)
    result = poll_feed_or_refresh(context)
    assert result["new_records"] == 3
    lines = [line for line, _ in applied]
    assert sorted(lines) == sorted({f"~ user:{u}" for u in users})  # each once
    assert graph_people(context) == people_of(expected_export(account))
    assert float(redis_client.get(keys.freshness_key("position")) or 0) == clock.now
    # ... and the change history has each rename once, caused by an audit record, and
    # each audit record once as PagerDuty recorded it, although the first poll read all six.
    history, _ = real.changes(Query(type_=USER), cursor=None, limit=1000)
    for source in ("graph", "pagerduty"):
        renames = [e for e in history if e["cause"]["kind"] == "audit" and e["source"] == source]
        assert sorted(e["key"] for e in renames) == sorted(f"user:{u}" for u in users)
        afters = {e["changes"]["name"]["after"] for e in renames}
        assert afters == {f"Changed {i}" for i in range(6)}
        assert all(e["actor"] and e["actor"]["type"] == "user" for e in renames)


def test_service_records_queue_the_webhook_paths_refresh(
    context: JobContext, account: Account, redis_client: redis.Redis, clock: Clock
) -> None:
    service_id = next(iter(account.services))
    account.update_service(service_id, name="Renamed by hand")
    clock.now += 5
    poll_feed_or_refresh(context)
    queued = Queue(WEBHOOK_QUEUE, connection=redis_client).jobs
    assert [j.func_name for j in queued] == ["worker.jobs.refresh_service"]
    record = account.audit.records[-1]["id"]
    owner = {"type": "user", "id": "PSIMOWN", "name": "Account Owner"}
    browser = {"type": "browser", "truncatedToken": None}
    cause = {"kind": "audit", "id": record, "actor": owner, "method": browser}
    assert queued[0].args == (service_id, cause)  # the refresh's writes name who did it


def test_status_shows_the_feed_and_its_lag(
    context: JobContext, account: Account, redis_client: redis.Redis, clock: Clock
) -> None:
    account.update_user(next(iter(account.users)), name="Someone Else")
    poll_feed_or_refresh(context)
    status = freshness_status(redis_client)
    assert status["mode"] == AUDIT and status["reason"] is None
    assert status["last_poll"]["changes_applied"] == 1
    assert status["changes_applied"] == {AUDIT: 1}
    assert status["lag_s"] is not None
    assert (read_mode(redis_client) or {})["mode"] == AUDIT


def trail(context: JobContext, key: str) -> list[dict[str, Any]]:
    """The PagerDuty audit records the history keeps for one object, oldest first."""
    sink = LocalSink(context.settings.local_graph_path)
    entries, _ = sink.changes(Query(key=key, source="pagerduty"), cursor=None, limit=1000)
    return entries


def test_an_admin_grant_revoked_within_one_poll_is_kept_twice_with_who_did_it(
    context: JobContext, account: Account, clock: Clock
) -> None:
    target, granter = list(account.users)[:2]
    account.update_user(target, role="user")
    poll_feed_or_refresh(context)
    sink = LocalSink(context.settings.local_graph_path)
    written, _ = sink.changes(Query(key=f"user:{target}"), cursor=None, limit=99)
    clock.now += 5
    with account.acting_as(account.user_actor(granter)):
        account.update_user(target, role="admin")
        clock.now += 20
        account.update_user(target, role="user")  # undone before the next poll
    clock.now += 5
    result = poll_feed_or_refresh(context)
    assert result["trail_entries"] == 2
    entries = trail(context, f"user:{target}")[-2:]
    assert [e["changes"]["role"] for e in entries] == [
        {"before": "user", "after": "admin"},
        {"before": "admin", "after": "user"},
    ]
    name = account.users[granter]["name"]
    assert all(e["actor"] == {"type": "user", "id": granter, "name": name} for e in entries)
    assert all(e["method"] == {"type": "browser", "truncatedToken": None} for e in entries)
    assert all(e["action"] == "updated" and e["type"] == USER for e in entries)
    at = [e["at"] for e in entries]
    assert at == sorted(at) and at[0] != at[1]  # each when PagerDuty executed it
    # The graph never showed the grant (pdgraph re-read a user who is "user" again): only
    # the audit trail knows it happened.
    now, _ = sink.changes(Query(key=f"user:{target}"), cursor=None, limit=99)
    assert [e for e in now if e["source"] == "graph"] == [
        e for e in written if e["source"] == "graph"
    ]
    assert sink.read_graph().entities[f"user:{target}"].properties["role"] == "user"


def test_a_membership_added_and_removed_within_one_poll_is_kept_twice_by_an_api_key(
    context: JobContext, account: Account, clock: Clock
) -> None:
    team = next(iter(account.teams))
    user = next(u for u in account.users if team not in account.users[u]["team_ids"])
    key = api_key_actor("PKEY123", "terraform", "u+abcdefghijklmnopqrs")
    with account.acting_as(key):
        account.add_member(team, user)
        clock.now += 3
        account.remove_member(team, user)
    clock.now += 5
    poll_feed_or_refresh(context)
    entries = trail(context, f"team:{team}")
    assert len(entries) == 2
    added, removed = (e["changes"]["members"] for e in entries)
    assert [r["id"] for r in added["added"]] == [user] and added["removed"] == []
    assert [r["id"] for r in removed["removed"]] == [user] and removed["added"] == []
    assert {e["actor"]["type"] for e in entries} == {"api_key"}
    assert {e["actor"]["id"] for e in entries} == {"PKEY123"}
    assert {e["method"]["type"] for e in entries} == {"api_token"}
    # the graph's membership edge was never written: the poll read the team as it is now
    graph_entries, _ = LocalSink(context.settings.local_graph_path).changes(
        Query(type_="pagerduty_team_has_user"), cursor=None, limit=1000
    )
    assert not [e for e in graph_entries if f"user:{user}" in e["key"] and team in e["key"]]
