"""How the simulated API's objects look: ids, timestamps, references and links."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

HOST = "https://sim.pagerduty.test"
# The account's time zone. PagerDuty writes timestamps with the offset of the requester's
# zone (`2015-03-06T15:28:51-05:00`), never `Z`; Lima keeps -05:00 all year (no DST).
TIME_ZONE = "America/Lima"
_OFFSET = timezone(timedelta(hours=-5))


def iso(epoch: float, timespec: str = "seconds") -> str:
    """An API timestamp; audit records' `execution_time` has `timespec="milliseconds"`."""
    return datetime.fromtimestamp(epoch, _OFFSET).isoformat(timespec=timespec)


def parse_time(text: str) -> float:
    """An ISO-8601 query parameter (`since`, `until`); ValueError when it is not one."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_OFFSET)
    return parsed.timestamp()


def base36(n: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


def links(kind: str, obj_id: str) -> dict[str, str]:
    plural = {"escalation_policy": "escalation_policies"}.get(kind, kind + "s")
    return {
        "self": f"{HOST}/{plural}/{obj_id}",
        "html_url": f"{HOST.replace('sim.', 'acme.')}/{plural}/{obj_id}",
    }


def ref(kind: str, obj_id: str, summary: str, *, reference: bool = True) -> dict[str, Any]:
    """What every PagerDuty object starts with: id, type, summary, self, html_url."""
    return {
        "id": obj_id,
        "type": f"{kind}_reference" if reference else kind,
        "summary": summary,
        **links(kind, obj_id),
    }


def by_name(obj: dict[str, Any]) -> tuple[str, str]:
    """PagerDuty's listing order."""
    return (str(obj["name"]).lower(), obj["id"])
