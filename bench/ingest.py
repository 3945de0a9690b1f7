"""Webhook ingest benchmark: accepted webhooks/s, p50/p99 latency, lost events.

Runs gunicorn with the Procfile's own `web:` flags (so the settings are the deployed
ones) twice under the same bounded loopback load from wrk: once serving pdgraph's
receiver (signature check, de-dup, durable RQ enqueue in a private redis-server), once
a hello-world Flask app on the same route as the baseline. Every request carries a fresh
X-Webhook-Id, so each one must become a stored job. Prints both runs, the ratio, and
lost events = 202 answers minus jobs stored.

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 16] [--workers 2]
Needs wrk (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.queueing import WEBHOOK_QUEUE  # noqa: E402

SECRET = "bench-webhook-secret"
BODY = json.dumps(
    {
        "event": {
            "id": "01BENCH0000000000000000000",
            "event_type": "service.updated",
            "resource_type": "service",
            "occurred_at": "2026-11-27T00:00:00.000Z",
            "agent": None,
            "client": None,
            "data": {
                "id": "PBENCH1",
                "type": "service",
                "summary": "Bench ✨ service",
                "html_url": "https://acme.pagerduty.com/services/PBENCH1",
                "teams": [],
            },
        }
    },
    ensure_ascii=False,
)

WRK_SCRIPT = """
local counter = 0
local threads = {}
function setup(thread)
  -- RUN is unique per run: wrk seeds math.random identically every time
  thread:set("prefix", RUN .. "-" .. tostring(#threads))
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/pagerduty", {
    ["Content-Type"] = "application/json",
    ["X-PagerDuty-Signature"] = SIGNATURE,
    ["X-Webhook-Id"] = prefix .. "-" .. counter,
  }, BODY)
end
function done(summary, latency, requests)
  io.write(string.format(
    "RESULT %d %d %d %d %d %d %f %d %d\\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile_web_flags() -> list[str]:
    """The gunicorn flags of the Procfile's web line, minus the app and bind."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    args = shlex.split(line.removeprefix("web:"))[2:]  # drop "gunicorn" and the app
    flags, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--bind":
            skip = True
            continue
        if arg == "--access-logfile":  # no per-request access log line in either run
            skip = True
            continue
        flags.append(arg)
    return flags


def expand(flag: str, workers: int) -> str:
    flag = flag.replace("${WEB_CONCURRENCY:-2}", str(workers))
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", flag)


def children(pid: int) -> int:
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                count += 1
        except (OSError, ValueError, IndexError):
            continue
    return count


def wait_until_serving(master: int, port: int, workers: int) -> None:
    """Until every worker is up: started at the first answer, wrk's keep-alive connections
    would all land on the first worker to boot, and the run would use one core."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            if children(master) >= workers:
                time.sleep(1.0)  # let the last one reach its accept loop
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start its workers")


def run_load(
    app: str, env: dict[str, str], args: argparse.Namespace, signature: str
) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "webhooks.lua"
    # Lua 5.1 has no \u escapes: the body goes in raw, as a long-bracket string.
    script.write_text(
        f'RUN = "{uuid.uuid4().hex}"\nSIGNATURE = "{signature}"\nBODY = [==[{BODY}]==]\n'
        + WRK_SCRIPT,
        encoding="utf-8",
    )
    port = free_port()
    flags = [expand(f, args.workers) for f in procfile_web_flags()]
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", *flags],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(gunicorn.pid, port, args.workers)
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "--timeout",
                "5s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        gunicorn.terminate()
        gunicorn.wait(15)
    result = [line for line in out.splitlines() if line.startswith("RESULT")]
    if not result:
        raise SystemExit(f"wrk printed no result for {app}:\n{out}")
    fields = result[0].split()[1:]
    total, status_errors, *socket_errors = (int(f) for f in fields[:6])
    duration, p50, p99 = float(fields[6]), int(fields[7]), int(fields[8])
    return {
        "requests": total,
        "accepted": total - status_errors - sum(socket_errors),
        "non_2xx": status_errors,
        "socket_errors": sum(socket_errors),
        "rate": (total - status_errors - sum(socket_errors)) / duration,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph webhook ingest benchmark")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each app")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/ingest.py needs wrk: apt-get install wrk")

    redis_port = free_port()
    redis_proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    connection = redis.Redis.from_url(redis_url)
    for _ in range(100):
        try:
            connection.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    signature = "v1=" + hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(
        REDIS_URL=redis_url,
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        LOG_LEVEL="WARNING",
        WEB_CONCURRENCY=str(args.workers),
    )
    try:
        # Alternate the two apps: this machine's speed drifts, and the ratio should not.
        baselines, runs = [], []
        for _ in range(args.rounds):
            baselines.append(run_load("bench.hello_app:create_app()", env, args, signature))
            runs.append(run_load("web.app:create_app()", env, args, signature))
        stored = redis.Redis.from_url(redis_url).llen(f"rq:queue:{WEBHOOK_QUEUE}")
        baseline, ours = median_run(baselines), median_run(runs)
        ours["accepted"] = sum(r["accepted"] for r in runs)
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
    flags = " ".join(expand(f, args.workers) for f in procfile_web_flags())
    print(
        f"gunicorn {flags}; wrk -t2 -c{args.connections} -d{args.seconds}s, "
        f"each request a fresh X-Webhook-Id ({len(BODY.encode())}-byte signed body); "
        f"medians of {args.rounds} alternating rounds"
    )
    for name, r in (("hello-world baseline", baseline), ("pdgraph receiver", ours)):
        print(
            f"  {name:<21} {r['rate']:8.0f} accepted/s  p50 {r['p50_ms']:6.2f} ms  "
            f"p99 {r['p99_ms']:6.2f} ms  ({r['requests']} requests, {r['non_2xx']} non-2xx, "
            f"{r['socket_errors']} socket errors)"
        )
    print(f"  ratio receiver/baseline: {ours['rate'] / baseline['rate']:.2f}")
    # wrk counts only answers that arrived before it stopped; requests still in flight
    # then were stored too, so jobs stored may exceed the 202s counted, never the reverse.
    lost = max(0, int(ours["accepted"] - stored))
    in_flight = max(0, int(stored - ours["accepted"]))
    print(
        f"  lost events: {lost} (202 answers counted {int(ours['accepted'])}, jobs stored "
        f"{stored}, of which {in_flight} answered after wrk stopped counting)"
    )


if __name__ == "__main__":
    main()
