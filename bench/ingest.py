"""Webhook ingest benchmark: accepted webhooks/s, p50/p99 latency, lost events.

Runs the Procfile's web process (`python -m web`: gunicorn with the deployed settings,
web.serve) twice under the same bounded loopback load from wrk: once serving pdgraph's
receiver (signature check, de-dup, durable RQ enqueue in a private redis-server), once
a hello-world Flask app on the same route as the baseline, under the same launcher.
Every request is a new signed event with a fresh X-Webhook-Id, so each one must become a
stored job (the receiver de-duplicates on either).
Prints both runs, the ratio, and lost events = 202 answers minus jobs stored.
`--stalled 1000` keeps that many connections silent after a partial request during each
load (bench/slow_clients.py's attackers).

    .venv/bin/python bench/ingest.py [--seconds 10] [--connections 16] [--workers 2]
                                     [--access-log] [--stalled 0]
Needs wrk (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
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

from bench._common import free_port, start_redis  # noqa: E402
from bench.slow_clients import StalledClients  # noqa: E402
from common.config import load_settings  # noqa: E402
from common.queueing import WEBHOOK_QUEUE  # noqa: E402
from web.serve import gunicorn_options  # noqa: E402

SECRET = "bench-webhook-secret"
BODIES_PER_RUN = 40_000  # more than a run answers: each request is a new event
EVENT = {
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


def signed_bodies(run: str, count: int) -> list[tuple[str, str]]:
    """`count` bodies, each its own event (the receiver de-duplicates on the signed
    event.id), with their signatures."""
    bodies = []
    for index in range(count):
        event = {**EVENT, "id": f"{run}-{index}"}
        body = json.dumps({"event": event}, ensure_ascii=False)
        digest = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        bodies.append((body, f"v1={digest}"))
    return bodies


WRK_SCRIPT = """
local counter = 0
local threads = {}
function setup(thread)
  -- RUN is unique per run: wrk seeds math.random identically every time
  thread:set("prefix", RUN .. "-" .. tostring(#threads))
  thread:set("slot", #threads)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  -- the two threads take alternate bodies: every request a new event
  local index = ((counter - 1) * 2 + slot) % #BODIES + 1
  return wrk.format("POST", "/webhooks/pagerduty", {
    ["Content-Type"] = "application/json",
    ["X-PagerDuty-Signature"] = SIGNATURES[index],
    ["X-Webhook-Id"] = prefix .. "-" .. counter,
  }, BODIES[index])
end
function done(summary, latency, requests)
  io.write(string.format(
    "RESULT %d %d %d %d %d %d %f %d %d\\n",
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99)))
end
"""


# web.serve.serve() is what `python -m web` runs; the hello-world app gets the same.
LAUNCH = """
import sys
from common.config import load_settings
from web.serve import serve

app, access_log = sys.argv[1], sys.argv[2] == "on"
if app == "hello":
    from bench.hello_app import create_app
    serve(load_settings(), lambda settings: create_app(), accesslog="-" if access_log else None)
else:
    serve(load_settings(), accesslog="-" if access_log else None)
"""


def web_command(app: str, access_log: bool) -> list[str]:
    """The web process serving `app` (receiver or hello), access log on or off."""
    return [sys.executable, "-c", LAUNCH, app, "on" if access_log else "off"]


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
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1, allow_redirects=False)
            if children(master) >= workers:
                time.sleep(1.0)  # let the last one reach its accept loop
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit("gunicorn did not start its workers")


def wrk_script() -> Path:
    """wrk's Lua script for one run: its own events, each signed."""
    script = Path(tempfile.mkdtemp()) / "webhooks.lua"
    run = uuid.uuid4().hex
    bodies = signed_bodies(run, BODIES_PER_RUN)
    # Lua 5.1 has no \u escapes: the bodies go in raw, as long-bracket strings.
    script.write_text(
        f'RUN = "{run}"\n'
        + "BODIES = {"
        + ",\n".join(f"[==[{body}]==]" for body, _ in bodies)
        + "}\n"
        + "SIGNATURES = {"
        + ",\n".join(f'"{sig}"' for _, sig in bodies)
        + "}\n"
        + WRK_SCRIPT,
        encoding="utf-8",
    )
    return script


def run_load(app: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    script = wrk_script()
    port = free_port()
    gunicorn = subprocess.Popen(
        web_command(app, args.access_log),
        env={**env, "PORT": str(port)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stalled = None
    try:
        wait_until_serving(gunicorn.pid, port, args.workers)
        if args.stalled:
            stalled = StalledClients(port, args.stalled).start()
            time.sleep(1.0)  # every stalled connection accepted and waiting
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
        if stalled is not None:
            stalled.stop()
        gunicorn.terminate()
        gunicorn.wait(40)
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
    parser.add_argument(
        "--access-log", action="store_true", help="keep the access log on (off in both runs)"
    )
    parser.add_argument("--stalled", type=int, default=0, help="silent connections held open")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/ingest.py needs wrk: apt-get install wrk")

    redis_proc, redis_url = start_redis()
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
            baselines.append(run_load("hello", env, args))
            runs.append(run_load("receiver", env, args))
        stored = redis.Redis.from_url(redis_url).llen(f"rq:queue:{WEBHOOK_QUEUE}")
        baseline, ours = median_run(baselines), median_run(runs)
        ours["accepted"] = sum(r["accepted"] for r in runs)
    finally:
        redis_proc.stop()
    print_results(args, baseline, ours, stored)


def print_results(
    args: argparse.Namespace, baseline: dict[str, float], ours: dict[str, float], stored: int
) -> None:
    options = gunicorn_options(load_settings(web_concurrency=args.workers))
    flags = ", ".join(
        f"{name} {getattr(options[name], '__name__', options[name])}"
        for name in ("workers", "worker_class", "worker_connections", "timeout")
    )
    access = "access log on" if args.access_log else "no access log"
    print(
        f"python -m web (gunicorn {flags}, {access}); "
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, {args.stalled} stalled connections, "
        f"each request a new event and X-Webhook-Id "
        f"({len(signed_bodies('x' * 32, 1)[0][0].encode())}-byte signed body); "
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
