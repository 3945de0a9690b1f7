"""app.json, the Procfile, .env.example and the configuration agree with each other."""

from __future__ import annotations

import json
import re
from pathlib import Path

from common.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def procfile_processes() -> set[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {line.split(":", 1)[0] for line in lines if re.match(r"^\w+:", line)}


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields} | {"WEB_CONCURRENCY"}


def test_app_json_runs_every_procfile_process_with_redis_and_the_jupiterone_sink() -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert set(app["formation"]) == procfile_processes() == {"web", "worker", "clock"}
    assert any(a["plan"].startswith("heroku-redis") for a in app["addons"])
    env = app["env"]
    assert env["GRAPH_SINK"]["value"] == "jupiterone"  # dynos share no disk
    for required in ("PAGERDUTY_API_KEY", "PAGERDUTY_WEBHOOK_SECRETS", "JUPITERONE_API_KEY"):
        assert env[required]["required"] is True and "value" not in env[required]
    assert set(env) <= setting_names(), set(env) - setting_names()
    # Every default app.json offers is one the configuration accepts.
    defaults = {k.lower(): v["value"] for k, v in env.items() if "value" in v}
    defaults.pop("web_concurrency")
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
