"""POST /webhooks/pagerduty answers every row of the SPEC §4 table, in its order."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from rq import Queue
from rq.job import Job

from common.config import Settings
from common.queueing import WEBHOOK_QUEUE
from sim.redis_server import free_port
from web.app import create_app
from worker.rqworker import PromptSimpleWorker

OLD, NEW = "old-secret-ünï-0123", "new-secret-42-4567"


def sign(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def signed(body: bytes, secret: str = NEW) -> tuple[bytes, dict[str, str]]:
    """A body and the header that signs exactly it."""
    return body, {"X-PagerDuty-Signature": sign(body, secret)}


def event_body(
    event_type: str = "service.updated", event_id: str = "01EVENT", **extra: Any
) -> bytes:
    event = {
        "id": event_id,
        "event_type": event_type,
        "resource_type": "service",
        "occurred_at": "2026-11-27T01:00:00.000Z",
        "agent": None,
        "client": None,
        "data": {"id": "PSVC001", "type": "service", "summary": "Ünïcödé ✨ service"},
        **extra,
    }
    return json.dumps({"event": event}, ensure_ascii=False).encode()


@pytest.fixture
def client(redis_client: redis.Redis, make_settings: Callable[..., Settings]) -> FlaskClient:
    app = create_app(make_settings(pagerduty_webhook_secrets=f"{OLD},{NEW}"), redis_client)
    return app.test_client()


def queued(connection: redis.Redis) -> int:
    return Queue(WEBHOOK_QUEUE, connection=connection).count


BIG = json.dumps(
    {"event": {"id": "E", "event_type": "service.updated", "pad": "x" * (600 * 1024)}}
).encode()
PLAIN = event_body()

CASES: list[tuple[str, bytes, dict[str, str], int, int]] = [
    # (case, body, headers, status, jobs queued)
    ("600 KiB body, signed", *signed(BIG), 413, 0),
    ("600 KiB body, unsigned: size is checked first", BIG, {}, 413, 0),
    ("signature header missing", PLAIN, {}, 400, 0),
    (
        "signature header without v1= entry",
        PLAIN,
        {"X-PagerDuty-Signature": "v0=abc, sha=1"},
        400,
        0,
    ),
    ("signature header empty", PLAIN, {"X-PagerDuty-Signature": ""}, 400, 0),
    ("wrong signature", PLAIN, {"X-PagerDuty-Signature": "v1=" + "0" * 64}, 403, 0),
    ("signed with an unknown secret", *signed(PLAIN, "nope"), 403, 0),
    ("non-ASCII garbage signature", PLAIN, {"X-PagerDuty-Signature": "v1=ünï"}, 403, 0),
    (
        "bad signature beats bad JSON",
        b"not json",
        {"X-PagerDuty-Signature": sign(b"x", NEW)},
        403,
        0,
    ),
    ("signed, not JSON", *signed(b"not json"), 400, 0),
    ("signed, JSON without event", *signed(b'{"x": 1}'), 400, 0),
    ("signed, event is a list", *signed(b'{"event": []}'), 400, 0),
    ("signed, event without id", *signed(b'{"event": {"event_type": "service.updated"}}'), 400, 0),
    ("signed, event without event_type", *signed(b'{"event": {"id": "E1"}}'), 400, 0),
    ("valid, signed with the new secret", *signed(PLAIN), 202, 1),
    ("valid, signed with the old secret (rotation)", *signed(PLAIN, OLD), 202, 1),
    (
        "valid, two entries while PagerDuty rotates, one unknown",
        PLAIN,
        {"X-PagerDuty-Signature": sign(PLAIN, "retired") + ", " + sign(PLAIN, NEW)},
        202,
        1,
    ),
    (
        "valid, spaces around entries",
        PLAIN,
        {"X-PagerDuty-Signature": f"  {sign(PLAIN, NEW)} ,v1=00 "},
        202,
        1,
    ),
    ("valid pagey.ping", *signed(event_body("pagey.ping")), 202, 1),
    ("valid, event type not handled", *signed(event_body("incident.brand_new_type")), 202, 1),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "status", "jobs"), CASES, ids=[c[0] for c in CASES]
)
def test_spec_table(
    client: FlaskClient,
    redis_client: redis.Redis,
    case: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    jobs: int,
) -> None:
    response = client.post(
        "/webhooks/pagerduty", data=body, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == status, response.get_json()
    assert queued(redis_client) == jobs


def test_exactly_512_kib_is_accepted(client: FlaskClient, redis_client: redis.Redis) -> None:
    body = event_body(pad="")
    body = event_body(pad="y" * (512 * 1024 - len(body)))
    assert len(body) == 512 * 1024
    response = client.post(
        "/webhooks/pagerduty", data=body, headers={"X-PagerDuty-Signature": sign(body, NEW)}
    )
    assert response.status_code == 202
    assert queued(redis_client) == 1


def test_duplicate_delivery_queues_nothing_new_even_after_it_ran(
    client: FlaskClient,
    redis_client: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ping = event_body("pagey.ping")  # its job needs Redis only
    headers = {"X-PagerDuty-Signature": sign(ping, NEW), "X-Webhook-Id": "delivery-1"}
    first = client.post("/webhooks/pagerduty", data=ping, headers=headers)
    again = client.post("/webhooks/pagerduty", data=ping, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json()["message"] == "duplicate delivery"
    assert queued(redis_client) == 1
    monkeypatch.setenv("REDIS_URL", redis_url)
    PromptSimpleWorker(
        [Queue(WEBHOOK_QUEUE, connection=redis_client)], connection=redis_client
    ).work(burst=True)
    job_id = first.get_json()["job_id"]
    assert Job.fetch(job_id, connection=redis_client).get_status() == "finished"
    late = client.post("/webhooks/pagerduty", data=ping, headers=headers)
    assert late.get_json()["message"] == "duplicate delivery"
    assert redis_client.ttl(f"rq:job:{job_id}") >= 24 * 3600


def test_without_webhook_id_the_event_id_dedupes(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    body_a = event_body(event_id="01SAME")
    body_b = event_body(event_id="01SAME", occurred_at="2026-11-27T02:00:00Z")
    for body in (body_a, body_b):
        response = client.post(
            "/webhooks/pagerduty", data=body, headers={"X-PagerDuty-Signature": sign(body, NEW)}
        )
        assert response.status_code == 202
    assert queued(redis_client) == 1


def test_event_and_delivery_ids_outside_rq_charset_become_valid_job_ids(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    for n, identifier in enumerate(("a.b/c d", "a_b-c-d")):
        body = event_body(event_id=f"{identifier}{n}")
        response = client.post(
            "/webhooks/pagerduty",
            data=body,
            headers={"X-PagerDuty-Signature": sign(body, NEW), "X-Webhook-Id": identifier},
        )
        assert response.status_code == 202
    job_ids = Queue(WEBHOOK_QUEUE, connection=redis_client).job_ids
    assert len(job_ids) == 2
    assert all(
        set(j) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        for j in job_ids
    )


def test_queued_job_carries_what_the_worker_needs(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = event_body(
        "incident.escalated",
        data={
            "id": "PINC1",
            "type": "incident",
            "service": {"id": "PSVC9", "type": "service_reference"},
        },
    )
    client.post(
        "/webhooks/pagerduty", data=body, headers={"X-PagerDuty-Signature": sign(body, NEW)}
    )
    queue = Queue(WEBHOOK_QUEUE, connection=redis_client)
    job = queue.jobs[0]
    assert job.func_name == "worker.jobs.process_webhook"
    assert job.args[0]["event_type"] == "incident.escalated"
    assert job.args[0]["service_id"] == "PSVC9"
    assert queue in Queue.all(connection=redis_client)  # `rq info` lists it


def test_the_queue_registration_round_trip_is_made_once(
    client: FlaskClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ re-adds the queue to rq:queues on every enqueue; the receiver does it once."""
    commands: list[str] = []
    original = redis.client.Pipeline.execute

    def counting(self: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        commands.extend(str(c[0][0]) for c in self.command_stack)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting)
    for n in range(3):
        body = event_body("service.updated", event_id=f"EVT-{n}")
        response = client.post(
            "/webhooks/pagerduty", data=body, headers={"X-PagerDuty-Signature": sign(body, NEW)}
        )
        assert response.status_code == 202
    assert commands.count("SADD") == 0  # the per-request SADD round trip is gone
    assert Queue(WEBHOOK_QUEUE, connection=redis_client).count == 3


