"""`make demo` runs the whole product against the simulator and stops cleanly, on a Redis
of its own: never the one at REDIS_URL, which may hold someone's data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from sim.demo_changes import PeopleChanges, demo_account
from sim.redis_server import free_port

SOMEONE_ELSES_KEY = b"someone-else:data"
READ_TOKEN = "demo-test-read-token-0123"


def start_demo(redis_url: str, tmp_path: Path, port: int, *flags: str) -> subprocess.Popen[bytes]:
    """The demo on a small, fast-changing account, with REDIS_URL naming the test's Redis."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.demo",
            "--users",
            "200",
            "--port",
            str(port),
            "--churn-every",
            "0.3",
            "--people-every",
            "1",
            "--workdir",
            str(tmp_path),
            "--read-token",
            READ_TOKEN,
            *flags,
        ],
        env={**os.environ, "REDIS_URL": redis_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal's foreground job
    )


class Output:
    """The demo's output, read as it comes (a pipe nobody reads fills up: the demo's
    processes would then block on writing their log lines, and a signal that arrives
    during such a write raises inside logging)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            self.chunks.append(chunk)

    def finish(self, timeout: float) -> str:
        """Everything the demo printed, once it ended (within `timeout`)."""
        self.proc.wait(timeout)
        self.reader.join(timeout)
        return b"".join(self.chunks).decode()


def wait_for_webhooks_processed(
    proc: subprocess.Popen[bytes], port: int, seconds: float
) -> dict[str, Any] | None:
    """The last /status report, once a webhook went through and the queue drained (or the
    demo ended, or `seconds` passed: a loaded machine starts the processes slowly)."""
    report = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            report = requests.get(
                f"http://127.0.0.1:{port}/status",
                headers={"Accept": "application/json", "Authorization": f"Bearer {READ_TOKEN}"},
                timeout=2,
            ).json()
            if report["last_webhook"] and report["queues"]["pdgraph-webhooks"]["queued"] == 0:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return report


@pytest.mark.parametrize("sink_flags", [[], ["--jupiterone"]], ids=["local", "jupiterone"])
def test_demo_processes_webhooks_and_stops(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, sink_flags: list[str]
) -> None:
    redis_client.set(SOMEONE_ELSES_KEY, "keep me")
    port = free_port()
    proc = start_demo(redis_url, tmp_path, port, "--seconds", "12", *sink_flags)
    printed = Output(proc)
    report = wait_for_webhooks_processed(proc, port, 40)
    output = printed.finish(timeout=60)
    assert proc.returncode == 0, output[-3000:]
    assert report is not None and report["last_webhook"], output[-3000:]
    assert report["last_full_sync"]["outcome"] == "ok"
    assert report["graph"]["entities"]["pagerduty_user"] == 200
    assert report["failed_jobs"] == 0
    assert "demo   | stopped" in output
    assert "Traceback" not in output
    # Where to look, with the token a person needs: in a URL a browser opens, and for curl.
    assert f"http://demo:{READ_TOKEN}@127.0.0.1:{port}/status" in output
    assert f"curl -H 'Authorization: Bearer {READ_TOKEN}'" in output
    # The example of each report check planted in the account, by key and name ...
    assert "demo   |   schedule_coverage_gap              schedule:P" in output
    # ... and the line that points the CLI at the demo, printed with the rest.
    [exports] = [line for line in output.splitlines() if "the CLI:      export " in line]
    assert "PAGERDUTY_API_KEY=demo-" in exports and "LOCAL_GRAPH_PATH=" in exports
    # Users and teams change too, and the demo says which (the object's key in the graph).
    assert "demo   | people change: renamed user user:P" in output, output[-3000:]
    assert "by Terraform Cloud (api_token …+Yx3)" in output  # ... and who changed them
    # The demo ran on a Redis of its own: the one at REDIS_URL holds what it held.
    assert redis_client.keys("*") == [SOMEONE_ELSES_KEY]


def test_ctrl_c_stops_the_processes_before_redis_without_a_traceback(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    proc = start_demo(redis_url, tmp_path, port)
    printed = Output(proc)
    report = wait_for_webhooks_processed(proc, port, 40)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    output = printed.finish(timeout=60)
    assert report is not None and report["last_webhook"], output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # Every process's last line is printed before the demo says it stopped.
    assert output.rstrip().splitlines()[-1] == "demo   | stopped"


def test_a_taken_port_fails_before_anything_starts(redis_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_demo(redis_url, tmp_path, port)
        output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode != 0
    assert output.splitlines() == [
        f"demo: port {port} is taken; run the demo on another one: PORT={port + 1} make demo"
    ]


def test_an_existing_redis_is_used_only_when_empty(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.set(SOMEONE_ELSES_KEY, "keep me")
    proc = start_demo(redis_url, tmp_path, free_port(), "--redis-url", redis_url)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 2
    [line] = output.splitlines()
    assert line.startswith("demo: --redis-url ") and "holds 1 key;" in line
    assert redis_client.keys("*") == [SOMEONE_ELSES_KEY]


def test_the_people_changes_cycle_through_users_and_teams_with_audit_records() -> None:
    demo = demo_account(50, shift_seconds=180)
    account = demo.account
    before = {uid: {**u, "team_ids": list(u["team_ids"])} for uid, u in account.users.items()}
    changes = PeopleChanges(demo)
    lines = [changes.step() for _ in range(7)]
    assert [line.split(" ")[0] for line in lines] == [
        "renamed",
        "made",  # ... an admin
        "made",  # ... no admin again
        "added",
        "removed",
        "created",
        "deleted",
    ]
    assert "an admin: role " in lines[1] and "no admin again: role admin → " in lines[2]
    # Each line names who made the change, as the audit record does.
    assert lines[0].endswith(", by Terraform Cloud (api_token …+Yx3)")
    assert lines[1].endswith(", by Grace Hopper (browser)")
    assert ", by Backstage (oauth …9qLk)" in lines[3]
    assert lines[6].endswith(", by Grace Hopper (api_token …Gh4Q)")
    # A whole cycle leaves the account as it was, but for the renamed user.
    [renamed] = [uid for uid, user in account.users.items() if user != before[uid]]
    assert f"user:{renamed}" in lines[0] and account.users[renamed]["name"] in lines[0]
    assert set(account.users) == set(before)
    # Every change is in PagerDuty's audit records (what pdgraph's audit feed reads), with
    # its actor and method.
    changed = [
        (r["root_resource"]["type"], r["action"], r["actors"][0]["type"], r["method"]["type"])
        for r in account.audit.records
    ]
    assert changed == [
        ("user_reference", "update", "api_key_reference", "api_token"),  # renamed
        ("user_reference", "update", "user_reference", "browser"),  # role → admin
        ("user_reference", "update", "user_reference", "browser"),  # role back
        ("team_reference", "update", "app_reference", "oauth"),  # member added
        ("team_reference", "update", "app_reference", "oauth"),  # member removed
        ("user_reference", "create", "user_reference", "api_token"),  # created ...
        ("team_reference", "update", "user_reference", "api_token"),  # ... into a team
        ("user_reference", "delete", "user_reference", "api_token"),
    ]
    # The cycle starts again.
    assert changes.step().startswith("renamed user ")
