"""GRAPH_SINK=jupiterone against the JupiterOne simulator, over real sockets and a real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from common.config import Settings
from common.graph import Entity, diff
from common.http import RetryPolicy
from common.jupiterone import JupiterOneClient
from common.pagerduty import PagerDutyClient
from common.sinks import SinkError, make_sink
from common.sinks.jupiterone import JupiterOneSink
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import Account, PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from tests.expected import expected_export
from tests.stack import Stack
from worker.full_sync import run_full_sync

J1_ACCOUNT = "j1-test-account"
J1_KEY = "j1-test-key-0123456789"
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)


@pytest.fixture
def j1() -> Iterator[JupiterOneSim]:
    with JupiterOneSim(J1_ACCOUNT, J1_KEY) as sim:
        yield sim


def j1_env(j1: JupiterOneSim) -> dict[str, str]:
    return {
        "GRAPH_SINK": "jupiterone",
        "JUPITERONE_ACCOUNT_ID": J1_ACCOUNT,
        "JUPITERONE_API_KEY": J1_KEY,
        "JUPITERONE_API_URL": j1.api_url,
        "JUPITERONE_GRAPHQL_URL": j1.graphql_url,
    }


def make_j1_sink(j1: JupiterOneSim, connection: redis.Redis, **kwargs: Any) -> JupiterOneSink:
    client = JupiterOneClient(J1_ACCOUNT, J1_KEY, j1.api_url, j1.graphql_url, retry=FAST)
    return JupiterOneSink(client, connection, "pagerduty", **kwargs)


@pytest.fixture
def j1_settings(settings: Settings, j1: JupiterOneSim) -> Settings:
    return settings.model_copy(
        update={
            "graph_sink": "jupiterone",
            "jupiterone_account_id": J1_ACCOUNT,
            "jupiterone_api_key": settings.pagerduty_api_key.__class__(J1_KEY),
            "jupiterone_api_url": j1.api_url,
            "jupiterone_graphql_url": j1.graphql_url,
        }
    )


def full_sync(settings: Settings, client: redis.Redis, sink: JupiterOneSink) -> None:
    run_full_sync(settings, redis_client=client, sink=sink, allow_mass_delete=True)


# -- the full sync: one DIFF job -------------------------------------------------------


def test_full_sync_writes_the_expected_graph_and_a_second_deletes_exactly_what_went(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert j1.calls["POST jobs"] == 1 and j1.calls["POST finalize"] == 1
    assert sink.read_graph().to_j1() == expected_export(sim.account)  # the mirror agrees
    ids_before = {k: e["_id"] for k, e in j1.scopes["pagerduty"].entities.items()}
    before = j1.graph()

    account = sim.account
    gone_service = sorted(account.services)[0]
    gone_user = sorted(account.users)[-1]
    account.delete_service(gone_service)
    account.delete_user(gone_user)
    full_sync(j1_settings, redis_client, sink)

    after = j1.graph()
    assert after.to_j1() == expected_export(account)
    removed = set(before.entities) - set(after.entities)
    assert removed == {f"service:{gone_service}", f"user:{gone_user}"}
    assert not set(after.relationships) - set(before.relationships)
    # Everything else kept its JupiterOne _id: updated in place, never deleted and re-created.
    ids_after = {k: e["_id"] for k, e in j1.scopes["pagerduty"].entities.items()}
    assert all(ids_before[k] == v for k, v in ids_after.items())


def synced_then_changed(
    j1: JupiterOneSim, settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> tuple[JupiterOneSink, dict[str, Any]]:
    """A sink after one full sync, the graph it wrote, and PagerDuty changed since."""
    sink = make_j1_sink(j1, redis_client)
    full_sync(settings, redis_client, sink)
    before = j1.graph().to_j1()
    sim.account.delete_service(sorted(sim.account.services)[0])
    return sink, before


def test_an_upload_failure_aborts_the_job_and_leaves_the_previous_graph(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink, before = synced_then_changed(j1, j1_settings, redis_client, sim)
    # The entity upload passes, the relationship upload is refused.
    j1.inject("/persister/synchronization/jobs/", 400, after=1, body={"error": {"code": "X"}})
    with pytest.raises(SinkError, match="aborted, nothing in scope 'pagerduty' was deleted"):
        full_sync(j1_settings, redis_client, sink)
    last_job = list(j1.jobs.values())[-1]
    assert last_job.status == "ABORTED" and last_job.uploads == 1
    assert j1.graph().to_j1() == before
    assert sink.read_graph().to_j1() == before  # the mirror was not moved either


def test_a_job_that_ends_in_error_fails_the_sync_and_says_so(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    sink, before = synced_then_changed(j1, j1_settings, redis_client, sim)
    j1.inject(
        "/persister/synchronization/jobs/",
        200,
        after=3,  # entities, relationships, finalize pass; the first poll says ERROR_BAD_DATA
        body={"job": {"id": "x", "status": "ERROR_BAD_DATA"}},
    )
    with pytest.raises(SinkError, match=r"finalized but did not finish .*ERROR_BAD_DATA"):
        full_sync(j1_settings, redis_client, sink)
    assert list(j1.jobs.values())[-1].status == "ABORTED"
    assert j1.graph().to_j1() == before
    assert sink.read_graph().to_j1() == before


def test_a_slow_finalize_is_polled_until_finished(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.finalize_seconds = 0.4  # FINALIZE_PENDING for a while, as JupiterOne takes its time
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert j1.calls["GET job"] >= 3  # polled with growing pauses, not hammered
    assert j1.calls["GET job"] <= 6


def test_a_413_splits_the_batch_and_every_object_still_arrives(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.max_body = 20_000
    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    job = list(j1.jobs.values())[-1]
    assert job.uploads > 4  # many small bodies
    assert j1.calls["POST entities"] > job.uploads // 2  # the 413s were answered too


def test_429_waits_for_ratelimit_reset_and_the_sync_completes(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    j1.inject(
        "/persister/synchronization/jobs",
        429,
        times=2,
        headers={"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
    )
    slept: list[float] = []
    client = JupiterOneClient(
        J1_ACCOUNT, J1_KEY, j1.api_url, j1.graphql_url, retry=FAST, sleep=slept.append
    )
    sink = JupiterOneSink(client, redis_client, "pagerduty")
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(sim.account)
    assert client.rate_limited == 2
    assert len(slept) >= 2 and all(0.9 < s <= 1.0 for s in slept[:2])  # RateLimit-Reset: 1


def test_a_429_pauses_every_process_of_the_account(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """The pause is kept in Redis: another worker's next request waits it out too."""
    import time

    from common.ratelimit import RedisRequestBudget

    def client() -> JupiterOneClient:
        budget = RedisRequestBudget(redis_client, "jupiterone:test", limit=1_000_000)
        return JupiterOneClient(
            J1_ACCOUNT, J1_KEY, j1.api_url, j1.graphql_url, retry=FAST, budget=budget
        )

    first, second = client(), client()
    j1.inject("/graphql", 429, times=1, headers={"RateLimit-Reset": "1"})
    first.query("FIND * WITH _scope = 'pagerduty' LIMIT 1")  # 429, waits, succeeds
    assert first.rate_limited == 1
    j1.inject("/graphql", 429, times=1, headers={"RateLimit-Reset": "1"})
    paused = threading.Thread(target=first.query, args=("FIND * WITH _scope = 'x' LIMIT 1",))
    paused.start()
    time.sleep(0.3)  # the first worker hit the 429 and paused the account
    started = time.monotonic()
    second.query("FIND * WITH _scope = 'pagerduty' LIMIT 1")
    assert time.monotonic() - started > 0.4  # the second waited without a 429 of its own
    assert second.rate_limited == 0
    paused.join(5)


