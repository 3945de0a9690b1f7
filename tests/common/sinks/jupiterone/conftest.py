"""Fixtures of the JupiterOne sink tests: the simulator, settings and a webhook stack for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from common.config import Settings
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import Account
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, j1_env
from tests.read_tokens import READ_TOKEN
from tests.stack import Stack


@pytest.fixture
def j1() -> Iterator[JupiterOneSim]:
    with JupiterOneSim(J1_ACCOUNT, J1_KEY) as sim:
        yield sim


@pytest.fixture
def j1_settings(settings: Settings, j1: JupiterOneSim) -> Settings:
    return settings.model_copy(
        update={
            "graph_sink": "jupiterone",
            "jupiterone_account_id": J1_ACCOUNT,
            "jupiterone_api_key": settings.pagerduty_api_key.__class__(J1_KEY),
            "jupiterone_api_url": j1.api_url,
            "jupiterone_graphql_url": j1.graphql_url,
        }
    )


@pytest.fixture
def j1_stack(make_stack: Callable[..., Stack], j1: JupiterOneSim) -> Stack:
    env = {**j1_env(j1), "READ_TOKENS": READ_TOKEN}  # /status readable with it
    stack = make_stack(Account.generate(seed=21, users=80), env=env)
    j1.reset_calls()
    return stack
