"""GET /report: the compliance evidence report (HTML; JSON with `Accept: application/json`),
computed from the graph the sink holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from common.report import build_report
from common.report_render import render_html
from common.sinks import SinkError
from web.replies import reply
from web.state import web_state

report = Blueprint("report", __name__)

# The page is self-contained: no script, no external asset, styles inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"


@report.get("/report")
def report_page() -> Any:
    state = web_state()
    try:
        graph = state.sink().read_graph()
    except redis.RedisError:
        return reply(503, "Redis does not answer")
    except SinkError as exc:
        return reply(503, f"the graph cannot be read: {exc}")
    built = build_report(graph, datetime.now(UTC), state.settings.account_name)
    wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if wanted == "application/json":
        return jsonify(built)
    page = Response(render_html(built), 200, content_type="text/html; charset=utf-8")
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
