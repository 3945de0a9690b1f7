"""Configuration: every SPEC §2 variable, clear one-line errors, no secret echoed."""

from __future__ import annotations

import pytest

from common.config import ConfigError, Settings, load_settings

SECRET = "super-secret-value-123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PAGERDUTY_API_KEY",
        "PAGERDUTY_API_URL",
        "PAGERDUTY_WEBHOOK_SECRETS",
        "READ_TOKENS",
        "REDIS_URL",
        "GRAPH_SINK",
        "LOCAL_GRAPH_PATH",
        "JUPITERONE_ACCOUNT_ID",
        "JUPITERONE_API_KEY",
        "JUPITERONE_API_URL",
        "JUPITERONE_GRAPHQL_URL",
        "JUPITERONE_SCOPE",
        "ACCOUNT_NAME",
        "FULL_SYNC_CRON",
        "PORT",
        "LOG_LEVEL",
        "ONCALL_REFRESH_MINUTES",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_spec() -> None:
    s = load_settings()
    assert s.pagerduty_api_url == "https://api.pagerduty.com"
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.graph_sink == "local"
    assert s.local_graph_path == "pdgraph.sqlite3"
    assert s.jupiterone_api_url == "https://api.us.jupiterone.io"
    assert s.jupiterone_graphql_url == "https://graphql.us.jupiterone.io"
    assert s.jupiterone_scope == "pagerduty"
    assert s.account_name is None
    assert s.full_sync_cron == "0 3 * * *"
    assert s.port == 8000
    assert s.log_level == "INFO"
    assert s.pagerduty_webhook_secrets == []
    assert s.read_tokens == []


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_KEY", SECRET)
    monkeypatch.setenv("PAGERDUTY_WEBHOOK_SECRETS", " old-secret-0123456 ,, new-secret-0123456 ,")
    monkeypatch.setenv("PAGERDUTY_API_URL", "https://api.eu.pagerduty.com/")
    monkeypatch.setenv("ACCOUNT_NAME", "Acme")
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    s = load_settings()
    assert s.require_pagerduty_key() == SECRET
    assert s.require_webhook_secrets() == [b"old-secret-0123456", b"new-secret-0123456"]
    assert s.pagerduty_api_url == "https://api.eu.pagerduty.com"
    assert (s.account_name, s.port, s.log_level) == ("Acme", 5000, "DEBUG")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT: must be an integer"),
        ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
        ("GRAPH_SINK", "neo4j", "GRAPH_SINK: must be 'local' or 'jupiterone'"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must be a redis://"),
        ("PAGERDUTY_API_URL", "api.pagerduty.com", "PAGERDUTY_API_URL: must be an http(s) URL"),
        ("FULL_SYNC_CRON", "0 3 * *", "FULL_SYNC_CRON: must have 5 fields"),
        ("FULL_SYNC_CRON", "0 25 * * *", "FULL_SYNC_CRON: 25 is outside 0-23"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: must be"),
        ("JUPITERONE_SCOPE", " ", "JUPITERONE_SCOPE: must not be empty"),
    ],
)
def test_malformed_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_jupiterone_sink_requires_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_SINK", "jupiterone")
    monkeypatch.setenv("JUPITERONE_API_KEY", SECRET)
    with pytest.raises(ConfigError, match="JUPITERONE_ACCOUNT_ID required") as info:
        load_settings()
    assert SECRET not in str(info.value)


def test_missing_key_is_named_when_it_is_needed() -> None:
    s = load_settings()
    with pytest.raises(ConfigError, match="PAGERDUTY_API_KEY is required"):
        s.require_pagerduty_key()
    with pytest.raises(ConfigError, match="PAGERDUTY_WEBHOOK_SECRETS is required"):
        s.require_webhook_secrets()


def test_errors_never_echo_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # a secret pasted into the wrong variable must not be printed back either
    monkeypatch.setenv("PORT", SECRET)
    monkeypatch.setenv("REDIS_URL", SECRET)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert SECRET not in str(info.value)
    assert "PORT" in str(info.value) and "REDIS_URL" in str(info.value)


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_KEY", SECRET)
    monkeypatch.setenv("PAGERDUTY_WEBHOOK_SECRETS", SECRET + "-w")
    s = load_settings()
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())
    assert SECRET not in s.pagerduty_key_fingerprint()


def test_a_redis_password_is_masked_like_any_secret() -> None:
    from common.config import Settings

    settings = Settings(redis_url="redis://:hunter2-redis@redis.example:6379/0")
    assert "hunter2-redis" in settings.secret_values()
    assert "" not in Settings().secret_values()


def test_read_tokens_are_comma_separated_for_rotation_and_blanks_are_no_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("READ_TOKENS", " old-read-token-0123 ,,new-read-token-4567, ")
    s = load_settings()
    assert s.read_token_values() == [b"old-read-token-0123", b"new-read-token-4567"]
    assert {"old-read-token-0123", "new-read-token-4567"} <= set(s.secret_values())
    assert "old-read-token-0123" not in repr(s)


@pytest.mark.parametrize("name", ["PAGERDUTY_WEBHOOK_SECRETS", "READ_TOKENS"])
@pytest.mark.parametrize("value", ["a,,b", "long-enough-0123456,fifteen-chars-x"])
def test_a_secret_or_token_shorter_than_16_characters_is_an_error_naming_only_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{name}: each comma-separated value must be at least 16")
    assert "\n" not in message
    for part in value.split(","):
        assert len(part) < 5 or part not in message  # ("a" is in any sentence)


@pytest.mark.parametrize(
    ("sink", "given", "kept"),
    [("local", None, 90), ("jupiterone", None, 14), ("local", 30, 30), ("jupiterone", 366, 366)],
)
def test_the_history_is_kept_by_sink_unless_told(sink: str, given: int | None, kept: int) -> None:
    """On disk a quarter; in Redis, beside the webhook queue, two weeks (what a 50 MB plan
    holds at 2,000 users: docs/change-history.md)."""
    j1 = {"jupiterone_account_id": "acct", "jupiterone_api_key": "k" * 20}
    settings = Settings(graph_sink=sink, change_history_days=given, **j1)
    assert settings.history_days == kept
