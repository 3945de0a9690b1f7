"""GET /metrics: Prometheus text from counters every process writes to Redis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from common import metrics
from common.state import keys
from sim.pagerduty import Account
from tests.conftest import API_KEY
from tests.read_tokens import AUTHORIZATION, READ_TOKEN
from tests.stack import WEBHOOK_SECRET, Stack
from tests.waiting import wait_for


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack(Account.generate(seed=4, users=40), env={"READ_TOKENS": READ_TOKEN})


def scrape(stack: Stack) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    metrics.recorder.flush()  # this process's last second of counts
    base = stack.receiver_url.removesuffix("/webhooks/pagerduty")
    response = requests.get(f"{base}/metrics", headers=AUTHORIZATION, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_webhooks_jobs_requests_and_show_queue_and_sync_gauges(
    stack: Stack,
) -> None:
    _, before = scrape(stack)
    service_id = sorted(stack.sim.account.services)[0]
    stack.sim.account.update_service(service_id, name="metrics")
    stack.sender.redeliver(stack.sender.deliveries[-1])  # a duplicate
    bad = requests.post(
        stack.receiver_url,
        data=b'{"event": {}}',
        headers={"X-PagerDuty-Signature": "v1=" + "0" * 64},
        timeout=5,
    )
    assert bad.status_code == 403
    stack.drain()
    text, after = scrape(stack)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pdgraph_webhooks_total", outcome="queued") == 1
    assert delta("pdgraph_webhooks_total", outcome="duplicate") == 1
    assert delta("pdgraph_webhooks_total", outcome="bad_signature") == 1
    assert delta("pdgraph_job_duration_seconds_count", job="webhook", outcome="ok") == 1
    assert (
        value(after, "pdgraph_job_duration_seconds_bucket", job="webhook", outcome="ok", le="+Inf")
        >= 1
    )
    assert delta("pdgraph_pagerduty_requests_total", status="200") >= 2  # service + on-calls
    assert value(after, "pdgraph_queue_jobs", queue="pdgraph-webhooks", state="queued") == 0
    assert value(after, "pdgraph_full_sync_last_success") == 1
    assert value(after, "pdgraph_full_sync_last_timestamp_seconds") > 1.7e9
    assert ("pdgraph_full_sync_drift", frozenset()) in after
    assert value(after, "pdgraph_graph_objects", type="pagerduty_user") == 40
    assert API_KEY not in text and WEBHOOK_SECRET not in text


def test_counts_from_other_processes_add_up(stack: Stack, redis_url: str) -> None:
    """Workers run elsewhere (other dynos): what they count reaches any web process."""
    script = (
        "import redis; from common import metrics; "
        f"metrics.recorder.bind(redis.Redis.from_url({redis_url!r})); "
        "metrics.pagerduty_request(429); metrics.jupiterone_request('graphql', 'q', 200)"
    )
    _, before = scrape(stack)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    _, after = scrape(stack)
    assert (
        value(after, "pdgraph_pagerduty_rate_limited_total")
        - value(before, "pdgraph_pagerduty_rate_limited_total")
        == 2
    )
    assert value(after, "pdgraph_jupiterone_requests_total", api="graphql", status="200") == 2


def test_a_down_redis_costs_the_counting_process_nothing(fake_redis: redis.Redis) -> None:
    recorder = metrics.Recorder(interval=0)
    recorder.bind(redis.Redis(port=1, socket_connect_timeout=0.2))
    recorder.count("pdgraph_webhooks_total", {"outcome": "queued"})  # flush fails, kept
    recorder.bind(fake_redis)
    recorder._last_flush = 0  # Redis is back: the next flush writes what was kept
    recorder.count("pdgraph_webhooks_total", {"outcome": "queued"})
    stored = fake_redis.hgetall(keys.metric("pdgraph_webhooks_total"))
    assert {k.decode(): float(v) for k, v in stored.items()} == {'{"outcome":"queued"}': 2.0}


def test_an_idle_process_writes_its_last_counts_without_another_one(
    fake_redis: redis.Redis,
) -> None:
    """Counts buffered after a flush reach Redis about a second later even when nothing
    else is counted (issue 17: a scrape after a burst under-counted until the next request)."""
    recorder = metrics.Recorder(interval=0.2)
    recorder.bind(fake_redis)
    recorder.flush()
    for _ in range(3):  # a burst: the first flush is at most `interval` away
        recorder.count("pdgraph_webhooks_total", {"outcome": "queued"})

    def written() -> float:
        value = fake_redis.hget(keys.metric("pdgraph_webhooks_total"), '{"outcome":"queued"}')
        return float(value or 0)

    wait_for(lambda: written() == 3, "the buffered counts to be written by the timer")


def test_a_forked_job_does_not_count_its_parents_buffer_twice(redis_client: redis.Redis) -> None:
    import os

    metrics.recorder.bind(redis_client)
    metrics.recorder.flush()
    metrics.count("pdgraph_webhooks_total", {"outcome": "fork-test"})  # buffered, unwritten
    pid = os.fork()
    if pid == 0:  # the work horse flushes at its job's end: the parent's count is not its
        metrics.recorder.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    metrics.recorder.flush()
    stored = redis_client.hget(keys.metric("pdgraph_webhooks_total"), '{"outcome":"fork-test"}')
    assert stored is not None and float(stored) == 1.0
