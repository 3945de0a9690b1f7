"""Settings: every SPEC §2 variable, validated once at start.

Nothing else in pdgraph reads ``os.environ``. A missing or malformed value becomes a
:class:`ConfigError` whose message names the variable and never echoes its value.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
# Webhook secrets and read tokens (SPEC §2): shorter ones are guessable, and would be
# masked in logs wherever their few characters happen to occur.
MIN_SECRET_LENGTH = 16


class ConfigError(Exception):
    """A configuration variable is missing or malformed; the message names it."""


# CHANGE_HISTORY_DAYS' defaults (bench/history.py: a day is about 1.6 MB at 2,000 users
# and 7.5-8 MB at 10,000, either sink; a year fits no small Redis plan).
HISTORY_DAYS_IN_REDIS = 14
HISTORY_DAYS_ON_DISK = 90


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    pagerduty_api_key: SecretStr | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    # PagerDuty allows 960/min per key; lower it to leave room for other integrations.
    pagerduty_requests_per_minute: int = Field(default=960, ge=1, le=100_000)
    pagerduty_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Open /status, /report, /changes and /metrics (SPEC §4); none: those stay closed.
    read_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    redis_url: str = "redis://localhost:6379/0"
    graph_sink: Literal["local", "jupiterone"] = "local"
    local_graph_path: str = "pdgraph.sqlite3"
    jupiterone_account_id: str | None = None
    jupiterone_api_key: SecretStr | None = None
    jupiterone_api_url: str = "https://api.us.jupiterone.io"
    jupiterone_graphql_url: str = "https://graphql.us.jupiterone.io"
    jupiterone_scope: str = "pagerduty"
    account_name: str | None = None
    full_sync_cron: str = "0 3 * * *"
    oncall_refresh_minutes: int = Field(default=15, ge=1, le=1440)
    # seed: SPEC §5's names; jupiterone: graph-pagerduty 3.x's (MONITORS, service ASSIGNED team).
    graph_model: Literal["seed", "jupiterone"] = "seed"
    audit_poll_seconds: int = Field(default=30, ge=5, le=3600)
    people_refresh_minutes: int = Field(default=15, ge=1, le=1440)
    # unset: by sink (history_days); bench/history.py measured what a day weighs
    change_history_days: int | None = Field(default=None, ge=1, le=3650)
    port: int = Field(default=8000, ge=1, le=65535)
    # gunicorn worker processes of `web` (Heroku sets it from the dyno size).
    web_concurrency: int = Field(default=2, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @property
    def history_days(self) -> int:
        """How many days the change history is kept: CHANGE_HISTORY_DAYS, else by where it
        is kept. In Redis (JupiterOne sink) it shares the memory the webhook queue needs:
        HISTORY_DAYS_IN_REDIS fit a 50 MB plan at 2,000 users. On disk (local sink) it
        costs disk only: HISTORY_DAYS_ON_DISK, a quarter of evidence (docs/change-history.md)."""
        if self.change_history_days is not None:
            return self.change_history_days
        return HISTORY_DAYS_IN_REDIS if self.graph_sink == "jupiterone" else HISTORY_DAYS_ON_DISK

    @field_validator("pagerduty_webhook_secrets", "read_tokens", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        # "old,new" during a rotation; blanks between commas ("a,,b", a trailing comma) are
        # no entry at all, never an empty secret.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("pagerduty_webhook_secrets", "read_tokens", mode="after")
    @classmethod
    def _long_enough(cls, values: list[SecretStr]) -> list[SecretStr]:
        # Which entry, never its value or length: the message goes to logs and terminals.
        for number, value in enumerate(values, start=1):
            if len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"each comma-separated value must be at least {MIN_SECRET_LENGTH} "
                    f"characters long; value {number} of {len(values)} is shorter"
                )
        return values

    @field_validator("graph_model", mode="before")
    @classmethod
    def _lower_model(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "pagerduty_api_url", "jupiterone_api_url", "jupiterone_graphql_url", mode="after"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("redis_url", mode="after")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        if value.startswith("unix://"):
            return value
        # redis-py only finds a bad port or database when it connects, with a traceback.
        parsed = urlsplit(value)
        try:
            port = parsed.port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        if not parsed.hostname:
            raise ValueError("must name a host (redis://HOST:PORT/DB)")
        database = parsed.path.lstrip("/")
        if database and not database.isdigit():
            raise ValueError("the database after the last / must be a number")
        return value

    @field_validator("jupiterone_scope", "local_graph_path", mode="after")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("account_name", "jupiterone_account_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("pagerduty_api_key", "jupiterone_api_key", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("full_sync_cron", mode="after")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError("must have 5 fields (minute hour day month weekday)")
        for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):
            if not _CRON_FIELD.match(field):
                raise ValueError(f"field {field!r} is not a cron expression")
            for number in re.findall(r"\d+", field.split("/")[0]):
                if not low <= int(number) <= high:
                    raise ValueError(f"{number} is outside {low}-{high}")
        return value

    @model_validator(mode="after")
    def _jupiterone_needs_credentials(self) -> Settings:
        if self.graph_sink == "jupiterone":
            missing = [
                name
                for name, value in (
                    ("JUPITERONE_ACCOUNT_ID", self.jupiterone_account_id),
                    ("JUPITERONE_API_KEY", self.jupiterone_api_key),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required when GRAPH_SINK=jupiterone")
        return self

    # -- accessors used by the processes that need a value the others do not ----------

    def require_pagerduty_key(self) -> str:
        if self.pagerduty_api_key is None:
            raise ConfigError("PAGERDUTY_API_KEY is required to read PagerDuty; it is not set")
        return self.pagerduty_api_key.get_secret_value()

    def require_webhook_secrets(self) -> list[bytes]:
        if not self.pagerduty_webhook_secrets:
            raise ConfigError("PAGERDUTY_WEBHOOK_SECRETS is required by the web process; not set")
        return [s.get_secret_value().encode("utf-8") for s in self.pagerduty_webhook_secrets]

    def read_token_values(self) -> list[bytes]:
        """The tokens that open the read endpoints; none: they stay closed."""
        return [t.get_secret_value().encode("utf-8") for t in self.read_tokens]

    def pagerduty_key_fingerprint(self) -> str:
        """A stable, non-reversible name for the API key (Redis keys, logs)."""
        key = self.require_pagerduty_key()
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction."""
        secrets = [
            s.get_secret_value() for s in (*self.pagerduty_webhook_secrets, *self.read_tokens)
        ]
        for value in (self.pagerduty_api_key, self.jupiterone_api_key):
            if value is not None:
                secrets.append(value.get_secret_value())
        secrets.append(urlsplit(self.redis_url).password or "")  # redis://:PASSWORD@host
        return [s for s in secrets if s]


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides); raise ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    # Built from loc + msg only: pydantic's str(exc) would echo the input value (a secret).
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "literal_error":
            message = message.replace("Input should be", "must be")
        elif error["type"] in ("int_parsing", "int_type"):
            message = "must be an integer"
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)


def settings_or_exit(process: str, require: Callable[[Settings], object] | None = None) -> Settings:
    """The settings of a process's entry point (and what `require` asks of them, e.g.
    Settings.require_webhook_secrets); a configuration error is one line on stderr naming
    the variable (never its value) and exit status 2, with no traceback."""
    try:
        settings = load_settings()
        if require is not None:
            require(settings)
    except ConfigError as exc:
        print(f"pdgraph {process}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings
