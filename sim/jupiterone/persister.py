"""The persister API: sync jobs (DIFF/PATCH) that take uploads and apply them when
finalized; DIFF deletes whatever the upload left out of the scope.

Relationships across scopes (documented by JupiterOne): a DIFF relationship may name an
end in another scope with `_fromEntitySource` + `_fromEntityScope` + `_fromEntityKey`
(likewise `_to…`); the source of persister-API jobs is "api" (may be left out, any other
is bad data). Without a scope an end is an entity of the job's own upload, as before. An
end that names nothing (wrong scope, key or source) ends the job ERROR_BAD_DATA, nothing
applied. What JupiterOne leaves undocumented, the simulator does by `CrossScopeReadings`:

- `foreign_endpoints` "accepted" | "rejected": whether a DIFF accepts a relationship
  whose *both* ends are in another scope (rejected: ERROR_BAD_DATA, nothing applied). One
  foreign end is always accepted: that is the documented case.
- `partition_diff` "deletes" | "keeps": whether a DIFF of a scope deletes, when the upload
  leaves them out, its relationships whose both ends are in another scope ("keeps": they
  stay; everything else of the DIFF as usual).
- `foreign_end_deleted` "deletes" | "keeps": when an entity is deleted (a DIFF of its
  scope, or `deleteEntityV2`), whether relationships of *other* scopes naming it by scope
  and key go too ("keeps": they stay, pointing at (scope, key), and join the entity again
  when its scope writes that key again; J1QL does not return them while the end is gone).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from werkzeug.wrappers import Response

from sim._http import json_response
from sim.jupiterone.store import (
    STATUS_AFTER_FINALIZE,
    CrossScopeReadings,
    Job,
    Scope,
    as_stored,
    drop_dangling,
    named_elsewhere,
    object_id,
)
from sim.jupiterone.validation import BadData, validate_entity, validate_relationship

PREFIX = "/persister/synchronization/jobs"
SOURCE = "api"  # the source of every job made by the persister API
DEFAULTS = CrossScopeReadings()


def error_response(code: str, message: str, status: int) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def route(
    jobs: dict[str, Job],
    scopes: dict[str, Scope],
    method: str,
    path: str,
    payload: dict[str, Any],
    *,
    finalize_seconds: float,
    readings: CrossScopeReadings = DEFAULTS,
) -> Response:
    """One persister request against the account's sync jobs and scopes."""
    if not path.startswith(PREFIX):
        return error_response("NOT_FOUND", f"no route {path}", 404)
    parts = path[len(PREFIX) :].strip("/").split("/")
    if parts == [""]:
        if method != "POST":
            return error_response("METHOD_NOT_ALLOWED", "POST only", 405)
        mode, scope = payload.get("syncMode"), payload.get("scope")
        if mode not in ("DIFF", "PATCH") or not isinstance(scope, str) or not scope:
            return error_response("BAD_REQUEST", "syncMode DIFF|PATCH and a scope required", 400)
        job = Job(uuid.uuid4().hex, scope, mode)
        jobs[job.id] = job
        return json_response({"job": job.as_json()})
    job = jobs.get(parts[0])
    if job is None:
        return error_response("NOT_FOUND", f"no sync job {parts[0]}", 404)
    action = parts[1] if len(parts) > 1 else ""
    if method == "GET" and not action:
        advance(job, scopes, readings)
        return json_response({"job": job.as_json()})
    if method != "POST":
        return error_response("METHOD_NOT_ALLOWED", "POST only", 405)
    if action == "abort":
        if job.status not in ("FINISHED", "ABORTED"):
            job.status, job.error = "ABORTED", str(payload.get("reason") or "")
        return json_response({"job": job.as_json()})
    if job.status != "AWAITING_UPLOADS":
        return error_response("JOB_NOT_AWAITING_UPLOADS", f"job is {job.status}", 400)
    if action == "finalize":
        job.status = STATUS_AFTER_FINALIZE
        job.finish_at = time.monotonic() + finalize_seconds
        return json_response({"job": job.as_json()})
    if action in ("entities", "relationships", "upload"):
        return _upload(job, action, payload)
    return error_response("NOT_FOUND", f"no route {path}", 404)


