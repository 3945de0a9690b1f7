"""`pdgraph` as an operator meets it: exit codes, one-line reasons, no secret echoed."""

from __future__ import annotations

import redis
from rq import Queue

from common.sinks.local import LocalSink
from sim.pagerduty import PagerDutySim
from sim.redis_server import free_port
from tests.cli import run_pdgraph
from tests.conftest import API_KEY
from worker.rqworker import PromptSimpleWorker


def test_malformed_config_exits_2_naming_the_variable(graph_path: str) -> None:
    result = run_pdgraph("sync", env={"PORT": "eighty", "LOCAL_GRAPH_PATH": graph_path})
    assert result.returncode == 2
    assert result.stderr.strip() == "pdgraph: configuration error: PORT: must be an integer"


def test_missing_api_key_exits_2(graph_path: str, redis_url: str) -> None:
    result = run_pdgraph("sync", env={"LOCAL_GRAPH_PATH": graph_path, "REDIS_URL": redis_url})
    assert result.returncode == 2
    assert "PAGERDUTY_API_KEY is required" in result.stderr


def test_wrong_key_fails_with_a_reason_and_without_the_key(
    sim: PagerDutySim, redis_url: str, graph_path: str
) -> None:
    env = {
        "PAGERDUTY_API_KEY": "not-the-right-key-123",
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
    }
    result = run_pdgraph("sync", env=env)
    assert result.returncode == 1
    assert "check PAGERDUTY_API_KEY" in result.stderr
    assert "not-the-right-key-123" not in result.stderr + result.stdout


def test_logs_never_contain_the_api_key(sim: PagerDutySim, redis_url: str, graph_path: str) -> None:
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
        "LOG_LEVEL": "DEBUG",
    }
    result = run_pdgraph("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert '"level": "info"' in result.stderr  # logs are JSON lines on stderr for the CLI
    assert API_KEY not in result.stderr + result.stdout


def test_check_passes_when_everything_answers(
    sim: PagerDutySim, redis_url: str, graph_path: str
) -> None:
    LocalSink(graph_path).close()  # check never creates the graph: `pdgraph sync` does
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        "LOCAL_GRAPH_PATH": graph_path,
    }
    result = run_pdgraph("check", env=env)
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "ok    Redis",
        "ok    PagerDuty",
        "ok    PagerDuty audit records",
        "ok    sink (local)",
    ]


def test_check_reports_each_failure_on_its_own_line(sim: PagerDutySim, tmp_path: object) -> None:
    env = {
        "PAGERDUTY_API_KEY": "bad-key-987654321",
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "LOCAL_GRAPH_PATH": "/nonexistent-dir/graph.sqlite3",
    }
    result = run_pdgraph("check", env=env)
    assert result.returncode == 1
    failures = result.stderr.strip().splitlines()
    assert len(failures) == 3
    assert failures[0].startswith("FAIL  Redis: REDIS_URL does not answer")
    assert failures[1].startswith("FAIL  PagerDuty: PagerDuty rejected the API key (401")
    assert failures[2].startswith("FAIL  sink (local): LOCAL_GRAPH_PATH")
    assert "bad-key-987654321" not in result.stderr + result.stdout


def test_export_of_an_empty_graph(graph_path: str) -> None:
    LocalSink(graph_path).close()
    result = run_pdgraph("export", env={"LOCAL_GRAPH_PATH": graph_path})
    assert result.returncode == 0
    assert result.stdout.strip() == '{"entities": [], "relationships": []}'


def test_failed_lists_failed_jobs_and_requeues_them(
    redis_url: str, redis_client: redis.Redis
) -> None:
    queue = Queue("pdgraph-webhooks", connection=redis_client)
    queue.enqueue(
        "builtins.int",
        "not a number",
        job_id="webhook-broken-1",
        description="service.updated PSVC001",
    )
    PromptSimpleWorker([queue], connection=redis_client).work(burst=True)
    listed = run_pdgraph("failed", env={"REDIS_URL": redis_url})
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("webhook-broken-1  pdgraph-webhooks  service.updated PSVC001")
    assert lines[0].endswith("ValueError: invalid literal for int() with base 10: 'not a number'")
    assert lines[-1] == "1 failed job"
    requeued = run_pdgraph("failed", "--requeue", env={"REDIS_URL": redis_url})
    assert requeued.stdout.splitlines()[-1] == "1 failed job requeued"
    assert queue.job_ids == ["webhook-broken-1"]
    assert run_pdgraph("failed", env={"REDIS_URL": redis_url}).stdout.strip() == "0 failed jobs"


def test_failed_without_redis_says_so() -> None:
    result = run_pdgraph("failed", env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert result.returncode == 1
    assert "REDIS_URL does not answer" in result.stderr


def test_webhooks_subscribe_creates_one_subscription_and_prints_its_secret(
    sim: PagerDutySim, redis_url: str
) -> None:
    env = {"PAGERDUTY_API_KEY": API_KEY, "PAGERDUTY_API_URL": sim.url, "REDIS_URL": redis_url}
    url = "https://pdgraph.example.com/webhooks/pagerduty"
    created = run_pdgraph("webhooks", "subscribe", "--url", url, env=env)
    assert created.returncode == 0, created.stderr
    [sub] = sim.subscriptions
    assert created.stdout.splitlines()[1].endswith(sub["secret"])
    assert sub["delivery_method"]["url"] == url
    assert sub["filter"] == {"type": "account_reference"}
    assert {"service.created", "service.updated", "service.deleted", "incident.escalated"} <= set(
        sub["events"]
    )
    again = run_pdgraph("webhooks", "subscribe", "--url", url, env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert len(sim.subscriptions) == 1
    assert sub["secret"] not in again.stdout + again.stderr


def test_webhooks_subscribe_wants_https(sim: PagerDutySim) -> None:
    result = run_pdgraph(
        "webhooks",
        "subscribe",
        "--url",
        "http://insecure.example.com/",
        env={"PAGERDUTY_API_KEY": API_KEY, "PAGERDUTY_API_URL": sim.url},
    )
    assert result.returncode == 2
    assert "https" in result.stderr
    assert sim.subscriptions == []
