"""The web process: PagerDuty v3 webhook receiver, health checks.

`POST /webhooks/pagerduty` answers exactly the SPEC §4 table, in its order. The delivery
is written to Redis (an RQ job) before the 202; anything not stored gets a 503 so that
PagerDuty retries it (for up to 48 h). Authentic events of any type get a 2xx: another
4xx would drop them, and three drops in a row disable the subscription.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from flask import Flask, Response, jsonify, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from common import metrics
from common.config import Settings, load_settings
from common.logs import configure_logging
from common.queueing import WEBHOOK_QUEUE, job_id_for
from common.sinks import GraphSink, make_sink
from common.state import connect
from web.signature import InvalidSignature, MalformedHeader, verify_signature
from web.status import LAST_WEBHOOK, collect_status, status_gauges

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
DELIVERY_SEEN_TTL = 48 * 3600  # ≥ 24 h, and covers PagerDuty's 48 h of retries
LAST_WEBHOOK_INTERVAL = 1.0  # /status's "last webhook" is at most this stale
# First retry at once: a job abandoned by a killed worker needs no scheduler to come back
# (the dead worker's scheduler lock lingers ~60 s); the client already backed off inside.
WEBHOOK_RETRY = Retry(max=5, interval=[0, 30, 120, 600, 1800])


def _reply(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"status": status, "message": message, **extra}), status


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


def _answer(outcome: str, status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """Reply to a webhook delivery, counted by outcome for /metrics."""
    metrics.count("pdgraph_webhooks_total", {"outcome": outcome})
    return _reply(status, message, **extra)


def _event_summary(event: dict[str, Any]) -> dict[str, Any]:
    """What the worker needs of an event: it re-reads the object rather than trusting it."""
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    service: dict[str, Any] = data["service"] if isinstance(data.get("service"), dict) else {}
    return {
        "id": str(event["id"]),
        "event_type": str(event["event_type"]),
        "resource_type": event.get("resource_type"),
        "occurred_at": event.get("occurred_at"),
        "resource_id": data.get("id"),
        "service_id": service.get("id"),
    }


def store_delivery(queue: Queue, job_id: str, summary: dict[str, Any]) -> bool:
    """Write the delivery as an RQ job; False if a job with its id exists (a duplicate).

    RQ's unique enqueue checks, saves and pushes in one Lua script: atomic, so a delivery
    is stored exactly once, in one round trip. The job record is the de-dup record, so
    it is kept for DELIVERY_SEEN_TTL after it ran.

    RQ also re-adds the queue to its `rq:queues` set on every enqueue, in a round trip of
    its own (a third of the receiver's Redis time). The app does that once per process
    (register_queue); the SADD is collected in a pipeline here and dropped. Should a
    future RQ put anything else in that pipeline, it is executed, never dropped.
    """
    side = queue.connection.pipeline(transaction=False)
    try:
        queue.enqueue_call(
            "worker.jobs.process_webhook",
            args=(summary,),
            job_id=job_id,
            retry=WEBHOOK_RETRY,
            result_ttl=DELIVERY_SEEN_TTL,
            failure_ttl=DELIVERY_SEEN_TTL * 4,
            description=f"{summary['event_type']} {summary['resource_id'] or ''}".strip(),
            unique=True,
            pipeline=side,
        )
    except DuplicateJobError:
        return False
    finally:
        if any(args[0] != "SADD" for args, _ in side.command_stack):
            side.execute()
        side.reset()
    return True


def register_queue(queue: Queue) -> None:
    """Put the queue in RQ's `rq:queues` set (what `rq info` lists), once per process."""
    queue.connection.sadd(queue.redis_queues_keys, queue.key)


def create_app(settings: Settings | None = None, redis_client: redis.Redis | None = None) -> Flask:
    settings = settings or load_settings()
    if redis_client is None:  # built here, not at import: the factory is the only entry
        configure_logging(settings.log_level, settings.secret_values())
        redis_client = connect(settings.redis_url)
    secrets = settings.require_webhook_secrets()
    connection = redis_client
    queue = Queue(WEBHOOK_QUEUE, connection=connection)  # once: Queue() asks Redis its version
    registered = [False]  # the queue is in rq:queues (done on the first delivery)
    metrics.recorder.bind(connection)
    last_recorded = [0.0]  # when this process last wrote LAST_WEBHOOK
    app = Flask(__name__)

    @app.post("/webhooks/pagerduty")
    def pagerduty_webhook() -> tuple[Response, int]:
        body = _read_body(MAX_BODY_BYTES)
        if body is None:
            return _answer("too_large", 413, f"body larger than {MAX_BODY_BYTES // 1024} KiB")
        try:
            verify_signature(body, request.headers.get("X-PagerDuty-Signature"), secrets)
        except MalformedHeader as exc:
            return _answer("bad_signature_header", 400, str(exc))
        except InvalidSignature as exc:
            log.warning("webhook signature rejected", extra={"remote": request.remote_addr})
            return _answer("bad_signature", 403, str(exc))
        try:
            payload = json.loads(body)
            event = payload["event"]
            if not (isinstance(event, dict) and event.get("id") and event.get("event_type")):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _answer(
                "bad_payload", 400, "body is not a JSON object with an event with id and event_type"
            )

        summary = _event_summary(event)
        delivery_id = request.headers.get("X-Webhook-Id") or summary["id"]
        job_id = job_id_for("webhook", delivery_id)
        try:
            if not registered[0]:
                register_queue(queue)
                registered[0] = True
            queued = store_delivery(queue, job_id, summary)
            if queued and time.monotonic() - last_recorded[0] >= LAST_WEBHOOK_INTERVAL:
                last_recorded[0] = time.monotonic()
                connection.set(
                    LAST_WEBHOOK,
                    json.dumps({**summary, "received_at": time.time(), "job_id": job_id}),
                )
        except redis.RedisError as exc:
            log.error(
                "webhook not stored: Redis unavailable",
                extra={"event_id": summary["id"], "error": type(exc).__name__},
            )
            return _answer("unavailable", 503, "queue unavailable; retry later")
        log.info(
            "webhook queued" if queued else "webhook duplicate",
            extra={"event_id": summary["id"], "job_id": job_id, "type": summary["event_type"]},
        )
        if queued:
            return _answer("queued", 202, "queued", job_id=job_id)
        return _answer("duplicate", 202, "duplicate delivery", job_id=job_id)

    sinks: list[GraphSink] = []  # made on the first /status, kept for the process

    @app.get("/status")
    def status() -> Any:
        if not sinks:
            sinks.append(make_sink(settings, connection))
        try:
            report = collect_status(connection, sinks[0], settings)
        except redis.RedisError:
            return _reply(503, "Redis does not answer")
        wanted = request.accept_mimetypes.best_match(["text/html", "application/json"])
        if wanted == "application/json":
            return jsonify(report)
        return render_template("status.html", status=report)

    @app.get("/metrics")
    def prometheus_metrics() -> Any:
        if not sinks:
            sinks.append(make_sink(settings, connection))
        try:
            body = metrics.render(connection, lambda: status_gauges(connection, sinks[0]))
        except redis.RedisError:
            return _reply(503, "Redis does not answer")
        return Response(body, 200, content_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return _reply(200, "alive")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            connection.ping()
        except redis.RedisError:
            return _reply(503, "Redis does not answer")
        return _reply(200, "ready")

    return app