def test_the_simulator_rate_limits_with_ratelimit_headers(j1: JupiterOneSim) -> None:
    import requests

    j1.rate_limit, j1.rate_window = 2, 30.0
    headers = {"Authorization": f"Bearer {J1_KEY}", "JupiterOne-Account": J1_ACCOUNT}
    url = f"{j1.url}/persister/synchronization/jobs/nope"
    codes = [requests.get(url, headers=headers, timeout=5) for _ in range(3)]
    assert [r.status_code for r in codes] == [404, 404, 429]
    assert int(codes[-1].headers["RateLimit-Reset"]) >= 1
    assert codes[-1].headers["RateLimit-Remaining"] == "0"


def test_the_simulator_enforces_the_validation_rules(j1: JupiterOneSim) -> None:
    client = JupiterOneClient(J1_ACCOUNT, J1_KEY, j1.api_url, j1.graphql_url, retry=FAST)
    job = client.start_job("pagerduty", "PATCH")
    good = {"_key": "service:PABCDEF", "_type": "pagerduty_service", "_class": "Service"}
    bad = [
        {**good, "_key": "short"},
        {**good, "nested": {"a": 1}},
        {**good, "_custom": "x"},
        {**good, "_class": "service"},
        {**good, "mixed": [1, "a"]},
    ]
    for obj in bad:
        with pytest.raises(Exception, match="BAD_DATA"):
            client.upload(job, "entities", [obj])
    rel = {**good, "_class": "HAS", "_fromEntityKey": "team:PAAAAAA", "_toEntityKey": good["_key"]}
    with pytest.raises(Exception, match="PATCH sync jobs do not accept relationships"):
        client.upload(job, "relationships", [rel])


