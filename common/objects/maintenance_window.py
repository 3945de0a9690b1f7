"""PagerDuty maintenance windows → a service's `inMaintenance`, `maintenanceEndsOn` and
`maintenanceStartedOn` (SPEC §5): a service in maintenance opens no incidents.

No entity of their own: a full sync and the catalog refresh read the windows going on
now (`/maintenance_windows?filter=ongoing`); the webhook path takes the service's from
their last read, kept in Redis (worker/service_refresh.py). They send no webhook and no
audit record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from common.clients.pagerduty.listings import Listing, object_id
from common.graph import PropertyValue
from common.objects.base import AccountRead, Build, ObjectKind, PagerDutyObject, epoch_ms

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient


def ongoing_windows(
    client: PagerDutyClient, service_ids: Sequence[str] = ()
) -> Sequence[PagerDutyObject]:
    """The maintenance windows going on now (of these services only, when named)."""
    params = [("filter", "ongoing"), *(("service_ids[]", s) for s in service_ids)]
    listing = Listing("/maintenance_windows", "maintenance_windows", params, object_id)
    return client.listings.all_pages(listing)


def list_windows(client: PagerDutyClient, _: AccountRead) -> Sequence[PagerDutyObject]:
    return ongoing_windows(client)


def with_windows(windows: Sequence[PagerDutyObject], build: Build) -> Build:
    """`build` with, per service, the span of the windows it is in now (earliest start,
    latest end)."""
    spans: dict[str, tuple[int, int]] = dict(build.maintenance)
    for window in windows:
        start, end = epoch_ms(window.get("start_time")), epoch_ms(window.get("end_time"))
        if start is None or end is None:
            continue
        for service in window.get("services") or []:
            held = spans.get(service["id"])
            spans[service["id"]] = (
                (min(start, held[0]), max(end, held[1])) if held else (start, end)
            )
    return replace(build, maintenance=spans)


def maintenance_properties(service_id: str, build: Build) -> dict[str, PropertyValue]:
    span = build.maintenance.get(service_id)
    if span is None:
        return {"inMaintenance": False}
    return {"inMaintenance": True, "maintenanceStartedOn": span[0], "maintenanceEndsOn": span[1]}


KIND = ObjectKind(
    name="maintenance_window",
    listing="maintenance_windows",
    stage=1,
    write_order=10,
    list_all=list_windows,
    prepare=with_windows,
)
