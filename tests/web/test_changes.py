"""GET /changes: the change history as JSON, paged, with 400 for a bad parameter."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from common.config import Settings
from common.graph import Cause, ChangeSet, Entity
from common.sinks.history import audit_entry, encode_cursor, iso
from common.sinks.local import LocalSink
from tests.read_tokens import READ_TOKEN, authorized
from web.app import create_app


def service(n: int, name: str) -> Entity:
    return Entity(
        key=f"service:PS{n:05d}",
        type="pagerduty_service",
        class_="Service",
        properties={"name": name, "displayName": name},
    )


RECORD = {
    "id": "PAR0000001",
    "execution_time": iso(time.time() - 60),  # within CHANGE_HISTORY_DAYS on any date
    "actors": [{"id": "PADA001", "type": "user_reference", "summary": "Ada Lovelace"}],
    "method": {"type": "browser", "truncated_token": None},
    "action": "update",
    "details": {"fields": [{"name": "name", "before_value": "svc 3", "value": "renamed"}]},
}


@pytest.fixture
def client(
    make_settings: Callable[..., Settings], redis_client: redis.Redis, graph_path: str
) -> FlaskClient:
    """The app on a local graph whose history holds 25 creates and one rename."""
    sink = LocalSink(graph_path)
    sink.apply(ChangeSet(create_entities=[service(n, f"svc {n}") for n in range(25)]))
    sink.apply(ChangeSet(update_entities=[service(3, "renamed")]), Cause("webhook", "01EVT"))
    sink.close()
    settings = make_settings(
        pagerduty_webhook_secrets=[SecretStr("web-changes-secret")],
        read_tokens=[SecretStr(READ_TOKEN)],
    )
    return authorized(create_app(settings, redis_client).test_client())


def test_pages_follow_the_cursor_and_return_every_change_once(client: FlaskClient) -> None:
    seen: list[tuple[str, str]] = []
    url = "/changes?limit=10"
    pages = 0
    while True:
        reply = client.get(url)
        assert reply.status_code == 200 and reply.content_type == "application/json"
        body = reply.get_json()
        assert set(body) == {"changes", "next_cursor"}
        seen += [(e["action"], e["key"]) for e in body["changes"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        url = f"/changes?limit=10&cursor={body['next_cursor']}"
    assert pages == 3
    assert seen == [("created", f"service:PS{n:05d}") for n in range(25)] + [
        ("updated", "service:PS00003")
    ]


def test_the_default_page_is_100_and_filters_narrow_it(client: FlaskClient) -> None:
    assert len(client.get("/changes").get_json()["changes"]) == 26
    body = client.get("/changes?key=service:PS00003").get_json()
    assert [e["action"] for e in body["changes"]] == ["created", "updated"]
    assert body["changes"][1] == {
        "at": body["changes"][1]["at"],
        "key": "service:PS00003",
        "type": "pagerduty_service",
        "action": "updated",
        "changes": {
            "displayName": {"before": "svc 3", "after": "renamed"},
            "name": {"before": "svc 3", "after": "renamed"},
        },
        "cause": {"kind": "webhook", "id": "01EVT"},
        "source": "graph",
        "actor": None,
        "method": None,
    }
    assert client.get("/changes?type=pagerduty_user").get_json()["changes"] == []
    assert len(client.get("/changes?since=10m").get_json()["changes"]) == 26
    later = datetime.fromtimestamp(time.time() + 60, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert client.get(f"/changes?since={later}").get_json()["changes"] == []


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "limit=0",
        "limit=1001",
        "limit=many",
        "cursor=not-a-cursor",
        f"cursor={encode_cursor('x')}",
        "type=nosuchtype",
        "source=jira",
    ],
)
def test_a_bad_parameter_is_a_400_with_a_json_reason(client: FlaskClient, query: str) -> None:
    reply = client.get(f"/changes?{query}")
    assert reply.status_code == 400
    body = reply.get_json()
    assert body["status"] == 400 and body["message"]


def test_source_and_actor_pick_the_audit_trail_and_who_made_it(
    client: FlaskClient, graph_path: str
) -> None:
    LocalSink(graph_path).record_trail(
        [audit_entry(RECORD, "service:PS00003", "pagerduty_service")]
    )
    [record] = client.get("/changes?source=pagerduty").get_json()["changes"]
    assert record["cause"]["id"] == "PAR0000001" and record["actor"]["name"] == "Ada Lovelace"
    assert client.get("/changes?actor=PADA001").get_json()["changes"] == [record]
    graph = client.get("/changes?source=graph").get_json()["changes"]
    assert len(graph) == 26 and {e["source"] for e in graph} == {"graph"}
