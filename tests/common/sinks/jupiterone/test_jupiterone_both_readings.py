"""Webhook writes and the nightly DIFF agree whichever subgraph JupiterOne files a
GraphQL-created relationship in: no duplicate `_key`, no stale edge, in any scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from common.config import Settings
from common.graph import ChangeSet
from common.sinks.jupiterone.scopediff import DIFF_WINDOW_MAX, ScopeDiffs
from sim.jupiterone import READINGS, JupiterOneSim
from sim.pagerduty import PagerDutySim
from tests.common.sinks.jupiterone.helpers import (
    J1_ACCOUNT,
    J1_KEY,
    full_sync,
    make_j1_sink,
    record_of,
    whole_account,
)
from tests.common.sinks.jupiterone.test_jupiterone_webhook_writes import rotate
from tests.expected import expected_export
from tests.stack import Stack


@pytest.fixture(params=READINGS)
def j1(request: pytest.FixtureRequest) -> Iterator[JupiterOneSim]:
    with JupiterOneSim(J1_ACCOUNT, J1_KEY, graphql_relationships=request.param) as sim:
        yield sim


def assert_account_is_expected(stack: Stack, j1: JupiterOneSim) -> None:
    """The whole account, every scope, is the expected graph: after the webhooks and the
    audit feed's poll (the policies' own edges are the feed's to write)."""
    stack.poll_feed()
    assert whole_account(j1) == expected_export(stack.sim.account)


def more_webhooks(stack: Stack, policy_id: str) -> None:
    """The scenario's third step: the policy's next rotation (the old on-call edges must
    go), a service deleted (its edges with it), a team change; then the worker runs."""
    account = stack.sim.account
    services, teams, users = sorted(account.services), sorted(account.teams), sorted(account.users)
    rotate(stack, policy_id, users[6])
    account.delete_service(services[1])
    account.update_service(services[0], team_ids=teams[2:3])
    stack.drain()


def test_webhooks_nightly_sync_and_more_webhooks_leave_no_duplicate_or_stale_edge(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    account = j1_stack.sim.account
    services, teams, users = sorted(account.services), sorted(account.teams), sorted(account.users)
    # 1. Webhook changes: a service's teams, a new service, an on-call rotation.
    account.update_service(services[0], team_ids=teams[:2])
    account.add_service(
        "both-readings", escalation_policy_id=sorted(account.policies)[0], team_ids=teams[1:3]
    )
    policy_id = account.services[services[3]]["escalation_policy_id"]
    rotate(j1_stack, policy_id, users[5])
    j1_stack.drain()
    assert_account_is_expected(j1_stack, j1)
    # 2. The nightly full sync: one DIFF of the scope.
    j1_stack.full_sync()
    assert_account_is_expected(j1_stack, j1)
    # 3. More webhooks: the next rotation (the old ONCALL edges must go) and a delete.
    more_webhooks(j1_stack, policy_id)
    assert_account_is_expected(j1_stack, j1)
    j1_stack.full_sync()
    assert_account_is_expected(j1_stack, j1)
    assert j1.calls["graphql mutations"] == 0


def test_edge_changes_wait_a_window_as_long_as_the_last_diff_and_share_one_job(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.finalize_seconds = 0.8
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    diffs = ScopeDiffs(record_of(redis_client), lambda graph: "")
    assert 0.8 <= diffs.window() <= DIFF_WINDOW_MAX  # the full sync's DIFF took ≥ 0.8 s
    jobs = len(j1.jobs)
    edges = sorted(sink.read_graph().relationships)[:3]
    for edge in edges:  # three change sets inside one window
        sink.apply(ChangeSet(delete_relationships=[edge]))
    assert sink.waiting_writes() == 3
    assert sink.flush() == 0 and len(j1.jobs) == jobs  # not due yet: nothing sent
    redis_client.set(record_of(redis_client).key("diff:dirty"), "0")  # the window passes
    assert sink.flush() > 0
    assert len(j1.jobs) == jobs + 1  # one DIFF for the three
    assert sink.waiting_writes() == 0
    assert not set(edges) & {r["_key"] for r in whole_account(j1)["relationships"]}
    assert whole_account(j1) == sink.read_graph().to_j1()
