"""Sync jobs: the DIFF job of a full sync and a PATCH job of entity writes.

A DIFF job uploads the whole scope (entities, then relationships, in bodies under 5 MB),
is finalized and polled to FINISHED; JupiterOne then deletes whatever the scope held that
the job did not upload. A failure before finalize aborts the job, so nothing in the scope
is deleted; after finalize JupiterOne may have applied part of it (DiffJobUnfinished).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from common.clients.jupiterone import JupiterOneClient, JupiterOneError
from common.graph import Graph, Relationship
from common.sinks.base import SinkError, SinkPartlyWritten

log = logging.getLogger(__name__)


class DiffJobUnfinished(SinkPartlyWritten):
    """A DIFF job was finalized but did not finish: JupiterOne may have applied part of it."""


PatchJob = Callable[[list[dict[str, Any]]], None]  # run_patch_job bound to a client and scope


def run_diff_job(
    client: JupiterOneClient,
    scope: str,
    graph: Graph,
    *,
    edge_json: Callable[[Relationship], dict[str, Any]] = Relationship.to_j1,
) -> str:
    """Make `graph` the content of `scope` in one DIFF job; its id. SinkError on failure.
    `edge_json`: how a relationship is uploaded (an edge partition's name their ends in
    another scope: common/sinks/jupiterone/partitions.py)."""
    job_id = client.start_job(scope, "DIFF")
    finalized = False
    try:
        if graph.entities:
            client.upload(
                job_id, "entities", (graph.entities[k].to_j1() for k in sorted(graph.entities))
            )
        client.upload(
            job_id,
            "relationships",
            (edge_json(graph.relationships[k]) for k in sorted(graph.relationships)),
        )
        client.finalize(job_id)
        finalized = True
        client.wait_for_job(job_id)
    except BaseException as exc:
        reason = f"pdgraph DIFF job failed: {type(exc).__name__}: {exc}"
        try:
            client.abort(job_id, reason)
        except JupiterOneError as abort_exc:
            log.error("could not abort JupiterOne job %s: %s", job_id, abort_exc)
        if finalized:  # JupiterOne may have applied part of the DIFF: say what may differ
            raise DiffJobUnfinished(
                f"JupiterOne DIFF job {job_id} was finalized but did not finish ({exc}); "
                "abort requested. It may have been applied in part: entities and "
                f"relationships in scope {scope!r} may have been updated or deleted. "
                "The next full sync re-asserts the scope."
            ) from exc
        raise SinkError(
            f"JupiterOne DIFF job {job_id} aborted, nothing in scope {scope!r} was deleted: {exc}"
        ) from exc
    return job_id


def run_patch_job(client: JupiterOneClient, scope: str, entities: list[dict[str, Any]]) -> None:
    """Create or update `entities` (JupiterOne JSON) in one PATCH job; SinkError on failure."""
    try:
        job_id = client.start_job(scope, "PATCH")
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
