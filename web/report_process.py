"""`python -m web.report_process FORMAT [DAYS]`: one evidence report (with the evidence of
the last DAYS days when given), computed in a process of its own, for GET /report
(web/readers.py starts it).

The report of a 10,000-user graph costs about a second of CPU, much of it in C calls
(JSON, SQLite) that hold the interpreter lock throughout: in a thread of the web process
it would still stall the event loop that answers PagerDuty. Here it holds only its own
lock, and runs at a lower CPU priority (REPORT_NICENESS), so that on a busy host the
receiver and the workers go first. The settings come on stdin as JSON (never on the
command line: they hold secrets); the report goes to stdout (JSON or HTML). A failure is
one line on stderr and exit status UNREADABLE (the graph), REDIS_DOWN or NOT_SYNCED (no
full sync has completed: no report from nothing). Nothing here creates a file or a table.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import SecretStr

from common.config import ConfigError, Settings, load_settings
from common.report.html import render_html
from common.report.inputs import report_of
from common.report.period import parse_period
from common.sinks import SinkError, make_sink, missing_local_graph
from common.state.connection import connect
from common.state.full_sync import report_refusal

REPORT_NICENESS = 10
UNREADABLE, REDIS_DOWN, BAD_CONFIGURATION, NOT_SYNCED = 3, 4, 2, 5


class NoReportYet(Exception):
    """No full sync has completed: there is no graph to give evidence of."""


def settings_payload(settings: Settings) -> str:
    """`settings` as the JSON this process reads on stdin, secrets included."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return json.dumps({name: plain(getattr(settings, name)) for name in Settings.model_fields})


def report_body(settings: Settings, fmt: str, period_days: int | None = None) -> bytes:
    """The report of the configured sink's graph as `fmt` ("json" or "html"), with the
    evidence of the last `period_days` days when given."""
    connection = connect(settings.redis_url)
    refusal = report_refusal(connection)
    if refusal is not None:
        raise NoReportYet(refusal)
    missing = missing_local_graph(settings)
    if missing is not None:
        raise SinkError(missing)
    sink = make_sink(settings, connection)
    try:
        built = report_of(
            settings, connection, sink, period_days=period_days, now=datetime.now(UTC)
        )
    finally:
        sink.close()
    if fmt == "json":
        return json.dumps(built, separators=(",", ":")).encode()
    return render_html(built).encode()


def main() -> None:
    os.nice(REPORT_NICENESS)
    fmt = sys.argv[1] if len(sys.argv) > 1 else "json"
    try:
        period = parse_period(sys.argv[2]) if len(sys.argv) > 2 else None
    except ValueError as exc:  # the web checked it: not a reader's mistake
        print(exc, file=sys.stderr)
        raise SystemExit(BAD_CONFIGURATION) from None
    try:
        settings = load_settings(**json.loads(sys.stdin.read()))
        body = report_body(settings, fmt, period)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(BAD_CONFIGURATION) from None
    except redis.RedisError:
        print("Redis does not answer", file=sys.stderr)
        raise SystemExit(REDIS_DOWN) from None
    except SinkError as exc:
        print(f"the graph cannot be read: {exc}", file=sys.stderr)
        raise SystemExit(UNREADABLE) from None
    except NoReportYet as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(NOT_SYNCED) from None
    sys.stdout.buffer.write(body)


if __name__ == "__main__":
    main()
