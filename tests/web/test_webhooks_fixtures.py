"""Real PagerDuty v3 payloads (tests/fixtures/webhooks) are accepted and routed, and the
simulator sends events of the same shape, so sim and reality cannot drift apart unseen."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue

from common.config import Settings
from common.queueing import WEBHOOK_QUEUE
from common.signals import WebhookSignal
from sim.pagerduty import Account, WebhookSender
from web.app import create_app
from web.signature import sign

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"
SECRET = "fixture-secret-0123"
EVENT_TYPES = ["service.updated", "service.deleted", "incident.triggered", "pagey.ping"]


def fixture_body(event_type: str) -> bytes:
    return (FIXTURES / f"{event_type}.json").read_bytes()


def fixture_event(event_type: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(fixture_body(event_type))["event"]
    return event


def test_every_fixture_is_one_event_of_its_file_name() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert names == sorted(EVENT_TYPES)
    for event_type in names:
        assert fixture_event(event_type)["event_type"] == event_type


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_signed_fixture_is_accepted_and_queued(
    event_type: str, redis_client: redis.Redis, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(pagerduty_webhook_secrets=SECRET)
    client = create_app(settings, redis_client).test_client()
    body = fixture_body(event_type)
    signature = "v1=" + sign(SECRET.encode(), body)
    response = client.post(
        "/webhooks/pagerduty",
        data=body,
        headers={"X-PagerDuty-Signature": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 202
    assert Queue(WEBHOOK_QUEUE, connection=redis_client).count == 1


@pytest.mark.parametrize(
    ("event_type", "service_id"),
    [
        ("service.updated", "PF9KMXH"),
        ("service.deleted", "PQ4ZTV8"),
        ("incident.triggered", "PF9KMXH"),
        ("pagey.ping", None),
    ],
)
def test_a_fixture_becomes_the_signal_the_worker_routes(
    event_type: str, service_id: str | None
) -> None:
    signal = WebhookSignal.from_event(fixture_event(event_type))
    assert signal.event_type == event_type
    assert signal.service_to_refresh() == service_id
    assert signal.is_routed() == (service_id is not None)


def assert_same_fields(sim: Any, real: Any, path: str = "event") -> None:
    """Objects present on both sides have the same keys, all the way down (a null on
    either side, or an empty list, says nothing about the shape)."""
    if isinstance(sim, dict) and isinstance(real, dict):
        assert sorted(sim) == sorted(real), path
        for key in sim:
            assert_same_fields(sim[key], real[key], f"{path}.{key}")
    elif isinstance(sim, list) and isinstance(real, list) and sim and real:
        assert_same_fields(sim[0], real[0], f"{path}[0]")


def simulated_events() -> dict[str, dict[str, Any]]:
    """One event of each fixture's type, as the simulator's WebhookSender builds it."""
    account = Account.generate(seed=4, users=60, teams=6, services=20)
    sender = WebhookSender("http://127.0.0.1:9/never-sent", [SECRET])
    sender.hold = True  # build the deliveries, send nothing
    account.listeners.append(sender)
    with_teams = next(s for s in account.services.values() if s["team_ids"])
    account.update_service(with_teams["id"], name="renamed")
    account.trigger_incident(with_teams["id"])
    account.delete_service(with_teams["id"])
    sender.ping()
    events = [json.loads(d.body)["event"] for d in sender.deliveries]
    return {event["event_type"]: event for event in events}


def test_the_simulator_sends_events_shaped_like_pagerdutys() -> None:
    simulated = simulated_events()
    assert sorted(simulated) == sorted(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        assert_same_fields(simulated[event_type], fixture_event(event_type), event_type)