# -- the webhook path: PATCH jobs and GraphQL ------------------------------------------------


@pytest.fixture
def j1_stack(make_stack: Callable[..., Stack], j1: JupiterOneSim) -> Stack:
    stack = make_stack(Account.generate(seed=21, users=80), env=j1_env(j1))
    j1.reset_calls()
    return stack


def graph_of(j1: JupiterOneSim) -> dict[str, Any]:
    return j1.graph().to_j1()


def service_of(stack: Stack, index: int = 0) -> str:
    return sorted(stack.sim.account.services)[index]


def test_a_rename_costs_one_patch_job_and_no_graphql(j1_stack: Stack, j1: JupiterOneSim) -> None:
    service_id = service_of(j1_stack)
    j1_stack.sim.account.update_service(service_id, name="Renamed · 名前 ✨")
    j1_stack.drain()
    assert graph_of(j1) == expected_export(j1_stack.sim.account)
    assert j1.calls == {"POST jobs": 1, "POST entities": 1, "POST finalize": 1, "GET job": 1}


def rotate(stack: Stack, policy_id: str, user_id: str) -> int:
    """Hand the policy to `user_id` and escalate an incident on each of its services."""
    account = stack.sim.account
    account.rotate_oncall(policy_id, user_id)
    services = [s for s, v in account.services.items() if v["escalation_policy_id"] == policy_id]
    for service_id in services:
        account.trigger_incident(service_id, "incident.escalated")
    return len(services)


