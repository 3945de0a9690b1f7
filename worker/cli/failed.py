"""`pdgraph failed`: the jobs RQ gave up on, and putting them back."""

from __future__ import annotations

import click
import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from common.queueing import QUEUES
from common.state.connection import connect
from worker.cli.base import fail, settings_for_command


def _last_error_line(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or "no error recorded"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


@click.command()
@click.option("--requeue", is_flag=True, help="Put every failed job back on its queue.")
def failed(requeue: bool) -> None:
    """List failed jobs with their error (and requeue them).

    Exit 1 when Redis (REDIS_URL) does not answer.
    """
    settings = settings_for_command()
    connection = connect(settings.redis_url)
    count = 0
    try:
        for queue_name in QUEUES:
            registry = FailedJobRegistry(queue_name, connection=connection)
            for job_id in registry.get_job_ids():
                try:
                    job = Job.fetch(job_id, connection=connection)
                except NoSuchJobError:
                    continue
                count += 1
                ended = job.ended_at.isoformat(timespec="seconds") if job.ended_at else "-"
                click.echo(
                    f"{job_id}  {queue_name}  {job.description or job.func_name}  {ended}  "
                    f"{_last_error_line(job)}"
                )
                if requeue:
                    registry.requeue(job_id)
    except redis.RedisError as exc:
        fail(f"REDIS_URL does not answer ({type(exc).__name__})")
    plural = "s" if count != 1 else ""
    click.echo(f"{count} failed job{plural}{' requeued' if requeue else ''}")
