"""What changes with no webhook and no audit record (SPEC §6): business services and their
dependencies, tags, maintenance windows. The full sync reads them; between syncs the
catalog refresh keeps them within PEOPLE_REFRESH_MINUTES, in either freshness mode.

- Business services (and their team and USES edges): read whole and diffed, as the light
  refresh does its kinds (worker.light_refresh, with the business-service kind).
- Tags are properties of users, teams and policies, maintenance windows of services: the
  refresh reads `/tags` (and what each tag is on) and the ongoing windows, compares them
  with what the last read kept in Redis (CATALOG_TAGS, CATALOG_MAINTENANCE), and re-reads
  only the objects whose tags or window changed (a service through the webhook path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from common.graph import Cause, Graph
from common.objects import Build, id_of, kind_of_key
from common.objects.base import AccountRead, PagerDutyObject
from common.objects.maintenance_window import ongoing_windows, with_windows
from common.objects.schedule import coverage_window
from common.objects.tag import list_tags, with_tags
from common.sinks.scoped import write_scoped
from common.state.keys import CATALOG_MAINTENANCE, CATALOG_TAGS
from worker.coalescing import request_service_refresh
from worker.context import JobContext


def _changed(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs (none when nothing was kept yet: the last full sync
    wrote what it read)."""
    if before is None:
        return []
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def _kept(connection: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = connection.get(key)
    return json.loads(raw) if raw else None


def remember_tags(connection: redis.Redis, tags: Sequence[PagerDutyObject]) -> dict[str, Any]:
    """Keep the tags read (entity key → labels); what was kept before."""
    labels = {k: list(v) for k, v in with_tags(tags, Build()).tags.items()}
    before = _kept(connection, CATALOG_TAGS)
    connection.set(CATALOG_TAGS, json.dumps(labels, sort_keys=True))
    return {"before": before, "now": labels}


def remember_maintenance(
    connection: redis.Redis, windows: Sequence[PagerDutyObject]
) -> dict[str, Any]:
    """Keep the ongoing windows read (service id → [start, end]); what was kept before."""
    spans = {k: list(v) for k, v in with_windows(windows, Build()).maintenance.items()}
    before = _kept(connection, CATALOG_MAINTENANCE)
    connection.set(CATALOG_MAINTENANCE, json.dumps(spans, sort_keys=True))
    return {"before": before, "now": spans}


def refresh_tagged(context: JobContext, cause: Cause) -> int:
    """Re-read and write the objects whose tags changed since the last read; how many."""
    tags = list_tags(context.client, AccountRead(coverage_window(), {}))
    kept = remember_tags(context.connection, tags)
    build = Build(context.settings.account_name, context.settings.graph_model)
    changed = _changed(kept["before"], kept["now"])
    for key in changed:
        kind = kind_of_key(key)
        if kind is None:
            continue
        read = kind.reread(context.client, id_of(key), build)
        wanted = Graph() if read is None else Graph.of(*read)
        write_scoped(context.sink, wanted, key, kind.scope, cause)
    return len(changed)


def refresh_maintenance(context: JobContext, cause: Cause) -> int:
    """Queue a refresh of each service whose maintenance window changed; how many."""
    kept = remember_maintenance(context.connection, ongoing_windows(context.client))
    changed = _changed(kept["before"], kept["now"])
    for service_id in changed:
        request_service_refresh(context.connection, service_id, cause)
    return len(changed)
