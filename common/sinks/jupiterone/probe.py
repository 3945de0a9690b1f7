"""`pdgraph jupiterone probe`: what a real account does where JupiterOne's docs are silent.

In a throwaway scope of its own (`pdgraph-probe-<random>`) it creates two entities (a DIFF
job), relates them through GraphQL `createRelationship`, runs a DIFF of the scope holding
the same relationship, then one without it, and looks at what JupiterOne holds after each:

- **owned**: the GraphQL relationship joined the sync scope (the DIFF took it over and the
  DIFF without it deleted it);
- **duplicated**: it stayed outside the scope (the DIFF made a second edge of the same
  `_key`, and the DIFF without it left the GraphQL one behind);
- **rejected**: JupiterOne refused the GraphQL relationship or the DIFF holding its `_key`.

pdgraph writes no relationship through GraphQL (scopediff.py), so its strategy is safe
when the DIFF semantics it relies on hold: a DIFF creates the relationships it uploads
and deletes those it leaves out, and J1QL finds the objects by `_key`. It also checks
what edge partitions rely on (probe_partitions.py): the verdict decides whether pdgraph
writes relationships in partitions on this account (layout.py). The probe removes
everything it made, also when a step fails, and says if it could not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from common.clients.jupiterone import JupiterOneClient, JupiterOneError
from common.graph import Entity, Graph, Relationship
from common.sinks.base import SinkError
from common.sinks.jupiterone import graphql
from common.sinks.jupiterone.probe_partitions import (
    PartitionAnswers,
    empty_partition,
    probe_partitions,
)
from common.sinks.jupiterone.syncjob import run_diff_job

OWNED, DUPLICATED, REJECTED = "owned", "duplicated", "rejected"


@dataclass
class ProbeReport:
    """What the probe saw; `safe` is the verdict on pdgraph's strategy."""

    scope: str
    graphql_relationships: str | None = None  # OWNED, DUPLICATED or REJECTED
    lookups_ok: bool = False
    diff_owns_its_relationships: bool = False
    cleaned_up: bool = False
    rate_limit_headers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    partitions: PartitionAnswers = field(default_factory=PartitionAnswers)

    @property
    def partitions_safe(self) -> bool:
        """Whether pdgraph may write relationships in edge partitions on this account."""
        return self.safe and self.partitions.safe

    @property
    def safe(self) -> bool:
        return (
            self.failure is None
            and self.lookups_ok
            and self.diff_owns_its_relationships
            and self.cleaned_up
        )

    def reason(self) -> str:
        """Why pdgraph's strategy is not safe here (empty when it is)."""
        if self.failure is not None:
            return self.failure
        if not self.lookups_ok:
            return "J1QL lookups by _key did not return the probe's objects"
        if not self.diff_owns_its_relationships:
            return "a DIFF job did not delete a relationship it had created and then left out"
        if not self.cleaned_up:
            return f"could not remove everything from scope {self.scope!r}; delete it by hand"
        return ""

    def lines(self) -> list[str]:
        headers = ", ".join(f"{k}: {v}" for k, v in sorted(self.rate_limit_headers.items()))
        return [
            f"scope                  {self.scope}",
            f"GraphQL relationship   {self.graphql_relationships or 'not determined'}",
            f"J1QL _key lookups      {'as expected' if self.lookups_ok else 'NOT as expected'}",
            "DIFF owns its edges    "
            + ("yes" if self.diff_owns_its_relationships else "NOT confirmed"),
            *self.partitions.lines(),
            f"cleaned up             {'yes' if self.cleaned_up else 'NO'}",
            f"rate-limit headers     {headers or 'none seen'}",
            *(f"note                   {n}" for n in self.notes),
        ]


@dataclass
class _Objects:
    a: Entity
    b: Entity
    edge: Relationship

    @classmethod
    def named(cls, token: str) -> _Objects:
        def entity(end: str) -> Entity:
            name = f"pdgraph probe {token} {end}"
            return Entity(
                key=f"pdgraph-probe:{token}:{end}",
                type="pdgraph_probe",
                class_="Resource",
                properties={"name": name, "displayName": name},
            )

        a, b = entity("a"), entity("b")
        return cls(a, b, Relationship.between("pdgraph_probe_has_probe", "HAS", a.key, b.key))

    def graph(self, *, with_edge: bool) -> Graph:
        return Graph.of([self.a, self.b], [self.edge] if with_edge else [])


