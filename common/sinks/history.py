"""The change history (SPEC §3 `pdgraph changes`, §6): the pure part both sinks share.

A sink turns each change it commits into one entry — when, `key`, `type`, `action`
(created | updated | deleted), `changes` ({property: {before, after}}) and `cause` — and
stores it in the same write as the change. Here: change set + before-objects → entries,
entry ↔ JSON, the opaque paging cursor, and the `--since` / `?since=` parser.

Objects are compared in the JupiterOne shape (`to_j1()`): the relationship ends
`_fromEntityKey` / `_toEntityKey` appear in `changes` like properties.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.graph import Cause, ChangeSet, Entity, Relationship
from common.objects import GRAPH_TYPES

Entry = dict[str, Any]
J1Object = Mapping[str, Any]

DAY = 86400.0
# An entry's `source`: a write pdgraph made to the graph, or PagerDuty's audit record.
GRAPH, PAGERDUTY = "graph", "pagerduty"
SOURCES = (GRAPH, PAGERDUTY)
MAX_PAGE = 1000
DEFAULT_PAGE = 100

# What is not a change of the object's content: its key and type are the entry's own.
_IDENTITY = ("_key", "_type")


def iso(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds: `2026-11-30T15:31:01.123Z`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _content(obj: J1Object) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _IDENTITY}


def property_changes(before: J1Object | None, after: J1Object | None) -> dict[str, Any]:
    """{property: {before, after}} of every property whose value differs (absent = null)."""
    old = _content(before or {})
    new = _content(after or {})
    changed = {}
    for name in sorted(old.keys() | new.keys()):
        was, now = old.get(name), new.get(name)
        if was != now or (before is None) != (after is None):
            changed[name] = {"before": was, "after": now}
    return changed


def make_entry(
    at: float,
    key: str,
    type_: str,
    action: str,
    before: J1Object | None,
    after: J1Object | None,
    cause: Cause | None,
) -> Entry:
    return {
        "at": iso(at),
        "source": GRAPH,
        "key": key,
        "type": type_,
        "action": action,
        "changes": property_changes(before, after),
        "cause": cause.as_dict() if cause else None,
        "actor": dict(cause.actor) if cause and cause.actor else None,
        "method": dict(cause.method) if cause and cause.method else None,
    }


# -- PagerDuty's audit trail, as recorded ----------------------------------------------------

# an audit record's `action` → an entry's
_AUDIT_ACTIONS = {"create": "created", "update": "updated", "delete": "deleted"}


def audit_actor(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's (first) actor as `{type, id, name}`: `type` is PagerDuty's reference
    type without `_reference` (user, api_key, app); None when the record names none."""
    actors = record.get("actors") or []
    first = actors[0] if actors and isinstance(actors[0], Mapping) else None
    if first is None or not first.get("id"):
        return None
    return {
        "type": str(first.get("type") or "").removesuffix("_reference") or None,
        "id": str(first["id"]),
        "name": first.get("summary"),
    }


