"""Full-sync benchmark: PagerDuty requests, wall time and peak RSS of `pdgraph sync`.

For each account size (users; teams 1:10 and services 1:2 of users) it serves a simulated
account, runs `pdgraph sync` twice in a subprocess (into an empty graph, then again with
nothing changed), and prints:

- requests made vs the minimum Σ⌈n/100⌉ over the six listings plus one read per schedule
  (its final schedule over the next 7 days: coverage and gaps), plus the catalog's (its
  listings, three reads per tag) (target:
  ≤ 3 above it; past 10,000 objects a listing must be split by filters, which costs more);
- wall time and peak RSS (targets: 10,000 users / 5,000 services in < 15 s and < 300 MB);
- a baseline measured in the same run: a naive single-threaded pager (requests, follows
  `more`, no transform, no sink) reading the same listings, and the ratio sync / baseline;
- the dependency pass (not the sync's: worker/dependencies.py): `pdgraph dependencies
  --all` (every service and business service, one read each) after the syncs, its
  requests and wall time; the first sync again (an empty graph, a free minute's budget)
  with the pass's reads kept, against the first (what dependencies add to the time to a
  usable graph); and what the clock's runs cost: reads a minute at the default
  PEOPLE_REFRESH_MINUTES (15) as a share of PAGERDUTY_REQUESTS_PER_MINUTE (960), and the
  minutes a first read of every object takes at the pass's cap (half of it).

    .venv/bin/python bench/full_sync.py [--sizes 1000 10000 50000] [--no-catalog]

The accounts have the catalog (business services 1:8 of services, integrations on a
third of the services, 4 tags, a maintenance window) unless `--no-catalog`.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import BIN, configure, private_redis  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402

API_KEY = "bench-api-key"
LISTINGS: tuple[tuple[str, str, list[tuple[str, str]]], ...] = (
    ("/teams", "teams", []),
    ("/users", "users", []),
    ("/services", "services", [("include[]", "teams")]),
    ("/escalation_policies", "escalation_policies", [("include[]", "teams")]),
    ("/schedules", "schedules", []),
    ("/oncalls", "oncalls", [("time_zone", "UTC")]),
)


def run_sync_measured() -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, from wait4) and summary line of one `pdgraph sync`."""
    started = time.perf_counter()
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([str(BIN / "pdgraph"), "sync"], stdout=out, stderr=err)
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


@dataclass
class Measured:
    """Two `pdgraph sync` runs (into an empty graph, then with nothing changed) and the
    naive pager, against one account."""

    wall: float
    rss: float
    summary: str
    requests: int
    resync_wall: float
    resync_rss: float
    resync_requests: int
    pass_wall: float
    pass_requests: int
    with_dependencies_wall: float
    with_dependencies_rss: float
    naive_seconds: float
    naive_pages: int
    naive_objects: int


def measure(account: Account, redis_url: str, graph: Path) -> Measured:
    with PagerDutySim(account, API_KEY) as sim:
        redis.Redis.from_url(redis_url).flushdb()
        configure(
            PAGERDUTY_API_KEY=API_KEY,
            PAGERDUTY_API_URL=sim.url,
            REDIS_URL=redis_url,
            LOCAL_GRAPH_PATH=str(graph),
        )
        sim.reset_requests()
        wall, rss, summary = run_sync_measured()
        made = sum(sim.request_counts().values())
        sim.reset_requests()
        wall2, rss2, _ = run_sync_measured()
        made2 = sum(sim.request_counts().values())
        sim.reset_requests()
        started = time.perf_counter()
        subprocess.run([str(BIN / "pdgraph"), "dependencies", "--all"], check=True)
        pass_wall = time.perf_counter() - started
        pass_made = sum(sim.request_counts().values())
        # The first sync again, into an empty graph, now with the pass's reads in Redis
        # (their edges built in): what the dependencies add to a usable graph. After the
        # minute's request budget is free again, as it was for the first.
        graph.unlink()
        time.sleep(61)
        wall3, rss3, _ = run_sync_measured()
        naive = naive_pager(sim.url)
    return Measured(
        wall, rss, summary, made, wall2, rss2, made2, pass_wall, pass_made, wall3, rss3, *naive
    )