def run_probe(client: JupiterOneClient, scope: str | None = None) -> ProbeReport:
    """Probe in `scope` (default: a new `pdgraph-probe-<random>`), then clean it up."""
    token = uuid.uuid4().hex[:10]
    report = ProbeReport(scope or f"pdgraph-probe-{token}")
    objects = _Objects.named(token)
    try:
        _probe(client, report, objects)
    except (JupiterOneError, SinkError) as exc:
        report.failure = f"the probe failed: {exc}"
    finally:
        report.cleaned_up = _clean_up(client, report, objects)
        report.rate_limit_headers = dict(client.rate_limit_headers)
    return report


def _probe(client: JupiterOneClient, report: ProbeReport, objects: _Objects) -> None:
    scope, key = report.scope, objects.edge.key
    run_diff_job(client, scope, objects.graph(with_edge=False))
    ids = graphql.entity_ids(client, scope, [objects.a.key, objects.b.key])
    if set(ids) != {objects.a.key, objects.b.key}:
        report.failure = f"J1QL found {sorted(ids)} of the probe's two entities in {scope!r}"
        return
    # Edge partitions first, while no GraphQL copy of the edge may be about.
    ends = (objects.a, objects.b)
    report.partitions = probe_partitions(client, scope, ends, objects.edge)
    empty_partition(client, scope)
    ids = graphql.entity_ids(client, scope, [objects.a.key, objects.b.key])  # b is new
    try:
        made = graphql.create_relationship(
            client, objects.edge, ids[objects.a.key], ids[objects.b.key]
        )
    except JupiterOneError as exc:
        report.graphql_relationships = REJECTED
        report.notes.append(f"createRelationship refused: {exc}")
        made = None
    found = graphql.relationship_ids(client, scope, key)
    report.lookups_ok = made is None or found == [made]
    if not _diff_step(client, report, objects, made):
        return
    run_diff_job(client, scope, objects.graph(with_edge=False))
    left = graphql.relationship_ids(client, scope, key)
    # What the DIFF made is gone; only a GraphQL copy outside the scope may remain.
    report.diff_owns_its_relationships = left in ([], [made])
    if made is not None and report.graphql_relationships is None:
        report.graphql_relationships = OWNED if not left else DUPLICATED
    if report.graphql_relationships == DUPLICATED:
        report.notes.append(
            "GraphQL-created relationships stay outside the sync scope: edges an older "
            "pdgraph created through GraphQL may duplicate or outlive the scope's"
        )


def _diff_step(
    client: JupiterOneClient, report: ProbeReport, objects: _Objects, made: str | None
) -> bool:
    """The DIFF holding the relationship: False when JupiterOne refused it."""
    try:
        run_diff_job(client, report.scope, objects.graph(with_edge=True))
    except SinkError as exc:
        if made is None:
            raise
        report.graphql_relationships = REJECTED
        report.notes.append(f"the DIFF holding the GraphQL relationship's _key failed: {exc}")
        return False
    copies = graphql.relationship_ids(client, report.scope, objects.edge.key)
    if made is None:
        report.lookups_ok = report.lookups_ok and len(copies) == 1
    elif len(copies) > 1:
        report.graphql_relationships = DUPLICATED
    return True


def _clean_up(client: JupiterOneClient, report: ProbeReport, objects: _Objects) -> bool:
    """Remove every copy of the relationship, then the entities; True when none is left."""
    edges_left: list[str] = []
    try:
        empty_partition(client, report.scope)
        edges_left = _delete_relationships(client, report.scope, objects)
    except (JupiterOneError, SinkError) as exc:
        report.notes.append(f"clean-up: deleting the relationships failed: {exc}")
    try:
        run_diff_job(client, report.scope, Graph())  # an empty DIFF: the scope holds nothing
        entities_left = graphql.scope_entity_count(client, report.scope)
    except (JupiterOneError, SinkError) as exc:
        report.notes.append(f"clean-up: emptying the scope failed: {exc}")
        return False
    return not edges_left and entities_left == 0


def _delete_relationships(client: JupiterOneClient, scope: str, objects: _Objects) -> list[str]:
    """Delete every copy of the probe's relationship; the `_id`s of those still there."""
    ids = graphql.entity_ids(client, scope, [objects.a.key, objects.b.key])
    if len(ids) < 2:
        return []  # an end is gone: so is every edge of it
    for rel_id in graphql.relationship_ids(client, scope, objects.edge.key):
        graphql.delete_relationship(client, rel_id, ids[objects.a.key], ids[objects.b.key])
    return graphql.relationship_ids(client, scope, objects.edge.key)
