"""How the simulated API's objects look: ids, timestamps, references and links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

HOST = "https://sim.pagerduty.test"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
