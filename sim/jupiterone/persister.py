"""The persister API: sync jobs (DIFF/PATCH) that take uploads and apply them when
finalized; DIFF deletes whatever the upload left out of the scope."""

from __future__ import annotations

import time
import uuid
from typing import Any

from werkzeug.wrappers import Response

from sim._http import json_response
from sim.jupiterone.store import STATUS_AFTER_FINALIZE, Job, Scope, as_stored, drop_dangling
from sim.jupiterone.validation import BadData, validate_entity, validate_relationship

PREFIX = "/persister/synchronization/jobs"


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
        advance(job, scopes)
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


def advance(job: Job, scopes: dict[str, Scope]) -> None:
    """Apply a finalized job once its finalize time has come (job polling drives it)."""
    if job.status != STATUS_AFTER_FINALIZE or time.monotonic() < job.finish_at:
        return
    scope = scopes.setdefault(job.scope, Scope())
    if job.mode == "PATCH":
        for key, obj in job.entities.items():
            scope.entities[key] = as_stored(obj, scope.entities.get(key), job.scope)
        job.status = "FINISHED"
        return
    missing = [
        r["_key"]
        for r in job.relationships.values()
        if r["_fromEntityKey"] not in job.entities or r["_toEntityKey"] not in job.entities
    ]
    if missing:
        job.status, job.error = "ERROR_BAD_DATA", f"unknown entity keys in {missing[:3]}"
        return
    entities = {
        key: as_stored(obj, scope.entities.get(key), job.scope) for key, obj in job.entities.items()
    }
    relationships = {}
    for key, obj in job.relationships.items():
        stored = as_stored(obj, scope.relationships.get(key), job.scope)
        stored["_fromEntityId"] = entities[obj["_fromEntityKey"]]["_id"]
        stored["_toEntityId"] = entities[obj["_toEntityKey"]]["_id"]
        relationships[key] = stored
    scope.entities, scope.relationships = entities, relationships
    drop_dangling(scopes)  # edges of other scopes (or none) whose ends this DIFF deleted
    job.status = "FINISHED"


# -- GraphQL ----------------------------------------------------------------------------
