"""Logs: one JSON object per line; configured secrets are masked in every record."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

from rq import get_current_job

# Attributes every LogRecord has; anything else came in through `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _whole(value: str) -> str:
    """A pattern matching `value` only where it is not part of a longer word."""
    before = r"(?<!\w)" if re.match(r"\w", value[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
    return before + re.escape(value) + after


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Masked in the finished line, where a secret holding `"` or `\` appears escaped.
        forms = {f for s in secrets if s for f in (s, json.dumps(s, ensure_ascii=False)[1:-1])}
        # Whole values only: no letter or digit may touch a masked value where its own
        # edge is one, so a secret that happens to spell part of a word ("a" in
        # "Starting") leaves the word alone. Longest first: a secret inside a longer one.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(_whole, ordered))) if ordered else None

    def _redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub("***", text)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        job = get_current_job()  # inside an RQ job: every line says which
        if job is not None:
            entry["job_id"] = job.id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(
    level: str = "INFO", secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> None:
    """Route every logger to one JSON-lines handler (stdout unless told otherwise)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
