"""The RQ worker class of the Procfile's `worker` process."""

from __future__ import annotations

from typing import Any

from rq.worker import HerokuWorker

# RQ declares a job abandoned when its heartbeat TTL runs out: by default the monitoring
# interval (30 s) + 60 s of slack. A shorter slack lets a restarted worker requeue the job
# of a killed one sooner; the work horse still beats every interval, well inside it.
HEARTBEAT_SLACK_SECONDS = 15


class PdgraphWorker(HerokuWorker):
    """HerokuWorker (SIGTERM → finish or requeue within the dyno's grace period) that
    notices a SIGKILLed worker's job within interval + 15 s instead of interval + 60 s."""

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + HEARTBEAT_SLACK_SECONDS
