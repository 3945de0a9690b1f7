"""Which layout JupiterOne holds pdgraph's graph in, and which one it should.

- `scope` (the default): entities and relationships in `JUPITERONE_SCOPE`; a relationship
  change is a DIFF of the whole scope (scopediff.py). Correct under every reading of what
  JupiterOne leaves undocumented.
- `partitioned`: entities in `JUPITERONE_SCOPE`, relationships in edge partitions
  (partitions.py); a change DIFFs the partitions it touches.

The layout wanted is `partitioned` only where `pdgraph jupiterone probe` verified, on this
account, what partitions rely on (its verdict is kept here, in Redis); the layout held
moves to it at the next full sync (the cut-over, both ways: JupiterOneSink.replace_all).
`/status` and `pdgraph check` show both.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from common.config import Settings
from common.state.keys import jupiterone_prefix, text

SCOPE = "scope"
PARTITIONED = "partitioned"


class Layout:
    """The layout of one account's scope, as Redis keeps it."""

    @classmethod
    def configured(cls, connection: redis.Redis, settings: Settings) -> Layout | None:
        """The layout of the configured JupiterOne account and scope (None: not one)."""
        if settings.graph_sink != "jupiterone" or not settings.jupiterone_account_id:
            return None
        return cls(connection, settings.jupiterone_account_id, settings.jupiterone_scope)

    def __init__(self, connection: redis.Redis, account_id: str, scope: str) -> None:
        self.r = connection
        prefix = jupiterone_prefix(account_id, scope)
        self.held_key = prefix + "layout"
        self.verdict_key = prefix + "partitions:probe"
        # Set before a full sync first writes a partition, cleared once every partition is
        # empty again: a cut-over that failed half-way is undone by the next sync even
        # when that one stays in (or goes back to) one scope.
        self.written_key = prefix + "partitions:written"

    def held(self) -> str:
        """What JupiterOne holds: `scope` until a full sync wrote the partitioned layout."""
        value = self.r.get(self.held_key)
        return text(value) if value is not None else SCOPE

    def set_held(self, layout: str) -> None:
        self.r.set(self.held_key, layout)

    def partitions_written(self) -> bool:
        """Whether partitions may hold relationships."""
        return bool(self.r.exists(self.written_key))

    def mark_partitions_written(self, written: bool) -> None:
        if written:
            self.r.set(self.written_key, 1)
        else:
            self.r.delete(self.written_key)

    def verdict(self) -> dict[str, Any] | None:
        """The last probe's verdict on edge partitions (None: never probed)."""
        raw = self.r.get(self.verdict_key)
        return json.loads(text(raw)) if raw else None

    def keep_verdict(self, answers: dict[str, Any], safe: bool, at: float | None = None) -> None:
        record = {"safe": safe, "at": at or time.time(), **answers}
        self.r.set(self.verdict_key, json.dumps(record, sort_keys=True))

    def wanted(self) -> str:
        verdict = self.verdict()
        return PARTITIONED if verdict and verdict.get("safe") else SCOPE

    def status(self) -> dict[str, Any]:
        """What /status and `pdgraph check` say: the layout held, the one wanted (the next
        full sync moves to it), and the probe's verdict."""
        return {"held": self.held(), "wanted": self.wanted(), "probe": self.verdict()}


def describe(status: dict[str, Any]) -> str:
    """One line for `pdgraph check` and the status page."""
    verdict = status["probe"]
    if verdict is None:
        why = "edge partitions not verified on this account (run `pdgraph jupiterone probe`)"
    elif verdict.get("safe"):
        why = "edge partitions verified by the probe"
    else:
        why = f"edge partitions not safe here: {verdict.get('reason') or 'see the probe'}"
    names = {PARTITIONED: "edge partitions", SCOPE: "one scope"}
    held, wanted = names[status["held"]], names[status["wanted"]]
    moving = f"; the next full sync moves them to {wanted}" if wanted != held else ""
    return f"relationships in {held} ({why}){moving}"
