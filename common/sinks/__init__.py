"""Graph sinks: where the graph is written. The worker never knows which one it has:
base.py is the protocol, make_sink picks the configured sink."""

from __future__ import annotations

import redis

from common.config import ConfigError, Settings
from common.sinks.base import (
    GraphSink,
    ScheduleFlush,
    SinkError,
    SinkPartlyWritten,
    missing_local_graph,
)

__all__ = [
    "GraphSink",
    "ScheduleFlush",
    "SinkError",
    "SinkPartlyWritten",
    "make_sink",
    "missing_local_graph",
]


def make_sink(
    settings: Settings,
    connection: redis.Redis | None = None,
    *,
    schedule_flush: ScheduleFlush | None = None,
) -> GraphSink:
    """The configured sink; the JupiterOne one keeps its record in `connection`'s Redis.

    `schedule_flush` lets the JupiterOne sink write entity changes behind (the worker
    passes worker.flush.flush_scheduler); without it they are written through in `apply`.
    """
    if settings.graph_sink == "local":
        from common.sinks.local import LocalSink

        return LocalSink(settings.local_graph_path, history_days=settings.history_days)
    from common import metrics
    from common.clients.jupiterone import JupiterOneBudgets, JupiterOneClient
    from common.sinks.jupiterone import JupiterOneSink
    from common.state.connection import connect

    if settings.jupiterone_account_id is None or settings.jupiterone_api_key is None:
        raise ConfigError(
            "JUPITERONE_ACCOUNT_ID and JUPITERONE_API_KEY required when GRAPH_SINK=jupiterone"
        )
    connection = connection or connect(settings.redis_url)
    client = JupiterOneClient(
        settings.jupiterone_account_id,
        settings.jupiterone_api_key.get_secret_value(),
        settings.jupiterone_api_url,
        settings.jupiterone_graphql_url,
        on_request=metrics.jupiterone_request,
        budgets=JupiterOneBudgets.shared(connection, settings.jupiterone_account_id),
    )
    return JupiterOneSink(
        client,
        connection,
        settings.jupiterone_scope,
        schedule_flush=schedule_flush,
        history_days=settings.history_days,
    )
