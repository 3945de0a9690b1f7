"""Every Redis key pdgraph writes (`pdgraph:*`), built in one place, and reply decoding.

What each key holds is listed in docs/architecture.md. RQ's own keys (`rq:*`) are RQ's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "pdgraph:"

# -- full sync --------------------------------------------------------------------------
FULL_SYNC_LAST = "pdgraph:fullsync:last"  # JSON record of the last run (running: its start)
FULL_SYNC_LAST_OK = "pdgraph:fullsync:last-ok"  # JSON record of the last run that ended ok
FULL_SYNC_HISTORY = "pdgraph:fullsync:history"  # list: the last runs, newest first
FULL_SYNC_LOCK = "pdgraph:fullsync:lock"  # one full sync at a time
FULL_SYNC_WINDOW = "pdgraph:fullsync:window"  # set while a full sync reads and writes
FULL_SYNC_TOUCHED = "pdgraph:fullsync:touched"  # set: services refreshed inside the window

# -- the webhook receiver ---------------------------------------------------------------
LAST_WEBHOOK = "pdgraph:webhooks:last"  # JSON summary of the last delivery stored


# -- on-call hand-offs ------------------------------------------------------------------
SERVICE_POLICY = "pdgraph:oncall:service-policy"  # hash: service id → escalation policy id
HANDOFFS = "pdgraph:oncall:handoffs"  # sorted set: due second → due second (for /status)


def handoff_due(due: int) -> str:
    """Set: the escalation policies whose shift hands off at `due` (epoch seconds)."""
    return f"pdgraph:oncall:due:{due}"


def handoff_queued(due: int) -> str:
    """Marker: the hand-off job for `due` is queued (one job per hand-off second)."""
    return f"{handoff_due(due)}:queued"


# -- service refreshes: coalescing and read ordering ------------------------------------
def service_refresh(service_id: str, part: str | None = None) -> str:
    """`pdgraph:refresh:service:<id>` (the queued-refresh marker) or one of its parts:
    `window` (coalescing), `read-seq`, `written-seq`, `oncall-seq`, `write-lock`."""
    base = f"pdgraph:refresh:service:{service_id}"
    return f"{base}:{part}" if part else base


# -- users, teams and memberships: the audit-records feed and the light refresh ----------
# JSON of what a full sync or the catalog refresh last read of the properties that change
# with no webhook and no audit record: entity key → tag labels; service id → the span of
# the maintenance window it is in.
CATALOG_TAGS = "pdgraph:catalog:tags"
CATALOG_MAINTENANCE = "pdgraph:catalog:maintenance"
# The dependency pass (worker/dependencies.py): hash of dependent key → JSON list of the
# keys it depended on when last read; sorted set of dependent key → when it was last read
# (0: never).
CATALOG_DEPENDENCIES = "pdgraph:catalog:dependencies"
CATALOG_DEPENDENTS = "pdgraph:catalog:dependents"


def dependency_pass_key(part: str) -> str:
    """`pdgraph:catalog:dependency-pass:<part>`: `lock` (one run at a time), `last` (JSON of
    the last run), `listed` (set while the dependents asked of the sink are recent)."""
    return f"pdgraph:catalog:dependency-pass:{part}"


def freshness_key(part: str) -> str:
    """`pdgraph:people:<part>`: `lock` (one feed poll or light refresh at a time), `mode`
    (JSON: audit or refresh, why, when checked), `position` (the feed's `since`), `seen`
    (sorted set: record ids written, by execution time), `recheck` (hash: objects written
    while a full sync ran → record id), `last` (hash: mode → JSON of its last run, for
    /status), `applied` (hash: mode → changes written). The keys keep the name they had
    when the feed was called "people", so that an upgrade keeps the feed's position."""
    return f"pdgraph:people:{part}"


# -- shared request budgets -------------------------------------------------------------
def ratelimit(name: str, part: str) -> str:
    """`window` (sliding window of request times), `window-<ms>ms-<n>` (a budget's extra
    windows, e.g. JupiterOne's per-client minute) or `paused` (a 429's pause)."""
    return f"pdgraph:ratelimit:{name}:{part}"


def jupiterone_budget(account_id: str, api: str) -> str:
    """The `ratelimit` name of a JupiterOne account's budget: `jupiterone:<account>` for
    GraphQL tokens (the name the account's budget always had), `jupiterone:<account>:<api>`
    for `j1ql` (J1QL queries) and `persister` (the sync-job API's pause)."""
    base = f"jupiterone:{account_id}"
    return base if api == "graphql" else f"{base}:{api}"


# -- metrics ----------------------------------------------------------------------------
def metric(name: str) -> str:
    """Hash: label set → value of one counter or histogram."""
    return f"pdgraph:metrics:{name}"


# -- the JupiterOne sink's record of what it wrote --------------------------------------
def jupiterone_prefix(account_id: str, scope: str) -> str:
    """Everything the JupiterOne sink keeps for one account and scope starts with this."""
    return f"pdgraph:j1:{account_id}:{scope}:"


def jupiterone_changes(account_id: str, scope: str) -> str:
    """Stream: the change history of what pdgraph wrote to one JupiterOne scope (one
    `entry` field of JSON per change), trimmed to CHANGE_HISTORY_DAYS."""
    return f"{jupiterone_prefix(account_id, scope)}changes"


# -- Redis replies ----------------------------------------------------------------------
def text(value: bytes | str) -> str:
    """A Redis reply as text (clients may or may not decode responses)."""
    return value.decode() if isinstance(value, bytes) else value


def text_map(mapping: Mapping[Any, Any]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}


def text_list(values: Iterable[Any]) -> list[str]:
    return [text(v) for v in values]
