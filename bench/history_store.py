"""bench/history.py's measures: what the history holds, by kind, in either sink."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from bench.history_day import J1_ACCOUNT
from common.state.keys import jupiterone_changes, jupiterone_prefix, text

# -- what the history holds ------------------------------------------------------------------

KINDS = (
    ("full_sync", "nightly full sync"),
    ("handoff", "on-call hand-offs"),
    ("safety", "on-call safety refresh"),
    ("feed", "feed graph writes"),
    ("trail", "audit-trail entries"),
    ("webhook", "webhooks (incidents, service edits)"),
)


def kind_of(entry: dict[str, Any]) -> str:
    cause = entry.get("cause") or {}
    if entry.get("source") == "pagerduty":
        return "trail"
    if cause.get("kind") == "oncall":
        return "handoff" if str(cause.get("id", "")).startswith("handoff-") else "safety"
    if cause.get("kind") == "audit":
        return "feed"
    return str(cause.get("kind") or "none")


ONCALL_TYPES = ("pagerduty_user_oncall_service", "pagerduty_user_monitors_service")
IN_THE_KEY = ("_class", "_fromEntityKey", "_toEntityKey")


def compact_size(entry: dict[str, Any]) -> int:
    """An entry's JSON without what its key already says (`_class`, the ends), without
    null before/after values, null fields and spaces: what a leaner encoding would keep."""
    changes = {
        name: {k: v for k, v in change.items() if v is not None}
        for name, change in entry["changes"].items()
        if name not in IN_THE_KEY
    }
    lean = {k: v for k, v in entry.items() if v is not None and k != "changes"}
    lean["changes"] = changes
    return len(json.dumps(lean, ensure_ascii=False, separators=(",", ":")).encode())


def policy_of(entry: dict[str, Any]) -> str:
    change = entry["changes"].get("escalationPolicyId") or {}
    return str(change.get("after") or change.get("before"))


@dataclass
class Tally:
    """Entries and their JSON bytes, by kind and by kind:type:action; for the on-call
    edges, what leaner records would take."""

    entries: Counter[str] = field(default_factory=Counter)
    json_bytes: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)  # bytes
    count_by_type: Counter[str] = field(default_factory=Counter)
    oncall_entries: int = 0
    oncall_bytes: int = 0
    oncall_compact: int = 0  # the same entries, compact_size
    oncall_moves: set[tuple[str, str]] = field(default_factory=set)  # (cause id, policy)
    raw: list[bytes] = field(default_factory=list)

    def add(self, raw: bytes) -> None:
        entry = json.loads(raw)
        kind = kind_of(entry)
        self.entries[kind] += 1
        self.json_bytes[kind] += len(raw)
        self.by_type[f"{kind}:{entry['type']}:{entry['action']}"] += len(raw)
        self.count_by_type[f"{kind}:{entry['type']}:{entry['action']}"] += 1
        if entry["type"] in ONCALL_TYPES:
            self.oncall_entries += 1
            self.oncall_bytes += len(raw)
            self.oncall_compact += compact_size(entry)
            self.oncall_moves.add((str((entry.get("cause") or {}).get("id")), policy_of(entry)))
        self.raw.append(raw)

    @property
    def total_entries(self) -> int:
        return sum(self.entries.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.json_bytes.values())

    def compressed(self, block: int = 100) -> int:
        """The entries' JSON, one per line, zlib-compressed (level 6) `block` entries at a
        time, in the order written."""
        return sum(
            len(zlib.compress(b"\n".join(self.raw[n : n + block]), 6))
            for n in range(0, len(self.raw), block)
        )


HISTORY_TABLES = ("changes", "changes_at", "changes_key", "audit_trail")


class LocalHistory:
    """The SQLite `changes` table (and the audit record ids beside it)."""

    origin = "0"

    def __init__(self, path: str) -> None:
        self.path = path

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def position(self) -> str:
        with self._db() as db:
            return str(db.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0])

    def tally(self, after: str) -> Tally:
        tally = Tally()
        with self._db() as db:
            rows = db.execute("SELECT CAST(entry AS BLOB) FROM changes WHERE id > ?", (int(after),))
            for (raw,) in rows:
                tally.add(raw)
        return tally

    def stored(self) -> int:
        """Bytes of the pages the history's tables and indexes take (dbstat)."""
        with self._db() as db:
            rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        return sum(
            size
            for name, size in rows
            if name in HISTORY_TABLES or name.startswith("sqlite_autoindex_audit_trail")
        )


class RedisHistory:
    """The JupiterOne sink's stream, and the record ids of the audit trail kept beside it."""

    origin = "0-0"

    def __init__(self, connection: redis.Redis) -> None:
        self.r = connection
        self.stream = jupiterone_changes(J1_ACCOUNT, "pagerduty")
        self.trail = jupiterone_prefix(J1_ACCOUNT, "pagerduty") + "trail"

    def position(self) -> str:
        top = cast(list[tuple[bytes, Any]], self.r.xrevrange(self.stream, "+", "-", count=1))
        return text(top[0][0]) if top else "0-0"

    def tally(self, after: str) -> Tally:
        tally = Tally()
        start = f"({after}"
        while True:
            batch = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self.r.xrange(self.stream, start, "+", count=2000),
            )
            for _, fields in batch:
                tally.add(fields[b"entry"])
            if len(batch) < 2000:
                return tally
            start = f"({text(batch[-1][0])}"

    def stored(self) -> int:
        return sum(
            int(self.r.memory_usage(key, samples=0) or 0) for key in (self.stream, self.trail)
        )

    def rest(self) -> tuple[int, int]:
        """Bytes of the record of what JupiterOne holds (`pdgraph:j1:*` but the history),
        and of pdgraph's other keys (hand-offs, the feed's state...; RQ's finished jobs
        left out: they expire in minutes)."""
        record = state = 0
        prefix = jupiterone_prefix(J1_ACCOUNT, "pagerduty")
        for key in self.r.scan_iter(count=1000):
            name = key.decode()
            if name in (self.stream, self.trail) or name.startswith("rq:"):
                continue
            used = int(self.r.memory_usage(key, samples=0) or 0)
            if name.startswith(prefix):
                record += used
            else:
                state += used
        return record, state
