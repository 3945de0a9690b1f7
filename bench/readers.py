"""Readers cannot starve the receiver: webhook delivery latency with and without 20 readers.

A 10,000-user simulated account is fully synced into the local graph; the Procfile's
`web` (gunicorn, gevent workers) and `worker` processes run on a private redis-server.
The account renames a random service `--rate` times a second; each rename's signed v3
webhook is POSTed on its schedule (open loop: a slow answer does not delay the next) and
its POST → answer time recorded. Twice for `--seconds` each, in one run of the processes:
1. no readers (the baseline);
2. `--readers` clients (a separate process, so their own CPU is not this one's) with a
   read token, half asking `GET /report` (JSON), half walking `GET /changes?limit=1000`
   cursor by cursor, each as fast as it is answered.
Prints both: delivery p50/p99/max, how many over 1 s, non-2xx; and what the readers got.

    .venv/bin/python bench/readers.py [--users 10000] [--rate 50] [--seconds 20]
                                      [--readers 20] [--ask report,changes] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    RAISED_BUDGET,
    configure,
    free_port,
    private_redis,
    procfile_line,
)
from bench.latency import percentile, start_processes  # noqa: E402
from common.config import Settings  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-readers-api-key"
SECRET = "bench-readers-webhook-secret"
READ_TOKEN = "bench-readers-read-token-0123456789"
SLOW = 1.0  # s: a delivery this slow counts as a failure of the design


@dataclass
class Deliveries:
    """POST → answer times of one phase, and the answers that were not 2xx."""

    times: list[float]
    failed: int
    elapsed: float

    def line(self, name: str) -> str:
        times = self.times
        return (
            f"  {name:<28} {len(times)} deliveries at {len(times) / self.elapsed:.1f}/s: "
            f"p50 {1000 * statistics.median(times):.1f} ms  p99 {1000 * percentile(times, 99):.1f} "
            f"ms  max {1000 * max(times):.0f} ms  over {SLOW:.0f} s: "
            f"{sum(1 for t in times if t > SLOW)}  non-2xx: {self.failed}"
        )


def deliver_renames(sim: PagerDutySim, url: str, rate: float, seconds: float) -> Deliveries:
    """Rename a random service `rate` times a second; POST each rename's webhook at its
    time from a pool of senders, and time it."""
    sender = sim.send_webhooks_to(url, [SECRET])
    sender.hold = True  # the rename records its delivery; the pool below sends it
    services = sorted(sim.account.services)
    times: list[float] = []
    failed = [0]
    lock = threading.Lock()
    local = threading.local()

    def post(body: bytes) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={digest}"}
        started = time.monotonic()
        try:
            status = session.post(url, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException:
            status = 0
        took = time.monotonic() - started
        with lock:
            times.append(took)
            failed[0] += not 200 <= status < 300

    total = int(rate * seconds)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for seq in range(total):
            time.sleep(max(0.0, start + seq / rate - time.monotonic()))
            with sim.lock:
                sim.account.update_service(services[(seq * 7919) % len(services)], name=f"r-{seq}")
            pool.submit(post, sender.held.pop().body)
    return Deliveries(times, failed[0], time.monotonic() - start)


# The readers' process: `--readers N` threads, half on /report, half on /changes.
READERS = """
import json, sys, threading, time
import requests

base, token, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
kinds = sys.argv[5].split(",")
headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
results = {"report": [], "changes": []}  # (status, seconds, bytes)
lock = threading.Lock()
deadline = time.monotonic() + seconds

def read(kind):
    session, cursor = requests.Session(), None
    while time.monotonic() < deadline:
        url = f"{base}/report" if kind == "report" else f"{base}/changes?limit=1000"
        if kind == "changes" and cursor:
            url += f"&cursor={cursor}"
        started = time.monotonic()
        try:
            answer = session.get(url, headers=headers, timeout=30)
            status, size = answer.status_code, len(answer.content)
            if kind == "changes" and status == 200:
                cursor = answer.json()["next_cursor"]
        except requests.RequestException:
            status, size = 0, 0
        with lock:
            results[kind].append((status, time.monotonic() - started, size))

threads = [threading.Thread(target=read, args=(kinds[i % len(kinds)],)) for i in range(count)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
"""


def reader_lines(results: dict[str, list[list[float]]], seconds: float) -> list[str]:
    lines = []
    for kind, answers in results.items():
        if not answers:
            continue
        ok = [a for a in answers if a[0] == 200]
        statuses = sorted({int(a[0]) for a in answers})
        size = statistics.median(a[2] for a in ok) / 1024 if ok else 0
        took = statistics.median(a[1] for a in ok) if ok else 0
        lines.append(
            f"    GET /{kind}: {len(answers)} answers ({len(answers) / seconds:.1f}/s), "
            f"{len(ok)} × 200, statuses {statuses}; median {took:.2f} s, {size:.0f} KiB"
        )
    return lines


def start(args: argparse.Namespace, stack: ExitStack) -> tuple[PagerDutySim, Settings]:
    """The simulator, a private Redis, the configuration, a first full sync, the processes."""
    sim = PagerDutySim(Account.generate(seed=5, users=args.users), API_KEY)
    sim.start()
    stack.callback(sim.stop)
    redis_url = stack.enter_context(private_redis())
    settings = configure(
        PAGERDUTY_API_KEY=API_KEY,
        PAGERDUTY_API_URL=sim.url,
        PAGERDUTY_WEBHOOK_SECRETS=SECRET,
        READ_TOKENS=READ_TOKEN,
        REDIS_URL=redis_url,
        LOCAL_GRAPH_PATH=str(Path(tempfile.mkdtemp()) / "graph.sqlite3"),
        PORT=str(free_port()),
        WEB_CONCURRENCY=str(args.web_concurrency),
        **RAISED_BUDGET,
    )
    started = time.monotonic()
    run_full_sync(settings, redis_client=redis.Redis.from_url(redis_url))
    print(f"full sync of {args.users:,} users: {time.monotonic() - started:.1f} s")
    start_processes(settings, args.workers, stack)
    return sim, settings


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph readers vs receiver benchmark")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument(
        "--ask", default="report,changes", help="what the readers ask, in turn: report, changes"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--web-concurrency", type=int, default=2)
    args = parser.parse_args()
    with ExitStack() as stack:
        sim, settings = start(args, stack)
        base = f"http://127.0.0.1:{settings.port}"
        url = f"{base}/webhooks/pagerduty"
        load_before = os.getloadavg()[0]
        quiet = deliver_renames(sim, url, args.rate, args.seconds)
        command = [sys.executable, "-c", READERS, base, READ_TOKEN, str(args.readers)]
        readers = subprocess.Popen(
            [*command, str(args.seconds), args.ask],
            stdout=subprocess.PIPE,
            text=True,
        )
        loaded = deliver_renames(sim, url, args.rate, args.seconds)
        results = json.loads(readers.communicate(timeout=120)[0])
        load_after = os.getloadavg()[0]
    print(
        f"{args.users:,} users; web ({procfile_line('web')}, WEB_CONCURRENCY="
        f"{args.web_concurrency}) + {args.workers} × worker; signed service.updated deliveries "
        f"at {args.rate:.0f}/s for {args.seconds:.0f} s per phase"
    )
    print(
        f"  host: {os.cpu_count()} CPUs, 1-min load average {load_before:.2f} before, "
        f"{load_after:.2f} after (whatever else runs on the host counts in both phases)"
    )
    print(quiet.line("no readers:"))
    print(loaded.line(f"{args.readers} readers:"))
    print(*reader_lines(results, args.seconds), sep="\n")


if __name__ == "__main__":
    main()
