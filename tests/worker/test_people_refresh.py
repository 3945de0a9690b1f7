"""Where PagerDuty refuses the audit-records feed (402: plan; 403: key's role), pdgraph
says so once and keeps users, teams and memberships (policies and schedules:
tests/worker/test_people_escalation.py) fresh by the light refresh, with the
full sync's mass-delete guard; it goes back to the feed once PagerDuty serves it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis
from rq import Queue

from common.config import Settings
from common.queueing import SYNC_QUEUE, WEBHOOK_QUEUE
from common.schedule import next_runs
from common.state.freshness import AUDIT, REFRESH, freshness_status, read_mode, write_mode
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.conftest import API_KEY
from tests.expected import expected_export
from tests.worker.test_audit_feed import graph_people, people_of
from worker.cli.check import check_audit_records
from worker.clock import enqueue_audit_poll, enqueue_people_refresh
from worker.context import JobContext
from worker.freshness import light_refresh_due, poll_feed_or_refresh


@pytest.fixture(params=["402", "403"])
def refused(
    request: pytest.FixtureRequest,
    make_sim: Callable[..., PagerDutySim],
    make_job_context: Callable[..., JobContext],
) -> tuple[JobContext, PagerDutySim]:
    account = Account.generate(seed=5, users=60, clock=Clock())
    sim = make_sim(account, audit_records=request.param)
    return make_job_context(sim), sim


def mutate(account: Account, salt: str) -> None:
    users, teams = list(account.users), list(account.teams)
    account.update_user(users[0], name=f"Renamed {salt}")
    account.add_user(f"Hire {salt}", f"hire.{salt}@example.test", team_ids=[teams[0]])
    account.add_member(account.add_team(f"Team {salt}"), users[1])
    account.delete_user(users[3])


def test_a_refused_feed_switches_to_the_light_refresh_which_converges(
    refused: tuple[JobContext, PagerDutySim],
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    context, sim = refused
    account = sim.account
    mutate(account, "one")
    with caplog.at_level(logging.WARNING):
        result = poll_feed_or_refresh(context)  # refused: says so, and refreshes at once
        assert result["mode"] == REFRESH and result["outcome"] == "ok"
        assert graph_people(context) == people_of(expected_export(account))
        mode = read_mode(redis_client) or {}
        assert mode["mode"] == REFRESH and sim.audit_records in mode["reason"]
        # later polls do not ask PagerDuty again, and say nothing
        sim.reset_requests()
        assert poll_feed_or_refresh(context)["mode"] == REFRESH
        assert sim.request_counts()["/audit/records"] == 0
    assert caplog.text.count("audit records unavailable") == 1
    mutate(account, "two")
    sim.reset_requests()
    run = light_refresh_due(context)
    assert run["outcome"] == "ok" and run["changes_applied"] > 0
    assert graph_people(context) == people_of(expected_export(account))
    listed = (account.users, account.teams, account.policies, account.schedules)
    pages = sum(math.ceil(len(objects) / 100) for objects in listed)
    # /abilities, then Σ⌈n/100⌉, then one read per schedule (its coverage)
    assert run["pagerduty_requests"] == 1 + pages + len(account.schedules) + 1  # + /tags
    oncalls = 1 if run["oncall_policies"] else 0  # the changed policies' on-calls
    # the catalog refresh: /business_services, /tags, /maintenance_windows, and the
    # integrations': /abilities, /teams and /services (no vendor used: no /vendors)
    catalog = 3 + 1 + math.ceil(len(account.teams) / 100) + math.ceil(len(account.services) / 100)
    every = 1 + pages + len(account.schedules) + 1 + oncalls + catalog
    assert sum(sim.request_counts().values()) == every
    status = freshness_status(redis_client)
    assert status["mode"] == REFRESH and status["last_refresh"]["run_id"] == run["run_id"]
    assert "who made each change" in status["cannot_know"]  # /status says what it lacks
    assert light_refresh_due(context)["changes_applied"] == 0  # nothing changed since


def test_the_light_refresh_stops_before_deleting_most_users(
    refused: tuple[JobContext, PagerDutySim], redis_client: redis.Redis
) -> None:
    context, sim = refused
    poll_feed_or_refresh(context)
    before = graph_people(context)
    for user_id in list(sim.account.users)[:40]:
        sim.account.delete_user(user_id)
    run = light_refresh_due(context)
    assert run["outcome"] == "aborted" and "pagerduty_user" in run["error"]
    assert graph_people(context) == before  # nothing written
    assert freshness_status(redis_client)["last_refresh"]["outcome"] == "aborted"


def test_the_feed_is_tried_again_and_an_upgraded_plan_switches_back(
    refused: tuple[JobContext, PagerDutySim], redis_client: redis.Redis
) -> None:
    context, sim = refused
    poll_feed_or_refresh(context)
    sim.audit_records = "ok"  # the plan was upgraded, or the key replaced
    assert poll_feed_or_refresh(context)["mode"] == REFRESH  # not tried again yet
    mode = read_mode(redis_client) or {}
    write_mode(redis_client, REFRESH, mode["reason"], checked_at=mode["checked_at"] - 86_400)
    assert poll_feed_or_refresh(context)["mode"] == AUDIT
    assert (read_mode(redis_client) or {})["mode"] == AUDIT
    assert light_refresh_due(context)["skipped"]  # the feed covers users and teams now
    sim.account.update_user(next(iter(sim.account.users)), name="Via The Feed")
    assert poll_feed_or_refresh(context)["changes_applied"] == 1


def test_the_light_refresh_does_nothing_while_the_feed_works(
    job_context: JobContext, sim: PagerDutySim
) -> None:
    assert poll_feed_or_refresh(job_context)["mode"] == AUDIT
    sim.reset_requests()
    assert light_refresh_due(job_context)["skipped"]
    # only the catalog, which no feed announces: business services, tags, windows, and
    # integrations (the team and service listings; no vendor is used: no /vendors)
    counts = sim.request_counts()
    catalog = ("/business_services", "/tags", "/maintenance_windows", "/abilities", "/teams")
    assert counts == dict.fromkeys((*catalog, "/services"), 1)


@pytest.mark.parametrize("mode", ["ok", "402", "403"])
def test_check_says_whether_the_feed_is_available(
    make_sim: Callable[..., PagerDutySim], make_settings: Callable[..., Settings], mode: str
) -> None:
    sim = make_sim(audit_records=mode)
    settings = make_settings(sim)
    finding = check_audit_records(settings, None)
    assert finding.error is None
    if mode == "ok":
        assert finding.detail.startswith("available")
    else:
        assert finding.detail.startswith("unavailable") and f"HTTP {mode}" in finding.detail
        assert "every 15 min" in finding.detail
        assert "who made each change (actor and method)" in finding.detail
    assert API_KEY not in finding.detail


def test_the_clock_queues_each_poll_and_refresh_once(redis_client: redis.Redis) -> None:
    tick = datetime(2026, 11, 27, 3, 0, 30, tzinfo=UTC)
    assert enqueue_audit_poll(redis_client, tick) is True
    assert enqueue_audit_poll(redis_client, tick) is False  # another clock, same tick
    assert enqueue_audit_poll(redis_client, tick.replace(second=0)) is True  # same minute
    polls = Queue(WEBHOOK_QUEUE, connection=redis_client)
    assert polls.job_ids == ["audit-poll-20261127T030030Z", "audit-poll-20261127T030000Z"]
    assert polls.jobs[0].func_name == "worker.jobs.poll_audit_records"
    assert enqueue_people_refresh(redis_client, tick) is True
    assert enqueue_people_refresh(redis_client, tick) is False
    job = Queue(SYNC_QUEUE, connection=redis_client).jobs[0]
    assert job.func_name == "worker.jobs.light_refresh"


def test_next_runs_include_the_poll_and_the_light_refresh() -> None:
    settings = Settings(audit_poll_seconds=30, people_refresh_minutes=15)
    runs = next_runs(settings, datetime(2026, 11, 27, 4, 1, 10, tzinfo=UTC))
    assert runs["audit-records poll"] == datetime(2026, 11, 27, 4, 1, 30, tzinfo=UTC)
    assert runs["people light refresh"] == datetime(2026, 11, 27, 4, 15, tzinfo=UTC)
