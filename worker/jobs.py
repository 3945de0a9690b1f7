"""RQ jobs: plain module-level functions with JSON-able arguments (`rq info` shows them)."""

from __future__ import annotations

from typing import Any

from common.config import load_settings
from common.state import connect
from worker.full_sync import run_full_sync


def full_sync(allow_mass_delete: bool = False) -> dict[str, Any]:
    """Reconcile the whole graph with PagerDuty; the run record is the job's result."""
    settings = load_settings()
    run, _ = run_full_sync(
        settings, redis_client=connect(settings.redis_url), allow_mass_delete=allow_mass_delete
    )
    return run.as_dict()
