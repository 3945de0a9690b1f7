"""Replays are bounded (issue 10): a delivery is a duplicate when its signed event id was seen
(never because of its unsigned X-Webhook-Id, issue 18), and no Redis failure at any step
can lose a delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from common.config import Settings
from common.queueing import WEBHOOK_QUEUE
from tests.stack import serve
from tests.web.test_webhooks import NEW, event_body, sign
from web.app import create_app


@pytest.fixture
def receiver(redis_url: str, make_settings: Callable[..., Settings]) -> Iterator[str]:
    """The receiver over real sockets, on a client that never retries (a fault injected
    below is not hidden by redis-py's retries)."""
    client = redis.Redis.from_url(redis_url, retry=Retry(NoBackoff(), 0))
    server, base = serve(create_app(make_settings(pagerduty_webhook_secrets=NEW), client))
    yield f"{base}/webhooks/pagerduty"
    server.shutdown()
    server.server_close()


def deliver(url: str, body: bytes, delivery_id: str | None = None) -> requests.Response:
    headers = {"X-PagerDuty-Signature": sign(body, NEW), "Content-Type": "application/json"}
    if delivery_id is not None:
        headers["X-Webhook-Id"] = delivery_id
    return requests.post(url, data=body, headers=headers, timeout=10)


def queued_events(connection: redis.Redis) -> list[str]:
    """The event id of each job on the webhook queue, in order."""
    return [job.args[0]["id"] for job in Queue(WEBHOOK_QUEUE, connection=connection).jobs]


def test_a_signed_body_replayed_under_20_delivery_ids_queues_once(
    receiver: str, redis_client: redis.Redis
) -> None:
    body = event_body(event_id="01CAPTURED")
    answers = [deliver(receiver, body, f"replay-{n}") for n in range(20)]
    assert [a.status_code for a in answers] == [202] * 20
    assert [a.json()["message"] for a in answers].count("queued") == 1
    assert queued_events(redis_client) == ["01CAPTURED"]


def test_two_different_signed_events_with_the_same_webhook_id_are_both_queued(
    receiver: str, redis_client: redis.Redis
) -> None:
    first = deliver(receiver, event_body(event_id="01FIRST"), "delivery-1")
    other = deliver(receiver, event_body(event_id="01OTHER"), "delivery-1")
    assert (first.json()["message"], other.json()["message"]) == ("queued", "queued")
    assert queued_events(redis_client) == ["01FIRST", "01OTHER"]
    # The header is only traced (logged beside the job id): nothing is stored under it.
    assert first.json()["job_id"] != other.json()["job_id"]
    assert redis_client.keys("pdgraph:webhooks:delivery:*") == []


def test_a_retry_of_one_event_under_a_new_webhook_id_is_a_duplicate(
    receiver: str, redis_client: redis.Redis
) -> None:
    body = event_body(event_id="01RETRIED")
    first = deliver(receiver, body, "delivery-a")
    retry = deliver(receiver, body, "delivery-b")
    assert (first.json()["message"], retry.json()["message"]) == ("queued", "duplicate delivery")
    assert queued_events(redis_client) == ["01RETRIED"]


def test_distinct_events_under_distinct_delivery_ids_are_all_queued(
    receiver: str, redis_client: redis.Redis
) -> None:
    for n in range(5):
        assert deliver(receiver, event_body(event_id=f"01EVT{n}"), f"d-{n}").status_code == 202
    assert len(queued_events(redis_client)) == 5


class RedisFault:
    """Fails the `nth` Redis command the receiver sends (1-based): before it is sent
    ("request": Redis never saw it) or after its reply was read ("reply": Redis did it,
    the receiver does not know)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, nth: int, where: str) -> None:
        self.nth, self.where, self.seen, self.armed = nth, where, 0, False
        connection = redis.connection.AbstractConnection
        send, read = connection.send_packed_command, connection.read_response

        def sending(conn: Any, *args: Any, **kwargs: Any) -> Any:
            if self._strikes("request"):
                raise redis.ConnectionError("injected: request lost")
            return send(conn, *args, **kwargs)

        def reading(conn: Any, *args: Any, **kwargs: Any) -> Any:
            reply = read(conn, *args, **kwargs)
            if self.where == "reply" and self.armed and self.seen == self.nth:
                self.armed = False
                raise redis.ConnectionError("injected: reply lost")
            return reply

        monkeypatch.setattr(connection, "send_packed_command", sending)
        monkeypatch.setattr(connection, "read_response", reading)

    def _strikes(self, where: str) -> bool:
        if not self.armed:
            return False
        self.seen += 1
        if self.where == where and self.seen == self.nth:
            self.armed = False
            return True
        return False


@pytest.mark.parametrize("where", ["request", "reply"])
@pytest.mark.parametrize("nth", range(1, 13))  # a first delivery sends 10
def test_a_redis_failure_at_any_step_leaves_the_retry_able_to_queue(
    receiver: str,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    nth: int,
    where: str,
) -> None:
    """Whatever command fails, the delivery is stored once: by the first attempt (then
    the retry is a duplicate) or by PagerDuty's retry of it (then it was answered 503)."""
    body = event_body(event_id="01FAULT")
    fault = RedisFault(monkeypatch, nth, where)
    fault.armed = True
    first = deliver(receiver, body, "delivery-fault")
    fault.armed = False
    retry = deliver(receiver, body, "delivery-fault")
    assert first.status_code in (202, 503)
    assert retry.status_code == 202
    assert queued_events(redis_client) == ["01FAULT"]
    if first.status_code == 202:
        assert retry.json()["message"] == "duplicate delivery"
