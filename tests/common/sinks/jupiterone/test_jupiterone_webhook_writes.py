"""The webhook path to JupiterOne: PATCH jobs for entities, DIFF jobs for deletes and edges."""

from __future__ import annotations

import pytest
import redis

from common.clients.pagerduty import PagerDutyClient
from common.config import Settings
from common.graph import ChangeSet
from common.objects import Build
from common.sinks import SinkError
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import PagerDutySim
from tests.common.sinks.jupiterone.helpers import (
    J1_KEY,
    full_sync,
    graph_of,
    make_j1_sink,
    record_of,
)
from tests.conftest import API_KEY
from tests.expected import expected_export
from tests.stack import Stack, retry_once
from worker import service_refresh


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


def diff_jobs(j1: JupiterOneSim) -> list[str]:
    return [job.id for job in j1.jobs.values() if job.mode == "DIFF"]


def test_delete_and_oncall_change_reach_jupiterone_in_diff_jobs_never_graphql(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    account = j1_stack.sim.account
    before = len(diff_jobs(j1))
    account.delete_service(service_of(j1_stack, 1))
    j1_stack.drain()
    assert graph_of(j1) == expected_export(account)
    assert len(diff_jobs(j1)) == before + 1  # the entity and its 4 edges: one DIFF job
    assert j1.calls["graphql mutations"] == j1.calls["graphql queryV1"] == 0  # no _id lookups

    j1.reset_calls()
    before = len(diff_jobs(j1))
    policy_id = account.services[service_of(j1_stack, 3)]["escalation_policy_id"]
    services = rotate(j1_stack, policy_id, sorted(account.users)[5])
    j1_stack.drain()
    assert j1.calls["POST jobs"] == len(diff_jobs(j1)) - before  # no PATCH: no entity changed
    assert 1 <= len(diff_jobs(j1)) - before < services  # the services' changes share DIFFs
    assert j1.total_calls() == j1.calls["POST jobs"] * 5  # start, 2 uploads, finalize, poll
    # The policy edit sends no webhook: its own edges come from the audit-records feed.
    j1_stack.poll_feed()
    assert graph_of(j1) == expected_export(account)


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


def test_lost_redis_records_converge_or_wait_for_the_full_sync(
    j1: JupiterOneSim, j1_settings: Settings, redis_client: redis.Redis, sim: PagerDutySim
) -> None:
    """The record forgot an edge it wrote; then the record is lost altogether."""
    sink = make_j1_sink(j1, redis_client, diff_window=(0.0, 0.0))
    record = record_of(redis_client)
    full_sync(j1_settings, redis_client, sink)
    account = sim.account
    pd = PagerDutyClient(API_KEY, sim.url)

    def refresh(service_id: str) -> None:  # a webhook job, and the flush job after it
        graph, _ = service_refresh.read_service_graph(pd, service_id, Build())
        service_refresh.write_service_graph(sink, service_id, graph)
        sink.flush()

    service_id = next(
        s for s in sorted(account.services) if sink.index_around(f"service:{s}").relationships
    )
    # An edge pdgraph wrote but no longer remembers: written again, no duplicate.
    forgotten = sorted(sink.index_around(f"service:{service_id}").relationships)[0]
    record.update([], [forgotten])
    account.update_service(service_id, name="renamed", team_ids=[])
    refresh(service_id)
    assert j1.graph().to_j1() == expected_export(account)
    assert sink.read_graph().to_j1() == expected_export(account)

    # The whole record lost: no DIFF may make the scope what is left of it.
    for key in redis_client.scan_iter(match=record.key("*")):
        redis_client.delete(key)
    before = j1.graph().to_j1()
    account.update_service(sorted(account.services)[2], team_ids=[])
    sink.apply(ChangeSet(delete_relationships=[forgotten]))
    with pytest.raises(SinkError, match="no full sync has built the record"):
        sink.flush()
    assert j1.graph().to_j1() == before
    full_sync(j1_settings, redis_client, sink)
    assert j1.graph().to_j1() == expected_export(account)


def test_the_jupiterone_key_never_reaches_logs_status_or_metrics(
    j1_stack: Stack,
    j1: JupiterOneSim,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import requests

    retry_once(monkeypatch)
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


def test_an_oncall_refresh_writes_every_service_in_one_diff_job(
    j1_stack: Stack, j1: JupiterOneSim
) -> None:
    from worker import jobs

    account = j1_stack.sim.account
    policies = sorted({s["escalation_policy_id"] for s in account.services.values()})[:3]
    for n, policy_id in enumerate(policies):
        account.rotate_oncall(policy_id, sorted(account.users)[20 + n])
    result = jobs.refresh_all_oncalls()
    assert result["services_changed"] >= 3
    j1_stack.drain()  # the DIFF job the refresh scheduled
    assert j1.calls["POST jobs"] == 1  # all services' edges in one DIFF job
    assert j1.calls["graphql mutations"] == j1.calls["graphql queryV1"] == 0
    j1_stack.poll_feed()  # the policies' own edges: the audit-records feed's
    assert graph_of(j1) == expected_export(account)
