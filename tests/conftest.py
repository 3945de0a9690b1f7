"""Shared fixtures: a private redis-server, fakeredis, the PagerDuty simulator, settings."""

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
def settings(sim: PagerDutySim, redis_url: str, graph_path: str) -> Settings:
    return Settings(
        pagerduty_api_key=API_KEY,
        pagerduty_api_url=sim.url,
        redis_url=redis_url,
        local_graph_path=graph_path,
    )


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
