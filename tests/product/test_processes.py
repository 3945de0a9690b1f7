"""Every process of the Procfile, and the CLI, as an operator starts them.

A configuration error is one line naming the variable (never its value), exit status 2,
no traceback; and every line the processes write is one JSON object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from common.objects.service import service_key
from common.sinks.local import LocalSink
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import free_port
from tests.cli import OWN_VARIABLES
from tests.read_tokens import READ_TOKEN
from tests.stack import WEBHOOK_SECRET, configure_env

ROOT = Path(__file__).resolve().parents[2]
PROCFILE_RUN = str(ROOT / "bin" / "procfile-run")
PDGRAPH = str(Path(sys.executable).parent / "pdgraph")
SECRETISH = "s3cr3t-value-never-shown"


def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return {**env, **values}


def _start(process: str, env: dict[str, str]) -> list[str]:
    if process == "cli":
        return [PDGRAPH, "sync"]
    return [PROCFILE_RUN, process]


BASE = {
    "PAGERDUTY_API_KEY": SECRETISH,
    "PAGERDUTY_WEBHOOK_SECRETS": SECRETISH,
    "REDIS_URL": "redis://127.0.0.1:1/0",
}
CASES = [
    ("REDIS_URL", {"REDIS_URL": f"redis://:{SECRETISH}@localhost:notaport/0"}),
    ("REDIS_URL", {"REDIS_URL": f"redis://:{SECRETISH}@localhost:99999/0"}),
    ("LOG_LEVEL", {"LOG_LEVEL": "LOUD"}),
    ("FULL_SYNC_CRON", {"FULL_SYNC_CRON": "every night"}),
    ("JUPITERONE_API_KEY", {"GRAPH_SINK": "jupiterone", "JUPITERONE_ACCOUNT_ID": "acct"}),
]
WEB_CASES = [
    ("PORT", {"PORT": "abc"}),
    ("PORT", {"PORT": "99999"}),
    ("PAGERDUTY_WEBHOOK_SECRETS", {"PAGERDUTY_WEBHOOK_SECRETS": ""}),
]


@pytest.mark.parametrize(
    ("process", "variable", "values"),
    [(p, v, c) for p in ("web", "worker", "clock", "cli") for v, c in CASES]
    + [("web", v, c) for v, c in WEB_CASES],
)
def test_a_configuration_error_is_one_line_naming_the_variable_and_exit_2(
    process: str, variable: str, values: dict[str, str]
) -> None:
    env = _clean_env(**{**BASE, **values})
    result = subprocess.run(
        _start(process, env), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, output
    assert len(output.splitlines()) == 1, output
    assert variable in output
    assert "configuration error" in output
    assert "Traceback" not in output
    assert SECRETISH not in output


def _signed_delivery(url: str, event_type: str, service_id: str) -> int:
    body = json.dumps(
        {
            "event": {
                "id": f"01EVT{time.time_ns()}",
                "event_type": event_type,
                "resource_type": "service",
                "occurred_at": "2026-11-30T10:00:00.000Z",
                "data": {"id": service_id, "type": "service"},
            }
        }
    ).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url, body, {"X-PagerDuty-Signature": f"v1={digest}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def _wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _answers(url: str, token: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2):
            return True
    except OSError:
        return False


def test_every_line_of_web_worker_and_clock_is_json(
    make_sim: Callable[..., PagerDutySim],
    redis_url: str,
    redis_client: redis.Redis,
    graph_path: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = Account.generate(seed=5, users=20)
    sim = make_sim(account)
    port = free_port()
    env = _clean_env(
        **configure_env(monkeypatch, sim.url, redis_url, graph_path),
        PORT=str(port),
        WEB_CONCURRENCY="1",
        READ_TOKENS=READ_TOKEN,
    )
    assert (
        subprocess.run([PDGRAPH, "sync"], env=env, capture_output=True, check=False).returncode == 0
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "clock")}
    procs = [
        subprocess.Popen(
            [PROCFILE_RUN, name], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        for name, log in logs.items()
    ]
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _answers(f"{base}/healthz"))
        service_id = sorted(account.services)[0]
        account.update_service(service_id, name="renamed for the log test")
        assert _signed_delivery(f"{base}/webhooks/pagerduty", "service.updated", service_id) == 202
        assert _answers(f"{base}/status", READ_TOKEN)
        _wait_for(lambda: _service_name(graph_path, service_id) == "renamed for the log test")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    for name, log in logs.items():
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines, f"{name} wrote nothing"
        not_json = [line for line in lines if not _is_json_object(line)]
        assert not_json == [], f"{name}: {not_json[:3]}"
    web_lines = [json.loads(line) for line in logs["web"].read_text().splitlines() if line]
    assert any("/webhooks/pagerduty" in json.dumps(entry) for entry in web_lines)  # access log
    assert all(READ_TOKEN not in log.read_text() for log in logs.values())


def _service_name(graph_path: str, service_id: str) -> object:
    sink = LocalSink(graph_path)
    try:
        entity = sink.read_graph().entities.get(service_key(service_id))
    finally:
        sink.close()
    return entity.properties.get("name") if entity else None


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
