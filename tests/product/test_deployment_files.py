"""app.json, the Procfile, .env.example and the configuration agree with each other."""

from __future__ import annotations

import json
import re
from pathlib import Path

from common.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    """Process name → command."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {
        name: command.strip()
        for name, command in (line.split(":", 1) for line in lines if re.match(r"^\w+:", line))
    }


def procfile_processes() -> set[str]:
    return set(procfile())


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_app_json_runs_every_procfile_process_with_redis_and_the_jupiterone_sink() -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert set(app["formation"]) == procfile_processes() == {"web", "worker", "clock"}
    assert any(a["plan"].startswith("heroku-redis") for a in app["addons"])
    env = app["env"]
    assert env["GRAPH_SINK"]["value"] == "jupiterone"  # dynos share no disk
    for required in ("PAGERDUTY_API_KEY", "PAGERDUTY_WEBHOOK_SECRETS", "JUPITERONE_API_KEY"):
        assert env[required]["required"] is True and "value" not in env[required]
    assert set(env) <= setting_names(), set(env) - setting_names()
    # The read endpoints are closed without a token: Heroku makes one at deploy.
    assert env["READ_TOKENS"]["generator"] == "secret" and "value" not in env["READ_TOKENS"]
    # Every default app.json offers is one the configuration accepts.
    defaults = {k.lower(): v["value"] for k, v in env.items() if "value" in v}
    Settings(**defaults, jupiterone_account_id="a", jupiterone_api_key="k")


def test_heroku_installs_the_package_and_its_dependencies() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == ["."]
    assert re.fullmatch(r"3\.\d+\n?", (ROOT / ".python-version").read_text())


def test_env_example_names_only_real_settings() -> None:
    names = {
        m[1] for m in re.finditer(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)
    }
    assert names and names <= setting_names(), names - setting_names()


def test_each_procfile_process_is_a_python_module_reading_its_settings_itself() -> None:
    """No setting is expanded into a command line: REDIS_URL may hold a password, and a
    process's arguments are visible to every user of the host (ps)."""
    assert procfile()["web"] == "python -m web"
    assert procfile()["clock"] == "python -m worker.clock"
    for name, command in procfile().items():
        assert re.fullmatch(r"python -m [\w.]+", command), (name, command)


def test_docker_compose_runs_every_procfile_process_and_the_port_the_image_exposes() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    commands = set(re.findall(r'^\s+command: \["(\w+)"\]', compose, re.M))
    assert commands == procfile_processes()
    exposed = re.search(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert exposed is not None
    assert f'PORT: "{exposed[1]}"' in compose
    assert f'"{exposed[1]}:{exposed[1]}"' in compose
    assert f"http://127.0.0.1:{exposed[1]}/readyz" in compose