def _upload(job: Job, action: str, payload: dict[str, Any]) -> Response:
    entities = payload.get("entities") or [] if action != "relationships" else []
    relationships = payload.get("relationships") or [] if action != "entities" else []
    if job.mode == "PATCH" and relationships:
        return error_response("BAD_REQUEST", "PATCH sync jobs do not accept relationships", 400)
    try:
        for e in entities:
            validate_entity(e)
        for r in relationships:
            validate_relationship(r)
    except BadData as exc:
        return error_response("BAD_DATA", str(exc), 400)
    job.entities.update({e["_key"]: e for e in entities})
    job.relationships.update({r["_key"]: r for r in relationships})
    job.uploads += 1
    return json_response({"job": job.as_json()})


def advance(job: Job, scopes: dict[str, Scope], readings: CrossScopeReadings = DEFAULTS) -> None:
    """Apply a finalized job once its finalize time has come (job polling drives it)."""
    if job.status != STATUS_AFTER_FINALIZE or time.monotonic() < job.finish_at:
        return
    scope = scopes.setdefault(job.scope, Scope())
    if job.mode == "PATCH":
        for key, obj in job.entities.items():
            scope.entities[key] = as_stored(obj, job.scope, "entity")
        job.status = "FINISHED"
        return
    try:
        relationships = {
            key: _joined(job, scopes, obj, readings) for key, obj in job.relationships.items()
        }
    except BadData as exc:  # nothing of the job is applied
        job.status, job.error = "ERROR_BAD_DATA", str(exc)
        return
    kept = {}
    if readings.partition_diff == "keeps":  # edges between other scopes' entities stay
        kept = {
            key: r
            for key, r in scope.relationships.items()
            if all(named_elsewhere(r, end, job.scope) for end in ("from", "to"))
        }
    scope.entities = {key: as_stored(obj, job.scope, "entity") for key, obj in job.entities.items()}
    scope.relationships = {**kept, **relationships}
    # edges of other scopes (or none) whose ends this DIFF deleted
    drop_dangling(scopes, readings.foreign_end_deleted)
    job.status = "FINISHED"


def _joined(
    job: Job, scopes: dict[str, Scope], obj: dict[str, Any], readings: CrossScopeReadings
) -> dict[str, Any]:
    """The uploaded relationship as stored, both ends resolved; BadData when an end is
    unknown, or (reading "rejected") when both are in other scopes than the job's."""
    ends = {end: _endpoint(job, scopes, obj, end) for end in ("from", "to")}
    if readings.foreign_endpoints == "rejected" and all(
        named[0] != job.scope for named in ends.values()
    ):
        raise BadData(
            f"relationship {obj['_key']}: both endpoints are in another scope than the "
            f"job's ({job.scope!r}); a relationship needs one endpoint in its own scope"
        )
    stored = as_stored(obj, job.scope, "relationship")
    for end, (scope_name, key) in ends.items():
        stored[f"_{end}EntityId"] = object_id("entity", scope_name, key)
        stored[f"_{end}ScopeKey"] = (scope_name, key)
    return stored


def _endpoint(job: Job, scopes: dict[str, Scope], obj: dict[str, Any], end: str) -> tuple[str, str]:
    """(scope, key) of one end. Without `_<end>EntityScope` the end is an entity of the
    job's own upload; with it, an entity of that scope (the upload, for the job's own
    scope: what the scope is about to hold), and `_<end>EntitySource` must be "api"."""
    key = obj[f"_{end}EntityKey"]
    scope_name = obj.get(f"_{end}EntityScope")
    source = obj.get(f"_{end}EntitySource")
    if scope_name is None and source is not None:
        raise BadData(f"relationship {obj['_key']}: _{end}EntitySource without a scope")
    if scope_name is not None and source not in (None, SOURCE):
        raise BadData(f"relationship {obj['_key']}: no source {source!r} (jobs here are 'api')")
    scope_name = job.scope if scope_name is None else scope_name
    held = job.entities if scope_name == job.scope else scopes.get(scope_name, Scope()).entities
    if key not in held:
        raise BadData(f"relationship {obj['_key']}: unknown entity {key!r} in {scope_name!r}")
    return scope_name, key


# -- GraphQL ----------------------------------------------------------------------------
