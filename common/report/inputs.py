"""What an evidence report is built from besides the graph, read here so that
common.report.checks and common.report.period stay pure: the report's provenance (Redis and the
settings) and, for `--period`, the change history (the sink, page by page).

`pdgraph report` and the web's report process (web/report_process.py) both call
`report_of`: one report, two callers.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from common.config import Settings
from common.graph import Graph
from common.report.checks import build_report
from common.report.model import iso_seconds
from common.report.period import PERIOD_TYPES, period_evidence
from common.sinks import GraphSink
from common.sinks.history import GRAPH, MAX_PAGE, Entry, Query, entry_epoch
from common.state.freshness import REFRESH, freshness_status
from common.state.full_sync import (
    finished_at,
    last_full_sync,
    last_successful_full_sync,
    last_webhook,
)
from common.state.keys import FULL_SYNC_HISTORY, text

# people_state's mode → the report's name for it
PEOPLE_FEED_MODES = {REFRESH: "light_refresh"}


def _finished_at(run: dict[str, Any]) -> float | None:
    """When a run ended; its start while it runs or when it was abandoned (never said)."""
    started = run.get("started_at")
    return finished_at(run) or (float(started) if isinstance(started, int | float) else None)


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else iso_seconds(epoch)


def report_provenance(
    connection: redis.Redis, settings: Settings, now: datetime | None = None
) -> dict[str, Any]:
    """SPEC §3's `provenance`: as of when the graph is, the last full sync attempt, how
    users, teams, policies and schedules are kept fresh (the light refresh's lag: its age
    at `now`), the last webhook, sink, model."""
    ok = last_successful_full_sync(connection)
    last = last_full_sync(connection)
    people = freshness_status(connection, now.timestamp() if now else None)
    webhook = last_webhook(connection)
    mode = people.get("mode")
    return {
        "graph_as_of": _when(_finished_at(ok)) if ok else None,
        "last_full_sync": (
            {"at": _when(_finished_at(last)), "outcome": last.get("outcome")} if last else None
        ),
        "people_feed": {
            "mode": PEOPLE_FEED_MODES.get(mode, mode) if mode else None,
            "lag_seconds": people.get("lag_s"),
        },
        "last_webhook_at": _when(webhook.get("received_at")) if webhook else None,
        "sink": settings.graph_sink,
        "graph_model": settings.graph_model,
    }


def initial_load_runs(connection: redis.Redis, oldest: Entry | None) -> set[str]:
    """The ids of the full-sync runs that loaded an empty graph: every change they wrote
    is a creation, and none is a change made in PagerDuty. Known from the runs' records
    (a load creates as many objects as its graph holds, and changes nothing else); and
    the run whose creation is the oldest entry of the history, if no record tells."""
    runs = [json.loads(text(raw)) for raw in connection.lrange(FULL_SYNC_HISTORY, 0, -1)]
    loads = set()
    for run in runs:
        changes, counts = run.get("changes") or {}, run.get("graph") or {}
        counted = {k: v for k, v in changes.items() if isinstance(v, int)}
        created = sum(v for k, v in counted.items() if k.endswith("_created"))
        others = sum(v for k, v in counted.items() if not k.endswith("_created"))
        if (
            run.get("outcome") == "ok"
            and created
            and not others
            and created == sum(counts.values())
        ):
            loads.add(str(run.get("id")))
    cause = (oldest or {}).get("cause") or {}
    recorded = {str(run.get("id")) for run in runs}
    if (
        oldest is not None
        and (oldest.get("source") or GRAPH) == GRAPH
        and oldest.get("action") == "created"
        and cause.get("kind") == "full_sync"
        and cause.get("id") not in recorded
    ):
        loads.add(str(cause["id"]))
    return loads


def oldest_entry(sink: GraphSink) -> Entry | None:
    """The oldest entry the change history holds (its first page of one)."""
    page, _ = sink.changes(Query(), cursor=None, limit=1)
    return page[0] if page else None


def history_since(
    sink: GraphSink, since: float, types: Collection[str] = PERIOD_TYPES
) -> Iterator[Entry]:
    """The history's entries of these types from `since` on, read in one pass, a page at
    a time (only the period's compact state is kept, never the pages).

    One pass over every type rather than one per type: the JupiterOne sink's history is a
    Redis stream that a type filter still reads whole (five types: five reads of it),
    while the local sink filters by type in SQLite. 300,000 entries over 30 days
    (bench/report_period.py, a shared 2-core host): one pass 7-11 s local, 11-15 s
    JupiterOne; type by type 8 s and 26 s. The worst case decides: GET /report waits 25 s
    at most."""
    cursor: str | None = None
    while True:
        page, cursor = sink.changes(Query(since=since), cursor=cursor, limit=MAX_PAGE)
        yield from (entry for entry in page if entry["type"] in types)
        if cursor is None:
            break


def read_period(
    sink: GraphSink, connection: redis.Redis, graph: Graph, now: datetime, days: int
) -> dict[str, Any]:
    """SPEC §3's `period` of the last `days` days to `now`."""
    end = now.timestamp()
    start = (now - timedelta(days=days)).timestamp()
    oldest = oldest_entry(sink)
    return period_evidence(
        graph,
        history_since(sink, start),
        start=start,
        end=end,
        history_from=entry_epoch(oldest) if oldest else None,
        initial_loads=initial_load_runs(connection, oldest),
    )


def report_of(
    settings: Settings,
    connection: redis.Redis,
    sink: GraphSink,
    *,
    period_days: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The evidence report of the sink's graph, with its provenance (and the period's
    evidence when `period_days` is given). The caller has checked a full sync completed."""
    now = now or datetime.now(UTC)
    provenance = report_provenance(connection, settings, now)
    graph = sink.read_graph()
    period = read_period(sink, connection, graph, now, period_days) if period_days else None
    return build_report(graph, now, settings.account_name, provenance=provenance, period=period)
