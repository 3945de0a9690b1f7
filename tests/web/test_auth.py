"""Read tokens (READ_TOKENS): /status, /report, /changes and /metrics answer 401 without one
and show nothing of the graph; the health checks and the webhook stay open."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from common.config import Settings
from common.graph import Cause, ChangeSet, Entity
from common.sinks.local import LocalSink
from tests.read_tokens import READ_TOKEN
from tests.report_graphs import record_synced
from tests.web.test_webhooks import event_body, sign
from web.app import create_app

WEBHOOK_SECRET = "auth-test-webhook-secret"
OLD_TOKEN, NEW_TOKEN = "old-read-token-0123456789", "new-read-token-9876543210"
READ_ENDPOINTS = ["/status", "/report", "/changes", "/metrics"]
# What the graph holds that no one without a token may read.
EMAIL, NAME, KEY, ACCOUNT = "ada.lovelace@example.com", "Ada Lovelace", "user:PADA001", "Acme"


def ada() -> Entity:
    return Entity(
        key=KEY,
        type="pagerduty_user",
        class_="User",
        properties={
            "id": "PADA001",
            "name": NAME,
            "displayName": NAME,
            "email": [EMAIL],
            "role": "owner",
            "admin": True,
        },
    )


def make_client(
    make_settings: Callable[..., Settings], redis_client: redis.Redis, tokens: list[str]
) -> FlaskClient:
    settings = make_settings(
        account_name=ACCOUNT,
        pagerduty_webhook_secrets=[SecretStr(WEBHOOK_SECRET)],
        read_tokens=[SecretStr(t) for t in tokens],
    )
    sink = LocalSink(settings.local_graph_path)
    sink.apply(ChangeSet(create_entities=[ada()]), Cause("webhook", "01AUTH"))
    sink.close()
    record_synced(redis_client)
    return create_app(settings, redis_client).test_client()


@pytest.fixture
def client(make_settings: Callable[..., Settings], redis_client: redis.Redis) -> FlaskClient:
    return make_client(make_settings, redis_client, [READ_TOKEN])


def basic(password: str, user: str = "anyone") -> dict[str, str]:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_closed(client: FlaskClient, path: str, headers: dict[str, str]) -> str:
    """`path` answers 401 with the challenge and nothing of the graph; its message."""
    for accept in ("application/json", "text/html"):
        response = client.get(path, headers={**headers, "Accept": accept})
        assert response.status_code == 401, (path, accept)
        assert response.headers["WWW-Authenticate"] == 'Basic realm="pdgraph"'
        body = response.get_data(as_text=True)
        for private in (EMAIL, NAME, KEY, ACCOUNT, "PADA001", "pagerduty_user"):
            assert private not in body, (path, private)
    message: str = json.loads(body)["message"]
    return message


@pytest.mark.parametrize("path", READ_ENDPOINTS)
def test_a_read_endpoint_without_credentials_is_401_and_shows_nothing_of_the_graph(
    client: FlaskClient, path: str
) -> None:
    message = assert_closed(client, path, {})
    assert "Bearer" in message and "\n" not in message


@pytest.mark.parametrize("path", READ_ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        bearer("not-the-read-token-0123"),
        basic("not-the-read-token-0123"),
        basic("", user=READ_TOKEN),  # the token as user name is not the password
        {"Authorization": f"Token token={READ_TOKEN}"},  # a scheme pdgraph does not take
        {"Authorization": f"Bearer {READ_TOKEN[:-1]}"},
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=["wrong bearer", "wrong basic", "token as user", "other scheme", "prefix", "garbage"],
)
def test_a_wrong_credential_is_401(client: FlaskClient, path: str, headers: dict[str, str]) -> None:
    assert_closed(client, path, headers)


@pytest.mark.parametrize("path", READ_ENDPOINTS)
@pytest.mark.parametrize("how", ["bearer", "basic"])
def test_a_bearer_token_or_basic_auth_with_any_user_opens_each_read_endpoint(
    client: FlaskClient, path: str, how: str
) -> None:
    headers = bearer(READ_TOKEN) if how == "bearer" else basic(READ_TOKEN, user="auditor")
    response = client.get(path, headers={**headers, "Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_the_report_and_changes_show_the_graph_to_a_token_holder(client: FlaskClient) -> None:
    report = client.get("/report", headers={**bearer(READ_TOKEN), "Accept": "application/json"})
    assert report.get_json()["account_name"] == ACCOUNT
    assert KEY in report.get_data(as_text=True)
    changes = client.get("/changes", headers=bearer(READ_TOKEN)).get_json()["changes"]
    assert [c["key"] for c in changes] == [KEY]


def test_a_rotated_out_token_is_401_and_both_open_during_the_rotation(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    during = make_client(make_settings, redis_client, [OLD_TOKEN, NEW_TOKEN])
    for token in (OLD_TOKEN, NEW_TOKEN):
        assert during.get("/status", headers=bearer(token)).status_code == 200
    after = make_client(make_settings, redis_client, [NEW_TOKEN])
    assert after.get("/status", headers=bearer(NEW_TOKEN)).status_code == 200
    for path in READ_ENDPOINTS:
        assert_closed(after, path, bearer(OLD_TOKEN))
        assert_closed(after, path, basic(OLD_TOKEN))


def test_without_read_tokens_the_read_endpoints_are_closed_and_status_says_how_to_open_them(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    closed = make_client(make_settings, redis_client, [])
    for path in READ_ENDPOINTS:
        assert_closed(closed, path, bearer(READ_TOKEN))
    message = assert_closed(closed, "/status", {})
    assert "set READ_TOKENS" in message and "\n" not in message


def test_health_checks_the_root_redirect_and_the_webhook_need_no_token(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> None:
    closed = make_client(make_settings, redis_client, [])
    assert closed.get("/healthz").status_code == 200
    ready = closed.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {"status": 200, "message": "ready"}
    root = closed.get("/")
    assert root.status_code == 302 and root.headers["Location"].endswith("/status")
    body = event_body(event_id="01OPENWEBHOOK")
    delivered = closed.post(
        "/webhooks/pagerduty",
        data=body,
        headers={"X-PagerDuty-Signature": sign(body, WEBHOOK_SECRET)},
    )
    assert delivered.status_code == 202


def test_a_path_that_does_not_exist_tells_nothing_without_a_token(client: FlaskClient) -> None:
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", headers=bearer(READ_TOKEN)).status_code == 404
