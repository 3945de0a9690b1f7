"""The Redis record of what pdgraph wrote to one JupiterOne scope.

JupiterOne cannot be asked cheaply "what do you hold around this service?", so the sink
keeps, per account and scope: `_key` → fingerprint (`entities`, `relationships`), the
objects as JupiterOne holds them (`objects`), their `_type` (`types`), the edges of each
entity (`edges:<entity key>`) and `_key` → JupiterOne `_id` (`ids`). Diffs run against it;
it is updated only after JupiterOne took a change.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, cast

import redis

from common.graph import Entity, Graph, GraphIndex, Relationship, fingerprint
from common.keys import jupiterone_prefix, text, text_map


class JupiterOneRecord:
    """What pdgraph last wrote to one JupiterOne scope, kept in Redis."""

    def __init__(self, connection: redis.Redis, account_id: str, scope: str) -> None:
        self.r = connection
        self.prefix = jupiterone_prefix(account_id, scope)

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

    def objects(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The JSON of these objects as JupiterOne holds them (those the record has)."""
        if not keys:
            return {}
        raws = self.r.hmget(self.key("objects"), list(keys))
        return {k: json.loads(raw) for k, raw in zip(keys, raws, strict=True) if raw}

    def update(self, upserts: Iterable[Entity | Relationship], deletes: Sequence[str]) -> None:
        """JupiterOne now holds `upserts` and no longer `deletes`: remember that."""
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
                pipe.hdel(self.key("ids"), key)
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
            pipe.execute()

    def ids(self, keys: Sequence[str]) -> dict[str, str]:
        """Cached JupiterOne `_id`s of these keys (those known)."""
        if not keys:
            return {}
        found = self.r.hmget(self.key("ids"), list(keys))
        return {k: text(v) for k, v in zip(keys, found, strict=True) if v is not None}

    def remember_ids(self, ids: dict[str, str]) -> None:
        if ids:
            self.r.hset(self.key("ids"), mapping=cast(dict[Any, Any], ids))

    def forget_ids(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self.r.hdel(self.key("ids"), *keys)
