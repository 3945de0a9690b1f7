"""How long `pdgraph report --period 30` takes to read its history, on both sinks.

A change history of ENTRIES entries over 30 days (by default 300,000: 10,000 a day, as an
account of 1,000 services with two hand-offs a day writes) is written straight into the
store of each sink — the local SQLite file and the JupiterOne sink's Redis stream (a
private redis-server) — then the period's evidence is read through the sink, as the
report process does (common.report.inputs.read_period), and timed.

    .venv/bin/python -m bench.report_period [--entries N] [--services N] [--repeat N]

Prints one line per sink: entries held, the ones the period read, seconds (best of the
repeats) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import private_redis  # noqa: E402
from common.clients.jupiterone import JupiterOneClient  # noqa: E402
from common.graph import Cause, Entity, Graph, Relationship  # noqa: E402
from common.report.inputs import read_period  # noqa: E402
from common.sinks import GraphSink  # noqa: E402
from common.sinks.history import DAY, entry_json, make_entry  # noqa: E402
from common.sinks.jupiterone import JupiterOneRecord, JupiterOneSink  # noqa: E402
from common.sinks.local import LocalSink  # noqa: E402

NOW = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)
END = NOW.timestamp()
START = END - 30 * DAY
# share of the history by type: on-call edges and service updates dominate
MIX = (
    ("pagerduty_user_oncall_service", 0.40),
    ("pagerduty_service", 0.45),
    ("pagerduty_team_has_user", 0.05),
    ("pagerduty_user", 0.05),
    ("pagerduty_schedule", 0.03),
    ("pagerduty_escalation_policy", 0.02),
)


def graph_of(services: int) -> Graph:
    entities = [
        Entity(
            key=f"service:PS{n:06d}",
            type="pagerduty_service",
            class_="Service",
            properties={
                "name": f"service {n}",
                "displayName": f"service {n}",
                "status": "active",
                "active": True,
            },
        )
        for n in range(services)
    ]
    users = [
        Entity(
            key=f"user:PU{n:06d}",
            type="pagerduty_user",
            class_="User",
            properties={"name": f"user {n}", "displayName": f"user {n}", "role": "user"},
        )
        for n in range(services)
    ]
    edges = [
        Relationship.between(
            "pagerduty_user_oncall_service",
            "ONCALL",
            f"user:PU{n:06d}",
            f"service:PS{n:06d}",
            {"escalationLevel": 1, "escalationLevels": [1], "escalationPolicyId": "PEP"},
        )
        for n in range(services)
    ]
    return Graph.of([*entities, *users], edges)


def history(entries: int, services: int) -> list[tuple[float, dict[str, Any]]]:
    """(at, entry), oldest first, at a steady rate over the 30 days."""
    rng = random.Random(19)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    out = []
    step = 30 * DAY / entries
    for i in range(entries):
        at = START + i * step
        type_ = rng.choices(types, weights)[0]
        n = rng.randrange(services)
        if type_ == "pagerduty_user_oncall_service":
            key = f"user:PU{rng.randrange(services):06d}|oncall|service:PS{n:06d}"
            before = {
                "_toEntityKey": f"service:PS{n:06d}",
                "escalationLevel": 1,
                "escalationLevels": [1],
                "escalationPolicyId": "PEP",
            }
            action = rng.choice(["created", "deleted"])
            pair = (None, before) if action == "created" else (before, None)
            entry = make_entry(at, key, type_, action, *pair, Cause("oncall", f"handoff-{i}"))
        else:
            key = {
                "pagerduty_service": f"service:PS{n:06d}",
                "pagerduty_user": f"user:PU{n:06d}",
                "pagerduty_schedule": f"schedule:PSC{n:05d}",
                "pagerduty_escalation_policy": f"escalation_policy:PE{n:05d}",
                "pagerduty_team_has_user": f"team:PT{n:05d}|has|user:PU{n:06d}",
            }[type_]
            before = {
                "name": f"thing {n}",
                "lastIncidentOn": int(at * 1000) - 60_000,
                "role": "user",
                "description": "x" * 80,
            }
            after = {**before, "lastIncidentOn": int(at * 1000)}
            if type_ == "pagerduty_user" and i % 50 == 0:
                after["role"] = "admin"
            entry = make_entry(at, key, type_, "updated", before, after, Cause("refresh", f"r{i}"))
        out.append((at, entry))
    return out


def fill_local(path: str, rows: list[tuple[float, dict[str, Any]]]) -> None:
    LocalSink(path, clock=lambda: END).close()  # the schema
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO changes (at, key, type, entry) VALUES (?, ?, ?, ?)",
            ((at, e["key"], e["type"], entry_json(e)) for at, e in rows),
        )
    db.close()


def fill_redis(connection: redis.Redis, rows: list[tuple[float, dict[str, Any]]]) -> None:
    clock = [START]
    record = JupiterOneRecord(connection, "bench", "pagerduty", clock=lambda: clock[0])
    for start in range(0, len(rows), 1000):
        batch = rows[start : start + 1000]
        clock[0] = batch[0][0]
        with connection.pipeline() as pipe:
            record.add_history(pipe, [e for _, e in batch])
            pipe.execute()


def timed(sink: GraphSink, connection: redis.Redis, graph: Graph, repeat: int) -> tuple[float, int]:
    best, read = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        period = read_period(sink, connection, graph, NOW, 30)
        best = min(best, time.perf_counter() - started)
        read = len(period["services"])
    return best, read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = history(args.entries, args.services)
    graph = graph_of(args.services)
    wanted = sum(
        1
        for _, e in rows
        if e["type"] != "pagerduty_service" and e["type"] != "pagerduty_team_has_user"
    )
    with tempfile.TemporaryDirectory() as folder, private_redis() as url:
        path = str(Path(folder) / "graph.sqlite3")
        fill_local(path, rows)
        connection = redis.Redis.from_url(url)
        local = LocalSink(path, clock=lambda: END)
        seconds, _ = timed(local, connection, graph, args.repeat)
        local.close()
        print(
            f"local sink:      {args.entries:,} entries held, {wanted:,} read for 30 days,"
            f" {seconds:.2f} s"
        )
        fill_redis(connection, rows)
        client = JupiterOneClient(
            "bench", "bench-key-0123456789", "http://127.0.0.1:9", "http://127.0.0.1:9"
        )
        j1 = JupiterOneSink(client, connection, "pagerduty", clock=lambda: END)
        seconds, _ = timed(j1, connection, graph, args.repeat)
        print(
            f"jupiterone sink: {args.entries:,} entries held, {wanted:,} read for 30 days,"
            f" {seconds:.2f} s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process (history built in memory first): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