def audit_method(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's method as `{type, truncatedToken}` (browser, api_token, oauth, ...)."""
    method = record.get("method")
    if not isinstance(method, Mapping) or not method.get("type"):
        return None
    return {"type": str(method["type"]), "truncatedToken": method.get("truncated_token")}


def audit_changes(details: Mapping[str, Any]) -> dict[str, Any]:
    """`details.fields[]` as {name: {before, after}} (PagerDuty's names and values, as
    given) and `details.references[]` as {name: {added: [...], removed: [...]}}."""
    changes: dict[str, Any] = {}
    for f in details.get("fields") or []:
        if isinstance(f, Mapping) and f.get("name"):
            changes[str(f["name"])] = {"before": f.get("before_value"), "after": f.get("value")}
    for r in details.get("references") or []:
        if isinstance(r, Mapping) and r.get("name"):
            changes[str(r["name"])] = {
                "added": list(r.get("added") or []),
                "removed": list(r.get("removed") or []),
            }
    return changes


def audit_entry(record: Mapping[str, Any], key: str, type_: str) -> Entry:
    """The change history's entry of one PagerDuty audit record (`source: pagerduty`),
    kept as PagerDuty recorded it: `at` its execution time, the root resource's `key`
    and `type`, the fields and references it lists, its actor and method."""
    executed = datetime.fromisoformat(str(record["execution_time"]).replace("Z", "+00:00"))
    action = str(record.get("action") or "")
    return {
        "at": iso(executed.timestamp()),
        "source": PAGERDUTY,
        "key": key,
        "type": type_,
        "action": _AUDIT_ACTIONS.get(action, action),
        "changes": audit_changes(record.get("details") or {}),
        "cause": {"kind": "audit", "id": str(record["id"])},
        "actor": audit_actor(record),
        "method": audit_method(record),
    }


@dataclass
class ChangeJournal:
    """The entries of one change set, handed out once each as the sink commits the change.

    `before` holds the objects being replaced or deleted, as the sink held them (a sink
    may set it per write). An update that changes nothing the sink holds yields no entry.
    A sink that writes an update as a delete and a create (as JupiterOne's GraphQL has no
    relationship update) gets one `updated` entry, when the create is committed. A write
    committed twice (a retry) yields its entry once.
    """

    changes: ChangeSet
    before: Mapping[str, J1Object]
    cause: Cause | None
    at: float
    # the objects written, by key (references: their JupiterOne shape is made when an
    # entry needs it, so a full sync's journal does not hold a second copy of the graph)
    _after: dict[str, Entity | Relationship] = field(init=False, default_factory=dict)
    _intended: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        c = self.changes
        for obj in (*c.create_entities, *c.update_entities):
            self._after[obj.key] = obj
        for rel in (*c.create_relationships, *c.update_relationships):
            self._after[rel.key] = rel
        self._intended = {*self._after, *c.delete_entities, *c.delete_relationships}

    def take(self, upserted: Iterable[str], deleted: Iterable[str]) -> list[Entry]:
        """Entries for these keys, now committed (upserted or deleted); each once only.

        The action is what the commit did: an upsert over a held object is `updated`, one
        over nothing `created`; a delete of an object the sink did not hold is no change.
        """
        return list(self.taking(upserted, deleted))

    def taking(self, upserted: Iterable[str], deleted: Iterable[str]) -> Iterator[Entry]:
        """`take`, one entry at a time (a sink streaming a large change into its store)."""
        upserts = list(dict.fromkeys(upserted))
        upsert_set = set(upserts)
        deletes = [k for k in dict.fromkeys(deleted) if k not in upsert_set]
        for key, was_upsert in (*((k, False) for k in deletes), *((k, True) for k in upserts)):
            if key not in self._intended:
                continue  # not ours, or taken already
            if not was_upsert and key in self._after:
                continue  # the delete half of an edge update: its create is the entry
            self._intended.discard(key)
            entry = self._entry(key, was_upsert)
            if entry is not None:
                yield entry

    def take_all(self) -> Iterator[Entry]:
        """Every entry not taken yet (a sink that commits the whole change set at once),
        one at a time."""
        c = self.changes
        return self.taking(
            [o.key for o in (*c.create_entities, *c.update_entities)]
            + [o.key for o in (*c.create_relationships, *c.update_relationships)],
            [*c.delete_relationships, *c.delete_entities],
        )

    def _entry(self, key: str, upserted: bool) -> Entry | None:
        before = self.before.get(key)
        written = self._after.get(key) if upserted else None
        after = written.to_j1() if written is not None else None
        if upserted:
            action = "updated" if before is not None else "created"
            if before is not None and _content(before) == _content(after or {}):
                return None
        elif before is None:
            return None
        else:
            action = "deleted"
        type_ = (after or before or {}).get("_type", "unknown")
        return make_entry(self.at, key, type_, action, before, after, self.cause)


def touched_keys(changes: ChangeSet) -> list[str]:
    """Keys whose before-object an entry needs: the updated and the deleted ones."""
    return [
        *(o.key for o in (*changes.update_entities, *changes.update_relationships)),
        *changes.delete_entities,
        *changes.delete_relationships,
    ]


def entry_json(entry: Entry) -> str:
    return json.dumps(entry, ensure_ascii=False, sort_keys=True)


def entry_from_json(raw: str | bytes) -> Entry:
    """An entry as stored; one recorded before entries had a source, actor and method
    gets the values they would have had (a graph write, nobody named)."""
    entry: Entry = json.loads(raw)
    entry.setdefault("source", GRAPH)
    entry.setdefault("actor", None)
    entry.setdefault("method", None)
    return entry


def entry_epoch(entry: Entry) -> float:
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()


# -- paging -------------------------------------------------------------------------------


def encode_cursor(position: str) -> str:
    """An opaque cursor: where the next page starts (after `position`)."""
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The position of a cursor encode_cursor made; ValueError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = data["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise ValueError("cursor is not one this server gave out") from exc
    if not isinstance(position, str):
        raise ValueError("cursor is not one this server gave out")
    return position


@dataclass(frozen=True)
class Query:
    """What a reader of the history asks for (every field None: everything). ValueError,
    with a one-line reason, for a `type_` or `source` no entry can have."""

    since: float | None = None
    key: str | None = None
    type_: str | None = None
    source: str | None = None
    actor: str | None = None  # an actor's id

    def __post_init__(self) -> None:
        if self.type_ is not None and self.type_ not in GRAPH_TYPES:
            known = ", ".join(sorted(GRAPH_TYPES))
            raise ValueError(f"type {self.type_!r} is not one pdgraph writes: {known}")
        if self.source is not None and self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")


def matches(entry: Entry, query: Query) -> bool:
    if query.key is not None and entry["key"] != query.key:
        return False
    if query.type_ is not None and entry["type"] != query.type_:
        return False
    if query.source is not None and entry.get("source", GRAPH) != query.source:
        return False
    if query.actor is not None and (entry.get("actor") or {}).get("id") != query.actor:
        return False
    return query.since is None or entry_epoch(entry) >= query.since


# -- --since / ?since= --------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}


def parse_since(text: str, now: float) -> float:
    """Epoch seconds of an ISO-8601 time (no zone: UTC) or a relative one (`30m`, `2h`,
    `7d`: that long before `now`). ValueError with a one-line reason otherwise."""
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        return now - int(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since {text!r} is neither an ISO-8601 time nor a relative one like 30m, 2h, 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_limit(text: str | None) -> int:
    """A page size 1..MAX_PAGE (DEFAULT_PAGE when absent); ValueError otherwise."""
    if text is None or text == "":
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(text)


def _change_text(name: str, change: Mapping[str, Any]) -> str:
    if "added" in change or "removed" in change:  # an audit record's references

        def names(refs: list[Any]) -> str:
            return ", ".join(
                str(r.get("summary") or r.get("id")) if isinstance(r, Mapping) else str(r)
                for r in refs
            )

        parts = [
            f"+[{names(change[k])}]" if k == "added" else f"-[{names(change[k])}]"
            for k in ("added", "removed")
            if change.get(k)
        ]
        return f"{name}: {' '.join(parts)}"
    before = json.dumps(change.get("before"), ensure_ascii=False)
    return f"{name}: {before} → {json.dumps(change.get('after'), ensure_ascii=False)}"


def actor_text(entry: Entry) -> str:
    """`by Ada Lovelace (user PXYZ) via browser`, or "" when nobody is named."""
    actor, method = entry.get("actor"), entry.get("method")
    if not actor:
        return ""
    who = f"by {actor.get('name') or actor['id']} ({actor.get('type') or 'actor'} {actor['id']})"
    return f"{who} via {method['type']}" if method else who


def text_line(entry: Entry) -> str:
    """`at [pagerduty] action key (type) prop: before → after; … [by who via how] cause
    kind:id` (values as JSON; a graph write has no source word)."""
    parts = [_change_text(name, c) for name, c in entry["changes"].items()]
    cause = entry.get("cause")
    why = f"cause {cause['kind']}:{cause['id']}" if cause else "cause unknown"
    source = " pagerduty" if entry.get("source") == PAGERDUTY else ""
    head = f"{entry['at']}{source} {entry['action']} {entry['key']} ({entry['type']})"
    tail = " ".join(t for t in (actor_text(entry), why) if t)
    return f"{head} {'; '.join(parts)} {tail}" if parts else f"{head} {tail}"
