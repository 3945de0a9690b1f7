"""GET /changes: the change history as JSON, paged (the same entries as `pdgraph changes`).

A page is read and encoded off the event loop (web/readers.py) and bounded twice: by
`limit` (at most 1000 entries) and by MAX_CHANGES_BYTES of body."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, Response, request

from common.sinks import SinkError
from common.sinks.history import Query, parse_limit, parse_since
from web.readers import ReadersBusy, changes_page
from web.replies import busy, reply
from web.state import web_state

changes = Blueprint("changes", __name__)


@changes.get("/changes")
def change_history() -> Any:
    """`?since=&key=&type=&source=&actor=&cursor=&limit=` (limit 1..1000, default 100) →
    `{"changes": [...], "next_cursor": str | null}`, oldest first; 400 for a bad parameter
    (an unknown type or source too)."""
    args = request.args
    try:
        # read here: the request is this greenlet's, not the reader thread's
        query = Query(
            since=parse_since(args["since"], time.time()) if args.get("since") else None,
            key=args.get("key") or None,
            type_=args.get("type") or None,
            source=args.get("source") or None,
            actor=args.get("actor") or None,
        )
        cursor, limit = args.get("cursor") or None, parse_limit(args.get("limit"))
        body = web_state().readers.run(lambda read: changes_page(read, query, cursor, limit))
    except ValueError as exc:
        return reply(400, str(exc))
    except (SinkError, redis.RedisError):
        return reply(503, "the change history cannot be read now")
    except ReadersBusy:
        return busy()
    return Response(body, 200, content_type="application/json")
