"""The embedded graph: a SQLite file at LOCAL_GRAPH_PATH, so pdgraph runs with no JupiterOne."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from common.graph import (
    Cause,
    ChangeSet,
    Entity,
    Graph,
    GraphIndex,
    Relationship,
    canonical_properties,
    diff,
    fingerprint,
)
from common.sinks.base import SinkError
from common.sinks.history import (
    DAY,
    ChangeJournal,
    Entry,
    Query,
    decode_cursor,
    encode_cursor,
    entry_epoch,
    entry_from_json,
    entry_json,
    touched_keys,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    class TEXT NOT NULL,
    properties TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relationships (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    class TEXT NOT NULL,
    from_key TEXT NOT NULL,
    to_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS relationships_from ON relationships (from_key);
CREATE INDEX IF NOT EXISTS relationships_to ON relationships (to_key);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    key TEXT NOT NULL,
    type TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
CREATE INDEX IF NOT EXISTS changes_key ON changes (key, id);
CREATE TABLE IF NOT EXISTS audit_trail (
    record_id TEXT PRIMARY KEY,
    at REAL NOT NULL
);
"""

Row = tuple[str, ...]


def _entity_row(e: Entity) -> Row:
    properties = canonical_properties(e.properties)
    return (e.key, e.type, e.class_, properties, fingerprint(e, properties))


def _relationship_row(r: Relationship) -> Row:
    properties = canonical_properties(r.properties)
    return (r.key, r.type, r.class_, r.from_key, r.to_key, properties, fingerprint(r, properties))


_UPSERT = {
    "entities": "INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?, ?)",
    "relationships": "INSERT OR REPLACE INTO relationships VALUES (?, ?, ?, ?, ?, ?, ?)",
}
_DELETE = {
    "entities": "DELETE FROM entities WHERE key = ?",
    "relationships": "DELETE FROM relationships WHERE key = ?",
}
_INDEX = {
    "entities": "SELECT key, fingerprint FROM entities",
    "relationships": "SELECT key, fingerprint FROM relationships",
}
# The objects as they are before a change (the history's before-values), JupiterOne-shaped.
_OBJECTS = {
    "entities": "SELECT key, type, class, NULL, NULL, properties FROM entities WHERE key IN ({})",
    "relationships": "SELECT key, type, class, from_key, to_key, properties FROM relationships "
    "WHERE key IN ({})",
}
CHUNK = 500  # SQLite's bound-parameter limit


def _as_j1(row: tuple[Any, ...]) -> dict[str, Any]:
    key, type_, class_, from_key, to_key, properties = row
    ends = {"_fromEntityKey": from_key, "_toEntityKey": to_key} if from_key else {}
    return {"_key": key, "_type": type_, "_class": class_, **ends, **json.loads(properties)}


