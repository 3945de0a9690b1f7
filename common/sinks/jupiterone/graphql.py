"""GraphQL and J1QL calls by key: `_id` lookups, relationship creates and deletes.

pdgraph's sink writes no relationship through GraphQL (scopediff.py says why); these are
for `pdgraph jupiterone probe` (probe.py), which checks what JupiterOne does with one.
The lookups are the J1QL forms of shared/reference/jupiterone.md; a relationship lookup
filters the *entities* by scope, so it finds every copy of a `_key` joined to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.clients.jupiterone import JupiterOneClient, j1ql_string
from common.graph import Relationship

CREATE_RELATIONSHIP = """mutation PdgraphCreate($relationshipKey: String!,
  $relationshipType: String!, $relationshipClass: String!, $fromEntityId: String!,
  $toEntityId: String!, $properties: JSON) {
  created: createRelationship(relationshipKey: $relationshipKey,
    relationshipType: $relationshipType, relationshipClass: $relationshipClass,
    fromEntityId: $fromEntityId, toEntityId: $toEntityId, properties: $properties)
    { relationship { _id } }
}"""
DELETE_RELATIONSHIP = """mutation PdgraphDelete($relationshipId: String!,
  $fromEntityId: String!, $toEntityId: String!) {
  deleted: deleteRelationship(relationshipId: $relationshipId,
    fromEntityId: $fromEntityId, toEntityId: $toEntityId) { relationship { _id } }
}"""


def _keys(keys: Sequence[str]) -> str:
    return " OR ".join(j1ql_string(k) for k in keys)


def entity_ids(client: JupiterOneClient, scope: str, keys: Sequence[str]) -> dict[str, str]:
    """`_key` → `_id` of the entities of `scope` with these keys (those found)."""
    j1ql = f"FIND * WITH _scope = {j1ql_string(scope)} AND _key = ({_keys(keys)})"
    found: dict[str, str] = {}
    for row in client.query(j1ql):
        entity = row.get("entity") or {}
        if entity.get("_key") in keys and entity.get("_id"):
            found[str(entity["_key"])] = str(entity["_id"])
    return found


def scope_entity_count(client: JupiterOneClient, scope: str) -> int:
    """How many entities `scope` holds."""
    return len(client.query(f"FIND * WITH _scope = {j1ql_string(scope)}"))


def relationship_ids(client: JupiterOneClient, scope: str, key: str) -> list[str]:
    """The `_id` of every relationship with this `_key` joined to an entity of `scope`."""
    j1ql = (
        f"FIND * WITH _scope = {j1ql_string(scope)} THAT RELATES TO AS r * "
        f"WHERE r._key = ({_keys([key])}) RETURN r._id, r._key"
    )
    rows: list[dict[str, Any]] = client.query(j1ql)
    return sorted({str(r["r._id"]) for r in rows if r.get("r._key") == key and r.get("r._id")})


def relationship_scopes(client: JupiterOneClient, scope: str, key: str) -> list[str]:
    """The `_scope` of every relationship with this `_key` joined to entities of `scope`
    (an edge partition's relationships are, whatever scope they are in), sorted."""
    j1ql = (
        f"FIND * WITH _scope = {j1ql_string(scope)} THAT RELATES TO AS r * "
        f"WHERE r._key = ({_keys([key])}) RETURN r._id, r._key, r._scope"
    )
    rows: list[dict[str, Any]] = client.query(j1ql)
    return sorted(str(r.get("r._scope")) for r in rows if r.get("r._key") == key)


def create_relationship(
    client: JupiterOneClient, relationship: Relationship, from_id: str, to_id: str
) -> str:
    """Create `relationship` between these entity `_id`s; its `_id`."""
    data = client.graphql(
        CREATE_RELATIONSHIP,
        {
            "relationshipKey": relationship.key,
            "relationshipType": relationship.type,
            "relationshipClass": relationship.class_,
            "fromEntityId": from_id,
            "toEntityId": to_id,
            "properties": relationship.properties,
        },
        "createRelationship",
    )
    return str(((data.get("created") or {}).get("relationship") or {}).get("_id"))


def delete_relationship(
    client: JupiterOneClient, relationship_id: str, from_id: str, to_id: str
) -> None:
    client.graphql(
        DELETE_RELATIONSHIP,
        {"relationshipId": relationship_id, "fromEntityId": from_id, "toEntityId": to_id},
        "deleteRelationship",
    )
