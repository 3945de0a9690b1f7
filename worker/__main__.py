"""`python -m worker`: the Procfile's `worker` process.

RQ's worker (pdgraph's class, worker.rqworker) with its scheduler, listening to the webhook
queue first, then the full-sync queue. Started here rather than by `rq worker --url ...`
so that the configuration is validated like every other process (one line, exit 2), every
log line is JSON, and REDIS_URL (which may hold a password) is read from the environment,
never shown in the process list.
"""

from __future__ import annotations

import logging

import redis
from rq import Queue

from common.config import settings_or_exit
from common.logs import configure_logging
from common.queueing import QUEUES
from common.state.connection import connect
from worker.rqworker import PdgraphWorker

log = logging.getLogger("worker")

MAINTENANCE_INTERVAL = 60  # how soon a killed worker's job is found and retried
JOB_MONITORING_INTERVAL = 30  # heartbeat of a running job


def main() -> None:
    settings = settings_or_exit("worker")
    configure_logging(settings.log_level, settings.secret_values())
    connection = connect(settings.redis_url)
    try:
        worker = PdgraphWorker(
            [Queue(name, connection=connection) for name in QUEUES],
            connection=connection,
            maintenance_interval=MAINTENANCE_INTERVAL,
            job_monitoring_interval=JOB_MONITORING_INTERVAL,
        )
        worker.work(with_scheduler=True, logging_level=settings.log_level)
    except redis.ConnectionError as exc:
        log.error("worker stopped: Redis at REDIS_URL does not answer (%s)", type(exc).__name__)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
