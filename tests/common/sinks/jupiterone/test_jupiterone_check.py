"""Configuration of the JupiterOne sink and `pdgraph check`: which setting is wrong."""

from __future__ import annotations

import pytest
import redis

from common.clients.jupiterone import JupiterOneAuthError, JupiterOneClient, JupiterOneError
from common.config import Settings
from common.sinks import make_sink
from common.sinks.jupiterone import JupiterOneSink
from sim.jupiterone import JupiterOneSim
from sim.pagerduty import PagerDutySim
from tests.cli import run_pdgraph
from tests.common.sinks.jupiterone.helpers import J1_ACCOUNT, J1_KEY, j1_client, j1_env
from tests.conftest import API_KEY


def test_make_sink_builds_the_jupiterone_sink(
    j1_settings: Settings, redis_client: redis.Redis
) -> None:
    sink = make_sink(j1_settings, redis_client)
    assert type(sink) is JupiterOneSink
    sink.check()
    assert J1_KEY not in repr(sink) + repr(sink.client)


def test_client_errors_carry_the_http_status_and_jupiterone_code(j1: JupiterOneSim) -> None:
    """What `check` decides by: never the wording of a message."""
    with pytest.raises(JupiterOneError) as unknown_job:
        j1_client(j1).job_status("no-such-job")
    assert (unknown_job.value.status, unknown_job.value.code) == (404, "NOT_FOUND")
    wrong_key = JupiterOneClient(J1_ACCOUNT, "wrong-key-0123456789", j1.api_url, j1.graphql_url)
    with pytest.raises(JupiterOneAuthError) as refused:
        wrong_key.query("FIND * LIMIT 1")
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"JUPITERONE_API_KEY": "wrong-key-0123456789"}, "JUPITERONE_API_KEY was rejected"),
        ({"JUPITERONE_ACCOUNT_ID": "someone-else"}, "not valid for JUPITERONE_ACCOUNT_ID"),
        ({"JUPITERONE_GRAPHQL_URL": "http://127.0.0.1:9/graphql"}, "JUPITERONE_GRAPHQL_URL"),
        ({"JUPITERONE_API_URL": "http://127.0.0.1:9"}, "JUPITERONE_API_URL"),
    ],
)
def test_pdgraph_check_says_which_jupiterone_setting_is_wrong(
    j1: JupiterOneSim,
    sim: PagerDutySim,
    redis_url: str,
    graph_path: str,
    override: dict[str, str],
    names: str,
) -> None:
    env = {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
        **j1_env(j1),
        **override,
    }
    result = run_pdgraph("check", env=env)
    assert result.returncode == 1, result.stderr
    assert names in result.stderr
    assert J1_KEY not in result.stdout + result.stderr
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
    good = run_pdgraph("check", env={**env, **j1_env(j1)})
    assert good.returncode == 0, good.stderr
    assert "ok    sink (jupiterone)" in good.stdout
