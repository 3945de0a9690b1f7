"""The Redis record of what pdgraph wrote to one JupiterOne scope.

JupiterOne cannot be asked cheaply "what do you hold around this service?", so the sink
keeps, per account and scope: `_key` → fingerprint (`entities`, `relationships`), the
objects as JupiterOne holds them (`objects`), their `_type` (`types`) and the edges of
each entity (`edges:<entity key>`). Diffs run against it, and the webhook path's DIFF jobs
are built from it (common.sinks.jupiterone.scopediff).

The change history is a stream beside it (`changes`): a change's entry is added in the
transaction that records the change, so it is there exactly when the record moved.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

import redis

from common.graph import Entity, Graph, GraphIndex, Relationship, fingerprint
from common.sinks.history import (
    DAY,
    ChangeJournal,
    Entry,
    Query,
    decode_cursor,
    encode_cursor,
    entry_from_json,
    entry_json,
    matches,
)
from common.sinks.jupiterone.partitions import by_partition, partition_of
from common.state.keys import jupiterone_changes, jupiterone_prefix, text, text_list, text_map

HISTORY_SCAN = 500  # stream entries read per XRANGE
HISTORY_SCAN_BUDGET = 20_000  # entries one page may look through before handing a cursor back

# Lua: `ms`, the stream id time of what is added now (ARGV[1], never below the stream's
# last id), after trimming what is older than the cutoff (ARGV[2]) from the stream KEYS[1].
_STREAM_TIME = """
local ms = ARGV[1]
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if top[1] then
  local last = string.match(top[1][1], '^(%d+)')
  if tonumber(last) > tonumber(ms) then ms = last end
