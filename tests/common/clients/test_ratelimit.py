"""The request budget is one budget per key, shared by every process through Redis."""

from __future__ import annotations

import time

import fakeredis
import pytest
import redis

from common.clients.ratelimit import LocalRequestBudget, RedisRequestBudget


class SleepRecorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)


@pytest.fixture(params=["fakeredis", "redis"])
def client(request: pytest.FixtureRequest) -> redis.Redis:
    if request.param == "fakeredis":
        return fakeredis.FakeRedis()
    return request.getfixturevalue("redis_client")  # type: ignore[no-any-return]


def test_budget_grants_the_limit_then_waits_for_the_window(client: redis.Redis) -> None:
    sleeps = SleepRecorder()
    budget = RedisRequestBudget(client, "k", limit=5, window_seconds=0.4, sleep=sleeps)
    for _ in range(5):
        budget.acquire()
    assert sleeps.sleeps == []
    budget.acquire()
    assert len(sleeps.sleeps) >= 1
    assert 0.0 < sum(sleeps.sleeps) <= 0.45


@pytest.mark.parametrize(
    ("name_a", "name_b", "shared"),
    [("shared", "shared", True), ("key-a", "key-b", False)],
    ids=["one-key-two-processes", "two-keys"],
)
def test_a_budget_is_shared_by_processes_of_one_key_only(
    client: redis.Redis, name_a: str, name_b: str, shared: bool
) -> None:
    sleeps = SleepRecorder()
    a = RedisRequestBudget(client, name_a, limit=4, window_seconds=0.4, sleep=sleeps)
    b = RedisRequestBudget(client, name_b, limit=4, window_seconds=0.4, sleep=sleeps)
    for _ in range(2):
        a.acquire()
        b.acquire()
    assert sleeps.sleeps == []
    b.acquire()  # the fifth request of one key's budget waits; b's own third does not
    assert bool(sleeps.sleeps) is shared


def test_a_pause_from_one_process_holds_the_others(client: redis.Redis) -> None:
    sleeps = SleepRecorder()
    a = RedisRequestBudget(client, "k", sleep=sleeps)
    b = RedisRequestBudget(client, "k", sleep=sleeps)
    a.pause(0.3)
    b.acquire()
    assert 0.2 <= sum(sleeps.sleeps) <= 0.35


def test_a_shorter_pause_never_shortens_a_longer_one(client: redis.Redis) -> None:
    sleeps = SleepRecorder()
    budget = RedisRequestBudget(client, "k", sleep=sleeps)
    budget.pause(0.3)
    budget.pause(0.01)
    budget.acquire()
    assert sum(sleeps.sleeps) >= 0.2


def test_budget_keys_do_not_contain_the_api_key(fake_redis: fakeredis.FakeRedis) -> None:
    budget = RedisRequestBudget(fake_redis, "0123abcd")
    budget.acquire()
    budget.pause(1)
    assert all(k.startswith(b"pdgraph:ratelimit:0123abcd:") for k in fake_redis.keys())


def test_local_budget_waits_for_the_window() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    budget = LocalRequestBudget(limit=3, window_seconds=60, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        budget.acquire()
    assert now[0] == 0.0
    budget.acquire()
    assert now[0] == 60.0
