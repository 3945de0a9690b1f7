"""`pdgraph sync` as an operator meets it: the dry run's plan, progress, unreachable PagerDuty."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
import redis

from common.config import Settings
from common.objects import ENTITY_TYPES, type_of_key
from common.objects.user import USER
from common.state.full_sync import last_full_sync
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import free_port
from tests.cli import one_line_failure, run_pdgraph, said
from tests.conftest import API_KEY
from worker.cli.sync import ProgressBar, summary_line
from worker.full_sync import FullSyncRun, run_full_sync


def env_for(sim: PagerDutySim, redis_url: str, graph_path: str) -> dict[str, str]:
    return {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
    }


def plan_of(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[:2] in ("+ ", "~ ", "- ")]


def test_dry_run_lists_entities_then_relationships_each_sorted_by_key(
    sim: PagerDutySim, redis_url: str, graph_path: str
) -> None:
    env = env_for(sim, redis_url, graph_path)
    assert run_pdgraph("sync", env=env).returncode == 0
    account = sim.account
    for service_id in sorted(account.services)[:3]:
        account.update_service(service_id, name=f"renamed {service_id}")
    for user_id in sorted(account.users)[-3:]:
        account.delete_user(user_id)
    account.delete_service(sorted(account.services)[-1])
    result = run_pdgraph("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    keys = [line[2:] for line in plan_of(result.stdout)]
    is_entity = [type_of_key(key) in ENTITY_TYPES for key in keys]
    entities, relationships = keys[: sum(is_entity)], keys[sum(is_entity) :]
    assert all(is_entity[: len(entities)]) and not any(is_entity[len(entities) :])
    assert entities == sorted(entities) and len(entities) == 3 + 3 + 1
    assert relationships == sorted(relationships) and relationships
    assert (
        run_pdgraph("sync", "--dry-run", env=env).stdout.splitlines()[:-1]
        == (
            result.stdout.splitlines()[:-1]  # deterministic (the summary line holds a duration)
        )
    )


def test_dry_run_shows_the_plan_the_mass_delete_guard_would_stop(
    sim: PagerDutySim, redis_url: str, graph_path: str, redis_client: redis.Redis
) -> None:
    env = env_for(sim, redis_url, graph_path)
    assert run_pdgraph("sync", env=env).returncode == 0
    before = run_pdgraph("export", env=env).stdout
    recorded = last_full_sync(redis_client)
    for user_id in list(sim.account.users)[:58]:
        sim.account.delete_user(user_id)
    for service_id in list(sim.account.services)[:29]:
        sim.account.delete_service(service_id)
    result = run_pdgraph("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr  # the plan was computed: that is a dry run's job
    plan = plan_of(result.stdout)
    deleted = [line[2:] for line in plan if line.startswith("- ")]
    assert sum(1 for key in deleted if type_of_key(key) == USER) == 58
    *_, summary, guard = said(result.stdout)
    assert summary.startswith("dry run: read 2 users")
    assert guard.startswith("the real run would be stopped by the mass-delete guard: ")
    assert "more than half" in guard and "pdgraph sync --allow-mass-delete" in guard
    assert run_pdgraph("export", env=env).stdout == before
    assert last_full_sync(redis_client) == recorded
    assert run_pdgraph("sync", env=env).returncode == 1  # the real run is stopped, as announced


def test_sync_against_an_unreachable_pagerduty_names_the_url_in_one_line(
    redis_url: str, graph_path: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"PAGERDUTY_API_KEY": API_KEY, "PAGERDUTY_API_URL": url, "REDIS_URL": redis_url}
    result = run_pdgraph("sync", env={**env, "LOCAL_GRAPH_PATH": graph_path})
    line = one_line_failure(result, 1)
    assert f"PAGERDUTY_API_URL {url}" in line
    assert API_KEY not in result.stdout + result.stderr


def test_sync_without_redis_names_redis_url_in_one_line(sim: PagerDutySim, graph_path: str) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_pdgraph("sync", env=env_for(sim, redis_url, graph_path))
    line = one_line_failure(result, 1)
    assert line.startswith("pdgraph: sync failed, nothing was changed: REDIS_URL does not answer")


def test_check_against_an_unreachable_pagerduty_names_the_url_quickly(
    redis_url: str, graph_path: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"PAGERDUTY_API_KEY": API_KEY, "PAGERDUTY_API_URL": url, "REDIS_URL": redis_url}
    started = time.monotonic()
    result = run_pdgraph("check", env={**env, "LOCAL_GRAPH_PATH": graph_path})
    assert time.monotonic() - started < 8  # was 11.7 s of silence
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    failures = said(result.stderr)
    assert failures[0].startswith(f"FAIL  PagerDuty: PAGERDUTY_API_URL {url}")
    assert API_KEY not in result.stdout + result.stderr


def test_progress_bar_draws_every_listing_on_one_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar("teams", 6, 6)
    bar("users", 100, 250)
    bar("services", 30, 30)
    bar("users", 250, 250)
    bar.finish()
    drawn = stream.getvalue()
    assert drawn.endswith("\n") and drawn.count("\n") == 1
    assert drawn.split("\r")[-1].rstrip() == "read  users 250/250 · teams 6/6 · services 30/30"
    quiet = ProgressBar(None)
    quiet("users", 1, 2)
    quiet.finish()  # not a terminal: nothing drawn, nothing raised


def recorded_progress(
    settings: Settings, redis_client: redis.Redis
) -> tuple[FullSyncRun, list[tuple[str, int, int]], str]:
    """A dry run drawn on a terminal-like stream: the run, the callback's calls, the bar's
    last line."""
    stream = io.StringIO()
    bar = ProgressBar(stream)
    calls: list[tuple[str, int, int]] = []

    def progress(listing: str, fetched: int, total: int) -> None:
        calls.append((listing, fetched, total))
        bar(listing, fetched, total)

    run, _ = run_full_sync(settings, redis_client=redis_client, dry_run=True, progress=progress)
    bar.finish()
    return run, calls, stream.getvalue().split("\r")[-1].strip()


@pytest.mark.slow
def test_progress_ends_on_the_summary_counts_past_the_offset_cap(
    make_sim: Callable[..., PagerDutySim],
    make_settings: Callable[..., Settings],
    redis_client: redis.Redis,
) -> None:
    sim = make_sim(Account.generate(seed=11, users=10_600, teams=1_060, services=300))
    settings = make_settings(
        sim,
        # > 960 requests (a read per schedule): the offset cap is under test, not the budget
        pagerduty_requests_per_minute=100_000,
    )
    run, calls, last_line = recorded_progress(settings, redis_client)
    assert run.read["users"] == 10_600  # past the cap: the listing was read in parts
    last_call = {listing: (fetched, total) for listing, fetched, total in calls}
    assert last_call == {name: (n, n) for name, n in run.read.items()}
    assert all(fetched <= total for _, fetched, total in calls)
    for name, n in run.read.items():  # a split listing counts up to its own total only
        counts = [(fetched, total) for listing, fetched, total in calls if listing == name]
        assert all(total == n for _, total in counts), name
        assert [f for f, _ in counts] == sorted(f for f, _ in counts), name
    assert last_line == "read  " + " · ".join(f"{name} {n:,}/{n:,}" for name, n in run.read.items())
    read = ", ".join(f"{n:,} {name}" for name, n in run.read.items())
    assert summary_line(run, dry_run=True).startswith(f"dry run: read {read};")