end
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
"""

# Add entries under stream ids of their own time (`at`, epoch ms; never below the last id,
# so that writers whose clocks differ a little still append), after trimming what is older
# than the cutoff. ARGV: at ms, cutoff ms, entries.
_ADD_HISTORY = (
    _STREAM_TIME
    + """
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], ms .. '-*', 'entry', ARGV[i])
end
return #ARGV - 2
"""
)

# Add PagerDuty's audit records to the history once each: KEYS[2] holds the record ids
# written (score: when), trimmed with the stream. ARGV: at ms, cutoff ms, then pairs of
# record id and entry. Returns how many were new.
_ADD_TRAIL = (
    _STREAM_TIME
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
local added = 0
for i = 3, #ARGV, 2 do
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], ms .. '-*', 'entry', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""
)


class JupiterOneRecord:
    """What pdgraph last wrote to one JupiterOne scope, kept in Redis."""

    def __init__(
        self,
        connection: redis.Redis,
        account_id: str,
        scope: str,
        *,
        history_days: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.r = connection
        self.prefix = jupiterone_prefix(account_id, scope)
        self.history = jupiterone_changes(account_id, scope)
        self.history_days = history_days
        self.clock = clock
        # The change set being written (one writer per sink object): its entries go with
        # the record updates that commit its changes, whoever (a DIFF or PATCH job) makes them.
        self.journal: ChangeJournal | None = None
        self._add_history = connection.register_script(_ADD_HISTORY)
        self._add_trail = connection.register_script(_ADD_TRAIL)

    def key(self, name: str) -> str:
        """One of this record's Redis keys (the write-behind buffer's too)."""
        return self.prefix + name

    def index(self) -> GraphIndex:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key("entities"))
            pipe.hgetall(self.key("relationships"))
            entities, relationships = pipe.execute()
        return GraphIndex(text_map(entities), text_map(relationships))

    def index_around(self, entity_key: str) -> GraphIndex:
        edges = sorted(text(k) for k in self.r.smembers(self.key(f"edges:{entity_key}")))
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hget(self.key("entities"), entity_key)
            pipe.hmget(self.key("relationships"), edges or ["-"])
            entity_fp, edge_fps = pipe.execute()
        index = GraphIndex()
        if entity_fp is not None:
            index.entities[entity_key] = text(entity_fp)
        for edge, fp in zip(edges, edge_fps, strict=False):
            if fp is not None:
                index.relationships[edge] = text(fp)
        return index

    def existing(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        held = self.r.hmget(self.key("entities"), list(keys))
        return {k for k, fp in zip(keys, held, strict=True) if fp is not None}

    def counts_by_type(self) -> dict[str, int]:
        types = self.r.hvals(self.key("types"))
        return dict(sorted(Counter(text(t) for t in types).items()))

    def read_graph(self) -> Graph:
        objects = self.r.hgetall(self.key("objects"))
        graph = Graph()
        for raw in objects.values():
            data = json.loads(raw)
            if "_fromEntityKey" in data:
                rel = Relationship.from_j1(data)
                graph.relationships[rel.key] = rel
            else:
                entity = Entity.from_j1(data)
                graph.entities[entity.key] = entity
        return graph

    def entity_keys(self) -> set[str]:
        return set(text_list(self.r.hkeys(self.key("entities"))))

    def entities(self, keys: Iterable[str]) -> dict[str, Entity]:
        """These entities as JupiterOne holds them (those the record has)."""
        return {k: Entity.from_j1(data) for k, data in self.objects(sorted(keys)).items()}

    def relationships_in(self, partitions: Iterable[int]) -> dict[int, list[Relationship]]:
        """Each of these edge partitions and the relationships the record has in it."""
        found = by_partition([], partitions)
        keys = [
            k
            for k in text_list(self.r.hkeys(self.key("relationships")))
            if partition_of(k) in found
        ]
        for key, data in self.objects(keys).items():
            found[partition_of(key)].append(Relationship.from_j1(data))
        return found

    def objects(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The JSON of these objects as JupiterOne holds them (those the record has)."""
        if not keys:
            return {}
        raws = self.r.hmget(self.key("objects"), list(keys))
        return {k: json.loads(raw) for k, raw in zip(keys, raws, strict=True) if raw}

    def update(self, upserts: Iterable[Entity | Relationship], deletes: Sequence[str]) -> None:
        """JupiterOne now holds `upserts` and no longer `deletes`: remember that, and add
        the change history's entries of the journal's changes among them."""
        upserts = list(upserts)
        entries = []
        if self.journal is not None:
            entries = self.journal.take([o.key for o in upserts], deletes)
        ends = {
            key: (data["_fromEntityKey"], data["_toEntityKey"])
            for key, data in self.objects(deletes).items()
            if "_fromEntityKey" in data
        }
        with self.r.pipeline(transaction=True) as pipe:
            for key in deletes:
                kind = "relationships" if key in ends else "entities"
                pipe.hdel(self.key(kind), key)
                pipe.hdel(self.key("objects"), key)
                pipe.hdel(self.key("types"), key)
                for end in ends.get(key, ()):
                    pipe.srem(self.key(f"edges:{end}"), key)
                if kind == "entities":
                    pipe.delete(self.key(f"edges:{key}"))
            for obj in upserts:
                kind = "relationships" if isinstance(obj, Relationship) else "entities"
                pipe.hset(self.key(kind), obj.key, fingerprint(obj))
                pipe.hset(self.key("objects"), obj.key, json.dumps(obj.to_j1(), sort_keys=True))
                pipe.hset(self.key("types"), obj.key, obj.type)
                if isinstance(obj, Relationship):
                    pipe.sadd(self.key(f"edges:{obj.from_key}"), obj.key)
                    pipe.sadd(self.key(f"edges:{obj.to_key}"), obj.key)
            self.add_history(pipe, entries)
            pipe.execute()

    # -- the change history -------------------------------------------------------------

    @contextmanager
    def journaling(self, journal: ChangeJournal) -> Iterator[None]:
        """Record `journal`'s entries as the updates that commit its changes happen."""
        self.journal = journal
        try:
            yield
        finally:
            self.journal = None

    def add_history(self, pipe: Any, entries: Sequence[Entry]) -> None:
        """Queue on `pipe` (a transaction) the entries, and the trim of expired ones."""
        if not entries:
            return
        now = self.clock()
        cutoff_ms = max(0, int((now - self.history_days * DAY) * 1000))
        args: list[str | int] = [int(now * 1000), cutoff_ms, *(entry_json(e) for e in entries)]
        self._add_history(keys=[self.history], args=args, client=pipe)

    def add_trail(self, entries: Sequence[Entry]) -> int:
        """Add PagerDuty's audit records' entries, each record once; how many were new."""
        if not entries:
            return 0
        now = self.clock()
        cutoff_ms = max(0, int((now - self.history_days * DAY) * 1000))
        args: list[str | int] = [int(now * 1000), cutoff_ms]
        for entry in entries:
            args += [str(entry["cause"]["id"]), entry_json(entry)]
        keys = [self.history, self.key("trail")]
        return int(self._add_trail(keys=keys, args=args))

    def history_page(
        self, query: Query, cursor: str | None, limit: int
    ) -> tuple[list[Entry], str | None]:
        """One page of the history, oldest first, and the next cursor (None: the end)."""
        # Stream ids are the entries' times (or a little later): `since` is where to start.
        floor = self.clock() - self.history_days * DAY  # older ones wait for the next trim
        since = max(floor, query.since or floor)
        query = replace(query, since=since)
        start = f"({decode_cursor(cursor)}" if cursor else str(max(0, int(since * 1000)))
        page: list[tuple[str, Entry]] = []
        scanned = 0
        while scanned < HISTORY_SCAN_BUDGET:
            try:
                batch = cast(
                    list[tuple[Any, dict[Any, Any]]],
                    self.r.xrange(self.history, min=start, max="+", count=HISTORY_SCAN),
                )
            except redis.ResponseError as exc:  # a cursor naming no stream id
                raise ValueError("cursor is not one this server gave out") from exc
            for stream_id, fields in batch:
                entry = entry_from_json(fields.get(b"entry") or fields["entry"])
                if matches(entry, query):
                    page.append((text(stream_id), entry))
                if len(page) > limit:
                    return [e for _, e in page[:limit]], encode_cursor(page[limit - 1][0])
            scanned += len(batch)
            if len(batch) < HISTORY_SCAN:
                return [e for _, e in page], None
            start = f"({text(batch[-1][0])}"
        return [e for _, e in page], encode_cursor(start[1:])
