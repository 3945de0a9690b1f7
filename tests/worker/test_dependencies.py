"""The dependency pass (worker/dependencies.py, issue 21): service dependencies cost one
PagerDuty read per object, so the full sync reads none; a run a minute reads each service
and business service once per PEOPLE_REFRESH_MINUTES within its share of the request
budget, writes only what changed, and the full sync keeps what it wrote — on a real Redis,
the simulator over HTTP and the local sink."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from common.objects import type_of_key
from common.objects.service_dependency import DEPENDENCY_TYPES
from common.sinks.history import Query
from common.state import dependencies as state
from common.state.keys import CATALOG_DEPENDENCIES, CATALOG_DEPENDENTS, FULL_SYNC_LOCK
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from tests.cli import run_pdgraph
from tests.stack import Stack, configure_env
from worker import dependencies
from worker.context import JobContext
from worker.dependencies import read_dependencies
from worker.full_sync import run_full_sync

T0 = 1_900_000_000.0  # the runs' own clock: when the pass reads is its business, not today's


def catalog_account(clock: Clock) -> Account:
    return Account.generate(seed=7, users=60, clock=clock, catalog=True)


def dependents_of(account: Account) -> set[str]:
    return {f"service:{s}" for s in account.services} | {
        f"business_service:{b}" for b in account.catalog.business_services
    }


def expected_uses(account: Account) -> set[str]:
    return {
        f"{dk}:{di}|uses|{sk}:{si}"
        for (dk, di), (sk, si) in (
            (d["dependent"], d["supporting"]) for d in account.catalog.dependencies.values()
        )
    }


def uses_in_graph(context: JobContext) -> set[str]:
    return {k for k in context.sink.index().relationships if type_of_key(k) in DEPENDENCY_TYPES}


def reads_by_object(sim: PagerDutySim) -> Counter[str]:
    """`<kind>:<id>` → dependency reads of it so far."""
    found: Counter[str] = Counter()
    for path, n in sim.request_counts().items():
        if path.startswith("/service_dependencies/"):
            _, kind, object_id = path.strip("/").split("/")
            found[
                f"{'service' if kind == 'technical_services' else 'business_service'}:{object_id}"
            ] += n
    return found


MakePass = Callable[..., tuple[Account, PagerDutySim, JobContext]]


@pytest.fixture
def make_pass(
    make_sim: Callable[..., PagerDutySim],
    make_job_context: Callable[..., JobContext],
    clock: Clock,
) -> MakePass:
    """The catalog account served, and a worker's context after a first full sync
    (keyword arguments: settings)."""

    def _make(**settings: Any) -> tuple[Account, PagerDutySim, JobContext]:
        account = catalog_account(clock)
        sim = make_sim(account)
        return account, sim, make_job_context(sim, **settings)

    return _make


def run_at(context: JobContext, minute: float) -> dict[str, Any]:
    return read_dependencies(context, now=T0 + minute * 60)


def test_the_full_sync_reads_none_and_each_run_keeps_every_object_read_once_a_period(
    make_pass: MakePass,
) -> None:
    account, sim, context = make_pass(people_refresh_minutes=15)
    assert reads_by_object(sim) == Counter()  # the full sync read no dependency
    assert uses_in_graph(context) == set()
    dependents = dependents_of(account)
    assert expected_uses(account) and len(dependents) > 15  # a real test of the pacing

    first = run_at(context, 0)  # never read: all at once, within half the budget
    assert (first["read"], first["never_read"], first["outcome"]) == (
        len(dependents),
        len(dependents),
        "ok",
    )
    assert set(reads_by_object(sim)) == dependents
    assert uses_in_graph(context) == expected_uses(account)
    assert first["changes_applied"] == len(expected_uses(account))

    assert "skipped" in run_at(context, 0.25)  # a second run of the same tick
    assert run_at(context, 1)["read"] == 0  # nothing due: each was read a minute ago
    per_run = math.ceil(len(dependents) / 15)
    before = reads_by_object(sim)
    sizes = [run_at(context, minute)["read"] for minute in range(14, 29)]
    assert max(sizes) <= per_run and sum(sizes) >= len(dependents)
    read_again = reads_by_object(sim) - before
    assert set(read_again) == dependents  # every one within the period, none skipped
    assert max(read_again.values()) <= 2
    assert uses_in_graph(context) == expected_uses(account)  # nothing changed: nothing written


def test_a_run_never_takes_more_than_its_share_of_the_request_budget(
    make_pass: MakePass,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A share of 6 requests in the minute's 960 (half of 12; a budget of 12 itself would
    make the test wait for the rate limiter, minutes)."""
    monkeypatch.setattr(dependencies, "BUDGET_SHARE", 6 / 960)
    account, sim, context = make_pass(pagerduty_requests_per_minute=960)
    assert dependencies.reads_per_run(context.settings, 1000, 0) == 6
    dependents = dependents_of(account)
    minute, sizes = 0, []
    while set(reads_by_object(sim)) != dependents:
        before = sum(sim.request_counts().values())
        result = run_at(context, minute)
        assert sum(sim.request_counts().values()) - before == result["read"] <= 6
        sizes.append(result["read"])
        minute += 1
        assert minute < 100
    assert sizes[:-1] == [6] * (len(sizes) - 1)  # the never read, at the cap
    assert uses_in_graph(context) == expected_uses(account)


