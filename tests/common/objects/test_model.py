"""GRAPH_MODEL=seed|jupiterone through the full sync and the webhook/on-call paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from common.config import Settings
from common.objects import type_of_key
from common.sinks.local import LocalSink
from sim.pagerduty import Account, PagerDutySim
from tests.expected import expected_export
from tests.stack import Stack
from worker import jobs
from worker.full_sync import FullSyncAborted, run_full_sync


@pytest.mark.parametrize("model", ["seed", "jupiterone"])
def test_full_sync_writes_the_models_graph(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis, model: str
) -> None:
    settings = settings.model_copy(update={"graph_model": model})
    run, _ = run_full_sync(settings, redis_client=redis_client)
    assert run.outcome == "ok"
    exported = LocalSink(settings.local_graph_path).read_graph().to_j1()
    assert exported == expected_export(sim.account, model=model)
    classes = {r["_class"] for r in exported["relationships"]}
    assert ("MONITORS" in classes, "ONCALL" in classes) == (
        (True, False) if model == "jupiterone" else (False, True)
    )


def test_switching_models_replaces_the_renamed_edges_without_tripping_the_guard(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    """Every on-call and team–service edge gets a new name and key; none is lost, so the
    mass-delete guard (which counts them together, by what is left) lets the switch by."""
    run_full_sync(settings, redis_client=redis_client)
    switched = settings.model_copy(update={"graph_model": "jupiterone"})
    run, changes = run_full_sync(switched, redis_client=redis_client)
    assert run.outcome == "ok"
    assert {type_of_key(k) for k in changes.delete_relationships} == {
        "pagerduty_user_oncall_service",
        "pagerduty_team_assigned_service",
    }
    exported = LocalSink(settings.local_graph_path).read_graph().to_j1()
    assert exported == expected_export(sim.account, model="jupiterone")


def test_losing_the_team_edges_under_either_name_still_stops_the_sync(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    switched = settings.model_copy(update={"graph_model": "jupiterone"})
    run_full_sync(switched, redis_client=redis_client)
    for service_id in list(sim.account.services):
        sim.account.update_service(service_id, team_ids=[])
    with pytest.raises(FullSyncAborted, match="pagerduty_team_assigned_service"):
        run_full_sync(switched, redis_client=redis_client)


def test_webhook_and_oncall_paths_keep_the_jupiterone_model(
    make_stack: Callable[..., Stack],
) -> None:
    """A team move by webhook and an on-call refresh write MONITORS and service→team edges."""
    stack = make_stack(Account.generate(seed=5, users=40), env={"GRAPH_MODEL": "jupiterone"})
    account = stack.sim.account
    assert stack.export() == expected_export(account, model="jupiterone")
    teams = sorted(account.teams)
    service_id = sorted(account.services)[0]
    account.update_service(service_id, team_ids=[teams[-1]])
    stack.drain()
    assert stack.export() == expected_export(account, model="jupiterone")
    account.trigger_incident(service_id, "incident.triggered")
    stack.drain()
    jobs.refresh_all_oncalls()
    assert stack.export() == expected_export(account, model="jupiterone")
    keys = {r["_key"] for r in stack.export()["relationships"]}
    assert f"service:{service_id}|assigned|team:{teams[-1]}" in keys
