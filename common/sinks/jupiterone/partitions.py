"""Edge partitions: relationships in a fixed number of scopes of their own, so that a
change uploads the partitions it touches, not the whole scope.

In the *partitioned* layout the entities stay in `JUPITERONE_SCOPE` and each relationship
lives in `<JUPITERONE_SCOPE>-edges-<n>`, `n` a hash bucket of its source entity's `_key`,
naming both its ends in the entity scope by source, scope and key (JupiterOne's
"relationships across scopes"). A DIFF of one partition replaces that partition only.

Why 256 partitions, bucketed by the source entity: an on-call hand-off moves the edges from
the user going off call to the services of a policy, and adds those of the user coming on
(one or two sources: one or two partitions, however many services the policy has). At
10,000 users a partition holds about 1/256 of the account's relationships (a few hundred),
so a hand-off uploads under 1 % of what a DIFF of the whole scope does; past 256 the
nightly sync's jobs (one a partition) cost more than the hand-offs gain. The number is
fixed: changing it would move every relationship to another scope.

JupiterOne documents neither whether a DIFF accepts relationships whose both ends are in
another scope nor whether a later DIFF of that scope deletes them: pdgraph writes this
layout only where `pdgraph jupiterone probe` verified both on the account
(common/sinks/jupiterone/layout.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common.clients.jupiterone import JupiterOneClient
from common.graph import Graph, Relationship
from common.sinks.jupiterone.syncjob import run_diff_job

PARTITIONS = 256
JOBS_AT_ONCE = 8  # partition DIFF jobs in flight together (the nightly sync runs 256)
SOURCE = "api"  # the source of every sync job the persister API makes


def partition_of(relationship_key: str) -> int:
    """The partition of a relationship: a hash bucket of its source entity's `_key` (the
    part of `<from>|<class>|<to>` before the first `|`)."""
    source = relationship_key.partition("|")[0]
    digest = hashlib.blake2b(source.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % PARTITIONS


def partition_scope(scope: str, n: int) -> str:
    return f"{scope}-edges-{n}"


def by_partition(
    relationships: Iterable[Relationship], partitions: Iterable[int] = range(PARTITIONS)
) -> dict[int, list[Relationship]]:
    """These partitions (every one by default, each listed even when empty) and the
    relationships of each."""
    found: dict[int, list[Relationship]] = {n: [] for n in partitions}
    for relationship in relationships:
        n = partition_of(relationship.key)
        if n in found:
            found[n].append(relationship)
    return found


def across_scopes(scope: str) -> Callable[[Relationship], dict[str, Any]]:
    """How a relationship is uploaded to a partition: its ends named in `scope`."""

    def as_json(relationship: Relationship) -> dict[str, Any]:
        return {
            **relationship.to_j1(),
            "_fromEntitySource": SOURCE,
            "_fromEntityScope": scope,
            "_toEntitySource": SOURCE,
            "_toEntityScope": scope,
        }

    return as_json


def diff_partitions(
    client: JupiterOneClient, scope: str, partitions: Mapping[int, Sequence[Relationship]]
) -> list[str]:
    """Make each partition's content these relationships, one DIFF job each, a few at a
    time; the job ids. Every job is tried; the first failure is raised after the others
    ended (the ones that finished stay written)."""
    as_json = across_scopes(scope)

    def diff_one(n: int) -> str:
        graph = Graph({}, {r.key: r for r in partitions[n]})
        return run_diff_job(client, partition_scope(scope, n), graph, edge_json=as_json)

    with ThreadPoolExecutor(max_workers=JOBS_AT_ONCE) as pool:
        futures = [pool.submit(diff_one, n) for n in sorted(partitions)]
    for future in futures:  # every job has ended: the first failure, if any
        if (error := future.exception()) is not None:
            raise error
    return [f.result() for f in futures]
