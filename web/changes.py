"""GET /changes: the change history as JSON, paged (the same entries as `pdgraph changes`)."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, jsonify, request

from common.history import parse_limit, parse_since
from common.sinks import SinkError
from web.replies import reply
from web.state import web_state

changes = Blueprint("changes", __name__)


@changes.get("/changes")
def change_history() -> Any:
    """`?since=&key=&type=&cursor=&limit=` (limit 1..1000, default 100) →
    `{"changes": [...], "next_cursor": str | null}`, oldest first; 400 for a bad parameter."""
    args = request.args
    try:
        since = parse_since(args["since"], time.time()) if args.get("since") else None
        limit = parse_limit(args.get("limit"))
        page, next_cursor = (
            web_state()
            .sink()
            .changes(
                since=since,
                key=args.get("key") or None,
                type_=args.get("type") or None,
                cursor=args.get("cursor") or None,
                limit=limit,
            )
        )
    except ValueError as exc:
        return reply(400, str(exc))
    except (SinkError, redis.RedisError):
        return reply(503, "the change history cannot be read now")
    return jsonify({"changes": page, "next_cursor": next_cursor})
