"""Readers cannot starve the receiver (web/readers.py): the report is computed in a process
of its own once for every reader, /changes pages are bounded in bytes, readers have their
own Redis connections and a bounded wait."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from common.config import Settings
from common.graph import Cause, ChangeSet
from common.sinks.local import LocalSink
from sim.redis_server import RedisServer
from tests.read_tokens import JSON_AUTHORIZED, READ_TOKEN, authorized
from tests.report_graphs import planted_local_graph
from tests.web.test_changes import service
from tests.web.test_webhooks import event_body, sign
from web import readers
from web.app import create_app

SECRET = "readers-test-webhook-secret"


@pytest.fixture
def reader_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        pagerduty_webhook_secrets=[SecretStr(SECRET)], read_tokens=[SecretStr(READ_TOKEN)]
    )


@pytest.fixture
def report_client(
    reader_settings: Settings, redis_client: redis.Redis, graph_path: str
) -> FlaskClient:
    planted_local_graph(graph_path, redis_client)
    return authorized(create_app(reader_settings, redis_client).test_client())


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The report computations started (each one a `python -m web.report_process`)."""
    started: list[str] = []
    compute = readers.Readers._computed_report

    def counted(self: readers.Readers, fmt: str) -> bytes:
        started.append(fmt)
        return compute(self, fmt)

    monkeypatch.setattr(readers.Readers, "_computed_report", counted)
    yield started


def test_concurrent_report_readers_share_one_computation_in_a_process_of_its_own(
    report_client: FlaskClient, computations: list[str]
) -> None:
    def read(_: int) -> tuple[int, bytes, str]:
        response = report_client.get("/report", headers=JSON_AUTHORIZED)
        return response.status_code, response.get_data(), response.headers["Age"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(read, range(8)))
    assert {status for status, _, _ in answers} == {200}
    assert len({body for _, body, _ in answers}) == 1  # the same report, generated once
    assert computations == ["json"]
    html = report_client.get("/report", headers={"Accept": "text/html"})
    assert html.status_code == 200 and html.content_type == "text/html; charset=utf-8"
    assert computations == ["json", "html"]


def test_a_report_older_than_its_max_age_is_computed_again(
    report_client: FlaskClient, computations: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = report_client.get("/report", headers=JSON_AUTHORIZED).get_json()
    monkeypatch.setattr(readers, "REPORT_MAX_AGE", 0.0)
    again = report_client.get("/report", headers=JSON_AUTHORIZED).get_json()
    assert computations == ["json", "json"]
    assert again["generated_at"] >= first["generated_at"]


def test_the_report_process_runs_at_a_lower_cpu_priority_and_takes_settings_on_stdin(
    report_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    run = readers.subprocess.run

    def watched(command: list[str], **kwargs: object) -> object:
        seen.append(command)
        assert READ_TOKEN not in " ".join(command)  # secrets never on a command line
        return run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(readers.subprocess, "run", watched)
    assert report_client.get("/report", headers=JSON_AUTHORIZED).status_code == 200
    assert seen == [[readers.sys.executable, "-m", "web.report_process", "json"]]


def test_a_changes_page_is_cut_at_its_byte_bound_and_the_cursor_goes_on_from_there(
    reader_settings: Settings,
    redis_client: redis.Redis,
    graph_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = LocalSink(graph_path)
    sink.apply(
        ChangeSet(create_entities=[service(n, f"svc {n} " + "x" * 200) for n in range(40)]),
        Cause("webhook", "01BYTES"),
    )
    sink.close()
    client = authorized(create_app(reader_settings, redis_client).test_client())
    monkeypatch.setattr(readers, "MAX_CHANGES_BYTES", 4000)
    keys: list[str] = []
    url = "/changes?limit=1000"
    while True:
        response = client.get(url)
        assert response.status_code == 200
        assert len(response.get_data()) <= 4000 + 200  # entries, plus the envelope
        body = response.get_json()
        assert 0 < len(body["changes"]) < 40
        keys += [change["key"] for change in body["changes"]]
        if body["next_cursor"] is None:
            break
        url = f"/changes?limit=1000&cursor={body['next_cursor']}"
    assert keys == [f"service:PS{n:05d}" for n in range(40)]  # each once, in order


def test_readers_use_their_own_redis_connections_not_the_receiver_s(
    own_redis: RedisServer, graph_path: str, reader_settings: Settings
) -> None:
    """With the receiver's connection pool exhausted (one connection, held), /status still
    answers from the readers' own, and a delivery is refused with a 503, not a hang."""
    LocalSink(graph_path).close()
    receiver = redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(
            own_redis.url, max_connections=1, timeout=0.2
        )
    )
    held = receiver.connection_pool.get_connection()
    try:
        settings = reader_settings.model_copy(update={"redis_url": own_redis.url})
        client = create_app(settings, receiver).test_client()
        status = client.get("/status", headers=JSON_AUTHORIZED)
        assert status.status_code == 200, status.get_data(as_text=True)
        body = event_body(event_id="01POOLEXHAUSTED")
        delivery = client.post(
            "/webhooks/pagerduty", data=body, headers={"X-PagerDuty-Signature": sign(body, SECRET)}
        )
        assert delivery.status_code == 503
    finally:
        receiver.connection_pool.release(held)


def test_too_many_waiting_readers_get_503_with_retry_after(
    report_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_WAITING", 0)
    response = report_client.get("/status", headers=JSON_AUTHORIZED)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert report_client.get("/healthz").status_code == 200  # not a reader


def test_readers_answers_are_paced_to_their_output_rate(
    report_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer waits for its turn in the readers' bytes-per-second budget; one that
    could not leave within READ_TIMEOUT is 503 rather than a wait that long."""
    monkeypatch.setattr(readers, "READER_BYTES_PER_SECOND", 1)
    monkeypatch.setattr(readers, "READ_TIMEOUT", 0.5)
    first = report_client.get("/status", headers=JSON_AUTHORIZED)  # free budget: sent
    assert first.status_code == 200
    second = report_client.get("/status", headers=JSON_AUTHORIZED)  # ~1,000 s away: refused
    assert second.status_code == 503
