"""What changes with no webhook and no audit record (SPEC §6): business services and their
dependencies, tags, maintenance windows. The full sync reads them; between syncs the
catalog refresh keeps them within PEOPLE_REFRESH_MINUTES, in either freshness mode.

- Business services (and their team and USES edges): read whole and diffed, as the light
  refresh does its kinds (worker.light_refresh, with the business-service kind).
- Tags are properties of users, teams and policies, maintenance windows of services: the
  refresh reads `/tags` (and what each tag is on) and the ongoing windows, compares them
  with what the last read kept in Redis (CATALOG_TAGS, CATALOG_MAINTENANCE), and re-reads
  only the objects whose tags or window changed (worker.object_refresh, as the audit
  feed does; a service through the webhook path).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis

from common.graph import Cause
from common.objects import Build, id_of, kind_of_key
from common.objects.base import PagerDutyObject
from common.objects.maintenance_window import ongoing_windows, with_windows
from common.objects.tag import read_tags, with_tags
from common.state.keys import CATALOG_MAINTENANCE, CATALOG_TAGS
from worker.coalescing import request_service_refresh
from worker.context import JobContext
from worker.object_refresh import refresh_object


def _changed(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs (none when nothing was kept yet: the last full sync
    wrote what it read)."""
    if before is None:
        return []
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def _tag_labels(tags: Sequence[PagerDutyObject]) -> dict[str, Any]:
    return {k: list(v) for k, v in with_tags(tags, Build()).tags.items()}


def _window_spans(windows: Sequence[PagerDutyObject]) -> dict[str, Any]:
    return {k: list(v) for k, v in with_windows(windows, Build()).maintenance.items()}


# What a read keeps for the catalog refresh to compare its next read with: listing → (its
# Redis key, what of it is kept: entity key → tag labels; service id → [start, end]).
KEPT: dict[str, tuple[str, Callable[[Sequence[PagerDutyObject]], dict[str, Any]]]] = {
    "tags": (CATALOG_TAGS, _tag_labels),
    "maintenance_windows": (CATALOG_MAINTENANCE, _window_spans),
}


def remember(
    connection: redis.Redis, listings: Mapping[str, Sequence[PagerDutyObject]]
) -> dict[str, list[str]]:
    """Keep what KEPT names of these listings (the full sync's, a refresh's); per listing
    kept, the keys that changed since the last read (none on a first read)."""
    changed = {}
    for listing, (key, keep) in KEPT.items():
        if listing not in listings:
            continue
        now = keep(listings[listing])
        raw = connection.get(key)
        connection.set(key, json.dumps(now, sort_keys=True))
        changed[listing] = _changed(json.loads(raw) if raw else None, now)
    return changed


def refresh_tagged(context: JobContext, cause: Cause) -> int:
    """Re-read and write the objects whose tags changed since the last read; how many."""
    changed = remember(context.connection, {"tags": read_tags(context.client)})["tags"]
    for key in changed:
        kind = kind_of_key(key)
        if kind is not None:
            refresh_object(context, kind, id_of(key), cause)
    return len(changed)


def refresh_maintenance(context: JobContext, cause: Cause) -> int:
    """Queue a refresh of each service whose maintenance window changed; how many."""
    windows = ongoing_windows(context.client)
    changed = remember(context.connection, {"maintenance_windows": windows})
    for service_id in changed["maintenance_windows"]:
        request_service_refresh(context.connection, service_id, cause)
    return len(changed["maintenance_windows"])


def kept_window(connection: redis.Redis, service_id: str) -> dict[str, tuple[int, int]]:
    """The maintenance window the service was in at the last read of the windows going on
    (KEPT: the full sync's, or the catalog refresh's every PEOPLE_REFRESH_MINUTES, which
    queues the service's refresh when its window changed; windows send no webhook). What
    the webhook path builds the service with (worker/service_refresh.py): one PagerDuty
    request less an event."""
    raw = connection.get(CATALOG_MAINTENANCE)
    span = (json.loads(raw) if raw else {}).get(service_id)
    return {service_id: (int(span[0]), int(span[1]))} if span else {}
