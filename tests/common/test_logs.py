"""Log lines: one JSON object each, and no configured secret in any part of one."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from common.logs import JsonFormatter, configure_logging

API_KEY = "u+pd-api-key-0123456789"
WEBHOOK_SECRET = "whsec-abcdef0123456789"
ODD_SECRET = 'quote"and\\backslash-secret'  # characters JSON escapes in a line
SECRETS = (API_KEY, WEBHOOK_SECRET, ODD_SECRET)


def record(
    msg: str, *args: Any, exc: BaseException | None = None, **extra: Any
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    made = logging.LogRecord("pdgraph.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    made.__dict__.update(extra)  # what `extra=` does
    return made


def formatted(made: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    line = JsonFormatter(SECRETS).format(made)
    return line, json.loads(line)


def assert_no_secret(line: str) -> None:
    for secret in SECRETS:
        assert secret not in line
        assert json.dumps(secret)[1:-1] not in line  # nor its escaped form


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_in_the_message_is_masked(secret: str) -> None:
    line, entry = formatted(record("calling with %s and key=%s", "token", secret))
    assert_no_secret(line)
    assert entry["msg"] == "calling with token and key=***"
    assert entry["level"] == "warning" and entry["logger"] == "pdgraph.test"


def test_secrets_in_extra_fields_are_masked_however_deep() -> None:
    made = record(
        "request failed",
        header=f"Token token={API_KEY}",
        run={"error": f"401 for {WEBHOOK_SECRET}", "attempts": [ODD_SECRET, 2]},
    )
    line, entry = formatted(made)
    assert_no_secret(line)
    assert entry["header"] == "Token token=***"
    assert entry["run"] == {"error": "401 for ***", "attempts": ["***", 2]}


def test_a_secret_in_exception_text_is_masked() -> None:
    try:
        raise ValueError(f"bad signature with {WEBHOOK_SECRET} and {API_KEY}")
    except ValueError as exc:
        line, entry = formatted(record("verification crashed", exc=exc))
    assert_no_secret(line)
    assert "ValueError: bad signature with *** and ***" in entry["error"]
    assert "Traceback" in entry["error"]


def test_a_secret_inside_a_longer_one_does_not_leave_the_longer_ones_tail() -> None:
    longer = WEBHOOK_SECRET + "-rotated"
    line = JsonFormatter([WEBHOOK_SECRET, longer]).format(record("secret %s", longer))
    assert json.loads(line)["msg"] == "secret ***"


def test_configure_logging_masks_every_line_of_every_logger() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", SECRETS, stream=stream)
        logging.getLogger("pdgraph.test.configure").warning(
            "job for %s", API_KEY, extra={"key": ODD_SECRET}
        )
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    [line] = stream.getvalue().splitlines()
    assert_no_secret(line)
    assert json.loads(line)["msg"] == "job for ***"


def test_masking_replaces_whole_values_and_never_mangles_other_words() -> None:
    # A short Redis password ("a", "rt") must not turn "Starting" into "St***rting".
    formatter = JsonFormatter(["a", "rt", WEBHOOK_SECRET])
    line = formatter.format(record("Starting gunicorn at %s; password a; %s", "rt", WEBHOOK_SECRET))
    assert json.loads(line)["msg"] == "Starting gunicorn at ***; password ***; ***"


def test_a_secret_between_punctuation_is_masked_whole() -> None:
    made = record(
        "GET redis://:%s@redis.example/0 Authorization: Bearer %s,(%s)",
        WEBHOOK_SECRET,
        API_KEY,
        ODD_SECRET,
    )
    line, entry = formatted(made)
    assert_no_secret(line)
    assert entry["msg"] == "GET redis://:***@redis.example/0 Authorization: Bearer ***,(***)"
