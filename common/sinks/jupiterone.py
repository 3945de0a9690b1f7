"""The JupiterOne sink: DIFF sync jobs for the full sync, PATCH jobs + GraphQL for changes.

JupiterOne cannot be asked cheaply "what do you hold around this service?", so what
pdgraph last wrote is kept in Redis (the *mirror*: `_key` → fingerprint, the objects, the
edges of each entity, `_key` → JupiterOne `_id`). Diffs run against the mirror; only a
change reaches JupiterOne, and the mirror is updated only after JupiterOne took it.

- `replace_all`: one DIFF job in the scope: entities, then relationships, in bodies under
  5 MB, finalize, poll to FINISHED. Any failure aborts the job: nothing in the scope is
  deleted and the mirror is untouched.
- `apply`: entity creates/updates → one PATCH job shared by every worker writing within
  `patch_window` seconds (a Redis-coordinated micro-batch); entity deletes and relationship
  creates/deletes → one GraphQL request of aliased mutations, with entity and relationship
  `_id`s from the mirror's cache or one J1QL lookup per kind.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from rq import Queue, Retry

from common.graph import (
    ChangeSet,
    Entity,
    Graph,
    GraphIndex,
    Relationship,
    canonical_properties,
    diff,
    fingerprint,
)
from common.jupiterone import (
    JupiterOneAuthError,
    JupiterOneClient,
    JupiterOneError,
    j1ql_string,
)
from common.queueing import WEBHOOK_QUEUE, enqueue_once, job_id_for
from common.sinks import GraphSink, SinkError

log = logging.getLogger(__name__)

LOOKUP_CHUNK = 100  # keys per J1QL lookup
MUTATIONS_PER_REQUEST = 50  # aliased mutations per GraphQL request
PATCH_WINDOW = 0.5  # seconds a PATCH micro-batch stays open for other workers
PATCH_WAIT = 120.0  # how long a worker waits for another's PATCH job before doing its own
FLUSH_LOCK_TIMEOUT = 600  # a PATCH job is polled to FINISHED under it
FLUSH_RETRY = Retry(max=6, interval=[1, 5, 30, 120, 600, 1800])

_JOIN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""
_CLOSE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
return items
"""


