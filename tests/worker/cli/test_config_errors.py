"""`pdgraph` before it does anything: version, help, and configuration errors (exit 2)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from common.sinks.local import LocalSink
from sim.pagerduty import PagerDutySim
from tests.cli import one_line_failure, run_pdgraph, said
from tests.conftest import API_KEY

COMMANDS = (["sync"], ["export"], ["check"], ["failed"], ["webhooks", "subscribe"])


def test_version_names_the_program_and_its_version() -> None:
    result = run_pdgraph("--version", env={})
    assert result.returncode == 0
    assert result.stdout == f"pdgraph {version('pdgraph')}\n"


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "pdgraph")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_short_and_long_help(command: list[str], flag: str) -> None:
    result = run_pdgraph(*command, flag, env={})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: pdgraph {' '.join(command)}".rstrip() + " [OPTIONS]")
    assert "-h, --help" in result.stdout


@pytest.mark.parametrize("redis_url", ["redis://localhost:notaport/0", "redis://localhost:99999/0"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_redis_url_with_a_bad_port_is_a_configuration_error(
    command: list[str], redis_url: str, graph_path: str
) -> None:
    args = [*command, "--url", "https://x.example.com/"] if command[0] == "webhooks" else command
    result = run_pdgraph(
        *args,
        env={"REDIS_URL": redis_url, "PAGERDUTY_API_KEY": API_KEY, "LOCAL_GRAPH_PATH": graph_path},
    )
    line = one_line_failure(result, 2)
    assert line == (
        "pdgraph: configuration error: REDIS_URL: the port must be a number from 1 to 65535"
    )
    assert API_KEY not in result.stdout + result.stderr


def test_missing_api_key_makes_check_exit_2_after_every_line(
    redis_url: str, graph_path: str
) -> None:
    LocalSink(graph_path).close()
    result = run_pdgraph("check", env={"REDIS_URL": redis_url, "LOCAL_GRAPH_PATH": graph_path})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert said(result.stdout) == ["ok    Redis: answers", f"ok    sink (local): {graph_path}"]
    assert said(result.stderr) == [
        "FAIL  PagerDuty: configuration error: PAGERDUTY_API_KEY is required to read "
        "PagerDuty; it is not set"
    ]


@pytest.mark.parametrize("command", [["sync"], ["sync", "--dry-run"]], ids=" ".join)
def test_missing_api_key_makes_sync_exit_2_in_one_line(
    command: list[str], redis_url: str, graph_path: str
) -> None:
    result = run_pdgraph(*command, env={"REDIS_URL": redis_url, "LOCAL_GRAPH_PATH": graph_path})
    line = one_line_failure(result, 2)
    assert line.startswith("pdgraph: configuration error: PAGERDUTY_API_KEY is required")


def test_jupiterone_sink_without_credentials_is_a_configuration_error(
    sim: PagerDutySim, redis_url: str
) -> None:
    env = {
        "GRAPH_SINK": "jupiterone",
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_API_URL": sim.url,
        "REDIS_URL": redis_url,
    }
    for command in ("sync", "export", "check"):
        line = one_line_failure(run_pdgraph(command, env=env), 2)
        assert line.startswith("pdgraph: configuration error: ")
        assert "JUPITERONE_ACCOUNT_ID and JUPITERONE_API_KEY required" in line
