"""End to end: change the simulated account → signed webhook → receiver → Redis → worker →
graph, compared with the expected graph of the account."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from common.config import Settings
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import RedisServer
from tests.conftest import API_KEY
from tests.expected import expected_export
from tests.read_tokens import JSON_AUTHORIZED, READ_TOKEN
from tests.stack import WEBHOOK_SECRET, Stack, configure_env, retry_once
from worker.coalescing import COALESCE_SECONDS
from worker.rqworker import PromptSimpleWorker


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(Account.generate(seed=21, users=80), env={"READ_TOKENS": READ_TOKEN})


def some_service(stack: Stack, index: int = 0) -> str:
    return sorted(stack.sim.account.services)[index]


def test_service_rename_reaches_the_graph(stack: Stack) -> None:
    service_id = some_service(stack)
    stack.sim.account.update_service(service_id, name="Renamed · 名前 ✨")
    assert stack.sender.deliveries[-1].statuses == [202]
    stack.drain()
    assert stack.export() == expected_export(stack.sim.account)
    assert stack.re_reads(service_id) == 1


def test_create_delete_team_change_and_oncall_rotation_converge(stack: Stack) -> None:
    account = stack.sim.account
    teams = sorted(account.teams)
    new_id = account.add_service(
        "brand-new-service", escalation_policy_id=sorted(account.policies)[0], team_ids=teams[:2]
    )
    account.delete_service(some_service(stack, 1))
    account.update_service(some_service(stack, 2), team_ids=[teams[3]])
    # On-call changes send no webhook; an incident on the service is when pdgraph looks.
    policy_id = account.services[some_service(stack, 3)]["escalation_policy_id"]
    account.rotate_oncall(policy_id, sorted(account.users)[5])
    for service_id, service in list(account.services.items()):
        if service["escalation_policy_id"] == policy_id:
            account.trigger_incident(service_id, "incident.escalated")
    stack.drain()
    # The policy edit sends no webhook: its own edges come from the audit-records feed.
    stack.poll_feed()
    assert stack.export() == expected_export(account)
    assert f"service:{new_id}" in {e["_key"] for e in stack.export()["entities"]}


def test_an_event_that_changes_nothing_writes_nothing(stack: Stack) -> None:
    watcher = sqlite3.connect(stack.settings.local_graph_path)
    version = watcher.execute("PRAGMA data_version").fetchone()[0]
    stack.sim.account.update_service(some_service(stack))  # service.updated, nothing changed
    stack.sim.account.trigger_incident(some_service(stack, 4))
    stack.drain()
    assert stack.re_reads(some_service(stack)) == 1  # it did look
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == version  # and wrote nothing


def test_duplicate_deliveries_are_processed_once(stack: Stack) -> None:
    service_id = some_service(stack)
    stack.sim.account.update_service(service_id, description="changed")
    delivery = stack.sender.deliveries[-1]
    for _ in range(3):
        assert stack.sender.redeliver(delivery) == 202
    stack.drain()
    finished = FinishedJobRegistry("pdgraph-webhooks", connection=stack.redis).get_job_ids()
    assert len([j for j in finished if j.startswith("webhook-")]) == 1
    assert stack.re_reads(service_id) == 1
    assert stack.export() == expected_export(stack.sim.account)


def test_out_of_order_deliveries_converge_to_the_current_state(stack: Stack) -> None:
    account = stack.sim.account
    renamed, deleted = some_service(stack), some_service(stack, 1)
    stack.sender.hold = True
    account.update_service(renamed, name="first name")
    account.update_service(renamed, name="second name")
    account.update_service(renamed, name="final name", status="critical")
    account.update_service(deleted, name="about to go")
    account.delete_service(deleted)
    stack.sender.release(order=lambda held: list(reversed(held)))  # newest first
    stack.drain()
    assert stack.export() == expected_export(account)
    names = {e["_key"]: e["name"] for e in stack.export()["entities"]}
    assert names[f"service:{renamed}"] == "final name"
    assert f"service:{deleted}" not in names


def webhook_jobs_span(stack: Stack) -> float:
    """Seconds from the first webhook job's start to the last one's end (the time over
    which the worker took the deliveries)."""
    registry = FinishedJobRegistry(queue=stack.queues()[0])
    jobs = [Job.fetch(job_id, connection=stack.redis) for job_id in registry.get_job_ids()]
    runs = [
        (job.started_at, job.ended_at)
        for job in jobs
        if job.func_name == "worker.jobs.process_webhook" and job.started_at and job.ended_at
    ]
    if not runs:
        return 0.0
    return (max(end for _, end in runs) - min(start for start, _ in runs)).total_seconds()


def test_a_burst_for_one_service_costs_at_most_two_re_reads(stack: Stack) -> None:
    service_id = some_service(stack)
    timing: list[float] = []

    def burst() -> None:
        started = time.monotonic()
        for i in range(30):
            stack.sim.account.update_service(service_id, description=f"burst {i}")
        timing.append(time.monotonic() - started)

    sender = threading.Thread(target=burst)
    sender.start()
    while sender.is_alive():  # a worker runs while the burst arrives (RQ needs the main thread)
        PromptSimpleWorker(stack.queues(), connection=stack.redis).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
    sender.join()
    stack.drain()
    # Within one window (the usual case: 30 POSTs take ~0.2 s) that is at most two re-reads:
    # the leading one and one trailing. Windows open as the worker takes the events' jobs:
    # a loaded machine may spread the burst, or the worker's taking of it, over more
    # windows; then one trailing re-read per window.
    windows = math.ceil(max(timing[0], webhook_jobs_span(stack)) / COALESCE_SECONDS)
    assert stack.re_reads(service_id) <= 1 + windows
    assert stack.export() == expected_export(stack.sim.account)


def test_pagey_ping_and_unknown_types_are_accepted_and_ignored(stack: Stack) -> None:
    stack.sender.ping()
    stack.sender("incident.some_future_type", "incident", {"id": "PX", "type": "incident"})
    assert [d.statuses for d in stack.sender.deliveries[-2:]] == [[202], [202]]
    before = stack.export()
    stack.drain()
    assert stack.export() == before
    assert sum(stack.sim.request_counts().values()) > 0  # only the initial full sync


def test_webhook_during_a_full_sync_is_not_undone_by_it(stack: Stack) -> None:
    """The sync reads PagerDuty, a webhook lands, the sync writes its older read: the
    service touched in that window is refreshed again afterwards (SPEC §6)."""
    account = stack.sim.account
    service_id = some_service(stack)
    # Hold the sync inside its reads: its account-wide /oncalls listing waits until the
    # service has been renamed and the webhook applied (the refresh's own on-call read
    # is filtered by policy and passes).
    gate = threading.Event()
    original = stack.sim.handle

    def hold_sync_oncalls(request: Any) -> Any:
        if request.path == "/oncalls" and b"escalation_policy_ids" not in request.query_string:
            gate.wait(20)
        return original(request)

    stack.sim.handle = hold_sync_oncalls  # type: ignore[method-assign]
    sync = threading.Thread(target=stack.full_sync)
    sync.start()
    try:
        while not stack.sim.request_counts()["/oncalls"]:
            time.sleep(0.02)  # the sync has read the services: its copy is now stale
        account.update_service(service_id, name="renamed during the sync")
        stack.drain()
        assert stack.export_names()[f"service:{service_id}"] == "renamed during the sync"
    finally:
        gate.set()
        sync.join(30)
    # The sync wrote the name it had read; the refresh queued as it closed its window
    # puts the rename back.
    assert stack.pending() == 1
    stack.drain()
    assert stack.export_names()[f"service:{service_id}"] == "renamed during the sync"
    assert stack.export() == expected_export(account)


def test_an_older_read_that_finishes_last_does_not_overwrite_a_newer_one(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker import jobs, service_refresh

    service_id = some_service(stack)
    read_done, release = threading.Event(), threading.Event()
    original = service_refresh.read_service_graph
    calls = 0

    def first_read_stalls(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        graph = original(*args, **kwargs)
        if calls == 1:  # the first refresh read the old state, then stalls before writing
            read_done.set()
            release.wait(10)
        return graph

    monkeypatch.setattr(service_refresh, "read_service_graph", first_read_stalls)
    slow = threading.Thread(target=jobs.refresh_service, args=(service_id,))
    slow.start()
    assert read_done.wait(10)
    stack.sim.account.update_service(service_id, name="newer name")
    jobs.refresh_service(service_id)  # a second worker reads and writes the newer state
    release.set()
    slow.join(10)
    assert stack.export_names()[f"service:{service_id}"] == "newer name"


def test_redis_down_means_503_and_the_event_is_processed_once_it_is_back(
    make_sim: Callable[..., PagerDutySim],
    graph_path: str,
    monkeypatch: pytest.MonkeyPatch,
    own_redis: RedisServer,
) -> None:
    redis_url = own_redis.url
    sim = make_sim(Account.generate(seed=22, users=40))
    configure_env(monkeypatch, sim.url, redis_url, graph_path)
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    stack = Stack(sim, client, Settings())
    stack.start_receiver()
    try:
        stack.full_sync()
        service_id = sorted(sim.account.services)[0]
        own_redis.stop()
        sim.account.update_service(service_id, name="renamed while Redis was down")
        assert stack.sender.deliveries[-1].statuses == [503]  # never a 2xx for it
        own_redis.start()  # Redis is back, same port (empty: it keeps nothing on disk)
        assert stack.sender.retry_failed() == 0  # PagerDuty retries; now it is stored
        assert stack.sender.deliveries[-1].statuses == [503, 202]
        stack.drain()
        assert stack.export_names()[f"service:{service_id}"] == "renamed while Redis was down"
    finally:
        stack.stop()


def test_a_webhook_that_keeps_failing_ends_in_the_failed_registry(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One retry each instead of five spread over half an hour.
    retry_once(monkeypatch)
    service_id = some_service(stack)
    stack.sim.inject(f"/services/{service_id}", 401, times=100)  # fails at once, no backoff
    stack.sim.account.update_service(service_id, name="never applied")
    stack.drain()
    job_ids = FailedJobRegistry("pdgraph-webhooks", connection=stack.redis).get_job_ids()
    assert len(job_ids) == 1  # the webhook job, or the refresh it handed the event to
    error = Job.fetch(job_ids[0], connection=stack.redis).latest_result().exc_string  # type: ignore[union-attr]
    assert "PagerDuty rejected the API key" in error
    assert API_KEY not in error
    assert stack.re_reads(service_id) >= 2  # tried, and retried
    assert stack.export_names()[f"service:{service_id}"] != "never applied"


def test_status_page_shows_queues_webhook_sync_and_graph_without_secrets(stack: Stack) -> None:
    import requests

    service_id = some_service(stack)
    stack.sim.account.update_service(service_id, name="status check")
    base = stack.receiver_url.removesuffix("/webhooks/pagerduty")
    before = requests.get(f"{base}/status", headers=JSON_AUTHORIZED, timeout=5)
    assert before.json()["queues"]["pdgraph-webhooks"]["queued"] == 1
    stack.drain()
    report = requests.get(f"{base}/status", headers=JSON_AUTHORIZED, timeout=5).json()
    assert report["queues"]["pdgraph-webhooks"]["queued"] == 0
    assert report["failed_jobs"] == 0
    assert report["last_webhook"]["event_type"] == "service.updated"
    assert report["last_webhook"]["resource_id"] == service_id
    assert report["last_full_sync"]["outcome"] == "ok"
    counts = expected_export(stack.sim.account)
    assert report["graph"]["entities"]["pagerduty_service"] == sum(
        1 for e in counts["entities"] if e["_type"] == "pagerduty_service"
    )
    assert sum(report["graph"]["relationships"].values()) == len(counts["relationships"])

    runs = report["next_runs"]
    assert runs["full sync"].endswith("T03:00:00Z")  # FULL_SYNC_CRON's default
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:(00|15|30|45):00Z", runs["on-call refresh"])
    assert runs["on-call hand-off refresh"] is not None  # from the sync's on-call end times
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", runs["dependency reads"])
    services = len(stack.sim.account.services)
    assert report["dependencies"]["dependents"] == report["dependencies"]["never_read"] == services

    page = requests.get(f"{base}/status", auth=("anyone", READ_TOKEN), timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "0 failed jobs" in " ".join(page.text.split())
    assert f"service.updated for {service_id}" in " ".join(page.text.split())
    assert "Next scheduled runs" in page.text and runs["full sync"] in page.text
    for link in ("report", "changes", "metrics"):  # each opens with the same token
        assert f'<a href="{link}">' in page.text
        linked = requests.get(f"{base}/{link}", auth=("anyone", READ_TOKEN), timeout=30)
        assert linked.status_code == 200, (link, linked.text[:200])
    assert f"{services} not read yet" in " ".join(page.text.split())
    stack.read_dependencies()
    read = requests.get(f"{base}/status", headers=JSON_AUTHORIZED, timeout=5).json()
    assert read["dependencies"]["never_read"] == 0
    assert read["dependencies"]["last_run"]["read"] == services
    for text in (page.text, before.text, str(report)):
        assert API_KEY not in text and WEBHOOK_SECRET not in text and READ_TOKEN not in text


def test_no_secret_in_any_log_line_even_at_debug(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import requests

    retry_once(monkeypatch)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    service_id = some_service(stack)
    stack.sim.account.update_service(service_id, name="logged change")  # accepted
    requests.post(
        stack.receiver_url,
        data=b'{"event": {}}',
        timeout=5,
        headers={"X-PagerDuty-Signature": "v1=" + "0" * 64},
    )  # rejected: 403
    stack.sim.inject(f"/services/{some_service(stack, 1)}", 401, times=100)
    stack.sim.account.update_service(some_service(stack, 1), name="fails")  # fails in the job
    stack.drain()
    out, err = capfd.readouterr()
    logs = out + err
    assert '"level": "debug"' in logs or '"level": "info"' in logs  # there are logs to check
    assert "PagerDuty rejected the API key" in logs  # including the failure
    assert API_KEY not in logs
    assert WEBHOOK_SECRET not in logs
    # Lines logged inside a job carry its id.
    refreshed = [json.loads(line) for line in logs.splitlines() if "service refreshed" in line]
    assert refreshed and all(r["job_id"].startswith("webhook-") for r in refreshed)