class RedisMirror:
    """What pdgraph last wrote to one JupiterOne scope, kept in Redis."""

    def __init__(self, connection: redis.Redis, account_id: str, scope: str) -> None:
        self.r = connection
        self.prefix = f"pdgraph:j1:{account_id}:{scope}:"

    def key(self, name: str) -> str:
        return self.prefix + name

    def index(self) -> GraphIndex:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key("entities"))
            pipe.hgetall(self.key("relationships"))
            entities, relationships = pipe.execute()
        return GraphIndex(_text(entities), _text(relationships))

    def index_around(self, entity_key: str) -> GraphIndex:
        edges = sorted(_decode(k) for k in self.r.smembers(self.key(f"edges:{entity_key}")))
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hget(self.key("entities"), entity_key)
            pipe.hmget(self.key("relationships"), edges or ["-"])
            entity_fp, edge_fps = pipe.execute()
        index = GraphIndex()
        if entity_fp is not None:
            index.entities[entity_key] = _decode(entity_fp)
        for edge, fp in zip(edges, edge_fps, strict=False):
            if fp is not None:
                index.relationships[edge] = _decode(fp)
        return index

    def existing(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        held = self.r.hmget(self.key("entities"), list(keys))
        return {k for k, fp in zip(keys, held, strict=True) if fp is not None}

    def counts_by_type(self) -> dict[str, int]:
        types = self.r.hvals(self.key("types"))
        return dict(sorted(Counter(_decode(t) for t in types).items()))

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

    def is_empty(self) -> bool:
        return not self.r.exists(self.key("types"))

    def record(self, upserts: Iterable[Entity | Relationship], deletes: Sequence[str]) -> None:
        """JupiterOne now holds `upserts` and no longer `deletes`: remember that."""
        ends: dict[str, tuple[str, str]] = {}
        if deletes:
            held = self.r.hmget(self.key("objects"), list(deletes))
            for key, raw in zip(deletes, held, strict=True):
                data = json.loads(raw) if raw else {}
                if "_fromEntityKey" in data:
                    ends[key] = (data["_fromEntityKey"], data["_toEntityKey"])
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
                properties = canonical_properties(obj.properties)
                kind = "relationships" if isinstance(obj, Relationship) else "entities"
                pipe.hset(self.key(kind), obj.key, fingerprint(obj, properties))
                pipe.hset(self.key("objects"), obj.key, json.dumps(obj.to_j1(), sort_keys=True))
                pipe.hset(self.key("types"), obj.key, obj.type)
                if isinstance(obj, Relationship):
                    pipe.sadd(self.key(f"edges:{obj.from_key}"), obj.key)
                    pipe.sadd(self.key(f"edges:{obj.to_key}"), obj.key)
            pipe.execute()

    def ids(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        found = self.r.hmget(self.key("ids"), list(keys))
        return {k: _decode(v) for k, v in zip(keys, found, strict=True) if v is not None}

    def remember_ids(self, ids: dict[str, str]) -> None:
        if ids:
            self.r.hset(self.key("ids"), mapping=cast(dict[Any, Any], ids))

    def forget_ids(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self.r.hdel(self.key("ids"), *keys)

    def clear(self) -> None:
        for name in self.r.scan_iter(match=self.prefix + "*", count=1000):
            self.r.delete(name)


@dataclass
class _Mutations:
    """One GraphQL document of aliased mutations, and what each alias stands for."""

    fields: list[str] = field(default_factory=list)
    declarations: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    meaning: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias → (op, key)

    def add(self, op: str, key: str, args: dict[str, tuple[str, Any]], selection: str) -> None:
        alias = f"m{len(self.fields)}"
        params = []
        for name, (gql_type, value) in args.items():
            variable = f"{alias}_{name}"
            self.declarations.append(f"${variable}: {gql_type}")
            self.variables[variable] = value
            params.append(f"{name}: ${variable}")
        self.fields.append(f"  {alias}: {op}({', '.join(params)}) {selection}")
        self.meaning[alias] = (op, key)

    def document(self) -> str:
        return (
            f"mutation PdgraphChanges({', '.join(self.declarations)}) {{\n"
            + "\n".join(self.fields)
            + "\n}"
        )

    def __len__(self) -> int:
        return len(self.fields)


class JupiterOneSink(GraphSink):
    def __init__(
        self,
        client: JupiterOneClient,
        connection: redis.Redis,
        scope: str,
        *,
        patch_window: float = PATCH_WINDOW,
        patch_wait: float = PATCH_WAIT,
    ) -> None:
        self.client = client
        self.scope = scope
        self.mirror = RedisMirror(connection, client.account_id, scope)
        self.patch_window = patch_window
        self.patch_wait = patch_wait
        self._join = connection.register_script(_JOIN)
        self._close = connection.register_script(_CLOSE)

    def __repr__(self) -> str:
        return f"JupiterOneSink(scope={self.scope!r})"

    # -- reading (the mirror) -----------------------------------------------------------

    def read_graph(self) -> Graph:
        return self.mirror.read_graph()

    # Diffs run against what JupiterOne holds *or will hold*: written, overlaid with the
    # buffered writes not yet flushed (else a change undone before the flush was lost).

    def index(self) -> GraphIndex:
        index = self.mirror.index()
        index.entities.update(self._pending_fingerprints(None))
        return index

    def index_around(self, entity_key: str) -> GraphIndex:
        index = self.mirror.index_around(entity_key)
        index.entities.update(self._pending_fingerprints([entity_key]))
        return index

    def existing(self, entity_keys: Iterable[str]) -> set[str]:
        keys = list(entity_keys)
        return self.mirror.existing(keys) | set(self._pending_fingerprints(keys))

    def _pending_fingerprints(self, keys: list[str] | None) -> dict[str, str]:
        """`_key` → fingerprint of buffered entity writes (of `keys`, or all)."""
        pending = self.mirror.key("patch:pending")
        if keys is None:
            raw = _text(self.mirror.r.hgetall(pending))
        else:
            values = self.mirror.r.hmget(pending, keys) if keys else []
            raw = {k: _decode(v) for k, v in zip(keys, values, strict=True) if v is not None}
        return {k: fingerprint(Entity.from_j1(json.loads(v))) for k, v in raw.items()}

    def counts_by_type(self) -> dict[str, int]:
        return self.mirror.counts_by_type()

    def waiting_writes(self) -> int:
        return int(self.mirror.r.hlen(self.mirror.key("patch:pending")))

    def check(self) -> None:
        """One J1QL query (key, account, GraphQL URL) and one job read (sync-job URL)."""
        client = self.client.impatient()
        try:
            client.query(f"FIND * WITH _scope = {j1ql_string(self.scope)} LIMIT 1")
        except JupiterOneAuthError as exc:
            raise SinkError(_auth_reason(exc, client.account_id)) from None
        except JupiterOneError as exc:
            raise SinkError(
                f"JUPITERONE_GRAPHQL_URL {client.graphql_url}: not a working JupiterOne "
                f"GraphQL endpoint ({exc})"
            ) from None
        try:
            client.job_status("pdgraph-check")
        except JupiterOneAuthError as exc:
            raise SinkError(_auth_reason(exc, client.account_id)) from None
        except JupiterOneError as exc:
            if "NOT_FOUND" not in str(exc) and "HTTP 404 NOT_FOUND" not in str(exc):
                raise SinkError(
                    f"JUPITERONE_API_URL {client.api_url}: the sync-job API does not answer "
                    f"as JupiterOne does ({exc})"
                ) from None

    def close(self) -> None:
        self.client.close()

    # -- the full sync: one DIFF job ----------------------------------------------------

    def replace_all(self, graph: Graph) -> None:
        client = self.client
        job_id = client.start_job(self.scope, "DIFF")
        finalized = False
        try:
            client.upload(
                job_id, "entities", (graph.entities[k].to_j1() for k in sorted(graph.entities))
            )
            client.upload(
                job_id,
                "relationships",
                (graph.relationships[k].to_j1() for k in sorted(graph.relationships)),
            )
            client.finalize(job_id)
            finalized = True
            client.wait_for_job(job_id)
        except BaseException as exc:
            reason = f"pdgraph full sync failed: {type(exc).__name__}: {exc}"
            try:
                client.abort(job_id, reason)
            except JupiterOneError as abort_exc:
                log.error("could not abort JupiterOne job %s: %s", job_id, abort_exc)
            if finalized:  # JupiterOne may be applying it: say only what is known
                raise SinkError(
                    f"JupiterOne DIFF job {job_id} was finalized but did not finish ({exc}); "
                    "abort requested. The next full sync re-asserts the scope."
                ) from exc
            raise SinkError(
                f"JupiterOne DIFF job {job_id} aborted, nothing in scope {self.scope!r} was "
                f"deleted: {exc}"
            ) from exc
        changes = diff(self.mirror.index(), graph)
        self.mirror.record(
            [
                *changes.create_entities,
                *changes.update_entities,
                *changes.create_relationships,
                *changes.update_relationships,
            ],
            [*changes.delete_relationships, *changes.delete_entities],
        )
        log.info("jupiterone DIFF job finished", extra={"job_id": job_id, **changes.summary()})

    # -- the webhook path ---------------------------------------------------------------

    def apply(self, changes: ChangeSet) -> None:
        if not changes:
            return
        # An entity created here that a new edge points at must exist (have an _id)
        # before the edge is created: it goes through a PATCH job now. Every other create
        # or update is written behind: buffered, and sent by one flush job per window.
        ends = {k for r in changes.create_relationships for k in (r.from_key, r.to_key)}
        now = [e for e in changes.create_entities if e.key in ends]
        later = [e for e in [*changes.create_entities, *changes.update_entities] if e not in now]
        if changes.delete_entities:  # a buffered update must not bring a deleted one back
            self.mirror.r.hdel(self.mirror.key("patch:pending"), *changes.delete_entities)
        if later:
            self.defer_entities(later)
        if now:
            self.patch_entities(now)
            self.mirror.record(now, [])
        # No relationship update exists in the API: an edge whose properties changed is
        # deleted and created again (GraphQL runs mutations of one request in order).
        updated = changes.update_relationships
        removed = [*changes.delete_relationships, *(r.key for r in updated)]
        created = [*updated, *changes.create_relationships]
        if removed or created or changes.delete_entities:
            self._mutate(removed, created, changes.delete_entities)

    def upsert_entities(self, entities: Iterable[Entity]) -> None:
        entities = list(entities)
        if entities:
            self.patch_entities(entities)
            self.mirror.record(entities, [])

    def delete_entities(self, keys: Iterable[str]) -> None:
        self._mutate([], [], list(keys))

    def upsert_relationships(self, relationships: Iterable[Relationship]) -> None:
        relationships = list(relationships)
        held = self.mirror.index().relationships
        self._mutate([r.key for r in relationships if r.key in held], relationships, [])

    def delete_relationships(self, keys: Iterable[str]) -> None:
        self._mutate(list(keys), [], [])

    # Written behind: one PATCH job per window for every worker's creates and updates -----

    def defer_entities(self, entities: Sequence[Entity]) -> None:
        """Buffer creates/updates in Redis (the latest write of a key wins) and make sure
        a flush job runs `patch_window` seconds from now."""
        mirror = self.mirror
        with mirror.r.pipeline(transaction=False) as pipe:
            for entity in entities:
                pipe.hset(mirror.key("patch:pending"), entity.key, json.dumps(entity.to_j1()))
            pipe.execute()
        enqueue_once(
            Queue(WEBHOOK_QUEUE, connection=mirror.r),
            mirror.key("patch:flush-queued"),
            600,
            "worker.jobs.flush_jupiterone",
            (),
            job_id_for("jupiterone-flush", uuid.uuid4().hex),
            retry=FLUSH_RETRY,
            description="write buffered entity changes to JupiterOne (PATCH job)",
            delay=self.patch_window,
        )

    def flush_pending(self) -> int:
        """Send every buffered create/update in one PATCH job; how many entities it sent.

        On failure they go back to the buffer (unless a newer write of the key is there)
        and the error is raised, so the job is retried.
        """
        mirror = self.mirror
        # One flush at a time: of two flushes in flight, the older could land last.
        with mirror.r.lock(
            mirror.key("patch:flush-lock"),
            timeout=FLUSH_LOCK_TIMEOUT,
            blocking_timeout=FLUSH_LOCK_TIMEOUT,
        ):
            return self._flush_pending()

    def _flush_pending(self) -> int:
        mirror = self.mirror
        with mirror.r.pipeline(transaction=True) as pipe:
            pipe.delete(mirror.key("patch:flush-queued"))  # writes from now on: a new flush
            pipe.hgetall(mirror.key("patch:pending"))
            pipe.delete(mirror.key("patch:pending"))
            _, taken, _ = pipe.execute()
        if not taken:
            return 0
        objects = [json.loads(raw) for raw in taken.values()]
        try:
            self._run_patch_job(objects)
        except Exception:
            with mirror.r.pipeline(transaction=False) as pipe:
                for key, raw in taken.items():
                    pipe.hsetnx(mirror.key("patch:pending"), key, raw)
                pipe.execute()
            raise
        mirror.record([Entity.from_j1(o) for o in objects], [])
        return len(objects)

    # PATCH jobs, shared between workers -------------------------------------------------

    def patch_entities(self, entities: Sequence[Entity]) -> None:
        """Create or update `entities` through a PATCH job other writers may share."""
        payload = json.dumps([e.to_j1() for e in entities])
        mirror = self.mirror
        window_ms = max(1, int(self.patch_window * 1000))
        while True:
            batch = mirror.r.get(mirror.key("patch:open"))
            if batch is not None:
                batch_id = _decode(batch)
                items = mirror.key(f"patch:{batch_id}")
                if self._join(
                    keys=[mirror.key("patch:open"), items], args=[batch_id, payload, 60_000]
                ):
                    if self._wait_for_batch(batch_id):
                        return
                    log.warning("shared PATCH job did not report; writing alone")
                    self._run_patch_job([e.to_j1() for e in entities])
                    return
                continue
            batch_id = uuid.uuid4().hex
            # The open marker outlives the window: it goes when the leader closes the batch.
            if mirror.r.set(mirror.key("patch:open"), batch_id, nx=True, px=window_ms * 4 + 5000):
                return self._lead_batch(batch_id, payload)

    def _lead_batch(self, batch_id: str, payload: str) -> None:
        mirror = self.mirror
        items_key = mirror.key(f"patch:{batch_id}")
        mirror.r.rpush(items_key, payload)
        time.sleep(self.patch_window)
        raw_items = self._close(keys=[mirror.key("patch:open"), items_key], args=[batch_id])
        merged: dict[str, dict[str, Any]] = {}
        for raw in cast(list[bytes], raw_items):
            for obj in json.loads(raw):
                merged[obj["_key"]] = obj  # later payloads carry later reads
        result_key = mirror.key(f"patch:{batch_id}:result")
        try:
            self._run_patch_job(list(merged.values()))
        except Exception as exc:
            mirror.r.set(result_key, f"failed: {exc}", ex=300)
            raise
        mirror.r.set(result_key, "ok", ex=300)
        if len(raw_items) > 1:
            log.info("PATCH job shared", extra={"writers": len(raw_items), "entities": len(merged)})

    def _wait_for_batch(self, batch_id: str) -> bool:
        """True when the leader's job finished; SinkError when it failed; False on silence."""
        result_key = self.mirror.key(f"patch:{batch_id}:result")
        deadline = time.monotonic() + self.patch_window + self.patch_wait
        while time.monotonic() < deadline:
            result = self.mirror.r.get(result_key)
            if result is not None:
                text = _decode(result)
                if text == "ok":
                    return True
                raise SinkError(f"JupiterOne PATCH job for this change {text}")
            time.sleep(0.05)
        return False

    def _run_patch_job(self, entities: list[dict[str, Any]]) -> None:
        client = self.client
        try:
            job_id = client.start_job(self.scope, "PATCH")
        except JupiterOneError as exc:
            raise SinkError(str(exc)) from exc
        try:
            client.upload(job_id, "entities", entities)
            client.finalize(job_id)
            client.wait_for_job(job_id)
        except JupiterOneError as exc:
            try:
                client.abort(job_id, f"pdgraph: {exc}")
            except JupiterOneError:
                pass
            raise SinkError(f"JupiterOne PATCH job {job_id} failed: {exc}") from exc

    # GraphQL: deletes and relationships -------------------------------------------------

    def _mutate(
        self,
        removed: Sequence[str],
        created: Sequence[Relationship],
        deleted_entities: Sequence[str],
    ) -> None:
        """Delete `removed` edges and `deleted_entities`, create `created` edges."""
        mirror = self.mirror
        held = json_objects(mirror, removed)
        ends = {key: (obj["_fromEntityKey"], obj["_toEntityKey"]) for key, obj in held.items()}
        entity_keys = sorted(
            {*deleted_entities, *(k for pair in ends.values() for k in pair)}
            | {k for r in created for k in (r.from_key, r.to_key)}
        )
        entity_ids = self._entity_ids(entity_keys)
        relationship_ids = self._relationship_ids(list(ends))

        gone: list[str] = [k for k in removed if k not in relationship_ids]  # not in J1
        gone += [k for k in deleted_entities if k not in entity_ids]
        batches: list[_Mutations] = [_Mutations()]

        def batch() -> _Mutations:
            if len(batches[-1]) >= MUTATIONS_PER_REQUEST:
                batches.append(_Mutations())
            return batches[-1]

        for key in removed:
            if key not in relationship_ids:
                continue
            if ends[key][0] not in entity_ids or ends[key][1] not in entity_ids:
                gone.append(key)  # an edge cannot outlive its ends
            else:
                batch().add(
                    "deleteRelationship",
                    key,
                    {
                        "relationshipId": ("String!", relationship_ids[key]),
                        "fromEntityId": ("String!", entity_ids[ends[key][0]]),
                        "toEntityId": ("String!", entity_ids[ends[key][1]]),
                    },
                    "{ relationship { _id } }",
                )
        for key in deleted_entities:
            if key in entity_ids:
                batch().add(
                    "deleteEntityV2",
                    key,
                    {"entityId": ("String!", entity_ids[key]), "hardDelete": ("Boolean", True)},
                    "{ entity }",
                )
        missing = [r for r in created if r.from_key not in entity_ids or r.to_key not in entity_ids]
        for rel in created:
            if rel in missing:
                continue
            batch().add(
                "createRelationship",
                rel.key,
                {
                    "relationshipKey": ("String!", rel.key),
                    "relationshipType": ("String!", rel.type),
                    "relationshipClass": ("String!", rel.class_),
                    "fromEntityId": ("String!", entity_ids[rel.from_key]),
                    "toEntityId": ("String!", entity_ids[rel.to_key]),
                    "properties": ("JSON", rel.properties),
                },
                "{ relationship { _id } }",
            )
        by_key = {r.key: r for r in created}
        failures: list[str] = []
        for mutations in batches:
            if not mutations:
                continue
            data, errors = self._run_mutations(mutations)
            done_deletes: list[str] = []
            done_creates: list[Relationship] = []
            new_ids: dict[str, str] = {}
            failed: list[str] = []
            for alias, (op, key) in mutations.meaning.items():
                error = errors.pop(alias, None)
                if op == "createRelationship" and (
                    data.get(alias) is not None or _says(error, "already exists")
                ):
                    # Already there: written by a run whose Redis record was lost.
                    done_creates.append(by_key[key])
                    rel_id = ((data.get(alias) or {}).get("relationship") or {}).get("_id")
                    if rel_id:
                        new_ids[key] = rel_id
                elif op != "createRelationship" and data.get(alias) is not None:
                    done_deletes.append(key)
                else:
                    failed.append(key)
                    failures.append(f"{op} {key}: {error or 'no result'}")
            mirror.record(done_creates, done_deletes)
            mirror.remember_ids(new_ids)
            # A stale _id ("not found") is forgotten: the retry looks it up again, and an
            # object the lookup no longer finds is gone from JupiterOne already.
            mirror.forget_ids(failed)
            failures.extend(errors.values())  # errors of no one mutation
        if gone:
            mirror.record([], gone)
        if missing:
            failures.append(
                "entities not found in JupiterOne for "
                + ", ".join(sorted({r.key for r in missing})[:5])
            )
        if failures:
            raise SinkError("JupiterOne GraphQL: " + "; ".join(failures[:5]))

    def _run_mutations(self, mutations: _Mutations) -> tuple[dict[str, Any], dict[str, str]]:
        """The request's `data` and its errors by alias (the path's first element)."""
        client = self.client
        try:
            answer = client.request(
                "POST",
                client.graphql_url,
                json.dumps(
                    {"query": mutations.document(), "variables": mutations.variables}
                ).encode("utf-8"),
                "mutations",
            )
        except JupiterOneError as exc:
            raise SinkError(str(exc)) from exc
        errors: dict[str, str] = {}
        for n, error in enumerate(answer.get("errors") or []):
            path = error.get("path") or [f"#{n}"]
            errors[str(path[0])] = str(error.get("message", error))
        return answer.get("data") or {}, errors

    def _entity_ids(self, keys: Sequence[str]) -> dict[str, str]:
        def row_id(row: dict[str, Any]) -> tuple[Any, Any]:
            entity = row.get("entity") or {}
            return entity.get("_key"), entity.get("_id")

        return self._ids(keys, "AND _key = ({keys})", row_id)

    def _relationship_ids(self, keys: Sequence[str]) -> dict[str, str]:
        return self._ids(
            keys,
            "THAT RELATES TO AS r * WHERE r._key = ({keys}) RETURN r._id, r._key",
            lambda row: (row.get("r._key"), row.get("r._id")),
        )

    def _ids(
        self,
        keys: Sequence[str],
        condition: str,
        row_id: Callable[[dict[str, Any]], tuple[Any, Any]],
    ) -> dict[str, str]:
        """JupiterOne `_id`s of `keys`: cached ones, the rest by J1QL (100 keys a query)."""
        ids = self.mirror.ids(keys)
        unknown = [k for k in keys if k not in ids]
        found: dict[str, str] = {}
        for start in range(0, len(unknown), LOOKUP_CHUNK):
            chunk = unknown[start : start + LOOKUP_CHUNK]
            keys_expr = " OR ".join(j1ql_string(k) for k in chunk)
            j1ql = f"FIND * WITH _scope = {j1ql_string(self.scope)} " + condition.format(
                keys=keys_expr
            )
            for row in self._query(j1ql):
                key, object_id = row_id(row)
                if key in chunk and object_id:
                    found[key] = object_id
        self.mirror.remember_ids(found)
        return {**ids, **found}

    def _query(self, j1ql: str) -> list[dict[str, Any]]:
        try:
            return self.client.query(j1ql)
        except JupiterOneError as exc:
            raise SinkError(str(exc)) from exc


def json_objects(mirror: RedisMirror, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The mirror's JSON of these objects (those it holds)."""
    if not keys:
        return {}
    raws = mirror.r.hmget(mirror.key("objects"), list(keys))
    return {k: json.loads(raw) for k, raw in zip(keys, raws, strict=True) if raw}


def _says(error: str | None, words: str) -> bool:
    return error is not None and words in error.lower()


def _auth_reason(exc: JupiterOneAuthError, account_id: str) -> str:
    if "(403" in str(exc):
        return (
            f"JUPITERONE_API_KEY is not valid for JUPITERONE_ACCOUNT_ID {account_id!r} "
            "(403): check the account id"
        )
    return "JUPITERONE_API_KEY was rejected (401): check the key (or that it is not expired)"


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _text(mapping: dict[Any, Any]) -> dict[str, str]:
    return {_decode(k): _decode(v) for k, v in mapping.items()}
