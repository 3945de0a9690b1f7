"""`make demo` runs the whole product against the simulator and stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sim.redis_server import free_port


@pytest.mark.parametrize("sink_flags", [[], ["--jupiterone"]], ids=["local", "jupiterone"])
def test_demo_processes_webhooks_and_stops(
    redis_url: str, tmp_path: Path, sink_flags: list[str]
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.demo",
            "--seconds",
            "12",
            "--users",
            "200",
            "--port",
            str(port),
            "--churn-every",
            "0.3",
            "--workdir",
            str(tmp_path),
            *sink_flags,
        ],
        env={**os.environ, "REDIS_URL": redis_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    report = None
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        try:
            report = requests.get(
                f"http://127.0.0.1:{port}/status", headers={"Accept": "application/json"}, timeout=2
            ).json()
            if report["last_webhook"] and report["queues"]["pdgraph-webhooks"]["queued"] == 0:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, output[-3000:]
    assert report is not None and report["last_webhook"], output[-3000:]
    assert report["last_full_sync"]["outcome"] == "ok"
    assert report["graph"]["entities"]["pagerduty_user"] == 200
    assert report["failed_jobs"] == 0
    assert "demo   | stopped" in output
    assert "Traceback" not in output
