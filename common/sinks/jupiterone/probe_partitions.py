"""The probe's checks of what edge partitions (partitions.py) rely on and JupiterOne does
not document, in the probe's throwaway entity scope and its partition `<scope>-edges-0`:

- **foreign endpoints**: a DIFF of the partition holding a relationship whose both ends
  are entities of the entity scope (named by source, scope and key) is `accepted` (the
  relationship is there, in the partition's scope) or `rejected`;
- **partition DIFF**: a later DIFF of the partition leaving it out `deletes` it, or `keeps`
  it;
- **foreign end deleted**: when one of its ends is deleted (a DIFF of the entity scope
  without it), the relationship is deleted with it, or JupiterOne `keeps` it (it is back
  when the entity is). Either way pdgraph is correct: a deleted entity's edges leave their
  partition in the same flush.

Partitions are safe where the first two hold: a change's DIFF of a partition then writes
exactly what that partition should hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common.clients.jupiterone import JupiterOneClient
from common.graph import Entity, Graph, Relationship
from common.sinks.base import SinkError
from common.sinks.jupiterone import graphql
from common.sinks.jupiterone.partitions import across_scopes, partition_scope
from common.sinks.jupiterone.syncjob import run_diff_job

ACCEPTED, REJECTED = "accepted", "rejected"
DELETES, KEEPS = "deletes", "keeps"


@dataclass
class PartitionAnswers:
    """What the probe saw of cross-scope relationships (None: not reached)."""

    foreign_endpoints: str | None = None  # ACCEPTED or REJECTED
    partition_diff: str | None = None  # DELETES or KEEPS
    foreign_end_deleted: str | None = None  # DELETES or KEEPS
    note: str | None = None

    @property
    def safe(self) -> bool:
        return self.foreign_endpoints == ACCEPTED and self.partition_diff == DELETES

    def reason(self) -> str:
        """Why partitions are not safe here (empty when they are)."""
        if self.foreign_endpoints != ACCEPTED:
            return "a DIFF did not take a relationship whose ends are in another scope"
        if self.partition_diff != DELETES:
            return "a DIFF of a partition did not delete a relationship it left out"
        return ""

    def as_dict(self) -> dict[str, str | None]:
        return {**asdict(self), "reason": self.reason() or None}

    def lines(self) -> list[str]:
        verdict = "verified" if self.safe else f"NOT safe: {self.reason()}"
        return [
            f"foreign endpoints      {self.foreign_endpoints or 'not determined'}",
            f"partition DIFF         {self.partition_diff or 'not determined'}",
            f"foreign end deleted    {self.foreign_end_deleted or 'not determined'}",
            f"edge partitions        {verdict}",
            *([f"note                   {self.note}"] if self.note else []),
        ]


def probe_partitions(
    client: JupiterOneClient, scope: str, ends: tuple[Entity, Entity], edge: Relationship
) -> PartitionAnswers:
    """Ask JupiterOne, with `edge` between `ends` (entities of `scope`, which holds them
    already), what partitions rely on."""
    answers = PartitionAnswers()
    partition = partition_scope(scope, 0)
    with_edge = Graph({}, {edge.key: edge})
    as_json = across_scopes(scope)
    try:
        run_diff_job(client, partition, with_edge, edge_json=as_json)
    except SinkError as exc:
        answers.foreign_endpoints, answers.note = REJECTED, f"the partition's DIFF failed: {exc}"
        return answers
    if _held_in(client, scope, edge.key) != [partition]:
        answers.foreign_endpoints = REJECTED
        answers.note = "the partition's DIFF finished but its relationship is not there"
        return answers
    answers.foreign_endpoints = ACCEPTED
    run_diff_job(client, partition, Graph(), edge_json=as_json)
    answers.partition_diff = DELETES if not _held_in(client, scope, edge.key) else KEEPS
    run_diff_job(client, partition, with_edge, edge_json=as_json)
    run_diff_job(client, scope, Graph.of([ends[0]], []))  # the other end deleted ...
    run_diff_job(client, scope, Graph.of(list(ends), []))  # ... and back
    kept = _held_in(client, scope, edge.key) == [partition]
    answers.foreign_end_deleted = KEEPS if kept else DELETES
    return answers


def empty_partition(client: JupiterOneClient, scope: str) -> None:
    """The probe's clean-up of its partition: a DIFF of nothing."""
    run_diff_job(client, partition_scope(scope, 0), Graph())


def _held_in(client: JupiterOneClient, scope: str, key: str) -> list[str]:
    """The scopes of the relationships with this `_key` joined to entities of `scope`."""
    return graphql.relationship_scopes(client, scope, key)
