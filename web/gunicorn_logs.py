"""gunicorn's own lines (its error log and the access log) as JSON, secrets masked.

gunicorn formats both logs itself (`[INFO] Booting worker`, Apache's combined format);
this logger class gives them the formatter of every other pdgraph line, and makes the
access log structured fields: method, path (never the query string, which may carry a
token), status, duration in seconds, remote address. No request header is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, ClassVar

from gunicorn import glogging  # type: ignore[import-untyped]

from common.logs import JsonFormatter


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's `logger_class`: see json_logger() for the secrets it masks."""

    secrets: ClassVar[tuple[str, ...]] = ()

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter(self.secrets)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = int(str(resp.status).split(None, 1)[0])
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "-")
        self.access_log.log(
            logging.WARNING if status >= 500 else logging.INFO,  # a failure answered
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration": round(request_time.total_seconds(), 6),
                "remote": environ.get("REMOTE_ADDR"),
            },
        )


def json_logger(secrets: Iterable[str]) -> type[JsonLogger]:
    """A JsonLogger class masking these secrets (gunicorn wants a class, not an instance)."""
    return type("JsonLogger", (JsonLogger,), {"secrets": tuple(secrets)})
