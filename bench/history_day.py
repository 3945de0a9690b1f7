"""bench/history.py's day: the account, its changes, and pdgraph run through them on a
moved clock (see bench/history.py)."""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import time_machine
from rq import Queue
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from werkzeug.serving import make_server

from common.queueing import QUEUES
from common.state import keys
from sim.clock import Clock
from sim.pagerduty import Account
from sim.pagerduty.objects import iso
from web.app import create_app
from worker import jobs
from worker.rqworker import PromptSimpleWorker

API_KEY = "bench-api-key"
WEBHOOK_SECRET = "bench-webhook-secret-0123"
J1_ACCOUNT, J1_KEY = "bench-account", "bench-j1-key"
DAY = 86400
POLL_SECONDS = 30  # AUDIT_POLL_SECONDS' default

# Changes a day, per user of the account (services: per service), and what each is.
RATES: dict[str, tuple[float, str]] = {
    "user_edits": (0.01, "users edited (job title, role: admin granted/revoked, name, zone)"),
    "memberships": (0.002, "team memberships added or removed"),
    "users_created": (0.0005, "users created (in one team)"),
    "users_deleted": (0.0005, "users deleted"),
    "policy_edits": (0.001, "escalation policies edited (a level's target, or renamed)"),
    "schedule_edits": (0.001, "schedules edited (one user of the rotation replaced)"),
    "service_edits": (0.001, "services edited (description): webhook + audit record"),
}
INCIDENTS_PER_SERVICE = 0.1  # a day: about 3 a month per service


# -- the day's clock ---------------------------------------------------------------------


class SimTime:
    """pdgraph's clock (time-machine, ticking from where it is put) and the simulator's
    (sim/clock.py), moved together."""

    def __init__(self, start: float) -> None:
        self.clock = Clock(start)
        self._travel = time_machine.travel(start, tick=True)
        self._traveller = self._travel.start()

    def move_to(self, at: float) -> None:
        self.clock.now = at
        self._traveller.move_to(at)

    def stop(self) -> None:
        self._travel.stop()


