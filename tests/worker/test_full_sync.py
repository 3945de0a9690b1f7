"""Full sync against the PagerDuty simulator, a real Redis and the SQLite sink."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from common.clients.pagerduty import (
    IncompleteListingError,
    PagerDutyClient,
    PagerDutyError,
    RetryPolicy,
)
from common.config import Settings
from common.graph import Entity, Graph, Relationship, diff
from common.objects import type_of_key
from common.objects.oncall import USER_ONCALL_SERVICE
from common.objects.service import SERVICE, SERVICE_USES_POLICY, TEAM_ASSIGNED_SERVICE, service_key
from common.objects.user import USER, user_key
from common.sinks.local import LocalSink
from common.state.full_sync import last_full_sync
from sim.pagerduty import Account, PagerDutySim
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from tests.expected import expected_export
from worker.full_sync import FullSyncAborted, mass_delete_refusal, run_full_sync


def env_for(sim: PagerDutySim, redis_url: str, graph_path: str, **extra: str) -> dict[str, str]:
    return {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
        **extra,
    }


def export(env: dict[str, str]) -> dict[str, object]:
    result = run_pdgraph("export", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_pdgraph_sync_then_export_equals_the_expected_graph(
    sim: PagerDutySim, redis_url: str, graph_path: str
) -> None:
    env = env_for(sim, redis_url, graph_path, ACCOUNT_NAME="Acme Ünïcode")
    result = run_pdgraph("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sync ok: read 60 users, 6 teams, 30 services")
    assert export(env) == expected_export(sim.account, "Acme Ünïcode")


def test_a_second_sync_applies_exactly_the_account_changes(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    run_full_sync(settings, redis_client=redis_client)
    account = sim.account
    service_id = next(iter(account.services))
    account.update_service(service_id, name="Renamed ✨ service")
    account.delete_user(next(iter(account.users)))
    account.delete_team(next(iter(account.teams)))
    run, changes = run_full_sync(settings, redis_client=redis_client)
    assert run.outcome == "ok"
    assert LocalSink(settings.local_graph_path).read_graph().to_j1() == expected_export(account)
    assert [e.key for e in changes.update_entities] == [f"service:{service_id}"]
    assert len(changes.delete_entities) == 2


def test_sync_is_recorded_for_status(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    run_full_sync(settings, redis_client=redis_client)
    last = last_full_sync(redis_client)
    assert last is not None
    assert last["outcome"] == "ok"
    assert last["read"] == {
        "users": 60,
        "teams": 6,
        "services": 30,
        "escalation_policies": len(sim.account.policies),
        "schedules": len(sim.account.schedules),
        "oncalls": len(
            {
                (
                    o["escalation_policy"]["id"],
                    o["escalation_level"],
                    o["user"]["id"],
                    (o["schedule"] or {}).get("id"),
                )
                for o in sim.account.oncalls_now()
            }
        ),
        # the catalog (business services, integrations, vendors, tags, maintenance
        # windows): none in the default account
        "business_services": 0,
        "integrations": 0,
        "vendors": 0,
        "tags": 0,
        "maintenance_windows": 0,
    }
    account = sim.account
    every = (account.users, account.teams, account.services, account.policies, account.schedules)
    assert last["changes"]["entities_created"] == sum(map(len, every))
    assert last["duration_s"] > 0 and last["pagerduty_requests"] >= 5


def test_failed_read_mid_sync_leaves_the_previous_graph_untouched(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    run_full_sync(settings, redis_client=redis_client)
    before = LocalSink(settings.local_graph_path).read_graph()
    sim.account.delete_service(next(iter(sim.account.services)))
    sim.inject("/oncalls", 500, times=100)  # users, teams, services read fine; on-calls fail
    client = PagerDutyClient(API_KEY, sim.url, retry=RetryPolicy(backoff_base=0.001))
    with pytest.raises(PagerDutyError, match="/oncalls: HTTP 500"):
        run_full_sync(settings, redis_client=redis_client, client=client)
    assert LocalSink(settings.local_graph_path).read_graph() == before
    last = last_full_sync(redis_client)
    assert last is not None and last["outcome"] == "failed" and "oncalls" in last["error"]


def test_mass_delete_is_refused_unless_allowed(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    run_full_sync(settings, redis_client=redis_client)
    before = LocalSink(settings.local_graph_path).read_graph()
    for user_id in list(sim.account.users)[:55]:
        sim.account.delete_user(user_id)
    for service_id in list(sim.account.services)[:25]:
        sim.account.delete_service(service_id)
    with pytest.raises(FullSyncAborted, match="more than half"):
        run_full_sync(settings, redis_client=redis_client)
    assert LocalSink(settings.local_graph_path).read_graph() == before
    assert last_full_sync(redis_client)["outcome"] == "aborted"  # type: ignore[index]
    run, _ = run_full_sync(settings, redis_client=redis_client, allow_mass_delete=True)
    assert run.outcome == "ok"
    assert LocalSink(settings.local_graph_path).read_graph().to_j1() == expected_export(sim.account)


def test_mass_delete_guard_in_the_cli(sim: PagerDutySim, redis_url: str, graph_path: str) -> None:
    env = env_for(sim, redis_url, graph_path)
    assert run_pdgraph("sync", env=env).returncode == 0
    for user_id in list(sim.account.users)[:58]:
        sim.account.delete_user(user_id)
    for service_id in list(sim.account.services)[:29]:
        sim.account.delete_service(service_id)
    refused = run_pdgraph("sync", env=env)
    assert refused.returncode == 1
    assert "sync aborted" in refused.stderr and "--allow-mass-delete" in refused.stderr
    assert run_pdgraph("sync", "--allow-mass-delete", env=env).returncode == 0
    assert export(env) == expected_export(sim.account)


def test_dry_run_prints_changes_and_writes_nothing(
    sim: PagerDutySim, redis_url: str, graph_path: str, redis_client: redis.Redis
) -> None:
    env = env_for(sim, redis_url, graph_path)
    assert run_pdgraph("sync", env=env).returncode == 0
    before = export(env)
    service_id = next(iter(sim.account.services))
    sim.account.update_service(service_id, description="changed since the last sync")
    recorded = last_full_sync(redis_client)
    result = run_pdgraph("sync", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert f"~ service:{service_id}" in result.stdout.splitlines()
    assert "dry run:" in result.stdout and "~1" in result.stdout
    assert export(env) == before
    assert last_full_sync(redis_client) == recorded


def test_sync_survives_rate_limiting(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    sim.inject("/users", 429, headers={"ratelimit-reset": "1"})
    sim.inject("/services", 429)  # no headers: backoff
    run, _ = run_full_sync(settings, redis_client=redis_client)
    assert run.outcome == "ok"
    assert LocalSink(settings.local_graph_path).read_graph().to_j1() == expected_export(sim.account)


def test_account_without_teams_feature_reads_no_teams(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    sim.inject("/abilities", 200, body={"abilities": ["urgencies"]})
    sim.inject("/teams", 402, times=10)  # would fail the sync if it were read
    run, _ = run_full_sync(settings, redis_client=redis_client)
    assert run.read["teams"] == 0
    assert sim.request_counts()["/teams"] == 0


@pytest.mark.slow
def test_account_past_10000_users_is_exported_completely(
    make_sim: Callable[..., PagerDutySim], redis_url: str, graph_path: str
) -> None:
    account = Account.generate(seed=11, users=10_600, teams=1_060, services=300)
    sim = make_sim(account)
    # > 960 requests (a read per schedule): the offset cap is under test, not the budget
    env = env_for(sim, redis_url, graph_path, PAGERDUTY_REQUESTS_PER_MINUTE="100000")
    result = run_pdgraph("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert "read 10,600 users" in result.stdout
    exported = export(env)
    expected = expected_export(account)
    assert len(exported["entities"]) == len(expected["entities"])  # type: ignore[arg-type]
    assert exported == expected


def test_drift_counts_only_what_webhooks_should_have_kept_current(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    first, _ = run_full_sync(settings, redis_client=redis_client)
    assert first.drift == 0  # populating an empty graph is not drift
    account = sim.account
    service_id = next(iter(account.services))
    account.update_service(service_id, name="renamed, webhook lost")  # webhooks' business
    account.delete_service(sorted(account.services)[-1])  # entity + its edges
    account.delete_user(next(iter(account.users)))  # no webhook exists for users: no drift
    second, changes = run_full_sync(settings, redis_client=redis_client)
    assert changes.summary()["entities_deleted"] == 2
    service_edges_gone = sum(
        1
        for k in changes.delete_relationships
        if type_of_key(k) in (TEAM_ASSIGNED_SERVICE, SERVICE_USES_POLICY)
    )
    # the rename, the deletion, its ASSIGNED and USES edges
    assert second.drift == 1 + 1 + service_edges_gone


EMPTY_TEAMS = {"teams": [], "limit": 100, "offset": 0, "more": False, "total": 0}


def test_an_empty_teams_listing_aborts_the_sync_and_deletes_nothing(
    sim: PagerDutySim, settings: Settings, redis_client: redis.Redis
) -> None:
    """`/teams` answering 200 with no team: every team goes, well under half of the graph."""
    run_full_sync(settings, redis_client=redis_client)
    before = LocalSink(settings.local_graph_path).read_graph()
    sim.inject("/teams", 200, times=10, body=EMPTY_TEAMS)
    with pytest.raises(FullSyncAborted) as refused:
        run_full_sync(settings, redis_client=redis_client)
    message = str(refused.value)
    assert "pagerduty_team (6 of 6, none left)" in message
    assert "more than half of the graph" not in message  # the whole-graph rule let it pass
    assert "nothing was changed" in message and "--allow-mass-delete" in message
    assert LocalSink(settings.local_graph_path).read_graph() == before
    assert last_full_sync(redis_client)["outcome"] == "aborted"  # type: ignore[index]


def test_an_empty_teams_listing_in_the_cli_stops_the_sync_and_the_dry_run_says_so(
    sim: PagerDutySim, redis_url: str, graph_path: str
) -> None:
    env = env_for(sim, redis_url, graph_path)
    assert run_pdgraph("sync", env=env).returncode == 0
    before = export(env)
    sim.inject("/teams", 200, times=10, body=EMPTY_TEAMS)
    planned = run_pdgraph("sync", "--dry-run", env=env)
    assert planned.returncode == 0, planned.stderr
    assert f"- team:{next(iter(sim.account.teams))}" in planned.stdout.splitlines()
    guard = planned.stdout.splitlines()[-1]
    assert guard.startswith("the real run would be stopped by the mass-delete guard: ")
    assert "pagerduty_team (6 of 6, none left)" in guard
    refused = run_pdgraph("sync", env=env)
    assert refused.returncode == 1
    assert "sync aborted" in refused.stderr and "pagerduty_team (6 of 6" in refused.stderr
    assert export(env) == before
    assert run_pdgraph("sync", "--allow-mass-delete", env=env).returncode == 0
    entities: list[dict[str, str]] = export(env)["entities"]  # type: ignore[assignment]
    assert not [e for e in entities if e["_type"] == "pagerduty_team"]


@pytest.fixture
def big_settings(
    make_sim: Callable[..., PagerDutySim], settings: Settings
) -> tuple[PagerDutySim, Settings]:
    """An account whose users and on-calls take more than one page each (250 and 125)."""
    big = make_sim(Account.generate(seed=5, users=250))
    return big, settings.model_copy(update={"pagerduty_api_url": big.url})


@pytest.mark.parametrize("path", ["/users", "/oncalls"])
def test_a_failed_later_page_aborts_the_sync_and_writes_nothing(
    big_settings: tuple[PagerDutySim, Settings], redis_client: redis.Redis, path: str
) -> None:
    big, settings = big_settings
    run_full_sync(settings, redis_client=redis_client)
    before = LocalSink(settings.local_graph_path).read_graph()
    big.account.delete_service(next(iter(big.account.services)))  # a change to write
    big.inject(path, 500, after=1, times=1_000)  # the first page (and total) read fine
    client = PagerDutyClient(API_KEY, big.url, retry=RetryPolicy(backoff_base=0.001))
    with pytest.raises(PagerDutyError, match=f"{path}: HTTP 500"):  # the cause, not "partial"
        run_full_sync(settings, redis_client=redis_client, client=client)
    assert big.request_counts()[path] > 1  # a later page was asked for, and failed
    assert LocalSink(settings.local_graph_path).read_graph() == before


@pytest.mark.parametrize(("path", "key"), [("/users", "users"), ("/oncalls", "oncalls")])
def test_a_later_page_answering_short_aborts_the_sync(
    big_settings: tuple[PagerDutySim, Settings], redis_client: redis.Redis, path: str, key: str
) -> None:
    """A 200 page with nothing on it: the listing is checked against its `total`."""
    big, settings = big_settings
    run_full_sync(settings, redis_client=redis_client)
    before = LocalSink(settings.local_graph_path).read_graph()
    big.account.delete_service(next(iter(big.account.services)))
    big.inject(path, 200, after=1, times=1_000, body={key: [], "more": False})
    with pytest.raises(IncompleteListingError, match=f"GET {path}: reached 100 of"):
        run_full_sync(settings, redis_client=redis_client)
    assert LocalSink(settings.local_graph_path).read_graph() == before
    assert last_full_sync(redis_client)["outcome"] == "failed"  # type: ignore[index]


def guard_graph(users: list[str], oncall: list[tuple[str, str]]) -> Graph:
    """Users, two services (PSERVICE1, PSERVICE2), ONCALL edges (user, service)."""

    def entity(key: str, type_: str, class_: str) -> Entity:
        names = {"name": key, "displayName": key}
        return Entity(key=key, type=type_, class_=class_, properties=names)

    entities = [entity(user_key(u), USER, "User") for u in users]
    entities += [entity(service_key(s), SERVICE, "Service") for s in ("PSERVICE1", "PSERVICE2")]
    edges = [
        Relationship.between(USER_ONCALL_SERVICE, "ONCALL", user_key(u), service_key(s))
        for u, s in oncall
    ]
    return Graph.of(entities, edges)


def refusal(old: Graph, new: Graph) -> str | None:
    return mass_delete_refusal(old.index(), diff(old, new))


USERS = [f"PUSER{n}" for n in range(1, 9)]
ON_CALL = [(USERS[n], f"PSERVICE{1 + n // 2}") for n in range(4)]  # users 1-4 on call


def test_a_handoff_replacing_every_oncall_edge_is_not_a_mass_delete() -> None:
    """On-call edges are keyed by user: a rotation deletes them all and creates as many."""
    handed_off = [(USERS[4 + n], service) for n, (_, service) in enumerate(ON_CALL)]
    assert refusal(guard_graph(USERS, ON_CALL), guard_graph(USERS, handed_off)) is None
    assert refusal(guard_graph(USERS, ON_CALL), guard_graph(USERS, ON_CALL[:2])) is None


def test_the_guard_counts_what_each_type_loses() -> None:
    before = guard_graph(USERS, ON_CALL)
    no_oncall = refusal(before, guard_graph(USERS, []))
    assert no_oncall is not None
    assert (
        "pagerduty_user_oncall_service/pagerduty_user_monitors_service (4 of 4, none left)"
        in no_oncall
    )
    assert "more than half of the graph" not in no_oncall  # 4 of 14 objects
    one_left = refusal(before, guard_graph(USERS, ON_CALL[:1]))
    assert (
        one_left is not None
        and "pagerduty_user_oncall_service/pagerduty_user_monitors_service (3 of 4, 1 left)"
        in one_left
    )
    # Users are deleted for good, however many new ones come: 5 of 8 is a mass deletion.
    newcomers = [f"PNEWUSER{n}" for n in range(5)]
    users = refusal(before, guard_graph([*USERS[:3], *newcomers], []))
    assert users is not None and "pagerduty_user (5 of 8, 8 left)" in users
    assert refusal(before, guard_graph([*USERS[:4], *newcomers], ON_CALL)) is None  # 4 of 8
