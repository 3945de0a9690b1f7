"""Entity deletes and relationship writes: GraphQL mutations, with `_id`s looked up.

Mutations name objects by JupiterOne `_id`: they come from the record's cache or one J1QL
lookup per kind (LOOKUP_CHUNK keys a query). The record is updated with what each request
did, even when another mutation of it failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from common.graph import Relationship
from common.jupiterone import JupiterOneClient, JupiterOneError, j1ql_string
from common.sinks import SinkError
from common.sinks.jupiterone.mutations import (
    Mutations,
    errors_by_alias,
    interpret,
    plan_mutations,
)
from common.sinks.jupiterone.record import JupiterOneRecord

LOOKUP_CHUNK = 100  # keys per J1QL lookup

RowId = Callable[[dict[str, Any]], tuple[Any, Any]]  # a J1QL row → (_key, _id)


class GraphQLWriter:
    def __init__(self, client: JupiterOneClient, record: JupiterOneRecord, scope: str) -> None:
        self.client = client
        self.record = record
        self.scope = scope

    def mutate(
        self,
        removed: Sequence[str],
        created: Sequence[Relationship],
        deleted_entities: Sequence[str],
    ) -> None:
        """Delete `removed` edges and `deleted_entities`, create `created` edges.

        Raises SinkError listing what failed (after recording what succeeded).
        """
        ends = {
            key: (obj["_fromEntityKey"], obj["_toEntityKey"])
            for key, obj in self.record.objects(removed).items()
        }
        entity_keys = sorted(
            {*deleted_entities, *(k for pair in ends.values() for k in pair)}
            | {k for r in created for k in (r.from_key, r.to_key)}
        )
        plan = plan_mutations(
            removed,
            ends,
            deleted_entities,
            created,
            self._entity_ids(entity_keys),
            self._relationship_ids(list(ends)),
        )
        by_key = {r.key: r for r in created}
        failures: list[str] = []
        for mutations in plan.batches:
            data, errors = self._send(mutations)
            outcome = interpret(mutations, data, errors, by_key)
            self.record.update(outcome.created, outcome.deleted)
            self.record.remember_ids(outcome.new_ids)
            # A stale _id ("not found") is forgotten: the retry looks it up again, and an
            # object the lookup no longer finds is gone from JupiterOne already.
            self.record.forget_ids(outcome.failed)
            failures.extend(outcome.failures)
        if plan.gone:
            self.record.update([], plan.gone)
        if plan.missing:
            failures.append(
                "entities not found in JupiterOne for "
                + ", ".join(sorted({r.key for r in plan.missing})[:5])
            )
        if failures:
            raise SinkError("JupiterOne GraphQL: " + "; ".join(failures[:5]))

    def _send(self, mutations: Mutations) -> tuple[dict[str, Any], dict[str, str]]:
        """One request: its `data` and its errors by alias."""
        body = {"query": mutations.document(), "variables": mutations.variables}
        try:
            answer = self.client.request(
                "POST", self.client.graphql_url, json.dumps(body).encode("utf-8"), "mutations"
            )
        except JupiterOneError as exc:
            raise SinkError(str(exc)) from exc
        return errors_by_alias(answer)

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

    def _ids(self, keys: Sequence[str], condition: str, row_id: RowId) -> dict[str, str]:
        """JupiterOne `_id`s of `keys`: cached ones, the rest by J1QL."""
        ids = self.record.ids(keys)
        unknown = [k for k in keys if k not in ids]
        found: dict[str, str] = {}
        for start in range(0, len(unknown), LOOKUP_CHUNK):
            chunk = unknown[start : start + LOOKUP_CHUNK]
            keys_expr = " OR ".join(j1ql_string(k) for k in chunk)
            j1ql = f"FIND * WITH _scope = {j1ql_string(self.scope)} " + condition.format(
                keys=keys_expr
            )
            try:
                rows = self.client.query(j1ql)
            except JupiterOneError as exc:
                raise SinkError(str(exc)) from exc
            for row in rows:
                key, object_id = row_id(row)
                if key in chunk and object_id:
                    found[key] = object_id
        self.record.remember_ids(found)
        return {**ids, **found}
