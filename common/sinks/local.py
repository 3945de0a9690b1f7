"""The embedded graph: a SQLite file at LOCAL_GRAPH_PATH, so pdgraph runs with no JupiterOne."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from common.graph import Entity, Graph, Relationship
from common.sinks import GraphSink, SinkError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    class TEXT NOT NULL,
    properties TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relationships (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    class TEXT NOT NULL,
    from_key TEXT NOT NULL,
    to_key TEXT NOT NULL,
    properties TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS relationships_from ON relationships (from_key);
CREATE INDEX IF NOT EXISTS relationships_to ON relationships (to_key);
"""


def _entity_row(e: Entity) -> tuple[str, str, str, str]:
    return (e.key, e.type, e.class_, json.dumps(e.properties, ensure_ascii=False))


def _relationship_row(r: Relationship) -> tuple[str, str, str, str, str, str]:
    properties = json.dumps(r.properties, ensure_ascii=False)
    return (r.key, r.type, r.class_, r.from_key, r.to_key, properties)


class LocalSink(GraphSink):
    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = 0  # statements that changed the file: tests count them
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

    def upsert_entities(self, entities: Iterable[Entity]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?)", map(_entity_row, entities)
            )
            self.writes += 1

    def delete_entities(self, keys: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM entities WHERE key = ?", ((k,) for k in keys))
            self.writes += 1

    def upsert_relationships(self, relationships: Iterable[Relationship]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO relationships VALUES (?, ?, ?, ?, ?, ?)",
                map(_relationship_row, relationships),
            )
            self.writes += 1

    def delete_relationships(self, keys: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM relationships WHERE key = ?", ((k,) for k in keys))
            self.writes += 1

    def replace_all(self, graph: Graph) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM relationships")
            db.execute("DELETE FROM entities")
            db.executemany(
                "INSERT INTO entities VALUES (?, ?, ?, ?)",
                map(_entity_row, graph.entities.values()),
            )
            db.executemany(
                "INSERT INTO relationships VALUES (?, ?, ?, ?, ?, ?)",
                map(_relationship_row, graph.relationships.values()),
            )
            self.writes += 1

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

    def counts_by_type(self) -> dict[str, int]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT type, COUNT(*) FROM entities GROUP BY type "
                "UNION ALL SELECT type, COUNT(*) FROM relationships GROUP BY type"
            ).fetchall()
        return dict(sorted(rows))

    def check(self) -> None:
        with self._transaction() as db:
            db.execute("BEGIN IMMEDIATE")  # proves the file is writable, not just readable
            db.execute("SELECT COUNT(*) FROM entities").fetchone()

    def close(self) -> None:
        self._db.close()
