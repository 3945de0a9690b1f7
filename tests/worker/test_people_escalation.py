"""Escalation policies and schedules reach the graph without webhooks: through the
audit-records feed (one re-read per object, the diff around it) or, where PagerDuty
refuses the feed, the light refresh; the whole export then equals the oracle's
(PagerDuty simulator over sockets, real Redis, SQLite sink)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from common.objects.escalation_policy import policy_key
from common.objects.schedule import schedule_key
from common.objects.user import user_key
from common.sinks.local import LocalSink
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.expected import expected_export
from worker.context import JobContext
from worker.freshness import light_refresh_due, poll_feed_or_refresh


@pytest.fixture(params=["ok"])
def pd(
    request: pytest.FixtureRequest,
    clock: Clock,
    make_sim: Callable[..., PagerDutySim],
    make_job_context: Callable[..., JobContext],
) -> tuple[JobContext, PagerDutySim]:
    """A full sync of a 60-user account, then the feed ("ok") or its refusal (402/403)."""
    sim = make_sim(Account.generate(seed=5, users=60, clock=clock), audit_records=request.param)
    return make_job_context(sim), sim


def export(context: JobContext) -> dict[str, Any]:
    return LocalSink(context.settings.local_graph_path).read_graph().to_j1()


def policies_using(account: Account, schedule_id: str) -> list[str]:
    return sorted(
        p.id
        for p in account.policies.values()
        for level in p.levels
        if ("schedule", schedule_id) in level
    )


def used_policies(account: Account) -> list[str]:
    return sorted({s["escalation_policy_id"] for s in account.services.values()})


def edit_escalation(account: Account, clock: Clock) -> dict[str, str]:
    """Create a schedule and a policy escalating to it; rename, re-staff and move a schedule
    policies escalate to; re-target a policy services use; rotate another."""
    users, teams = sorted(account.users), sorted(account.teams)
    schedule = next(s for s in sorted(account.schedules) if policies_using(account, s))
    others = [p for p in used_policies(account) if p not in policies_using(account, schedule)]
    policy, rotated = others[:2]
    clock.now += 30
    new_schedule = account.add_schedule("Follow the sun", users[10:12], team_ids=teams[:1])
    new_policy = account.add_policy(
        "Escalate here", [[("schedule", new_schedule)], [("user", users[12])]], team_ids=teams[1:2]
    )
    account.update_schedule(
        schedule, name="Primary (renamed)", rotation=users[13:16], team_ids=teams[2:3]
    )
    account.update_policy(
        policy,
        levels=[[("user", users[16])], [("schedule", new_schedule)]],
        num_loops=3,
        team_ids=teams[3:4],
    )
    account.rotate_oncall(rotated, users[17])
    clock.now += 30
    return {
        "schedule": schedule,
        "policy": policy,
        "new_schedule": new_schedule,
        "new_policy": new_policy,
    }


def retire(account: Account, clock: Clock, ids: dict[str, str]) -> None:
    """Delete the new policy, then its schedule (PagerDuty refuses the other order)."""
    clock.now += 30
    account.update_policy(ids["policy"], levels=[[("user", sorted(account.users)[18])]])
    account.delete_policy(ids["new_policy"])
    account.delete_schedule(ids["new_schedule"])
    clock.now += 30


def test_every_policy_and_schedule_mutation_reaches_the_graph_through_the_feed(
    pd: tuple[JobContext, PagerDutySim], clock: Clock
) -> None:
    context, sim = pd
    account = sim.account
    assert export(context) == expected_export(account)
    ids = edit_escalation(account, clock)
    sim.reset_requests()
    result = poll_feed_or_refresh(context)
    assert result["mode"] == "audit" and result["outcome"] == "ok"
    assert export(context) == expected_export(account)
    counts = sim.request_counts()
    assert counts[f"/schedules/{ids['schedule']}"] == 1  # one re-read per object
    assert counts[f"/escalation_policies/{ids['policy']}"] == 1
    assert counts["/oncalls"] == 1  # the moved policies' on-calls, in one request
    assert result["oncall_policies"] >= 3
    keys = {e["_key"] for e in export(context)["entities"]}
    assert schedule_key(ids["new_schedule"]) in keys

    retire(account, clock, ids)
    poll_feed_or_refresh(context)
    assert export(context) == expected_export(account)
    keys = {e["_key"] for e in export(context)["entities"]}
    assert schedule_key(ids["new_schedule"]) not in keys
    again = poll_feed_or_refresh(context)  # the overlap reads the records again: nothing to write
    assert again["new_records"] == 0 and again["changes_applied"] == 0


def test_a_deleted_users_schedule_and_policy_edges_go_and_its_shifts_become_gaps(
    pd: tuple[JobContext, PagerDutySim], clock: Clock
) -> None:
    context, sim = pd
    account = sim.account
    users = sorted(account.users)
    solo = users[20]
    alone = account.add_schedule("Solo", [solo])
    new = account.add_policy("Solo first", [[("schedule", alone)], [("user", solo)]])
    shared = next(
        s for s in sorted(account.schedules) if len(set(account.schedules[s].rotation)) > 1
    )
    member = account.schedules[shared].rotation[0]
    clock.now += 10
    poll_feed_or_refresh(context)
    sink = LocalSink(context.settings.local_graph_path)
    held = sink.index_around(user_key(solo)).relationships
    assert {
        f"{schedule_key(alone)}|has|{user_key(solo)}",
        f"{policy_key(new)}|assigned|{user_key(solo)}",
    } <= set(held)
    assert (
        sink.read_graph().entities[schedule_key(alone)].properties["finalScheduleCoverage"] == 100
    )
    clock.now += 10
    account.delete_user(solo)
    account.delete_user(member)
    clock.now += 10
    poll_feed_or_refresh(context)
    for user_id in (solo, member):
        around = sink.index_around(user_key(user_id))
        assert around.entities == {} and around.relationships == {}
    coverage = sink.read_graph().entities[schedule_key(alone)].properties
    assert coverage["finalScheduleCoverage"] == 0 and coverage["nextGapStartOn"]
    assert export(context) == expected_export(account)


@pytest.mark.parametrize("pd", ["402", "403"], indirect=True)
def test_the_light_refresh_keeps_policies_and_schedules_current(
    pd: tuple[JobContext, PagerDutySim], clock: Clock
) -> None:
    context, sim = pd
    account = sim.account
    assert poll_feed_or_refresh(context)["mode"] == "refresh"  # refused: the light refresh instead
    ids = edit_escalation(account, clock)
    sim.reset_requests()
    run = light_refresh_due(context)
    assert run["outcome"] == "ok" and run["oncall_policies"] >= 3
    assert export(context) == expected_export(account)
    listed = (account.users, account.teams, account.policies, account.schedules)
    pages = sum(math.ceil(len(objects) / 100) for objects in listed)
    # /abilities, Σ⌈n/100⌉ listing pages, one read per schedule (its coverage)
    assert run["pagerduty_requests"] == 1 + pages + len(account.schedules) + 1  # + /tags
    assert sim.request_counts()["/oncalls"] == 1
    retire(account, clock, ids)
    assert light_refresh_due(context)["changes_applied"] > 0
    assert export(context) == expected_export(account)
    assert light_refresh_due(context)["changes_applied"] == 0  # nothing changed since


@pytest.mark.parametrize("pd", ["402"], indirect=True)
def test_the_light_refresh_stops_before_deleting_most_schedules(
    pd: tuple[JobContext, PagerDutySim], clock: Clock
) -> None:
    context, sim = pd
    account = sim.account
    poll_feed_or_refresh(context)
    before = export(context)
    doomed = sorted(account.schedules)[: len(account.schedules) // 2 + 1]
    for policy in account.policies.values():  # PagerDuty: no policy may escalate to them
        kept = [[t for t in level if t[1] not in doomed] for level in policy.levels]
        account.update_policy(
            policy.id,
            levels=[level for level in kept if level] or [[("user", sorted(account.users)[0])]],
        )
    for schedule_id in doomed:
        account.delete_schedule(schedule_id)
    run = light_refresh_due(context)
    assert run["outcome"] == "aborted" and "pagerduty_schedule " in run["error"]
    assert export(context) == before  # nothing written


def test_pagerduty_refuses_to_delete_what_is_in_use(clock: Clock) -> None:
    account = Account.generate(seed=5, users=30, clock=clock)
    schedule = next(s for s in sorted(account.schedules) if policies_using(account, s))
    with pytest.raises(ValueError, match="used by escalation policies"):
        account.delete_schedule(schedule)
    with pytest.raises(ValueError, match="used by services"):
        account.delete_policy(used_policies(account)[0])
    assert schedule in account.schedules and used_policies(account)[0] in account.policies
