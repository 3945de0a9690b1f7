"""The web process's Flask app: the webhook receiver, health checks, and the read endpoints
(/status, /metrics, /report, /changes) behind a read token.

`python -m web` serves it under gunicorn (web.serve); tests call `create_app` directly.
"""

from __future__ import annotations

import redis
from flask import Flask

from common import metrics
from common.config import Settings, load_settings
from common.logs import configure_logging
from common.state.connection import connect_fail_fast
from web.auth import pace_readers, require_read_tokens
from web.changes import changes
from web.health import health
from web.report import report
from web.state import EXTENSION, WebState
from web.status import status
from web.webhooks import webhooks


def create_app(settings: Settings | None = None, redis_client: redis.Redis | None = None) -> Flask:
    """The app of one process (a gunicorn worker); raises ConfigError without webhook
    secrets. Without `redis_client` it is the process's start: logs go out as JSON lines
    and Redis is connected here, never at import."""
    settings = settings or load_settings()
    if redis_client is None:
        configure_logging(settings.log_level, settings.secret_values())
        redis_client = connect_fail_fast(settings.redis_url)
    state = WebState(settings, redis_client)
    metrics.recorder.bind(redis_client)
    app = Flask(__name__)
    app.extensions[EXTENSION] = state
    for blueprint in (webhooks, status, health, report, changes):
        app.register_blueprint(blueprint)
    require_read_tokens(app)  # every view but the few marked public (web/auth.py)
    pace_readers(app)  # their answers share a bounded output rate (web/readers.py)
    return app
