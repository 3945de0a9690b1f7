"""`python -m web`, the Procfile's web process, run as the platform runs it (a subprocess)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common.config import Settings
from sim.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "web-process-secret-0123"
READ_TOKEN = "web-process-read-token-0123"
BODY = json.dumps({"event": {"id": "01WEBPROC", "event_type": "pagey.ping"}}).encode()


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any pdgraph setting, plus `values`."""
    settings = {name.upper() for name in Settings.model_fields}
    return {
        **{k: v for k, v in os.environ.items() if k.upper() not in settings},
        "PYTHONPATH": str(ROOT),
        **values,
    }


def web_env(redis_url: str, port: int, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        REDIS_URL=redis_url,
        PORT=str(port),
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        READ_TOKENS=f"rotated-out-token-0123,{READ_TOKEN}",
        LOCAL_GRAPH_PATH=str(tmp_path / "graph.sqlite3"),
        WEB_CONCURRENCY="2",
    )


def run_web(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web"], env=env, capture_output=True, text=True, timeout=30
    )


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.fixture
def web(redis_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A running `python -m web` and its base URL; stopped with SIGTERM afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "web"],
        env=web_env(redis_url, port, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"python -m web did not serve /healthz:\n{out}\n{err}")
        time.sleep(0.1)
    try:
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def stop(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    """SIGTERM; the exit status and every line it printed (stdout, then stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out.splitlines() + err.splitlines()


def test_serves_the_receiver_and_logs_only_json_lines_with_a_structured_access_log(
    web: tuple[subprocess.Popen[str], str], redis_url: str
) -> None:
    proc, base = web
    signature = "v1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    posted = requests.post(
        f"{base}/webhooks/pagerduty", data=BODY, headers={"X-PagerDuty-Signature": signature}
    )
    assert posted.status_code == 202
    assert requests.get(f"{base}/healthz?token={SECRET}", timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {READ_TOKEN}"}
    assert requests.get(f"{base}/status", headers=bearer, timeout=10).status_code == 200
    assert requests.get(f"{base}/status", auth=("x", READ_TOKEN), timeout=10).status_code == 200
    # Reads in a row, each on whichever thread gevent's pool gives it (every other one
    # answered 500 while the reader's Redis client outlived the thread that made it).
    reads = [
        requests.get(f"{base}/{page}", headers=bearer, timeout=10).status_code
        for page in ("status", "metrics") * 4
    ]
    assert reads == [200] * 8
    wrong = {"Authorization": f"Bearer {READ_TOKEN}-but-not-quite"}
    assert requests.get(f"{base}/report", headers=wrong, timeout=10).status_code == 401
    # No setting is in any process's arguments (REDIS_URL may hold a password).
    for pid in [proc.pid, *children(proc.pid)]:
        assert redis_url.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()

    status, lines = stop(proc)
    assert status == 0
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    assert {(r["method"], r["path"], r["status"]) for r in access} >= {
        ("POST", "/webhooks/pagerduty", 202),
        ("GET", "/healthz", 200),
        ("GET", "/status", 200),
        ("GET", "/report", 401),
    }
    assert all(r["remote"] == "127.0.0.1" and r["duration"] >= 0 for r in access)
    assert any(r["logger"] == "gunicorn.error" for r in records)  # gunicorn's own, as JSON
    logged = "\n".join(lines)
    assert SECRET not in logged  # neither the query string nor a header is logged
    assert READ_TOKEN not in logged and "rotated-out-token-0123" not in logged


def test_the_root_leads_to_the_status_page(web: tuple[subprocess.Popen[str], str]) -> None:
    _, base = web
    response = requests.get(f"{base}/", allow_redirects=False, timeout=5)
    assert response.status_code in (301, 302, 303, 307, 308)
    assert response.headers["Location"] in ("/status", f"{base}/status")
    followed = requests.get(f"{base}/", timeout=10)
    assert followed.url == f"{base}/status" and followed.status_code == 401


BAD_CONFIGURATIONS = [
    ("PORT", {"PORT": "abc"}),
    ("PORT", {"PORT": "99999"}),
    ("PAGERDUTY_WEBHOOK_SECRETS", {"PAGERDUTY_WEBHOOK_SECRETS": ""}),
    ("PAGERDUTY_WEBHOOK_SECRETS", {"PAGERDUTY_WEBHOOK_SECRETS": "a,,b"}),
    ("READ_TOKENS", {"READ_TOKENS": "read-token-0123456789,short-token"}),
    ("REDIS_URL", {"REDIS_URL": "redis://localhost:notaport/0"}),
    ("REDIS_URL", {"REDIS_URL": "redis://localhost:99999/0"}),
]


@pytest.mark.parametrize(
    ("variable", "values"),
    BAD_CONFIGURATIONS,
    ids=[f"{name}={value or 'unset'}" for _, v in BAD_CONFIGURATIONS for name, value in v.items()],
)
def test_a_bad_configuration_is_one_line_naming_the_variable_and_exit_2(
    variable: str, values: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    env = {**web_env(redis_url, free_port(), tmp_path), **values}
    result = run_web({k: v for k, v in env.items() if v})  # "" means unset
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pdgraph web: configuration error: {variable}")
    assert "Traceback" not in result.stderr + result.stdout
    for value in values.values():
        assert not value or value not in lines[0]  # the value is never echoed


def test_a_taken_port_is_one_line_with_a_free_port_hint(redis_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = run_web(web_env(redis_url, port, tmp_path))
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"pdgraph web: PORT {port} is already in use; set PORT to a free port "
        f"(e.g. PORT={port + 1})"
    ]
    assert time.monotonic() - started < 5  # not gunicorn's 5 s of retries