def test_a_changed_dependency_reaches_the_graph_within_the_period_caused_by_the_run(
    make_pass: MakePass,
) -> None:
    account, _sim, context = make_pass(people_refresh_minutes=15)
    run_at(context, 0)
    gone = next(d for d in account.catalog.dependencies.values() if d["dependent"][0] == "service")
    account.remove_dependency(gone["dependent"], gone["supporting"])
    services = sorted(account.services)
    new = next(
        (("service", a), ("service", b))
        for a in services
        for b in services
        if a != b and account.dependency_id(("service", a), ("service", b)) is None
    )
    account.add_dependency(*new)
    runs = [run_at(context, minute) for minute in range(14, 29)]
    assert uses_in_graph(context) == expected_uses(account)
    added = f"service:{new[0][1]}|uses|service:{new[1][1]}"
    [entry] = context.sink.changes(Query(key=added), cursor=None, limit=10)[0]
    assert entry["action"] == "created"
    assert entry["cause"]["kind"] == "refresh"
    assert entry["cause"]["id"] in {r["run_id"] for r in runs}
    assert sum(r["changes_applied"] for r in runs) == 2


def test_the_full_sync_keeps_the_passs_edges_and_those_redis_lost(
    make_pass: MakePass,
    redis_client: Any,
) -> None:
    account, _sim, context = make_pass()
    run_at(context, 0)
    wanted = expected_uses(account)
    run, changes = run_full_sync(context.settings, redis_client=redis_client)
    assert run.outcome == "ok" and not changes  # built from the pass's reads: no change
    # Redis lost the pass's reads (a new Redis, a flush): the sync keeps what the graph
    # has, rather than delete what it did not read (or stop at the mass-delete guard).
    redis_client.delete(CATALOG_DEPENDENCIES, CATALOG_DEPENDENTS)
    run, changes = run_full_sync(context.settings, redis_client=redis_client)
    assert run.outcome == "ok" and not changes
    assert uses_in_graph(context) == wanted
    assert state.counts(redis_client) == (len(dependents_of(account)), len(dependents_of(account)))
    # ... and the next run reads them all again, and writes what PagerDuty changed since.
    gone = next(iter(account.catalog.dependencies.values()))
    account.remove_dependency(gone["dependent"], gone["supporting"])
    assert run_at(context, 1)["read"] == len(dependents_of(account))
    assert (
        uses_in_graph(context)
        == expected_uses(account)
        == wanted - {"{}:{}|uses|{}:{}".format(*gone["dependent"], *gone["supporting"])}
    )


def test_no_run_while_a_full_sync_runs_and_one_run_at_a_time(
    make_pass: MakePass,
    redis_client: Any,
) -> None:
    _, sim, context = make_pass()
    redis_client.set(FULL_SYNC_LOCK, "someone", ex=30)
    assert run_at(context, 0) == {"skipped": "a full sync is running"}
    redis_client.delete(FULL_SYNC_LOCK)
    assert reads_by_object(sim) == Counter()
    assert run_at(context, 0)["outcome"] == "ok"


def test_a_service_created_or_deleted_by_webhook_joins_or_leaves_the_pass(
    make_stack: Callable[..., Stack], clock: Clock, redis_client: Any
) -> None:
    account = catalog_account(clock)
    stack = make_stack(account)
    stack.read_dependencies()
    services = sorted(account.services)
    new_id = account.add_service(
        "brand-new-service", escalation_policy_id=sorted(account.policies)[0]
    )
    account.add_dependency(("service", new_id), ("service", services[0]))
    dropped = next(
        d["dependent"][1]
        for d in account.catalog.dependencies.values()
        if d["dependent"][0] == "service"
    )
    account.delete_service(dropped)
    stack.drain()
    known, never = state.counts(redis_client)
    assert (known, never) == (len(dependents_of(account)), 1)  # the new one, first in line
    assert f"service:{dropped}" not in {r["id"] for r in state.kept_reads(redis_client)}
    context = JobContext(stack.settings)
    try:
        result = read_dependencies(context, now=time.time() + 60)  # the next minute's run
    finally:
        context.close()
    assert result["read"] >= 1
    exported = {r["_key"] for r in stack.export()["relationships"]}
    assert f"service:{new_id}|uses|service:{services[0]}" in exported
    assert not any(f"service:{dropped}" in key for key in exported)


def test_pdgraph_dependencies_reads_them_now(
    make_stack: Callable[..., Stack],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    graph_path: str,
) -> None:
    account = catalog_account(clock)
    stack = make_stack(account, receiver=False)
    env = configure_env(monkeypatch, stack.sim.url, redis_url, graph_path)
    result = run_pdgraph("dependencies", "--all", env=env)
    assert result.returncode == 0, result.stderr
    n = len(dependents_of(account))
    assert result.stdout.startswith(f"dependencies: read {n} of {n} services and business")
    assert {
        r["_key"] for r in stack.export()["relationships"] if r["_type"] in DEPENDENCY_TYPES
    } == expected_uses(account)


def test_pdgraph_dependencies_before_any_sync_says_so(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path: Any, sim: PagerDutySim
) -> None:
    env = configure_env(monkeypatch, sim.url, redis_url, str(tmp_path / "none.db"))
    result = run_pdgraph("dependencies", env=env)
    assert result.returncode == 1
    assert "no graph there yet (run pdgraph sync first)" in result.stderr
