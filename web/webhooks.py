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
from redis.commands.core import Script
from rq import Queue, Retry

from common import metrics
from common.keys import LAST_WEBHOOK, webhook_delivery
from common.queueing import JOB_TIMEOUT, job_id_for
from common.signals import InvalidEvent, WebhookSignal
from web.auth import public
from web.replies import reply
from web.signature import InvalidSignature, MalformedHeader, verify_signature
from web.state import WebState, web_state

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
DELIVERY_SEEN_TTL = 48 * 3600  # ≥ 24 h, and covers PagerDuty's 48 h of retries
LAST_WEBHOOK_INTERVAL = 1.0  # /status's "last webhook" is at most this stale
# Retries back off: an attempt that failed at once (Redis restarting, a service locked)
# would fail again at once and hold a worker. The first comes 2 s later (after a killed
# worker, when RQ's scheduler is back: the dead one's lock lingers ~60 s).
WEBHOOK_RETRY = Retry(max=5, interval=[2, 30, 120, 600, 1800])

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
    webhook_id = request.headers.get("X-Webhook-Id")  # unsigned: traced, never de-duplicated on
    delivery = job_id_for("delivery", webhook_id or signal.id)
    try:
        queued = _store(state, signal, job_id, delivery)
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


def _store(state: WebState, signal: WebhookSignal, job_id: str, delivery: str) -> bool:
    """Store the delivery (False: a duplicate) and, at most once a second, note it as the
    last webhook for /status."""
    if not state.queue_registered:
        register_queue(state.queue)
        state.queue_registered = True
    if state.store_script is None:  # once per process, not per delivery
        state.store_script = state.connection.register_script(STORE_IF_NEW)
    queued = store_delivery(state.queue, state.store_script, job_id, delivery, signal)
    if queued and time.monotonic() - state.last_webhook_recorded >= LAST_WEBHOOK_INTERVAL:
        state.last_webhook_recorded = time.monotonic()
        record = {**signal.as_job(), "received_at": time.time(), "job_id": job_id}
        state.connection.set(LAST_WEBHOOK, json.dumps(record))
    return queued


# A delivery is new only if its event was not seen: KEYS[1] is the job, whose id comes
# from the signed event.id (PagerDuty's retries of a delivery repeat it). The X-Webhook-Id
# is not signed, so it never decides: its marker (KEYS[3]) only says which job a delivery
# became, for tracing. The job, its place in the queue and the marker are written
# together or not at all, in one round trip.
# ARGV: the job id, the marker's TTL, then the job hash's fields and values.
STORE_IF_NEW = """
redis.call("SET", KEYS[3], ARGV[1], "EX", ARGV[2])
if redis.call("EXISTS", KEYS[1]) > 0 then
    return 0
end
redis.call("HSET", KEYS[1], unpack(ARGV, 3))
redis.call("RPUSH", KEYS[2], ARGV[1])
return 1
"""


def store_delivery(
    queue: Queue, store: Script, job_id: str, delivery: str, signal: WebhookSignal
) -> bool:
    """Write the delivery as an RQ job with `store` (STORE_IF_NEW, registered on the queue's
    connection); False if its signed event id was seen (whatever its X-Webhook-Id).

    The job record is the event's de-dup record, so it is kept for DELIVERY_SEEN_TTL after
    it ran; the delivery marker lives as long. The job is built by RQ and saved as RQ's
    own unique enqueue saves it (status queued, then pushed on the queue); the queue is
    put in RQ's `rq:queues` set once per process (register_queue), not per delivery.
    """
    job = queue.create_job(
        "worker.jobs.process_webhook",
        args=(signal.as_job(),),
        job_id=job_id,
        retry=WEBHOOK_RETRY,
        timeout=JOB_TIMEOUT,
        result_ttl=DELIVERY_SEEN_TTL,
        failure_ttl=DELIVERY_SEEN_TTL * 4,
        description=signal.describe(),
    )
    queue._prepare_for_queue(job)  # origin, enqueued_at, status: as RQ's enqueue sets them
    fields = [
        item for name, value in job.to_dict().items() if value is not None for item in (name, value)
    ]
    stored = store(
        keys=[job.key, queue.key, webhook_delivery(delivery)],
        args=[job.id, DELIVERY_SEEN_TTL, *fields],
    )
    return bool(stored)


def register_queue(queue: Queue) -> None:
    """Put the queue in RQ's `rq:queues` set (what `rq info` lists), once per process."""
    queue.connection.sadd(queue.redis_queues_keys, queue.key)