def test_delete_and_oncall_change_reach_jupiterone_through_graphql(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    account = j1_stack.sim.account
    account.delete_service(service_of(j1_stack, 1))
    j1_stack.drain()
    assert graph_of(j1) == expected_export(account)
    # 4 edges and the entity: one J1QL lookup per kind, one request of five mutations.
    assert j1.calls == {"graphql queryV1": 2, "graphql mutations": 1}

    j1.reset_calls()
    policy_id = account.services[service_of(j1_stack, 3)]["escalation_policy_id"]
    services = rotate(j1_stack, policy_id, sorted(account.users)[5])
    j1_stack.drain()
    assert graph_of(j1) == expected_export(account)
    assert j1.calls["POST jobs"] == 0  # no entity was created or updated
    assert j1.calls["graphql mutations"] == services  # one request per service's change set

    # The _ids are cached now: handing back needs no lookup at all.
    j1.reset_calls()
    rotate(j1_stack, policy_id, sorted(account.users)[6])
    j1_stack.drain()
    assert graph_of(j1) == expected_export(account)
    assert j1.calls["graphql mutations"] == services
    assert j1.calls["graphql queryV1"] <= 1  # only the new user's entity _id, if any


def test_a_created_service_gets_its_entity_and_edges(j1_stack: Stack, j1: JupiterOneSim) -> None:
    account = j1_stack.sim.account
    new_id = account.add_service(
        "brand-new-service",
        escalation_policy_id=sorted(account.policies)[0],
        team_ids=sorted(account.teams)[:2],
    )
    j1_stack.drain()
    assert graph_of(j1) == expected_export(account)
    assert f"service:{new_id}" in j1.graph().entities


def test_an_event_that_changes_nothing_makes_no_jupiterone_call(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    j1_stack.sim.account.update_service(service_of(j1_stack))  # nothing changed
    j1_stack.sim.account.trigger_incident(service_of(j1_stack, 4))
    j1_stack.drain()
    assert j1_stack.re_reads(service_of(j1_stack)) == 1  # it did look
    assert j1.total_calls() == 0


def service_entity(n: int, name: str | None = None) -> Entity:
    name = name or f"svc {n}"
    return Entity(
        key=f"service:PSHARED{n}",
        type="pagerduty_service",
        class_="Service",
        properties={"name": name, "displayName": name},
    )


def write(sink: JupiterOneSink, entity: Entity) -> Any:
    """The change set a webhook job computes for one entity (diffed around its key)."""
    return diff(sink.index_around(entity.key), _graph_with(entity))


def test_writers_within_the_patch_window_share_one_job(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """The synchronous path (an entity a new edge needs): concurrent writers, one job."""
    sinks = [make_j1_sink(j1, redis_client, patch_window=0.3) for _ in range(5)]
    threads = [
        threading.Thread(target=s.patch_entities, args=([service_entity(n)],))
        for n, s in enumerate(sinks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert j1.calls["POST jobs"] == 1
    assert set(j1.graph().entities) == {f"service:PSHARED{n}" for n in range(5)}


def test_updates_are_written_behind_in_one_patch_job_per_window(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    for n in range(20):  # 20 webhook jobs' changes, one of them twice
        sink.apply(write(sink, service_entity(n)))
    sink.apply(write(sink, service_entity(3, "renamed again")))
    assert j1.total_calls() == 0  # nothing sent yet: the webhook jobs are done already
    registry = ScheduledJobRegistry(queue=Queue("pdgraph-webhooks", connection=redis_client))
    assert len(registry.get_job_ids()) == 1  # one flush job for the window
    assert sink.flush_pending() == 20
    assert j1.calls == {"POST jobs": 1, "POST entities": 1, "POST finalize": 1, "GET job": 1}
    assert j1.graph().entities["service:PSHARED3"].properties["name"] == "renamed again"
    assert set(sink.index().entities) == set(j1.graph().entities)  # remembered once written
    assert sink.flush_pending() == 0


def test_a_change_undone_before_the_flush_is_not_written(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1, "original")))
    sink.flush_pending()
    sink.apply(write(sink, service_entity(1, "renamed")))
    back = diff(sink.index_around("service:PSHARED1"), _graph_with(service_entity(1, "original")))
    assert back  # compared with the buffered rename, not with what was last written
    sink.apply(back)
    sink.flush_pending()
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "original"


def test_a_failed_flush_keeps_the_changes_for_its_retry(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1)))
    j1.inject("/persister/synchronization/jobs/", 400, times=1)
    with pytest.raises(SinkError, match="PATCH job"):
        sink.flush_pending()
    assert "service:PSHARED1" not in sink.mirror.index().entities  # not taken as written
    sink.apply(write(sink, service_entity(1, "newer")))  # meanwhile
    assert sink.flush_pending() == 1  # the retry sends the newest state of the key
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "newer"


def test_a_failed_shared_patch_job_fails_every_writer_that_shared_it(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    sink = make_j1_sink(j1, redis_client, patch_window=0.01)
    j1.inject("/persister/synchronization/jobs/", 400, times=10)
    with pytest.raises(SinkError, match="PATCH job"):
        sink.patch_entities([service_entity(9)])


def _graph_with(entity: Entity) -> Any:
    from common.graph import Graph

    return Graph.of([entity], [])


# -- configuration and `pdgraph check` ----------------------------------------------------


def test_make_sink_builds_the_jupiterone_sink(
    j1_settings: Settings, redis_client: redis.Redis
) -> None:
    sink = make_sink(j1_settings, redis_client)
    assert isinstance(sink, JupiterOneSink)
    sink.check()
    assert J1_KEY not in repr(sink) + repr(sink.client)


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"JUPITERONE_API_KEY": "wrong-key-0123456789"}, "JUPITERONE_API_KEY was rejected"),
        ({"JUPITERONE_ACCOUNT_ID": "someone-else"}, "not valid for JUPITERONE_ACCOUNT_ID"),
        ({"JUPITERONE_GRAPHQL_URL": "http://127.0.0.1:9/graphql"}, "JUPITERONE_GRAPHQL_URL"),
        ({"JUPITERONE_API_URL": "http://127.0.0.1:9"}, "JUPITERONE_API_URL"),
    ],
)
def test_pdgraph_check_says_which_jupiterone_setting_is_wrong(
    j1: JupiterOneSim,
    sim: PagerDutySim,
    redis_url: str,
    graph_path: str,
    override: dict,
    names: str,
) -> None:
    from tests.conftest import API_KEY

    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        **j1_env(j1),
        **override,
    }
    result = run_pdgraph("check", env=env)
    assert result.returncode == 1, result.stderr
    assert names in result.stderr
    assert J1_KEY not in result.stdout + result.stderr
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
    good = run_pdgraph("check", env={**env, **j1_env(j1)})
    assert good.returncode == 0, good.stderr
    assert "ok    sink (jupiterone)" in good.stdout


