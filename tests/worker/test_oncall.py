"""On-call freshness: hand-offs send no webhook, so pdgraph schedules its own re-reads."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from common.queueing import WEBHOOK_QUEUE
from common.state import keys
from sim.clock import Clock
from sim.pagerduty import Account
from tests.expected import expected_export
from tests.stack import Stack
from tests.waiting import wait_for
from worker import jobs, oncall
from worker.rqworker import PromptSimpleWorker

SHIFT = 3600


@pytest.fixture
def stack(make_stack: Callable[..., Stack], clock: Clock) -> Stack:
    account = Account.generate(seed=3, users=120, shift_seconds=SHIFT, clock=clock)
    return make_stack(account, receiver=False)


def oncall_edges(export: dict[str, Any]) -> set[str]:
    return {r["_key"] for r in export["relationships"] if "|oncall|" in r["_key"]}


def handoffs(account: Account) -> dict[str, float]:
    return oncall.next_handoffs(account.oncalls_now())


def shift_ends_by_policy(account: Account, now: float) -> dict[str, float]:
    """Policy id → when the current shift of its first-ending schedule ends, worked out
    from the simulator's schedules (fixed-length shifts from an epoch), not from /oncalls."""
    ends: dict[str, float] = {}
    for policy_id, policy in account.policies.items():
        for kind, target in (t for level in policy.levels for t in level):
            if kind == "schedule":
                schedule = account.schedules[target]
                shifts_done = (now - schedule.epoch) // schedule.shift_seconds
                end = schedule.epoch + (shifts_done + 1) * schedule.shift_seconds
                ends[policy_id] = min(end, ends.get(policy_id, end))
    return ends


def test_the_full_sync_schedules_a_refresh_after_each_policys_next_handoff(
    stack: Stack, clock: Clock
) -> None:
    ends = shift_ends_by_policy(stack.sim.account, clock.now)
    assert len(set(ends.values())) > 1  # rotating schedules, handing off at several times
    assert all(clock.now < end <= clock.now + SHIFT for end in ends.values())
    expected_dues = {int(end) + 5 for end in ends.values()}  # README: 5 s after a hand-off
    registry = ScheduledJobRegistry(queue=Queue(WEBHOOK_QUEUE, connection=stack.redis))
    scheduled = {j for j in registry.get_job_ids() if j.startswith("oncall-handoff-")}
    assert scheduled == {f"oncall-handoff-{due}" for due in expected_dues}
    # Coalesced: one job per hand-off second, however many policies hand off then.
    for due in expected_dues:
        policies = {p for p, end in ends.items() if int(end) + 5 == due}
        members = {m.decode() for m in stack.redis.smembers(keys.handoff_due(due))}
        assert members == policies
    # Seeing the same on-calls again (a webhook refresh, say) queues nothing new.
    assert oncall.schedule_handoffs(stack.redis, stack.sim.account.oncalls_now()) == 0


def test_a_handoff_refresh_makes_the_graph_right_with_one_oncalls_read(
    stack: Stack, clock: Clock
) -> None:
    account = stack.sim.account
    before = oncall_edges(stack.export())
    due = min(math.ceil(end) + oncall.HANDOFF_SLACK for end in handoffs(account).values())
    clock.now = due  # the shift has ended; the refresh runs at its scheduled time
    assert oncall_edges(expected_export(account)) != before  # someone else is on call now
    stack.sim.reset_requests()

    result = jobs.refresh_oncall_handoff(due)

    assert stack.export() == expected_export(account)
    assert result["services_changed"] > 0
    assert stack.sim.request_counts() == {"/oncalls": 1}  # no service was read
    assert not stack.redis.exists(keys.handoff_due(due))
    # ... and the hand-off after that one is scheduled from what this read returned.
    later = min(math.ceil(end) + oncall.HANDOFF_SLACK for end in handoffs(account).values())
    registry = ScheduledJobRegistry(queue=Queue(WEBHOOK_QUEUE, connection=stack.redis))
    assert f"oncall-handoff-{later}" in registry.get_job_ids()


def test_the_periodic_refresh_catches_what_no_handoff_announced(stack: Stack) -> None:
    account = stack.sim.account
    policy_id = sorted(account.policies)[0]
    account.rotate_oncall(policy_id, sorted(account.users)[7])  # a policy edit: no end time
    stack.sim.reset_requests()
    result = jobs.refresh_all_oncalls()
    assert result["policies"] == len({s["escalation_policy_id"] for s in account.services.values()})
    assert stack.sim.request_counts() == {"/oncalls": 1}  # ≤ 100 policies per request
    assert result["edges_created"] + result["edges_deleted"] + result["edges_updated"] > 0
    # Nothing changed since: the next refresh writes nothing.
    assert jobs.refresh_all_oncalls()["services_changed"] == 0
    # The policy's own edges (ASSIGNED user, HAS schedule) are the audit feed's to write.
    stack.poll_feed()
    assert stack.export() == expected_export(account)


def test_a_service_refresh_keeps_the_policy_map_current(stack: Stack) -> None:
    account = stack.sim.account
    service_id = sorted(account.services)[0]
    current = account.services[service_id]["escalation_policy_id"]
    other = next(p for p in sorted(account.policies) if p != current)
    account.update_service(service_id, escalation_policy_id=other)
    jobs.refresh_service(service_id)
    assert service_id in oncall.services_by_policy(stack.redis)[other]
    account.delete_service(service_id)
    jobs.refresh_service(service_id)
    assert all(service_id not in s for s in oncall.services_by_policy(stack.redis).values())


def test_a_real_handoff_is_in_the_graph_seconds_later_through_rqs_scheduler(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real time, a real RQ worker with its scheduler: the path a deployment runs."""
    import time

    from rq.job import Job

    monkeypatch.setattr(oncall, "HANDOFF_SLACK", 1)
    frozen: list[float] = []  # PagerDuty's time stops just after the first hand-off

    def pagerduty_now() -> float:
        return min([time.time(), *frozen])

    account = Account.generate(seed=9, users=60, shift_seconds=4, clock=pagerduty_now)
    stack = make_stack(account, receiver=False)
    # The first hand-off the sync scheduled (on a loaded machine a 4 s shift may end while
    # the sync runs: the registry, not the clock after it, says which one it saw; one
    # already due when the sync ended is queued at once instead of scheduled).
    queue = Queue(WEBHOOK_QUEUE, connection=stack.redis)
    registry = ScheduledJobRegistry(queue=queue)
    handoffs = [*registry.get_job_ids(), *queue.job_ids]
    due = min(int(j.rsplit("-", 1)[1]) for j in handoffs if j.startswith("oncall-handoff-"))
    ends = shift_ends_by_policy(account, due - 2.5).values()
    first_end = max(e for e in ends if math.ceil(e) + 1 == due)  # shifts of other schedules
    frozen.append(first_end + 0.5)  # end ≥ 1 s later
    job_id = f"oncall-handoff-{due}"
    before = oncall_edges(stack.export())

    def handoff_done() -> bool:
        PromptSimpleWorker(stack.queues(), connection=stack.redis).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        return bool(Job.fetch(job_id, connection=stack.redis).is_finished)

    wait_for(handoff_done, "the hand-off refresh to run", interval=0.2)
    # On time: the next safety refresh is ONCALL_REFRESH_MINUTES away (a loaded machine
    # may start it a few seconds late).
    assert time.time() - due < 60
    assert oncall_edges(stack.export()) != before  # shifts moved ...
    assert stack.export() == expected_export(account)  # ... and the graph follows
