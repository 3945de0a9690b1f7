"""Planning GraphQL mutations, pure: no Redis, no HTTP.

Given a change (edges to delete with their ends, entities to delete, edges to create) and
the JupiterOne `_id`s known, build the aliased-mutation documents (MUTATIONS_PER_REQUEST a
request), and read an answer back: which keys were done, which failed and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.graph import Relationship

MUTATIONS_PER_REQUEST = 50  # aliased mutations per GraphQL request

Ends = tuple[str, str]  # (from entity key, to entity key)


@dataclass
class Mutations:
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


@dataclass
class Plan:
    """The requests to send, and what needs none."""

    batches: list[Mutations] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # keys JupiterOne no longer holds
    missing: list[Relationship] = field(default_factory=list)  # edges whose ends it lacks

    def add(self, op: str, key: str, args: dict[str, tuple[str, Any]], selection: str) -> None:
        if not self.batches or len(self.batches[-1]) >= MUTATIONS_PER_REQUEST:
            self.batches.append(Mutations())
        self.batches[-1].add(op, key, args, selection)


def plan_mutations(
    removed: Sequence[str],
    ends: Mapping[str, Ends],
    deleted_entities: Sequence[str],
    created: Sequence[Relationship],
    entity_ids: Mapping[str, str],
    relationship_ids: Mapping[str, str],
) -> Plan:
    """Delete the `removed` edges (`ends`: their ends), then `deleted_entities`, then
    create the `created` edges.

    An object with no `_id` is gone from JupiterOne already (nothing to send); so is an
    edge one of whose ends is gone (an edge cannot outlive its ends). An edge to create
    whose ends have no `_id` cannot be created: it is `missing`.
    """
    plan = Plan()
    for key in removed:
        from_key, to_key = ends.get(key, ("", ""))
        if key not in relationship_ids or from_key not in entity_ids or to_key not in entity_ids:
            plan.gone.append(key)
        else:
            plan.add(
                "deleteRelationship",
                key,
                {
                    "relationshipId": ("String!", relationship_ids[key]),
                    "fromEntityId": ("String!", entity_ids[from_key]),
                    "toEntityId": ("String!", entity_ids[to_key]),
                },
                "{ relationship { _id } }",
            )
    for key in deleted_entities:
        if key not in entity_ids:
            plan.gone.append(key)
            continue
        plan.add(
            "deleteEntityV2",
            key,
            {"entityId": ("String!", entity_ids[key]), "hardDelete": ("Boolean", True)},
            "{ entity }",
        )
    for rel in created:
        if rel.from_key not in entity_ids or rel.to_key not in entity_ids:
            plan.missing.append(rel)
            continue
        plan.add(
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
    return plan


def errors_by_alias(answer: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A GraphQL answer's `data` and its errors by alias (the path's first element)."""
    errors: dict[str, str] = {}
    for n, error in enumerate(answer.get("errors") or []):
        path = error.get("path") or [f"#{n}"]
        errors[str(path[0])] = str(error.get("message", error))
    return answer.get("data") or {}, errors


@dataclass
class Outcome:
    """What one request of mutations did."""

    created: list[Relationship] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    new_ids: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # keys whose mutation failed
    failures: list[str] = field(default_factory=list)  # why, one line each


def interpret(
    mutations: Mutations,
    data: Mapping[str, Any],
    errors: Mapping[str, str],
    created: Mapping[str, Relationship],
) -> Outcome:
    """Which keys of `mutations` were done, failed or already there (`created`: by key)."""
    outcome = Outcome()
    unclaimed = dict(errors)
    for alias, (op, key) in mutations.meaning.items():
        error = unclaimed.pop(alias, None)
        result = data.get(alias)
        if op == "createRelationship" and (result is not None or _says(error, "already exists")):
            # Already there: written by a run whose Redis record was lost.
            outcome.created.append(created[key])
            rel_id = ((result or {}).get("relationship") or {}).get("_id")
            if rel_id:
                outcome.new_ids[key] = rel_id
        elif op != "createRelationship" and result is not None:
            outcome.deleted.append(key)
        else:
            outcome.failed.append(key)
            outcome.failures.append(f"{op} {key}: {error or 'no result'}")
    outcome.failures.extend(unclaimed.values())  # errors of no one mutation
    return outcome


def _says(error: str | None, words: str) -> bool:
    return error is not None and words in error.lower()