def next_3am(now: float) -> float:
    """The next 03:00 UTC (FULL_SYNC_CRON's default), a day ahead or less."""
    moment = datetime.fromtimestamp(now, UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    if moment.timestamp() <= now:
        moment += timedelta(days=1)
    return moment.timestamp()


# -- the account and the day's changes ------------------------------------------------------


def shape_schedules(
    account: Account, shift_hours: list[float], gapped_share: float, rng: random.Random
) -> int:
    """Rotation lengths `shift_hours` in turn, each schedule's hand-off at a random point of
    its shift (an average day sees 24 / shift-hours of each length's hand-offs), and
    `gapped_share` of the schedules with a rotation slot nobody covers (the simulator
    renders a shift of a user it does not know as a gap); how many got one."""
    every = round(1 / gapped_share) if gapped_share > 0 else 0
    gapped = 0
    for n, schedule in enumerate(account.schedules.values()):
        schedule.shift_seconds = int(shift_hours[n % len(shift_hours)] * 3600)
        schedule.epoch -= rng.randrange(schedule.shift_seconds)
        if every and n % every == 0:
            schedule.rotation.append(f"PGAP{n:05d}")
            gapped += 1
    account.changed()
    return gapped


def schedule_handoffs(account: Account, start: float, end: float) -> tuple[int, float]:
    """Hand-offs of the schedules in [start, end), and the services a schedule reaches
    through the policies escalating to it (on average over the schedules that reach any)."""
    services_of: dict[str, int] = Counter(
        s["escalation_policy_id"] for s in account.services.values()
    )
    reached: Counter[str] = Counter()
    for policy in account.policies.values():
        for schedule_id in {
            t for level in policy.levels for kind, t in level if kind == "schedule"
        }:
            reached[schedule_id] += services_of.get(policy.id, 0)
    handoffs = 0
    for schedule in account.schedules.values():
        first = math.floor((start - schedule.epoch) / schedule.shift_seconds) + 1
        last = math.ceil((end - schedule.epoch) / schedule.shift_seconds) - 1
        handoffs += max(0, last - first + 1)
    used = [n for n in reached.values() if n]
    return handoffs, sum(used) / max(1, len(used))


def daily_counts(users: int, services: int) -> dict[str, int]:
    counts = {name: max(1, round(rate * users)) for name, (rate, _) in RATES.items()}
    counts["incidents"] = round(INCIDENTS_PER_SERVICE * services)
    return counts


Change = Callable[[Account, random.Random], None]


def admin_of(account: Account, rng: random.Random) -> str:
    admins = [u for u, user in account.users.items() if user["role"] in ("admin", "owner")]
    return rng.choice(admins)


def edit_user(account: Account, rng: random.Random) -> None:
    user_id = rng.choice(list(account.users))
    user = account.users[user_id]
    what = rng.choices(("job_title", "role", "name", "time_zone"), weights=(5, 2, 2, 1))[0]
    if what == "role":
        value = "user" if user["role"] in ("admin", "owner") else "admin"
    elif what == "name":
        value = f"{user['name']} Jr"
    elif what == "time_zone":
        value = "Europe/Lisbon" if user["time_zone"] != "Europe/Lisbon" else "UTC"
    else:
        value = rng.choice(["SRE", "Staff Engineer", "Engineering Manager", "Ingénieure"])
    account.update_user(user_id, **{what: value})


def change_membership(account: Account, rng: random.Random) -> None:
    user_id = rng.choice(list(account.users))
    team_id = rng.choice(list(account.teams))
    if team_id in account.users[user_id]["team_ids"]:
        account.remove_member(team_id, user_id)
    else:
        account.add_member(team_id, user_id)


def create_user(account: Account, rng: random.Random) -> None:
    n = account.new_id("X")
    account.add_user(
        f"New Hire {n}",
        f"new.hire.{n.lower()}@example.com",
        team_ids=[rng.choice(list(account.teams))],
        job_title="Engineer",
        time_zone="Europe/Berlin",
    )


def delete_user(account: Account, rng: random.Random) -> None:
    candidates = [u for u, user in account.users.items() if user["role"] != "owner"]
    account.delete_user(rng.choice(candidates))


def edit_policy(account: Account, rng: random.Random) -> None:
    policy = account.policies[rng.choice(list(account.policies))]
    if rng.random() < 0.5:
        account.update_policy(policy.id, name=f"{policy.name} (edited)")
        return
    levels = [list(level) for level in policy.levels]
    level = rng.randrange(len(levels))
    target = (
        ("schedule", rng.choice(list(account.schedules)))
        if rng.random() < 0.6
        else ("user", rng.choice(list(account.users)))
    )
    levels[level] = [target, *levels[level][1:]]
    account.update_policy(policy.id, levels=levels)


def edit_schedule(account: Account, rng: random.Random) -> None:
    schedule = account.schedules[rng.choice(list(account.schedules))]
    rotation = list(schedule.rotation)
    slots = [i for i, u in enumerate(rotation) if u in account.users] or [0]
    rotation[rng.choice(slots)] = rng.choice(list(account.users))
    account.update_schedule(schedule.id, rotation=rotation)


def edit_service(account: Account, rng: random.Random) -> None:
    service_id = rng.choice(list(account.services))
    account.update_service(service_id, description=f"Edited at {iso(account.clock())}")


def incident(account: Account, rng: random.Random) -> None:
    """A new incident: PagerDuty moves the service's `last_incident_timestamp` and sends
    incident.triggered (the simulator sends the webhook; the timestamp is set here)."""
    service_id = rng.choice(list(account.services))
    account.services[service_id]["last_incident_timestamp"] = iso(account.clock())
    account.changed()
    account.trigger_incident(service_id)


CHANGES: dict[str, Change] = {
    "user_edits": edit_user,
    "memberships": change_membership,
    "users_created": create_user,
    "users_deleted": delete_user,
    "policy_edits": edit_policy,
    "schedule_edits": edit_schedule,
    "service_edits": edit_service,
    "incidents": incident,
}


def plan_changes(
    counts: dict[str, int], start: float, rng: random.Random
) -> list[tuple[float, str]]:
    """(when, what) of every change of the day, at random seconds, in time order."""
    planned = [
        (start + 60 + rng.uniform(0, DAY - 120), name)
        for name, count in counts.items()
        for _ in range(count)
    ]
    return sorted(planned)


# -- pdgraph's side ----------------------------------------------------------------------


@contextmanager
def receiver(settings: Any, connection: redis.Redis) -> Iterator[str]:
    """The web process's webhook receiver on a free port; its URL."""
    server = make_server("127.0.0.1", 0, create_app(settings, connection), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}/webhooks/pagerduty"
    finally:
        server.shutdown()
        server.server_close()


def drain(connection: redis.Redis, timeout: float = 600.0) -> None:
    """A burst worker until no job is queued or due (later ones, hand-offs days away, wait)."""
    queues = [Queue(name, connection=connection) for name in QUEUES]
    deadline = time.monotonic() + timeout
    while True:
        PromptSimpleWorker(queues, connection=connection).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        now = time.time()
        scheduled = [ScheduledJobRegistry(queue=q).key for q in queues]  # type: ignore[no-untyped-call]
        due = sum(q.count for q in queues) + sum(
            int(connection.zcount(k, 0, now)) for k in scheduled
        )
        if not due:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{due} jobs still queued after {timeout:.0f} s")
        time.sleep(0.05)


def failed_jobs(connection: redis.Redis) -> int:
    return sum(len(FailedJobRegistry(name, connection=connection)) for name in QUEUES)


def pending_handoffs(connection: redis.Redis, after: float, done: set[int]) -> list[int]:
    held = connection.zrangebyscore(keys.HANDOFFS, after, "+inf")
    return sorted(d for d in (int(float(x)) for x in keys.text_list(held)) if d not in done)


def simulate_day(
    account: Account,
    connection: redis.Redis,
    sim_time: SimTime,
    start: float,
    counts: dict[str, int],
    args: argparse.Namespace,
) -> int:
    """Every change, poll, hand-off, safety refresh and drain of the day, in time order;
    how many hand-off refreshes ran."""
    rng = random.Random(23)
    changes = plan_changes(counts, start, rng)
    end = start + DAY
    polls: list[float] = []
    done: set[int] = set()
    safety = start + args.safety_minutes * 60
    drained = start + args.drain_minutes * 60
    while True:
        candidates: list[tuple[float, int, str]] = [
            (safety, 3, "safety"),
            (drained, 4, "drain"),
        ]
        if changes:
            candidates.append((changes[0][0], 0, "change"))
        if polls:
            candidates.append((polls[0], 1, "poll"))
        if pending := pending_handoffs(connection, start, done):
            candidates.append((float(pending[0]), 2, "handoff"))
        at, _, what = min(candidates)
        if at >= end:
            return len(done)
        sim_time.move_to(at)
        if what == "change":
            _, name = changes.pop(0)
            with account.acting_as(account.user_actor(admin_of(account, rng))):
                CHANGES[name](account, rng)
            tick = math.floor(at / POLL_SECONDS) * POLL_SECONDS + POLL_SECONDS
            if name != "incidents" and (not polls or polls[-1] != tick):
                polls.append(tick)
        elif what == "poll":
            polls.pop(0)
            jobs.poll_audit_records()
        elif what == "handoff":
            done.add(pending[0])
            jobs.refresh_oncall_handoff(pending[0])
        elif what == "safety":
            jobs.refresh_all_oncalls()
            safety += args.safety_minutes * 60
        else:
            drain(connection)
            drained += args.drain_minutes * 60
