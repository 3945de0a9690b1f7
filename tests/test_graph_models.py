"""GRAPH_MODEL=seed|jupiterone through the full sync and the webhook/on-call paths."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from common.config import Settings
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


def test_switching_models_needs_allow_mass_delete_once(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    """Every on-call and team–service edge is replaced: the guard stops it, as documented."""
    run_full_sync(settings, redis_client=redis_client)
    switched = settings.model_copy(update={"graph_model": "jupiterone"})
    with pytest.raises(FullSyncAborted, match="pagerduty_user_oncall_service"):
        run_full_sync(switched, redis_client=redis_client)
    run, _ = run_full_sync(switched, redis_client=redis_client, allow_mass_delete=True)
    assert run.outcome == "ok"
    exported = LocalSink(settings.local_graph_path).read_graph().to_j1()
    assert exported == expected_export(sim.account, model="jupiterone")


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
