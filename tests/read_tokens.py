"""The read token the tests open /status, /report, /changes and /metrics with (READ_TOKENS)."""

from __future__ import annotations

from flask.testing import FlaskClient

READ_TOKEN = "test-read-token-0123456789"
AUTHORIZATION = {"Authorization": f"Bearer {READ_TOKEN}"}
JSON_AUTHORIZED = {**AUTHORIZATION, "Accept": "application/json"}


def authorized(client: FlaskClient) -> FlaskClient:
    """`client`, sending the read token with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = AUTHORIZATION["Authorization"]
    return client
