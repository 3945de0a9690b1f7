"""The account's audit trail, as `GET /audit/records` shows it.

Shapes from PagerDuty's spec (`AuditRecord`, its example `AuditRecordResponse`): a record per
changed root resource, `details.fields[]` with `before_value` / `value` as strings, a team's
membership as a team `update` whose `details.references[]` names `members` added / removed.
Served newest first with cursor pagination; one change can write several records that share
`execution_context.request_id` (a user created into teams: the user `create` and each team's
`update`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sim.pagerduty.objects import base36, iso, ref

# what `root_resource_types[]` names -> the record's `root_resource.type`
ROOT_TYPES = {
    "users": "user",
    "teams": "team",
    "escalation_policies": "escalation_policy",
    "schedules": "schedule",
    "services": "service",
}
DAY = 24 * 3600
MAX_WINDOW = 31 * DAY  # `until` may not be more than 31 days after `since`
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
# Who makes the simulator's changes: the account owner in the web UI.
ACTOR = {"id": "PSIMOWN", "type": "user_reference", "summary": "Account Owner"}


def field_change(name: str, before: Any = None, after: Any = None) -> dict[str, Any]:
    """One `details.fields[]` entry; PagerDuty writes both values as strings (or null)."""
    out: dict[str, Any] = {"name": name, "value": None if after is None else str(after)}
    if before is not None:
        out["before_value"] = str(before)
    return out


def fields_changed(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields of `after` that differ from `before`, in `after`'s order."""
    return [
        field_change(name, before.get(name), value)
        for name, value in after.items()
        if before.get(name) != value
    ]


def members_changed(
    name: str, added: list[dict[str, Any]], removed: list[dict[str, Any]]
) -> dict[str, Any]:
    """One `details.references[]` entry: references `added` to / `removed` from `name`."""
    out: dict[str, Any] = {"name": name}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    return out


@dataclass
class AuditTrail:
    """Every record the account wrote, oldest first; `page()` serves them newest first."""

    clock: Callable[[], float]
    records: list[dict[str, Any]] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _request_id: str | None = None

    @contextmanager
    def request(self) -> Iterator[str]:
        """Records written inside share one `request_id` (one change, several records)."""
        if self._request_id is not None:
            yield self._request_id
            return
        self._request_id = uuid.uuid4().hex
        try:
            yield self._request_id
        finally:
            self._request_id = None

    def record(
        self,
        kind: str,
        obj_id: str,
        summary: str,
        action: str,
        *,
        fields: list[dict[str, Any]] | None = None,
        references: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Append the record of `action` (create / update / delete) on one root resource."""
        now = self.clock()
        record_id = f"PAR{base36(len(self.records) + 1, 7)}"
        resource = ref(kind, obj_id, summary)
        details: dict[str, Any] = {"resource": resource}
        if fields:
            details["fields"] = fields
        if references:
            details["references"] = references
        with self.request() as request_id:
            record = {
                "id": record_id,
                "self": f"https://sim.pagerduty.test/audit/records/{record_id}",
                "execution_time": iso(now, "milliseconds"),
                "execution_context": {"request_id": request_id, "remote_address": "192.0.2.1"},
                "actors": [ACTOR],
                "method": {"type": "browser", "truncated_token": None},
                "root_resource": resource,
                "action": action,
                "details": details,
            }
        self.records.append(record)
        self._times.append(now)
        return record

    def clear(self) -> None:
        """Forget every record (a generated account's objects predate any window)."""
        self.records.clear()
        self._times.clear()

    def page(
        self,
        since: float,
        until: float,
        root_types: list[str],
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        """Records in [since, until] of those root types, newest first, `limit` after
        `cursor`; the cursor names the last record served, so records written between two
        pages never shift what the next page holds."""
        kinds = {f"{ROOT_TYPES[t]}_reference" for t in root_types}
        after = decode_cursor(cursor) if cursor else (float("inf"), 0)
        keys = [
            (at, index)
            for index, (record, at) in enumerate(zip(self.records, self._times, strict=True))
            if since <= at <= until
            and (not kinds or record["root_resource"]["type"] in kinds)
            and (at, index) < after
        ]
        keys.sort(reverse=True)
        served = keys[:limit]
        return {
            "records": [self.records[index] for _, index in served],
            "limit": limit,
            "next_cursor": encode_cursor(served[-1]) if len(keys) > limit else None,
        }


def encode_cursor(key: tuple[float, int]) -> str:
    return base64.urlsafe_b64encode(f"audit:{key[0]!r}:{key[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, int]:
    """The (time, position) a `next_cursor` names; ValueError when it is not one of ours."""
    try:
        prefix, at, index = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise ValueError(cursor) from exc
    if prefix != "audit":
        raise ValueError(cursor)
    return float(at), int(index)