def _objects(db: sqlite3.Connection, table: str, keys: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        sql = _OBJECTS[table].format(", ".join("?" * len(chunk)))
        found.update((row[0], _as_j1(row)) for row in db.execute(sql, chunk))
    return found


class LocalSink:
    """A GraphSink in one SQLite file; it writes through, so nothing ever waits."""

    def __init__(
        self, path: str, *, history_days: int = 30, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.history_days = history_days
        self.clock = clock
        self.writes = 0  # write transactions: tests count them
        self._history_rows = 0  # rows of the change history written or pruned
        self._lock = threading.Lock()
        try:
            # WAL: the web process reads counts while a worker writes.
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise SinkError(f"LOCAL_GRAPH_PATH {path!r}: cannot open SQLite graph: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._db:
                    yield self._db
            except sqlite3.Error as exc:
                raise SinkError(f"local graph {self.path!r}: {exc}") from exc

    def _write(
        self,
        table: str,
        journal: ChangeJournal,
        upserts: Sequence[Entity] | Sequence[Relationship] = (),
        deletes: Sequence[str] = (),
    ) -> None:
        # The history rows go in the transaction of the change: both or neither.
        row = _entity_row if table == "entities" else _relationship_row
        with self._transaction() as db:
            keys = [*deletes, *(o.key for o in upserts)]
            journal.before = _objects(db, table, keys)
            db.executemany(_DELETE[table], ((key,) for key in deletes))
            db.executemany(_UPSERT[table], map(row, upserts))  # type: ignore[arg-type]
            self._record(db, journal.take([o.key for o in upserts], deletes), journal.at)
            self.writes += 1

    def _record(self, db: sqlite3.Connection, entries: Iterable[Entry], at: float) -> None:
        """Add the entries of changes committed `at` (their time), prune what expired."""
        self._add_history(db, ((at, entry) for entry in entries), at)

    def _add_history(
        self, db: sqlite3.Connection, rows: Iterable[tuple[float, Entry]], now: float
    ) -> None:
        """Add (time, entry) rows to the history, then prune what is older than the
        retention at `now`."""
        # Streamed: a first full sync's entries are never all in memory at once.
        inserted = db.executemany(
            "INSERT INTO changes (at, key, type, entry) VALUES (?, ?, ?, ?)",
            ((at, e["key"], e["type"], entry_json(e)) for at, e in rows),
        ).rowcount
        pruned = db.execute("DELETE FROM changes WHERE at < ?", (now - self.history_days * DAY,))
        self._history_rows += max(0, inserted) + max(0, pruned.rowcount)

    def record_trail(self, entries: Sequence[Entry]) -> int:
        # The record ids kept beside the entries, in their transaction: an entry once only.
        with self._transaction() as db:
            now = self.clock()
            new = [
                entry
                for entry in entries
                if db.execute(
                    "INSERT OR IGNORE INTO audit_trail VALUES (?, ?)", (entry["cause"]["id"], now)
                ).rowcount
                == 1
            ]
            self._add_history(db, ((entry_epoch(e), e) for e in new), now)
            floor = now - self.history_days * DAY
            forgotten = db.execute("DELETE FROM audit_trail WHERE at < ?", (floor,)).rowcount
            self._history_rows += len(new) + max(0, forgotten)
        return len(new)

    def apply(self, changes: ChangeSet, cause: Cause | None = None) -> None:
        # One write per kind of change, deletes first: `writes` counts them.
        journal = ChangeJournal(changes, {}, cause, self.clock())
        if changes.delete_relationships:
            self._write("relationships", journal, deletes=changes.delete_relationships)
        if changes.delete_entities:
            self._write("entities", journal, deletes=changes.delete_entities)
        entities = [*changes.create_entities, *changes.update_entities]
        if entities:
            self._write("entities", journal, upserts=entities)
        relationships = [*changes.create_relationships, *changes.update_relationships]
        if relationships:
            self._write("relationships", journal, upserts=relationships)

    def replace_all(self, graph: Graph, cause: Cause | None = None) -> None:
        # One transaction; rows whose fingerprint already matches are left alone, so a
        # nightly sync that finds no change rewrites nothing (and records no history).
        with self._transaction() as db:
            held = GraphIndex(
                dict(db.execute(_INDEX["entities"]).fetchall()),
                dict(db.execute(_INDEX["relationships"]).fetchall()),
            )
            changes = diff(held, graph)
            touched = touched_keys(changes)
            before = {
                **_objects(db, "entities", [k for k in touched if k in held.entities]),
                **_objects(db, "relationships", [k for k in touched if k in held.relationships]),
            }
            c = changes
            db.executemany(_DELETE["entities"], ((key,) for key in c.delete_entities))
            db.executemany(_DELETE["relationships"], ((key,) for key in c.delete_relationships))
            entities = map(_entity_row, [*c.create_entities, *c.update_entities])
            db.executemany(_UPSERT["entities"], entities)
            edges = map(_relationship_row, [*c.create_relationships, *c.update_relationships])
            db.executemany(_UPSERT["relationships"], edges)
            journal = ChangeJournal(changes, before, cause, self.clock())
            self._record(db, journal.take_all(), journal.at)
            self.writes += 1

    def changes(
        self, query: Query, *, cursor: str | None, limit: int
    ) -> tuple[list[Entry], str | None]:
        after = decode_cursor(cursor) if cursor else "0"
        if not after.isdigit():
            raise ValueError("cursor is not one this server gave out")
        floor = self.clock() - self.history_days * DAY  # older rows wait for the next prune
        sql = "SELECT id, entry FROM changes WHERE id > ? AND at >= ?"
        args: list[Any] = [int(after), max(floor, query.since or floor)]
        for column, value in (
            ("key", query.key),
            ("type", query.type_),
            # entries written before they had a source are graph writes
            ("COALESCE(json_extract(entry, '$.source'), 'graph')", query.source),
            ("json_extract(entry, '$.actor.id')", query.actor),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        with self._transaction() as db:
            rows = db.execute(f"{sql} ORDER BY id LIMIT ?", [*args, limit + 1]).fetchall()
        page = rows[:limit]
        next_cursor = encode_cursor(str(page[-1][0])) if len(rows) > limit else None
        return [entry_from_json(raw) for _, raw in page], next_cursor

    def index(self) -> GraphIndex:
        with self._transaction() as db:
            return GraphIndex(
                dict(db.execute(_INDEX["entities"]).fetchall()),
                dict(db.execute(_INDEX["relationships"]).fetchall()),
            )

    def index_around(self, entity_key: str) -> GraphIndex:
        with self._transaction() as db:
            entity = db.execute(
                "SELECT key, fingerprint FROM entities WHERE key = ?", (entity_key,)
            ).fetchall()
            relationships = db.execute(
                "SELECT key, fingerprint FROM relationships WHERE from_key = ? "
                "UNION SELECT key, fingerprint FROM relationships WHERE to_key = ?",
                (entity_key, entity_key),
            ).fetchall()
        return GraphIndex(dict(entity), dict(relationships))

    def existing(self, entity_keys: Iterable[str]) -> set[str]:
        keys = list(entity_keys)
        found: set[str] = set()
        with self._transaction() as db:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                marks = ", ".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in db.execute(
                        f"SELECT key FROM entities WHERE key IN ({marks})",  # noqa: S608
                        chunk,
                    )
                )
        return found

    def read_graph(self) -> Graph:
        with self._transaction() as db:
            entity_rows = db.execute("SELECT key, type, class, properties FROM entities").fetchall()
            relationship_rows = db.execute(
                "SELECT key, type, class, from_key, to_key, properties FROM relationships"
            ).fetchall()
        # model_construct: these rows were validated when they were written.
        return Graph.of(
            (
                Entity.model_construct(key=k, type=t, class_=c, properties=json.loads(p))
                for k, t, c, p in entity_rows
            ),
            (
                Relationship.model_construct(
                    key=k, type=t, class_=c, from_key=f, to_key=to, properties=json.loads(p)
                )
                for k, t, c, f, to, p in relationship_rows
            ),
        )

    @property
    def rows_changed(self) -> int:
        """Graph rows inserted, updated or deleted since this sink was opened."""
        return self._db.total_changes - self._history_rows

    def counts_by_type(self) -> dict[str, int]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT type, COUNT(*) FROM entities GROUP BY type "
                "UNION ALL SELECT type, COUNT(*) FROM relationships GROUP BY type"
            ).fetchall()
        return dict(sorted(rows))

    def waiting_writes(self) -> int:
        return 0

    def flush(self) -> int:
        return 0

    def check(self) -> None:
        with self._transaction() as db:
            db.execute("BEGIN IMMEDIATE")  # proves the file is writable, not just readable
            db.execute("SELECT COUNT(*) FROM entities").fetchone()

    def close(self) -> None:
        self._db.close()
