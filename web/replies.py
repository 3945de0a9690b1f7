"""The JSON body every pdgraph answer that is not a page carries: status and message."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def reply(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"status": status, "message": message, **extra}), status


def busy() -> tuple[Response, int]:
    """A read that waited too long for the readers' thread, or found too many waiting."""
    response, status = reply(503, "too many reads at once; retry shortly")
    response.headers["Retry-After"] = "2"
    return response, status