def catalog_requests(account: Account) -> int:
    """The fewest requests the catalog costs: its listings (one page at least) and what
    each tag is on (users, teams, policies)."""
    catalog = account.catalog
    vendors = 1 if any(i["vendor_id"] for i in catalog.integrations.values()) else 0
    return (
        max(1, math.ceil(len(catalog.business_services) / 100))
        + max(1, math.ceil(len(catalog.tags) / 100))
        + 3 * len(catalog.tags)
        + 1  # the maintenance windows going on now
        + vendors
    )


def bench(users: int, redis_url: str, workdir: Path, catalog: bool) -> None:
    t = time.perf_counter()
    account = Account.generate(seed=42, users=users, catalog=catalog)
    gen = time.perf_counter() - t
    sizes = {
        "teams": len(account.teams),
        "users": len(account.users),
        "services": len(account.services),
        "escalation_policies": len(account.policies),
        "schedules": len(account.schedules),
        "oncalls": len(account.oncalls_now()),
    }
    # one page per 100 of each listing, and one read of each schedule's coverage
    minimum = sum(math.ceil(n / 100) for n in sizes.values()) + sizes["schedules"]
    minimum += catalog_requests(account)
    m = measure(account, redis_url, workdir / f"graph-{users}.sqlite3")
    complete = m.naive_objects >= sum(sizes.values())
    capped = "" if complete else " (capped at 10,000 per listing: incomplete)"
    print(
        f"\n== {users:,} users, {sizes['teams']:,} teams, {sizes['services']:,} services, "
        f"{sizes['escalation_policies']:,} policies, {sizes['schedules']:,} schedules, "
        f"{sizes['oncalls']:,} on-call entries (account generated in {gen:.1f}s)"
    )
    c = account.catalog
    print(
        f"   catalog: {len(c.business_services)} business services, "
        f"{len(c.integrations)} integrations, {len(c.tags)} tags, "
        f"{len(c.maintenance_windows)} maintenance windows"
    )
    print(f"   {m.summary}")
    print(
        f"   requests: {m.requests} (minimum Σ⌈n/100⌉ + schedules + catalog = {minimum}, "
        f"+{m.requests - minimum}); "
        f"no-change resync: {m.resync_requests}"
    )
    print(
        f"   pdgraph sync: {m.wall:.2f}s wall, peak RSS {m.rss:.0f} MB; "
        f"no-change resync {m.resync_wall:.2f}s, {m.resync_rss:.0f} MB"
    )
    print(
        f"   baseline naive pager: {m.naive_seconds:.2f}s for {m.naive_pages} pages, "
        f"{m.naive_objects:,} objects{capped}"
    )
    print(
        f"   ratio sync/baseline: {m.wall / m.naive_seconds:.2f}x "
        f"({m.requests / max(1, m.naive_pages):.2f}x the baseline's requests)"
    )
    print(
        f"   first sync with the dependency pass's reads kept: "
        f"{m.with_dependencies_wall:.2f}s wall ({m.with_dependencies_wall / m.wall - 1:+.1%}), "
        f"peak RSS {m.with_dependencies_rss:.0f} MB"
    )
    dependents = sizes["services"] + len(c.business_services)
    per_minute = math.ceil(dependents / 15)
    print(
        f"   dependency pass: {dependents:,} services and business services; "
        f"`pdgraph dependencies --all` {m.pass_requests} requests in {m.pass_wall:.2f}s; "
        f"the clock's runs: {per_minute} reads a minute ({per_minute / 960:.0%} of 960), "
        f"a first read of all in {math.ceil(dependents / 480)} min at the cap of 480"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="pdgraph full-sync benchmark")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument(
        "--no-catalog",
        action="store_true",
        help="accounts without business services, integrations, tags or windows",
    )
    args = parser.parse_args()
    with private_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        for users in args.sizes:
            bench(users, redis_url, Path(tmp), catalog=not args.no_catalog)


if __name__ == "__main__":
    main()
