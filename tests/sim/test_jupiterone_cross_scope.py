"""Relationships across scopes in the JupiterOne simulator, over HTTP: pdgraph's "edge
partitions" (entities in `pagerduty`, relationships in `pagerduty-edges-<n>` naming both
ends by source/scope/key), and each reading of what JupiterOne leaves undocumented about
them (sim/jupiterone/persister.py): whether a DIFF accepts an edge with both ends in
another scope, whether a later DIFF of the edge's scope deletes it when left out, and
what an edge does when an end entity is deleted (and written again)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from common.clients.http import RetryPolicy
from common.clients.jupiterone import JupiterOneClient, JupiterOneError
from common.graph import Entity, Graph
from common.sinks.jupiterone.graphql import entity_ids, relationship_ids
from common.sinks.jupiterone.syncjob import run_diff_job, run_patch_job
from sim.jupiterone import FOREIGN_END_DELETED, PARTITION_DIFF, JupiterOneSim

ACCOUNT, KEY = "j1-cross-scope", "j1-cross-scope-key-0123"
S = "pagerduty"
EDGES = f"{S}-edges-0"
A, B, C = "service:PCROSSAAAA", "service:PCROSSBBBB", "service:PCROSSCCCC"
EDGE = f"{A}|uses|{B}"
FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_cap=0.01)
DELETE_ENTITY = """mutation Gone($entityId: String!) {
  gone: deleteEntityV2(entityId: $entityId) { entity }
}"""


@contextmanager
def account(**readings: str) -> Iterator[tuple[JupiterOneSim, JupiterOneClient]]:
    """A simulated account following these readings, and a pdgraph client of it."""
    with JupiterOneSim(ACCOUNT, KEY, **readings) as j1:
        yield j1, JupiterOneClient(ACCOUNT, KEY, j1.api_url, j1.graphql_url, retry=FAST)


def entity(key: str) -> Entity:
    properties: dict[str, Any] = {"name": key, "displayName": key}
    return Entity(key=key, type="pagerduty_service", class_="Service", properties=properties)


def write_entities(client: JupiterOneClient, *keys: str, scope: str = S) -> None:
    """A DIFF of `scope` (pdgraph's own job code) leaving exactly these entities there."""
    run_diff_job(client, scope, Graph.of([entity(k) for k in keys], []))


def edge(key: str = EDGE, from_key: str = A, to_key: str = B, **ends: str) -> dict[str, Any]:
    """A relationship naming both ends in scope S by source/scope/key (`ends` overrides
    those fields; a value of "" leaves the field out)."""
    named = {
        "_fromEntitySource": "api",
        "_fromEntityScope": S,
        "_toEntitySource": "api",
        "_toEntityScope": S,
        **ends,
    }
    return {
        "_key": key,
        "_type": "pagerduty_service_uses_service",
        "_class": "USES",
        **{k: v for k, v in named.items() if v},
        "_fromEntityKey": from_key,
        "_toEntityKey": to_key,
    }


def diff(
    client: JupiterOneClient,
    scope: str,
    relationships: Sequence[dict[str, Any]] = (),
    entities: Sequence[str] = (),
) -> dict[str, Any]:
    """Run a DIFF job of `scope` with these uploads to its end; the job as last polled."""
    job_id = client.start_job(scope, "DIFF")
    client.upload(job_id, "entities", [entity(k).to_j1() for k in entities])
    client.upload(job_id, "relationships", relationships)
    client.finalize(job_id)
    job = client.job_status(job_id)
    while job["status"] in ("AWAITING_UPLOADS", "FINALIZE_PENDING"):
        job = client.job_status(job_id)
    return job


def lookup(client: JupiterOneClient, key: str = EDGE) -> list[dict[str, Any]]:
    """pdgraph's relationship lookup by `_key` from the entities of S, with `r._scope`."""
    return client.query(
        f"FIND * WITH _scope = '{S}' THAT RELATES TO AS r * "
        f"WHERE r._key = ('{key}') RETURN r._id, r._key, r._scope"
    )


def stored_edges(j1: JupiterOneSim) -> list[dict[str, Any]]:
    return j1.account()["relationships"]


def edges_then_partition(client: JupiterOneClient) -> dict[str, Any]:
    write_entities(client, A, B)
    return diff(client, EDGES, [edge()])


# -- a DIFF of an edge scope naming both ends in S (reading: foreign_endpoints) ---------


def test_accepted_edge_is_found_from_its_entities_and_listed_in_its_scope() -> None:
    with account() as (j1, client):
        assert edges_then_partition(client)["status"] == "FINISHED"
        [row] = lookup(client)
        assert row["r._key"] == EDGE and row["r._scope"] == EDGES
        assert relationship_ids(client, S, EDGE) == [row["r._id"]]  # pdgraph's two fields
        [held] = stored_edges(j1)
        assert held == {**edge(), "_scope": EDGES}  # as uploaded, nothing internal
        assert "_id" not in held and "_fromScopeKey" not in held
        assert list(j1.graph(EDGES).relationships) == [EDGE] and not j1.graph(EDGES).entities
        assert not j1.graph(S).relationships
        over_http = requests.get(f"{j1.url}/_sim/graph", params={"scope": EDGES}, timeout=5)
        assert [r["_key"] for r in over_http.json()["relationships"]] == [EDGE]


def test_rejected_edge_ends_the_job_bad_data_and_nothing_is_applied() -> None:
    with account(foreign_endpoints="rejected") as (j1, client):
        write_entities(client, A, B)
        one_foreign = edge(f"{C}|uses|{A}", C, A, _fromEntitySource="", _fromEntityScope="")
        assert diff(client, EDGES, [one_foreign], [C])["status"] == "FINISHED"  # documented
        job = diff(client, EDGES, [edge()])
        assert job["status"] == "ERROR_BAD_DATA"
        assert "both endpoints are in another scope" in job["error"]
        assert [r["_key"] for r in stored_edges(j1)] == [one_foreign["_key"]]  # untouched
        assert list(j1.graph(EDGES).entities) == [C]
        assert lookup(client) == []


def test_accepted_edge_with_one_end_in_its_own_upload() -> None:
    with account() as (_, client):
        write_entities(client, A)
        local = edge(f"{C}|uses|{A}", C, A, _fromEntitySource="", _fromEntityScope="")
        job = diff(client, EDGES, [local], [C])
        assert job["status"] == "FINISHED"
        assert [r["r._scope"] for r in lookup(client, f"{C}|uses|{A}")] == [EDGES]


@pytest.mark.parametrize(
    "wrong",
    [
        {"to_key": "service:PNOSUCHONE"},
        {"_toEntityScope": "pagerduty-nothing"},
        {"_toEntityScope": EDGES},  # the job's own scope: its upload has no such entity
        {"_toEntitySource": "integration-managed"},
        {"_toEntityScope": ""},  # a source without a scope
    ],
)
def test_an_end_naming_no_entity_ends_the_job_bad_data(wrong: dict[str, str]) -> None:
    with account() as (j1, client):
        write_entities(client, A, B)
        job = diff(client, EDGES, [edge(**wrong)])
        assert job["status"] == "ERROR_BAD_DATA", job
        assert EDGE in job["error"]
        assert stored_edges(j1) == [] and lookup(client) == []


def test_an_end_field_that_is_not_a_string_is_refused_at_upload() -> None:
    with account() as (_, client):
        job_id = client.start_job(EDGES, "DIFF")
        with pytest.raises(JupiterOneError, match="_toEntityScope must be a string"):
            client.upload(job_id, "relationships", [{**edge(), "_toEntityScope": 3}])


# -- a later DIFF of the edge scope leaving the edge out (reading: partition_diff) ------


@pytest.mark.parametrize("reading", PARTITION_DIFF)
def test_a_diff_of_the_edge_scope_leaving_the_edge_out(reading: str) -> None:
    with account(partition_diff=reading) as (j1, client):
        write_entities(client, A, B)
        local = edge(f"{C}|uses|{A}", C, A, _fromEntitySource="", _fromEntityScope="")
        assert diff(client, EDGES, [edge(), local], [C])["status"] == "FINISHED"
        assert diff(client, EDGES)["status"] == "FINISHED"
        kept = [(r["_key"], r["_scope"]) for r in stored_edges(j1)]
        # an edge with an end of the scope's own goes either way, with that entity
        assert kept == ([] if reading == "deletes" else [(EDGE, EDGES)])
        assert not j1.graph(EDGES).entities
        assert [r["r._scope"] for r in lookup(client)] == [EDGES] * len(kept)


# -- an end entity deleted, then written again (reading: foreign_end_deleted) ------------


def delete_by_diff(client: JupiterOneClient) -> None:
    write_entities(client, A)


def delete_by_graphql(client: JupiterOneClient) -> None:
    client.graphql(DELETE_ENTITY, {"entityId": entity_ids(client, S, [B])[B]}, "delete")


@pytest.mark.parametrize("reading", FOREIGN_END_DELETED)
@pytest.mark.parametrize("delete", [delete_by_diff, delete_by_graphql])
def test_an_end_entity_deleted_then_written_again(
    reading: str, delete: Callable[[JupiterOneClient], None]
) -> None:
    with account(foreign_end_deleted=reading) as (j1, client):
        assert edges_then_partition(client)["status"] == "FINISHED"
        [before] = lookup(client)
        b_id = entity_ids(client, S, [B])[B]
        delete(client)
        assert entity_ids(client, S, [B]) == {}
        held = [(r["_key"], r["_scope"], r["_toEntityKey"]) for r in stored_edges(j1)]
        assert held == ([] if reading == "deletes" else [(EDGE, EDGES, B)])
        assert lookup(client) == [] and relationship_ids(client, S, EDGE) == []  # dangling
        assert list(j1.graph(EDGES).relationships) == [EDGE] * len(held)

        write_entities(client, A, B)
        assert entity_ids(client, S, [B]) == {B: b_id}  # `_id` derived from scope and key
        assert lookup(client) == ([] if reading == "deletes" else [before])  # joined again


def test_a_kept_edge_joins_an_end_written_again_by_a_patch_job() -> None:
    with account(foreign_end_deleted="keeps") as (_, client):
        edges_then_partition(client)
        [before] = lookup(client)
        write_entities(client, A)
        assert lookup(client) == []
        run_patch_job(client, S, [entity(B).to_j1()])
        assert lookup(client) == [before]


def test_a_diff_deleting_an_entity_of_the_scope_deletes_edges_of_that_scope() -> None:
    """ "Keeps" is about other scopes' edges: an edge of S itself goes with its end."""
    with account(foreign_end_deleted="keeps") as (j1, client):
        run_diff_job(
            client,
            S,
            Graph.from_j1(
                {
                    "entities": [entity(A).to_j1(), entity(B).to_j1()],
                    "relationships": [edge()],
                }
            ),
        )
        assert [r["_scope"] for r in stored_edges(j1)] == [S]
        client.graphql(DELETE_ENTITY, {"entityId": entity_ids(client, S, [B])[B]}, "delete")
        assert stored_edges(j1) == []


# -- keys and J1QL shapes -----------------------------------------------------------------


def test_the_same_key_in_two_scopes_is_two_objects() -> None:
    with account() as (j1, client):
        run_diff_job(
            client,
            S,
            Graph.from_j1(
                {
                    "entities": [entity(A).to_j1(), entity(B).to_j1()],
                    "relationships": [edge()],  # from_j1 keeps the keys: ends in S's upload
                }
            ),
        )
        assert diff(client, EDGES, [edge()], [A])["status"] == "FINISHED"
        held = j1.account()
        assert sorted((e["_key"], e["_scope"]) for e in held["entities"]) == [
            (A, S),
            (A, EDGES),
            (B, S),
        ]
        assert sorted((r["_key"], r["_scope"]) for r in held["relationships"]) == [
            (EDGE, S),
            (EDGE, EDGES),
        ]
        assert entity_ids(client, S, [A]) != entity_ids(client, EDGES, [A])
        rows = lookup(client)
        assert sorted(r["r._scope"] for r in rows) == [S, EDGES]
        assert len({r["r._id"] for r in rows}) == 2
        assert len(relationship_ids(client, S, EDGE)) == 2


def test_the_relationship_lookup_returns_r_scope_only_when_asked() -> None:
    with account() as (_, client):
        edges_then_partition(client)
        two = client.query(
            f"FIND * WITH _scope = '{S}' THAT RELATES TO AS r * "
            f"WHERE r._key = ('{EDGE}' OR 'nothing-like-it') RETURN r._id, r._key"
        )
        assert [sorted(row) for row in two] == [["r._id", "r._key"]]
        assert [sorted(row) for row in lookup(client)] == [["r._id", "r._key", "r._scope"]]
