"""Full-sync benchmark: PagerDuty requests, wall time and peak RSS of `pdgraph sync`.

For each account size (users; teams 1:10 and services 1:2 of users) it serves a simulated
account, runs `pdgraph sync` twice in a subprocess (into an empty graph, then again with
nothing changed), and prints:

- requests made vs the minimum Σ⌈n/100⌉ over the four listings (target: ≤ 3 above it;
  past 10,000 objects a listing must be split by filters, which costs more);
- wall time and peak RSS (targets: 10,000 users / 5,000 services in < 15 s and < 300 MB);
- a baseline measured in the same run: a naive single-threaded pager (requests, follows
  `more`, no transform, no sink) reading the same listings, and the ratio sync / baseline.

    .venv/bin/python bench/full_sync.py [--sizes 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import start_redis  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402

API_KEY = "bench-api-key"
LISTINGS = (
    ("/teams", "teams", []),
    ("/users", "users", []),
    ("/services", "services", [("include[]", "teams")]),
    ("/oncalls", "oncalls", [("time_zone", "UTC")]),
)


def run_sync_measured(env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, from wait4) and summary line of one `pdgraph sync`."""
    started = time.perf_counter()
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pdgraph"), "sync"], env=env, stdout=out, stderr=err
    )
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    if proc.returncode != 0:
        raise SystemExit(f"pdgraph sync failed: {err.read()[-2000:]}")
    return wall, rusage.ru_maxrss / 1024, out.read().strip()


def naive_pager(base_url: str) -> tuple[float, int, int]:
    """Sequential pages, following `more`, stopping at the offset cap. (seconds, pages, objects)"""
    session = requests.Session()
    session.headers["Authorization"] = f"Token token={API_KEY}"
    started = time.perf_counter()
    pages = objects = 0
    for path, key, params in LISTINGS:
        offset = 0
        while True:
            body = session.get(
                f"{base_url}{path}",
                params=[*params, ("limit", "100"), ("offset", str(offset))],
                timeout=30,
            ).json()
            pages += 1
            objects += len(body[key])
            offset += 100
            if not body["more"] or offset + 100 > 10_000:
                break
    return time.perf_counter() - started, pages, objects


def bench(users: int, redis_url: str, workdir: Path) -> None:
    t = time.perf_counter()
    account = Account.generate(seed=42, users=users)
    gen = time.perf_counter() - t
    oncall_entries = len(account.oncalls_now())
    sizes = {
        "teams": len(account.teams),
        "users": len(account.users),
        "services": len(account.services),
        "oncalls": oncall_entries,
    }
    minimum = sum(math.ceil(n / 100) for n in sizes.values())
    sim = PagerDutySim(account, API_KEY)
    sim.start()
    try:
        redis.Redis.from_url(redis_url).flushdb()
        graph = workdir / f"graph-{users}.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "GRAPH_"))}
        env.update(
            PAGERDUTY_API_KEY=API_KEY,
            PAGERDUTY_API_URL=sim.url,
            REDIS_URL=redis_url,
            LOCAL_GRAPH_PATH=str(graph),
            LOG_LEVEL="WARNING",
        )
        sim.reset_requests()
        wall, rss, summary = run_sync_measured(env)
        made = sum(sim.request_counts().values())
        sim.reset_requests()
        wall2, rss2, _ = run_sync_measured(env)
        made2 = sum(sim.request_counts().values())
        naive_s, naive_pages, naive_objects = naive_pager(sim.url)
    finally:
        sim.stop()
    total_objects = sum(sizes.values())
    capped = " (capped at 10,000 per listing: incomplete)" if naive_objects < total_objects else ""
    print(
        f"\n== {users:,} users, {sizes['teams']:,} teams, {sizes['services']:,} services, "
        f"{oncall_entries:,} on-call entries (account generated in {gen:.1f}s)"
    )
    print(f"   {summary}")
    print(
        f"   requests: {made} (minimum Σ⌈n/100⌉ = {minimum}, +{made - minimum}); "
        f"no-change resync: {made2}"
    )
    print(
        f"   pdgraph sync: {wall:.2f}s wall, peak RSS {rss:.0f} MB; "
        f"no-change resync {wall2:.2f}s, {rss2:.0f} MB"
    )
    print(
        f"   baseline naive pager: {naive_s:.2f}s for {naive_pages} pages, "
        f"{naive_objects:,} objects{capped}"
    )
    print(
        f"   ratio sync/baseline: {wall / naive_s:.2f}x "
        f"({made / max(1, naive_pages):.2f}x the baseline's requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph full-sync benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    proc, redis_url = start_redis()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for users in args.sizes:
                bench(users, redis_url, Path(tmp))
    finally:
        proc.stop()


if __name__ == "__main__":
    main()
