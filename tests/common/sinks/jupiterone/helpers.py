"""What the JupiterOne sink tests share: the simulator's account, sinks, one-entity changes."""

from __future__ import annotations

from typing import Any

import redis

from common.clients.http import RetryPolicy
from common.clients.jupiterone import JupiterOneClient
from common.config import Settings
from common.graph import ChangeSet, Entity, Graph, diff
from common.sinks.jupiterone import JupiterOneRecord, JupiterOneSink
from sim.jupiterone import JupiterOneSim
from worker.flush import flush_scheduler
from worker.full_sync import run_full_sync

J1_ACCOUNT = "j1-test-account"
J1_KEY = "j1-test-key-0123456789"
SCOPE = "pagerduty"
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)


def j1_env(j1: JupiterOneSim) -> dict[str, str]:
    return {
        "GRAPH_SINK": "jupiterone",
        "JUPITERONE_ACCOUNT_ID": J1_ACCOUNT,
        "JUPITERONE_API_KEY": J1_KEY,
        "JUPITERONE_API_URL": j1.api_url,
        "JUPITERONE_GRAPHQL_URL": j1.graphql_url,
    }


def j1_client(j1: JupiterOneSim, **kwargs: Any) -> JupiterOneClient:
    return JupiterOneClient(J1_ACCOUNT, J1_KEY, j1.api_url, j1.graphql_url, retry=FAST, **kwargs)


def make_j1_sink(
    j1: JupiterOneSim, connection: redis.Redis, *, write_behind: bool = True, **kwargs: Any
) -> JupiterOneSink:
    """The sink as a worker builds it: entity writes behind, flushed by a scheduled job."""
    schedule_flush = flush_scheduler(connection) if write_behind else None
    return JupiterOneSink(j1_client(j1), connection, SCOPE, schedule_flush=schedule_flush, **kwargs)


def record_of(connection: redis.Redis) -> JupiterOneRecord:
    """The Redis record the test sinks keep (to read or damage it as a lost write would)."""
    return JupiterOneRecord(connection, J1_ACCOUNT, SCOPE)


def full_sync(settings: Settings, client: redis.Redis, sink: JupiterOneSink) -> None:
    run_full_sync(settings, redis_client=client, sink=sink, allow_mass_delete=True)


def graph_of(j1: JupiterOneSim) -> dict[str, Any]:
    return j1.graph().to_j1()


def service_entity(n: int, name: str | None = None) -> Entity:
    name = name or f"svc {n}"
    return Entity(
        key=f"service:PSHARED{n}",
        type="pagerduty_service",
        class_="Service",
        properties={"name": name, "displayName": name},
    )


def write(sink: JupiterOneSink, entity: Entity) -> ChangeSet:
    """The change set a webhook job computes for one entity (diffed around its key)."""
    return diff(sink.index_around(entity.key), Graph.of([entity], []))


def whole_account(j1: JupiterOneSim) -> dict[str, Any]:
    """Every scope of the account (and GraphQL edges filed in none) as one export; asserts
    that no `_key` is held twice anywhere (a duplicate edge would hide in the export)."""
    held = j1.account()
    for kind in ("entities", "relationships"):
        keys = [o["_key"] for o in held[kind]]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        assert not duplicates, f"{len(duplicates)} duplicate {kind}: {duplicates[:5]}"
    return Graph.from_j1(
        {
            kind: [{k: v for k, v in o.items() if k != "_scope"} for o in held[kind]]
            for kind in ("entities", "relationships")
        }
    ).to_j1()
