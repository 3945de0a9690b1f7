"""`POST /webhooks/pagerduty`: the PagerDuty v3 webhook receiver.

It answers exactly the SPEC §4 table, in its order. The delivery is written to Redis (an
RQ job) before the 202; anything not stored gets a 503 so that PagerDuty retries it (for
up to 48 h). Authentic events of any type get a 2xx: another 4xx would drop them, and
three drops in a row disable the subscription.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from flask import Blueprint, Response, request
from rq import Queue

from common import metrics
from common.queueing import (
    JobName,
    enqueue_unique,
    job_id_for,
    register_queue,
)
from common.signals import InvalidEvent, WebhookSignal
from common.state.keys import LAST_WEBHOOK
from web.auth import public
from web.replies import reply
from web.signature import InvalidSignature, MalformedHeader, verify_signature
from web.state import WebState, web_state

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
LAST_WEBHOOK_INTERVAL = 1.0  # /status's "last webhook" is at most this stale

webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks/pagerduty")
@public  # its signature is its credential
def pagerduty_webhook() -> tuple[Response, int]:
    try:
        body = _read_body(MAX_BODY_BYTES)
    except OSError:  # the client stopped sending (the worker's socket timeout): no event
        return _answer("bad_payload", 400, "the request body did not arrive in time")
    if body is None:
        return _answer("too_large", 413, f"body larger than {MAX_BODY_BYTES // 1024} KiB")
    state = web_state()
    try:
        verify_signature(body, request.headers.get("X-PagerDuty-Signature"), state.secrets)
    except MalformedHeader as exc:
        return _answer("bad_signature_header", 400, str(exc))
    except InvalidSignature as exc:
        log.warning("webhook signature rejected", extra={"remote": request.remote_addr})
        return _answer("bad_signature", 403, str(exc))
    try:
        signal = WebhookSignal.from_body(body)
    except InvalidEvent as exc:
        return _answer("bad_payload", 400, f"not a valid event: {exc}")
    job_id = job_id_for("webhook", signal.id)
    webhook_id = request.headers.get("X-Webhook-Id")  # unsigned: logged, never decides
    try:
        queued = _store(state, signal, job_id)
    except redis.RedisError as exc:
        log.error(
            "webhook not stored: Redis unavailable",
            extra={"event_id": signal.id, "error": type(exc).__name__},
        )
        return _answer("unavailable", 503, "queue unavailable; retry later")
    log.info(
        "webhook queued" if queued else "webhook duplicate",
        extra={
            "event_id": signal.id,
            "job_id": job_id,
            "type": signal.event_type,
            "webhook_id": webhook_id[:128] if webhook_id else None,  # unsigned: bounded
        },
    )
    if queued:
        return _answer("queued", 202, "queued", job_id=job_id)
    return _answer("duplicate", 202, "duplicate delivery", job_id=job_id)


def _answer(outcome: str, status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """Reply to a webhook delivery, counted by outcome for /metrics."""
    metrics.count("pdgraph_webhooks_total", {"outcome": outcome})
    return reply(status, message, **extra)


def _read_body(max_bytes: int) -> bytes | None:
    """The raw body, or None when it is larger than `max_bytes` (chunked bodies included)."""
    if request.content_length is not None and request.content_length > max_bytes:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:  # one read may return less than asked (chunked bodies)
        chunk = request.stream.read(min(65536, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > max_bytes else b"".join(chunks)


def _store(state: WebState, signal: WebhookSignal, job_id: str) -> bool:
    """Store the delivery (False: a duplicate) and, at most once a second, note it as the
    last webhook for /status."""
    if not state.queue_registered:  # once per process, not per delivery
        register_queue(state.queue)
        state.queue_registered = True
    queued = store_delivery(state.queue, job_id, signal)
    if queued and time.monotonic() - state.last_webhook_recorded >= LAST_WEBHOOK_INTERVAL:
        state.last_webhook_recorded = time.monotonic()
        record = {**signal.as_job(), "received_at": time.time(), "job_id": job_id}
        state.connection.set(LAST_WEBHOOK, json.dumps(record))
    return queued


def store_delivery(queue: Queue, job_id: str, signal: WebhookSignal) -> bool:
    """Queue the delivery as an RQ job unless its signed event id was seen (False then,
    whatever its X-Webhook-Id): PagerDuty's retries of a delivery repeat the event id.

    RQ's unique enqueue checks, saves and pushes the job in one round trip, or does
    nothing: that alone decides the 202, and it is the receiver's only Redis round trip
    (but for LAST_WEBHOOK, at most once a second). The job record is the event's de-dup
    record (kept DELIVERY_SEEN_TTL after it ran). The queue is in RQ's `rq:queues`
    already (register_queue, once per process). The X-Webhook-Id is not signed, so it
    never decides: the receiver's log line says which job a delivery became.
    """
    queued = enqueue_unique(
        queue,
        JobName.PROCESS_WEBHOOK,
        (signal.as_job(),),
        job_id,
        description=signal.describe(),
        register_queue=False,
    )
    return queued
