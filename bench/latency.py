"""Event → graph latency: a steady stream of service renames through the whole path.

The simulated PagerDuty account renames a random service EVENTS_PER_S times a second
for SECONDS; each rename is POSTed as a signed v3 webhook to gunicorn (the Procfile's web
flags), queued in a private redis-server, picked up by `rq worker` processes (the
Procfile's worker command), re-read from the simulator and written to the SQLite graph. A
monitor polls the graph every 10 ms and records when each new name appears. Prints p50/
p99/max latency, the webhook POST round trip as the baseline (the part before the
queue), their ratio, and events never seen in the graph.

    .venv/bin/python bench/latency.py [--rate 50] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import free_port, procfile_command, start_redis, without_option  # noqa: E402
from common.config import Settings  # noqa: E402
from sim.jupiterone import JupiterOneSim  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-api-key"
SECRET = "bench-webhook-secret"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph event → graph latency benchmark")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--jupiterone",
        action="store_true",
        help="write to the JupiterOne simulator (PATCH jobs shared within 0.5 s) instead",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    web_port = free_port()
    redis_proc, redis_url = start_redis()
    processes: list[subprocess.Popen[bytes]] = []
    connection = redis.Redis.from_url(redis_url)

    sim = PagerDutySim(Account.generate(seed=5, users=args.users), API_KEY)
    sim.start()
    graph_path = str(tmp / "graph.sqlite3")
    j1 = JupiterOneSim() if args.jupiterone else None
    j1_env: dict[str, str] = {}
    if j1 is not None:
        j1.start()
        j1_env = {
            "GRAPH_SINK": "jupiterone",
            "JUPITERONE_ACCOUNT_ID": j1.account_id,
            "JUPITERONE_API_KEY": j1.api_key,
            "JUPITERONE_API_URL": j1.api_url,
            "JUPITERONE_GRAPHQL_URL": j1.graphql_url,
        }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAGERDUTY_", "GRAPH_", "JUPITERONE_"))
    }
    env.update(
        PAGERDUTY_API_KEY=API_KEY,
        PAGERDUTY_API_URL=sim.url,
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        REDIS_URL=redis_url,
        LOCAL_GRAPH_PATH=graph_path,
        LOG_LEVEL="WARNING",
        PORT=str(web_port),
        WEB_CONCURRENCY="2",
        # The pipeline is measured here, not PagerDuty's budget (its meaning is printed).
        PAGERDUTY_REQUESTS_PER_MINUTE="100000",
        **j1_env,
    )
    settings = Settings(
        pagerduty_api_key=API_KEY,
        pagerduty_api_url=sim.url,
        redis_url=redis_url,
        local_graph_path=graph_path,
        **{k.lower(): v for k, v in j1_env.items()},
    )
    run_full_sync(settings, redis_client=connection)

    def names(keys: list[str], db: sqlite3.Connection) -> list[tuple[str, str | None]]:
        """(key, name) of these service entities as the graph holds them now."""
        if j1 is not None:
            with j1.state_lock:
                held = j1.scopes["pagerduty"].entities
                return [(k, held[k].get("name")) for k in keys if k in held]
        marks = ",".join("?" * len(keys))
        rows = db.execute(
            f"SELECT key, json_extract(properties, '$.name') FROM entities WHERE key IN ({marks})",
            keys,
        ).fetchall()
        return [(key, name) for key, name in rows]

    try:
        web = without_option(procfile_command("web", env), "--access-logfile")
        processes.append(
            subprocess.Popen(
                web, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        for i in range(args.workers):
            log = open(tmp / f"worker-{i}.log", "wb")
            processes.append(
                subprocess.Popen(
                    procfile_command("worker", env),
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        time.sleep(2)  # every gunicorn worker and rq worker up

        sender = sim.send_webhooks_to(f"http://127.0.0.1:{web_port}/webhooks/pagerduty", [SECRET])
        services = sorted(sim.account.services)
        pending: dict[str, list[tuple[int, float]]] = {}  # service -> [(seq, sent at)]
        latencies: list[float] = []
        post_times: list[float] = []
        lock = threading.Lock()
        stop = threading.Event()

        def monitor() -> None:
            db = sqlite3.connect(graph_path)
            while not stop.is_set() or pending:
                with lock:
                    watched = list(pending)
                if watched:
                    rows = names([f"service:{s}" for s in watched], db)
                    now = time.monotonic()
                    with lock:
                        for key, name in rows:
                            service_id = key.removeprefix("service:")
                            if not name or not name.startswith("lat-"):
                                continue
                            seen = int(name.split("-")[1])
                            waiting = pending.get(service_id, [])
                            # a later rename supersedes earlier ones: they are done too
                            done = [(q, t) for q, t in waiting if q <= seen]
                            latencies.extend(now - t for _, t in done)
                            rest = [(q, t) for q, t in waiting if q > seen]
                            if rest:
                                pending[service_id] = rest
                            else:
                                pending.pop(service_id, None)
                if stop.is_set() and time.monotonic() > deadline:
                    return
                time.sleep(0.01)

        deadline = float("inf")
        watcher = threading.Thread(target=monitor, daemon=True)
        watcher.start()
        rng = random.Random(1)
        total = int(args.rate * args.seconds)
        start = time.monotonic()
        sim.reset_requests()
        for seq in range(total):
            due = start + seq / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            service_id = rng.choice(services)
            sent = time.monotonic()
            with lock:
                pending.setdefault(service_id, []).append((seq, sent))
            with sim.lock:
                sim.account.update_service(service_id, name=f"lat-{seq}")
            post_times.append(time.monotonic() - sent)
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 30  # stragglers get 30 s
        stop.set()
        watcher.join(35)
        rejected = sum(1 for d in sender.deliveries if not d.delivered)
        pd_requests = sum(sim.request_counts().values())
        db = sqlite3.connect(graph_path)
        for service_id, waiting in list(pending.items())[:5]:
            row = names([f"service:{service_id}"], db)
            print(
                f"  unseen: {service_id} waiting for {[q for q, _ in waiting]}, graph has "
                f"{row}, PagerDuty has {sim.account.services[service_id]['name']}"
            )
    finally:
        for proc in reversed(processes):  # workers, then gunicorn
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                print(f"  {proc.args[1]} ignored SIGTERM for 20 s; killed")
                proc.kill()
                proc.wait()
        redis_proc.stop()  # last: the workers and gunicorn needed it
        sim.stop()
        if j1 is not None:
            j1.stop()

    lost = total - len(latencies)
    print(
        f"{total} renames at {total / elapsed:.1f}/s for {elapsed:.0f}s over {len(services)} "
        f"services; gunicorn (Procfile web) + {args.workers} rq workers (Procfile worker)"
    )
    print(
        f"  event → graph: p50 {1000 * statistics.median(latencies):.0f} ms  "
        f"p99 {1000 * percentile(latencies, 99):.0f} ms  max {1000 * max(latencies):.0f} ms"
    )
    print(
        f"  baseline, webhook POST → 202: p50 {1000 * statistics.median(post_times):.1f} ms  "
        f"p99 {1000 * percentile(post_times, 99):.1f} ms"
    )
    print(
        f"  ratio p99 event→graph / p99 POST: "
        f"{percentile(latencies, 99) / percentile(post_times, 99):.0f}x"
    )
    print(f"  not in the graph after 30 s: {lost}; deliveries not accepted: {rejected}")
    if j1 is not None:
        calls = dict(sorted(j1.calls.items()))
        print(f"  JupiterOne requests: {sum(calls.values())} {calls}")
    per_event = pd_requests / total
    print(
        f"  PagerDuty requests: {pd_requests} ({per_event:.2f} per event, "
        f"{pd_requests / elapsed:.0f}/s; budget raised for this run). At PagerDuty's 960/min "
        f"per key the webhook path sustains about {16 / per_event:.0f} events/s."
    )


if __name__ == "__main__":
    main()
