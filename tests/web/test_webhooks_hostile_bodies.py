"""Signed bodies that are not valid events get 400, never 500 (PagerDuty retries a 5xx for
48 h), and the signature is checked over the raw bytes PagerDuty sent (issue 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.signals import MAX_TEXT_LENGTH, InvalidEvent, WebhookSignal
from tests.web import test_webhooks
from tests.web.test_webhooks import NEW, queued, sign

client = test_webhooks.client  # the receiver on the private Redis (a fixture)

VALID = {"id": "01EVT", "event_type": "service.updated"}


def event_with(**fields: Any) -> bytes:
    return json.dumps({"event": {**VALID, **fields}}).encode()


HOSTILE: list[tuple[str, bytes]] = [
    ("nested 100,000 deep", b'{"event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    (
        "nested 1,000 deep in data",
        event_with(data=None).replace(b"null", b"[" * 1000 + b"]" * 1000),
    ),
    (
        "lone surrogate in event.id",
        b'{"event": {"id": "\\ud800", "event_type": "service.updated"}}',
    ),
    ("lone surrogate in data.id", event_with(data={"id": "P\ud800"})),
    ("control character in event.id", event_with(id="01\u0000EVT")),
    ("integer of 5,000 digits", b'{"event": {"id": ' + b"9" * 5000 + b', "event_type": "x.y"}}'),
    ("float past double range as id", b'{"event": {"id": 1e999, "event_type": "x.y"}}'),
    ("integer id", event_with(id=42)),
    ("boolean event_type", event_with(event_type=True)),
    ("list id", event_with(id=["01EVT"])),
    ("object id", event_with(id={"x": 1})),
    ("empty id", event_with(id="")),
    ("empty event_type", event_with(event_type="")),
    ("id of 10,000 characters", event_with(id="x" * 10_000)),
    ("event is a string", b'{"event": "service.updated"}'),
    ("event is null", b'{"event": null}'),
    ("data is a list", event_with(data=[1])),
    ("data.service is a string", event_with(data={"service": "PSVC"})),
    ("data.id is a number", event_with(data={"id": 7})),
    ("resource_type is a number", event_with(resource_type=1)),
    ("NaN as id", b'{"event": {"id": NaN, "event_type": "x.y"}}'),
    (
        "Infinity elsewhere in the body",
        b'{"event": {"id": "E", "event_type": "x.y"}, "n": -Infinity}',
    ),
    ("body is a list", b'[{"event": {"id": "E", "event_type": "x.y"}}]'),
    ("body is not UTF-8", b'{"event": {"id": "\xff", "event_type": "x.y"}}'),
]


def post(client: FlaskClient, body: bytes) -> int:
    headers = {"X-PagerDuty-Signature": sign(body, NEW), "Content-Type": "application/json"}
    return client.post("/webhooks/pagerduty", data=body, headers=headers).status_code


@pytest.mark.parametrize(("case", "body"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_signed_hostile_body_gets_400_and_queues_nothing(
    client: FlaskClient, redis_client: redis.Redis, case: str, body: bytes
) -> None:
    assert post(client, body) == 400
    assert queued(redis_client) == 0


def test_ids_are_bounded_and_printable() -> None:
    longest = "x" * MAX_TEXT_LENGTH
    assert WebhookSignal.from_event({**VALID, "id": longest}).id == longest
    assert WebhookSignal.from_event({**VALID, "id": "01 Ünïcödé ✨"}).id == "01 Ünïcödé ✨"
    for bad in (longest + "x", "tab\there", "\ud800", 1, None):
        with pytest.raises(InvalidEvent):
            WebhookSignal.from_event({**VALID, "id": bad})


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity included: json.dumps writes them as bare words
    | st.text(st.characters(exclude_categories=()))  # lone surrogates included
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# Lone surrogates are 2,048 of 1.1 million code points: drawn on purpose, or never seen.
ANY_CHARACTER = st.characters(exclude_categories=()) | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF
)
IDS = st.text(ANY_CHARACTER, min_size=1, max_size=300) | JSON_VALUES
FIELDS = st.sampled_from(["id", "event_type", "resource_type", "occurred_at", "data"])
DATA = st.fixed_dictionaries({}, optional={"id": JSON_VALUES, "service": JSON_VALUES})
EVENTS = st.dictionaries(FIELDS, JSON_VALUES | DATA, max_size=5)
PAYLOADS = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries({"event": EVENTS | JSON_VALUES}),
    st.fixed_dictionaries({"event": st.fixed_dictionaries({"id": IDS, "event_type": IDS})}),
)
NESTED = st.integers(0, 5000).map(  # Python's json recursion limit is about 1,000 deep
    lambda depth: (
        b'{"event": {"id": "E", "event_type": "x.y", "data": ' + b"[" * depth + b"]" * depth + b"}}"
    )
)


def encoded(payload: Any, compact: bool, ascii_only: bool) -> bytes:
    separators = (",", ":") if compact else None
    text = json.dumps(payload, separators=separators, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")  # a raw lone surrogate: not UTF-8 at all


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=PAYLOADS,
    compact=st.booleans(),
    ascii_only=st.booleans(),
    raw=st.binary() | NESTED,
)
def test_any_signed_body_gets_202_or_400_never_5xx(
    client: FlaskClient, payload: Any, compact: bool, ascii_only: bool, raw: bytes
) -> None:
    assert post(client, encoded(payload, compact, ascii_only)) in (202, 400)
    assert post(client, raw) in (202, 400)


SERVICE_EVENT = {
    "event": {
        "id": "01SIGNED",
        "event_type": "service.updated",
        "resource_type": "service",
        "occurred_at": "2026-11-27T01:00:00.000Z",
        "data": {"id": "PSVC001", "type": "service", "summary": "Café résumé ✨"},
    }
}
RAW_BODIES = [
    ("compact, as PagerDuty sends", json.dumps(SERVICE_EVENT, separators=(",", ":")).encode()),
    ("escaped unicode (\\u00e9)", json.dumps(SERVICE_EVENT, ensure_ascii=True).encode()),
    ("raw UTF-8", json.dumps(SERVICE_EVENT, ensure_ascii=False).encode()),
    (
        "compact raw UTF-8, keys not sorted",
        json.dumps(
            {"event": dict(reversed(SERVICE_EVENT["event"].items()))},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode(),
    ),
    ("indented, trailing newline", json.dumps(SERVICE_EVENT, indent=2).encode() + b"\n"),
]


@pytest.mark.parametrize(("case", "body"), RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
def test_the_signature_is_checked_over_the_raw_bytes(
    client: FlaskClient, redis_client: redis.Redis, case: str, body: bytes
) -> None:
    """A receiver that re-serialised the JSON before the HMAC would answer 403 here."""
    assert post(client, body) == 202
    assert queued(redis_client) == 1
