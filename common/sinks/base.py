"""What a graph sink is: the GraphSink protocol every sink implements, and its errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from common.config import Settings
from common.graph import Cause, ChangeSet, Graph, GraphIndex
from common.sinks.history import Query

# schedule_flush(marker_key, delay_seconds): queue one flush job `delay_seconds` from now
# unless `marker_key` exists in Redis, setting the marker atomically with the job.
ScheduleFlush = Callable[[str, float], None]


class SinkError(Exception):
    """The sink could not be read or written."""


class SinkPartlyWritten(SinkError):
    """A write failed after the sink may have applied part of it (the message says what);
    not to be reported as "nothing was changed"."""


class GraphSink(Protocol):
    """The one interface the worker, the web process and the CLI write and read through.

    A sink that writes differently (JupiterOne's write-behind) implements these methods
    its own way; callers never ask which sink they have.
    """

    def apply(self, changes: ChangeSet, cause: Cause | None = None) -> None:
        """Write a change set; an empty one writes nothing. Each change is recorded once in
        the change history, with `cause`, in the same write that commits it."""

    def replace_all(self, graph: Graph, cause: Cause | None = None) -> None:
        """Make `graph` the complete content of the sink, atomically; what changed goes to
        the change history with `cause`."""

    def changes(
        self, query: Query, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the change history's entries `query` asks for (since a time, of one
        key, type, source or actor), oldest first, and the cursor of the next page (None:
        no more). ValueError for a cursor this sink did not give out."""

    def record_trail(self, entries: Sequence[dict[str, Any]]) -> int:
        """Add PagerDuty audit records' entries (common.sinks.history.audit_entry) to the change
        history, each record once however often it is handed in; how many were new."""

    def read_graph(self) -> Graph:
        """The sink's current graph (for export and diffing)."""

    def index(self) -> GraphIndex:
        """`_key` → fingerprint of what the sink holds (what a diff needs)."""

    def index_around(self, entity_key: str) -> GraphIndex:
        """The entity (if held) and every relationship from or to it: one object's diff base."""

    def existing(self, entity_keys: Iterable[str]) -> set[str]:
        """Which of these entities the sink holds (edges may only point at those)."""

    def counts_by_type(self) -> dict[str, int]:
        """How many entities and relationships of each `_type` the sink holds."""

    def waiting_writes(self) -> int:
        """Changes accepted but not yet written to the graph (a write-behind buffer)."""

    def flush(self) -> int:
        """Send buffered writes now; how many were sent (0 for a sink that buffers none)."""

    def check(self) -> None:
        """Raise SinkError with a one-line reason when the sink cannot be used."""

    def close(self) -> None:
        """Release connections."""


def missing_local_graph(settings: Settings) -> str | None:
    """Why there is no local graph to read yet (None: there is one, or the sink is not local).

    Opening the SQLite file would create an empty graph: every reader asks first.
    """
    if settings.graph_sink != "local" or Path(settings.local_graph_path).is_file():
        return None
    return (
        f"LOCAL_GRAPH_PATH {settings.local_graph_path}: no graph there yet (run pdgraph sync first)"
    )
