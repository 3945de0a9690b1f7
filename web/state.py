"""The web process's own state, kept in `app.extensions["pdgraph"]` (one per app)."""

from __future__ import annotations

from typing import cast

import redis
from flask import current_app
from rq import Queue

from common.config import Settings
from common.queueing import WEBHOOK_QUEUE
from web.readers import Readers

EXTENSION = "pdgraph"


class WebState:
    """What the views of one app share: settings, the receiver's Redis and webhook queue,
    and the readers' own thread, Redis client and sink (web/readers.py)."""

    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self.settings = settings
        self.secrets = settings.require_webhook_secrets()  # ConfigError: web cannot run
        self.connection = connection
        self.queue = Queue(WEBHOOK_QUEUE, connection=connection)  # once: it asks Redis its version
        self.queue_registered = False  # in rq:queues (done on the first delivery)
        self.last_webhook_recorded = 0.0  # monotonic time this process last wrote LAST_WEBHOOK
        self.readers = Readers(settings)  # the read endpoints: never this connection


def web_state() -> WebState:
    """The state of the app handling the current request."""
    return cast(WebState, current_app.extensions[EXTENSION])
