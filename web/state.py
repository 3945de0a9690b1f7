"""The web process's own state, kept in `app.extensions["pdgraph"]` (one per app)."""

from __future__ import annotations

import threading
from typing import cast

import redis
from flask import current_app
from redis.commands.core import Script
from rq import Queue

from common.config import Settings
from common.queueing import WEBHOOK_QUEUE
from common.sinks import GraphSink, make_sink

EXTENSION = "pdgraph"


class WebState:
    """What the views of one app share: settings, Redis, the webhook queue, the sink."""

    def __init__(self, settings: Settings, connection: redis.Redis) -> None:
        self.settings = settings
        self.secrets = settings.require_webhook_secrets()  # ConfigError: web cannot run
        self.connection = connection
        self.queue = Queue(WEBHOOK_QUEUE, connection=connection)  # once: it asks Redis its version
        self.queue_registered = False  # in rq:queues (done on the first delivery)
        self.store_script: Script | None = None  # the delivery's Lua, registered once
        self.last_webhook_recorded = 0.0  # monotonic time this process last wrote LAST_WEBHOOK
        self._sink: GraphSink | None = None
        self._sink_lock = threading.Lock()

    def sink(self) -> GraphSink:
        """The configured sink, made on first use (/status) and kept for the process."""
        with self._sink_lock:
            if self._sink is None:
                self._sink = make_sink(self.settings, self.connection)
            return self._sink


def web_state() -> WebState:
    """The state of the app handling the current request."""
    return cast(WebState, current_app.extensions[EXTENSION])
