"""GET /report: the compliance evidence report (HTML; JSON with `Accept: application/json`;
`?period=DAYS` adds the evidence of the last DAYS days), computed from the graph the sink
holds, off the event loop and shared by every reader for up to REPORT_MAX_AGE
(web/readers.py): its `generated_at` says as of when."""

from __future__ import annotations

import time
from typing import Any

import redis
from flask import Blueprint, Response, request

from common.report.period import parse_period
from common.sinks import SinkError
from web.readers import ReadersBusy
from web.replies import busy, reply
from web.report_process import NoReportYet
from web.state import web_state

report = Blueprint("report", __name__)

# The page is self-contained: no script, no external asset, styles inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'"


@report.get("/report")
def report_page() -> Any:
    wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
    fmt = "json" if wanted == "application/json" else "html"
    period_text = request.args.get("period")
    try:
        period = parse_period(period_text) if period_text is not None else None
    except ValueError as exc:
        return reply(400, str(exc))
    try:
        cached = web_state().readers.report(fmt, period)
    except redis.RedisError:
        return reply(503, "Redis does not answer")
    except SinkError as exc:
        return reply(503, f"the graph cannot be read: {exc}")
    except NoReportYet as exc:  # never an empty "all passed" report
        return reply(503, str(exc))
    except ReadersBusy:
        return busy()
    if fmt == "json":
        page = Response(cached.body, 200, content_type="application/json")
    else:
        page = Response(cached.body, 200, content_type="text/html; charset=utf-8")
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    page.headers["Age"] = str(int(time.monotonic() - cached.computed_at))
    page.headers["Cache-Control"] = "private, no-store"  # the roster: no shared cache
    return page
