"""The JSON body every pdgraph answer that is not a page carries: status and message."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def reply(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"status": status, "message": message, **extra}), status