def test_redis_down_answers_503_and_never_2xx(make_settings: Callable[..., Settings]) -> None:
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    client = create_app(make_settings(pagerduty_webhook_secrets=NEW), dead).test_client()
    response = client.post(
        "/webhooks/pagerduty", data=PLAIN, headers={"X-PagerDuty-Signature": sign(PLAIN, NEW)}
    )
    assert response.status_code == 503
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_health_endpoints(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_web_process_needs_webhook_secrets(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    from common.config import ConfigError

    with pytest.raises(ConfigError, match="PAGERDUTY_WEBHOOK_SECRETS"):
        create_app(make_settings(), redis_client)


def test_chunked_bodies_are_read_whole_and_capped(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    import requests

    from tests.stack import serve

    server, base = serve(create_app(make_settings(pagerduty_webhook_secrets=NEW), redis_client))
    url = f"{base}/webhooks/pagerduty"

    def post_chunked(body: bytes) -> int:
        pieces = (body[i : i + 1000] for i in range(0, len(body), 1000))  # generator: chunked
        return requests.post(
            url, data=pieces, timeout=10, headers={"X-PagerDuty-Signature": sign(body, NEW)}
        ).status_code

    try:
        assert post_chunked(PLAIN) == 202
        assert post_chunked(BIG) == 413
        assert queued(redis_client) == 1
    finally:
        server.shutdown()
        server.server_close()


class _StalledBody:
    """A request body whose client stopped sending: the server's read times out."""

    def read(self, *args: Any) -> bytes:
        raise TimeoutError("timed out")

    readline = read

    def tell(self) -> int:
        return 0

    def seek(self, *args: Any) -> int:
        return 0


def test_a_body_that_stops_arriving_is_400_and_queues_nothing(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    answer = client.post(
        "/webhooks/pagerduty",
        input_stream=_StalledBody(),
        headers={"Content-Length": "100"},
        # as gunicorn serves it: the input is the socket itself, not werkzeug's wrapper
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert answer.status_code == 400
    assert queued(redis_client) == 0