def test_lost_redis_records_converge_instead_of_failing(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    """The mirror forgot an edge it wrote, and holds a stale _id for another."""
    from worker import incremental

    sink = make_j1_sink(j1, redis_client)
    full_sync(j1_settings, redis_client, sink)
    account = sim.account
    pd = PagerDutyClient(API_KEY, sim.url)

    def refresh(service_id: str) -> None:  # a webhook job, and the flush job after it
        graph, _ = incremental.read_service_graph(pd, sink, service_id, None)
        incremental.write_service_graph(sink, service_id, graph)
        sink.flush_pending()

    def edges(service_id: str, kind: str) -> list[str]:
        around = sink.index_around(f"service:{service_id}").relationships
        return sorted(k for k in around if f"|{kind}|" in k)

    service_id = next(s for s in sorted(account.services) if edges(s, "assigned"))
    # An edge pdgraph wrote but no longer remembers: re-created → "already exists".
    forgotten = sorted(sink.index_around(f"service:{service_id}").relationships)[0]
    sink.mirror.record([], [forgotten])
    account.update_service(service_id, name="renamed")
    refresh(service_id)
    assert forgotten in sink.index().relationships
    assert j1.graph().to_j1() == expected_export(account)

    # A stale _id for an edge that must go: the delete fails once and forgets the _id,
    # the retry looks it up again.
    stale = edges(service_id, "assigned")[0]
    sink.mirror.remember_ids({stale: "no-such-relationship-id"})
    account.update_service(service_id, team_ids=[])
    with pytest.raises(SinkError, match="not found"):
        refresh(service_id)
    refresh(service_id)
    assert j1.graph().to_j1() == expected_export(account)
    assert sink.read_graph().to_j1() == expected_export(account)


def test_the_jupiterone_key_never_reaches_logs_status_or_metrics(
    j1_stack: Stack,
    j1: JupiterOneSim,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import requests
    from rq import Retry

    import common.queueing
    import web.app

    monkeypatch.setattr(web.app, "WEBHOOK_RETRY", Retry(max=1, interval=[0]))
    monkeypatch.setattr(common.queueing, "REFRESH_RETRY", Retry(max=1, interval=[0]))
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    j1.inject("/persister", 401, times=100)
    j1_stack.sim.account.update_service(service_of(j1_stack), name="fails at JupiterOne")
    j1_stack.drain()
    base = j1_stack.receiver_url.removesuffix("/webhooks/pagerduty")
    pages = [requests.get(f"{base}/{page}", timeout=5).text for page in ("status", "metrics")]
    out, err = capfd.readouterr()
    assert "JupiterOne rejected the credentials" in out + err  # the failure is logged ...
    for text in (out, err, *pages):
        assert J1_KEY not in text  # ... without the key


def test_an_oncall_refresh_writes_every_service_in_one_graphql_request(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    from worker import jobs

    account = j1_stack.sim.account
    policies = sorted({s["escalation_policy_id"] for s in account.services.values()})[:3]
    for n, policy_id in enumerate(policies):
        account.rotate_oncall(policy_id, sorted(account.users)[20 + n])
    result = jobs.refresh_all_oncalls()
    assert result["services_changed"] >= 3
    assert graph_of(j1) == expected_export(account)
    assert j1.calls["graphql mutations"] == 1  # all services' edges in one request
    assert j1.calls["graphql queryV1"] <= 2  # one _id lookup per kind
    assert j1.calls["POST jobs"] == 0


def test_flushes_never_overlap_so_the_newest_write_lands_last(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    """A slow PATCH job in flight; a newer write's flush waits for it instead of racing."""
    sink, other = make_j1_sink(j1, redis_client), make_j1_sink(j1, redis_client)
    sink.apply(write(sink, service_entity(1, "older")))
    j1.slow_down("/persister/synchronization/jobs/", 0.5, times=1)  # the first upload
    first = threading.Thread(target=sink.flush_pending)
    first.start()
    time.sleep(0.2)  # the first flush has taken "older" and is uploading it
    other.apply(write(other, service_entity(1, "newer")))
    assert other.flush_pending() == 1  # waited for the first, then sent "newer"
    first.join(10)
    assert j1.graph().entities["service:PSHARED1"].properties["name"] == "newer"


def test_status_shows_changes_waiting_for_the_next_patch_job(
    j1: JupiterOneSim, redis_client: redis.Redis
) -> None:
    from web.status import collect_status

    sink = make_j1_sink(j1, redis_client)
    for n in range(3):
        sink.apply(write(sink, service_entity(n)))
    assert collect_status(redis_client, sink)["graph"]["waiting_writes"] == 3
    sink.flush_pending()
    assert collect_status(redis_client, sink)["graph"]["waiting_writes"] == 0
