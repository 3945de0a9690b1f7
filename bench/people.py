"""Users, teams and memberships: change → graph latency and PagerDuty requests per hour.

A simulated account (`--users`, default 2,000) runs on the simulator's clock, which the
benchmark moves forward in-process (no real waiting). One change a minute (at a random
second), alternately to a user (its job title) and to a team's members (one added or
removed). Three strategies,
each after the same full sync, each with its own Redis database and graph:

- feed: the audit-records poll every AUDIT_POLL_SECONDS (30 s);
- refresh: the light refresh every PEOPLE_REFRESH_MINUTES (15 min), the feed refused (402);
- full-sync: an hourly full sync only.

After each run the benchmark looks at the graph for every change not yet seen there; a
change's latency is the simulated time from it to the first run after which the graph
shows it. Prints p50 / p99 latency, changes never seen, and PagerDuty requests per hour
(and as a share of the account's 960 requests a minute).

    .venv/bin/python bench/people.py [--users 2000] [--hours 24]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench._common import RAISED_BUDGET, configure, private_redis  # noqa: E402
from common.graph import Relationship  # noqa: E402
from common.objects.membership import TEAM_HAS_USER  # noqa: E402
from common.objects.team import team_key  # noqa: E402
from common.objects.user import user_key  # noqa: E402
from common.sinks import GraphSink  # noqa: E402
from sim.clock import Clock  # noqa: E402
from sim.pagerduty import Account, PagerDutySim  # noqa: E402
from worker.context import JobContext  # noqa: E402
from worker.freshness import light_refresh_due, poll_feed_or_refresh  # noqa: E402
from worker.full_sync import run_full_sync  # noqa: E402

API_KEY = "bench-api-key"
BUDGET_PER_HOUR = 960 * 60


@dataclass
class Change:
    at: float
    seen: Callable[[GraphSink], bool]  # whether the graph shows it


def change_user(account: Account, rng: random.Random, sink: GraphSink, k: int) -> Change:
    """A user's job title: seen once the user's entity differs from what it was."""
    user_id = rng.choice(sorted(account.users))
    key = user_key(user_id)
    before = sink.index_around(key).entities.get(key)
    account.update_user(user_id, job_title=f"title {k}")
    return Change(account.clock(), lambda s: s.index_around(key).entities.get(key) != before)


def change_team(account: Account, rng: random.Random, sink: GraphSink, k: int) -> Change:
    """One member added to, or removed from, a team: seen once the HAS edge is, or is gone."""
    team_id = rng.choice(sorted(account.teams))
    user_id = rng.choice(sorted(account.users))
    edge = Relationship.between(TEAM_HAS_USER, "HAS", team_key(team_id), user_key(user_id)).key
    joining = team_id not in account.users[user_id]["team_ids"]
    if joining:
        account.add_member(team_id, user_id)
    else:
        account.remove_member(team_id, user_id)
    key = team_key(team_id)
    return Change(account.clock(), lambda s: (edge in s.index_around(key).relationships) == joining)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(strategy: str, args: argparse.Namespace, redis_url: str, db: int) -> dict[str, float]:
    start = float(int(time.time()) // 60 * 60)
    clock = Clock(start)
    account = Account.generate(seed=13, users=args.users, clock=clock)
    url = f"{redis_url.rsplit('/', 1)[0]}/{db}"
    connection = redis.Redis.from_url(url)
    connection.flushdb()
    graph_path = tempfile.mktemp(suffix=".sqlite3")
    audit = "402" if strategy == "refresh" else "ok"
    with PagerDutySim(account, API_KEY, audit_records=audit) as sim:
        settings = configure(
            PAGERDUTY_API_KEY=API_KEY,
            PAGERDUTY_API_URL=sim.url,
            REDIS_URL=url,
            LOCAL_GRAPH_PATH=graph_path,
            **RAISED_BUDGET,
        )
        run_full_sync(settings, redis_client=connection)
        context = JobContext(settings)
        sim.reset_requests()
        interval, job = {
            "feed": (settings.audit_poll_seconds, lambda: poll_feed_or_refresh(context)),
            "refresh": (settings.people_refresh_minutes * 60, lambda: light_refresh_due(context)),
            "full-sync": (3600, lambda: run_full_sync(settings, redis_client=connection)),
        }[strategy]
        if strategy == "refresh":
            poll_feed_or_refresh(
                context
            )  # finds the feed refused (402): the light refresh from now on
        latencies, pending = simulate(args, account, context, clock, start, interval, job)
        requests = sum(sim.request_counts().values())
        context.close()
    Path(graph_path).unlink(missing_ok=True)
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "changes": len(latencies) + pending,
        "unseen": pending,
        "requests_per_hour": requests / args.hours,
    }


def simulate(
    args: argparse.Namespace,
    account: Account,
    context: JobContext,
    clock: Clock,
    start: float,
    interval: int,
    job: Callable[[], object],
) -> tuple[list[float], int]:
    """A change at a random second of every minute, and the strategy's runs, in time
    order."""
    rng = random.Random(7)
    end = start + args.hours * 3600
    minute, next_run, k = start, start + interval, 0
    next_change = minute + rng.uniform(0, 60)
    pending: list[Change] = []
    latencies: list[float] = []
    while min(next_change, next_run) < end:
        if next_change < next_run:
            clock.now = next_change
            make = change_user if k % 2 == 0 else change_team
            pending.append(make(account, rng, context.sink, k))
            minute, k = minute + 60, k + 1
            next_change = minute + rng.uniform(0, 60)
            continue
        clock.now = next_run
        job()
        still = []
        for change in pending:
            if change.seen(context.sink):
                latencies.append(next_run - change.at)
            else:
                still.append(change)
        pending = still
        next_run += interval
    return latencies, len(pending)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--strategies", default="feed,refresh,full-sync")
    args = parser.parse_args()
    with private_redis() as url:
        for db, strategy in enumerate(args.strategies.split(","), start=1):
            started = time.perf_counter()
            r = run(strategy, args, url, db)
            share = 100 * r["requests_per_hour"] / BUDGET_PER_HOUR
            print(
                f"{strategy:<9} latency p50 {r['p50']:7.1f} s  p99 {r['p99']:7.1f} s  "
                f"({r['changes'] - r['unseen']:.0f}/{r['changes']:.0f} changes seen); "
                f"{r['requests_per_hour']:7.1f} PagerDuty requests/h = {share:.2f} % of "
                f"960/min ({time.perf_counter() - started:.0f} s to simulate {args.hours:g} h)",
                flush=True,
            )


if __name__ == "__main__":
    main()
