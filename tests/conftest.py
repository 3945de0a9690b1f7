"""Shared fixtures: a private redis-server, fakeredis, the PagerDuty simulator, settings,
a worker's job context."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from common.config import Settings
from sim.clock import Clock
from sim.pagerduty import Account, PagerDutySim
from sim.redis_server import RedisServer
from worker.context import JobContext
from worker.full_sync import run_full_sync

API_KEY = "test-pagerduty-key-0123456789"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """Our own redis-server on a free port: tests may flush it and stop it freely."""
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may stop, kill or start again."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    redis.Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., PagerDutySim]]:
    started: list[PagerDutySim] = []

    def _make(account: Account | None = None, **kwargs: Any) -> PagerDutySim:
        sim = PagerDutySim(account or Account.generate(seed=7, users=60), API_KEY, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield _make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., PagerDutySim]) -> PagerDutySim:
    return make_sim()


@pytest.fixture
def clock() -> Clock:
    """The simulator's time, moved only by the test (`clock.now = t`)."""
    return Clock()


@pytest.fixture
def graph_path(tmp_path: Path) -> str:
    return str(tmp_path / "graph.sqlite3")


@pytest.fixture
def make_settings(redis_url: str, graph_path: str) -> Callable[..., Settings]:
    """Settings on the test's stack: its Redis and its local graph, and the simulator `sim`
    (its URL and API key) when one is given; keyword arguments set any other setting or
    replace these, e.g. `make_settings(sim, graph_model="jupiterone")`."""

    def _make(sim: PagerDutySim | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"redis_url": redis_url, "local_graph_path": graph_path}
        if sim is not None:
            values |= {"pagerduty_api_key": API_KEY, "pagerduty_api_url": sim.url}
        return Settings(**(values | overrides))

    return _make


@pytest.fixture
def settings(sim: PagerDutySim, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(sim)


@pytest.fixture
def make_job_context(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> Iterator[Callable[..., JobContext]]:
    """What a worker's jobs get (worker.context.JobContext: settings, Redis, the sink, the
    PagerDuty client) on the test's stack for the simulator `sim`, after a first full sync;
    keyword arguments go to make_settings. Each is closed at the test's end."""
    made: list[JobContext] = []

    def _make(sim: PagerDutySim, **overrides: Any) -> JobContext:
        settings = make_settings(sim, **overrides)
        run_full_sync(settings, redis_client=redis_client)
        context = JobContext(settings)
        made.append(context)
        return context

    yield _make
    for context in made:
        context.close()


@pytest.fixture
def job_context(sim: PagerDutySim, make_job_context: Callable[..., JobContext]) -> JobContext:
    """The job context of the default simulator `sim`, after a first full sync."""
    return make_job_context(sim)


@pytest.fixture
def make_stack(
    make_sim: Callable[..., PagerDutySim],
    redis_url: str,
    redis_client: redis.Redis,
    graph_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Any]]:
    """The webhook stack over real sockets, after a first full sync; `env` adds variables."""
    from tests.stack import Stack, configure_env

    stacks: list[Stack] = []

    def _make(
        account: Account, *, receiver: bool = True, env: dict[str, str] | None = None
    ) -> Stack:
        sim = make_sim(account)
        configure_env(monkeypatch, sim.url, redis_url, graph_path)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        stack = Stack(sim, redis_client, Settings())
        if receiver:
            stack.start_receiver()
        stacks.append(stack)
        stack.full_sync()
        return stack

    yield _make
    for stack in stacks:
        stack.stop()
