"""The embedded graph: a SQLite file at LOCAL_GRAPH_PATH, so pdgraph runs with no JupiterOne."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from common.graph import (
    ChangeSet,
    Entity,
    Graph,
    GraphIndex,
    Relationship,
    canonical_properties,
    fingerprint,
)
from common.sinks import SinkError

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


class LocalSink:
    """A GraphSink in one SQLite file; it writes through, so nothing ever waits."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = 0  # write transactions: tests count them
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

    def _write(self, table: str, upserts: Iterable[Row] = (), deletes: Iterable[str] = ()) -> None:
        with self._transaction() as db:
            db.executemany(_DELETE[table], ((key,) for key in deletes))
            db.executemany(_UPSERT[table], upserts)
            self.writes += 1

    def apply(self, changes: ChangeSet) -> None:
        # One write per kind of change, deletes first: `writes` counts them.
        if changes.delete_relationships:
            self._write("relationships", deletes=changes.delete_relationships)
        if changes.delete_entities:
            self._write("entities", deletes=changes.delete_entities)
        entities = [*changes.create_entities, *changes.update_entities]
        if entities:
            self._write("entities", upserts=map(_entity_row, entities))
        relationships = [*changes.create_relationships, *changes.update_relationships]
        if relationships:
            self._write("relationships", upserts=map(_relationship_row, relationships))

    def replace_all(self, graph: Graph) -> None:
        # One transaction; rows whose fingerprint already matches are left alone, so a
        # nightly sync that finds no change rewrites nothing.
        with self._transaction() as db:
            for table, rows in (
                ("entities", map(_entity_row, graph.entities.values())),
                ("relationships", map(_relationship_row, graph.relationships.values())),
            ):
                stored = dict(db.execute(_INDEX[table]).fetchall())
                changed = []
                for row in rows:
                    if stored.pop(row[0], None) != row[-1]:
                        changed.append(row)
                db.executemany(_DELETE[table], ((key,) for key in stored))  # not in graph
                db.executemany(_UPSERT[table], changed)
            self.writes += 1

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
            for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
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
        """Rows inserted, updated or deleted since this sink was opened."""
        return self._db.total_changes

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
