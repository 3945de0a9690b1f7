"""Evidence over a period (SPEC §3 `pdgraph report --period DAYS`): pure.

The current graph is the state at the period's end; the change history's entries from its
start to its end say what happened before it. Level-1 coverage is replayed backwards:
each on-call edge entry is undone, newest first (created → gone, deleted → back as it was,
updated → its `before` values), and the time each active service had someone on call at
level 1 is added up. Who was granted or lost admin rights, which users came and went, and
which policies and schedules changed are read off the entries, PagerDuty's own audit
records first (they see a grant revoked before pdgraph read the user again).

The history is only known from its oldest entry (`historyFrom`: CHANGE_HISTORY_DAYS ago at
most): coverage is measured from there when the period asks for more.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.graph import Graph
from common.objects.escalation_policy import ESCALATION_POLICY
from common.objects.oncall import ONCALL_TYPES
from common.objects.schedule import SCHEDULE
from common.objects.service import SERVICE
from common.objects.user import ADMIN_ROLES, USER
from common.report.model import iso_seconds
from common.sinks.history import GRAPH, PAGERDUTY, Entry, entry_epoch, iso

MAX_PERIOD_DAYS = 3650  # CHANGE_HISTORY_DAYS' own bound: no history holds more
# The types whose entries a period report reads (the sink is asked for each alone).
PERIOD_TYPES = (*sorted(ONCALL_TYPES), USER, ESCALATION_POLICY, SCHEDULE)
# Schedule properties every full sync recomputes from the next 7 days: no one changed them.
DERIVED_PROPERTIES = {
    SCHEDULE: frozenset(
        {"finalScheduleCoverage", "nextGapStartOn", "coverageGapStarts", "coverageGapMinutes"}
    )
}
# A graph write that follows PagerDuty's own record of the same change (the full sync caught
# up before the audit feed did) is the same change: matched when written this soon after.
SAME_CHANGE_SLACK = 60.0
_LEVEL_PROPERTIES = ("escalationLevel", "escalationLevels")


def parse_period(text: str) -> int:
    """Days of a `--period` / `?period=`: a whole number 1..MAX_PERIOD_DAYS; ValueError
    with a one-line reason otherwise."""
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_PERIOD_DAYS:
        raise ValueError(f"period must be a whole number of days from 1 to {MAX_PERIOD_DAYS}")
    return int(value)


def _levels(properties: Mapping[str, Any]) -> frozenset[int]:
    """The levels an on-call edge's properties say (older edges: `escalationLevel` only)."""
    every = properties.get("escalationLevels")
    if isinstance(every, list):
        return frozenset(int(v) for v in every if isinstance(v, int | float))
    one = properties.get("escalationLevel")
    return frozenset({int(one)}) if isinstance(one, int | float) else frozenset()


@dataclass(frozen=True, slots=True)
class _OncallChange:
    """One on-call edge entry, as little as undoing it needs."""

    at: float
    seq: int  # the order the history gave it in (entries of one write share `at`)
    edge: str
    action: str
    before: Mapping[str, Any]  # the level properties' values before it


def _edge_service(entry: Entry) -> str:
    ends = entry.get("changes", {}).get("_toEntityKey") or {}
    return str(ends.get("after") or ends.get("before") or entry["key"].rsplit("|", 1)[-1])


@dataclass
class _Coverage:
    """Level-1 coverage of one service over [start, end], replayed backwards."""

    start: float
    end: float
    covered: float = 0.0
    longest_gap: float = 0.0
    _gap: float = 0.0  # the uncovered stretch being measured (walking back in time)

    def span(self, since: float, until: float, is_covered: bool) -> None:
        length = max(0.0, min(until, self.end) - max(since, self.start))
        if is_covered:
            self.covered += length
            if length > 0:
                self._gap = 0.0
        else:
            self._gap += length
            self.longest_gap = max(self.longest_gap, self._gap)


def _replay(
    start: float,
    end: float,
    edges: dict[str, frozenset[int]],
    changes: list[_OncallChange],
) -> _Coverage:
    """Coverage over [start, end] of a service whose on-call edges at `end` are `edges`
    (key → levels), undoing `changes` newest first."""
    coverage = _Coverage(start, end)
    state = {key: {"escalationLevels": sorted(levels)} for key, levels in edges.items()}
    until = end
    for change in sorted(changes, key=lambda c: (c.at, c.seq), reverse=True):
        coverage.span(change.at, until, any(1 in _levels(p) for p in state.values()))
        until = change.at
        if change.action == "created":
            state.pop(change.edge, None)
        elif change.action == "deleted":
            state[change.edge] = dict(change.before)
        else:
            props = state.setdefault(change.edge, {})
            if "escalationLevels" not in change.before and "escalationLevel" in change.before:
                props.pop("escalationLevels", None)  # only the lowest level was recorded
            props.update(change.before)
    coverage.span(start, until, any(1 in _levels(p) for p in state.values()))
    return coverage


@dataclass
class _Item:
    """A change for the people lists: who, what, when, by whom, from which source."""

    key: str
    at: float
    at_text: str
    action: str
    actor: Any
    source: str
    fields: list[str] = field(default_factory=list)

    def as_dict(self, name: str, with_fields: bool) -> dict[str, Any]:
        out = {
            "key": self.key,
            "name": name,
            "at": self.at_text,
            "action": self.action,
            "actor": self.actor,
        }
        return {**out, "fields": self.fields} if with_fields else out


def _role(value: Any) -> bool:
    return isinstance(value, str) and value in ADMIN_ROLES


def _admin_change(entry: Entry) -> str | None:
    """ "granted" or "revoked" when the entry moves the user into or out of admin/owner."""
    changes = entry.get("changes") or {}
    role = changes.get("role")
    if isinstance(role, Mapping) and ("before" in role or "after" in role):
        was, now = _role(role.get("before")), _role(role.get("after"))
    elif isinstance(admin := changes.get("admin"), Mapping):
        was, now = admin.get("before") is True, admin.get("after") is True
    else:
        return None
    if was == now:
        return None
    return "granted" if now else "revoked"


@dataclass
class _People:
    """The people lists' items as the entries stream by, and the names they show."""

    initial_loads: Collection[str]
    names: dict[str, str] = field(default_factory=dict)
    admin: list[_Item] = field(default_factory=list)
    created: list[_Item] = field(default_factory=list)
    deleted: list[_Item] = field(default_factory=list)
    policies: list[_Item] = field(default_factory=list)
    schedules: list[_Item] = field(default_factory=list)

    def add(self, entry: Entry, at: float) -> None:
        changes = entry.get("changes") or {}
        name = changes.get("name")
        if isinstance(name, Mapping) and (name.get("after") or name.get("before")):
            self.names[entry["key"]] = str(name.get("after") or name.get("before"))
        source = entry.get("source") or GRAPH
        cause = entry.get("cause") or {}
        if source == GRAPH and cause.get("kind") == "full_sync":
            if cause.get("id") in self.initial_loads:
                return  # the initial load created everything: not a change of the period
        action = entry["action"]

        def item(what: str, fields: Iterable[str] = ()) -> _Item:
            return _Item(
                entry["key"], at, entry["at"], what, entry.get("actor"), source, sorted(fields)
            )

        # A graph write caused by an audit record repeats that record (kept as its own
        # entry); but PagerDuty's record of a deletion lists no fields, so the role a
        # deleted user held is the graph's to tell.
        audit_write = source == GRAPH and cause.get("kind") == "audit"
        if entry["type"] == USER:
            grant = _admin_change(entry)
            if grant is not None and (not audit_write or action == "deleted"):
                self.admin.append(item(grant))
            if audit_write:
                return
            if action == "created":
                self.created.append(item("created"))
            elif action == "deleted":
                self.deleted.append(item("deleted"))
            return
        if audit_write:
            return
        fields = [
            f
            for f in changes
            if not f.startswith("_") and f not in DERIVED_PROPERTIES.get(entry["type"], ())
        ]
        if action == "updated" and not fields:
            return  # only what the sync recomputes changed
        target = self.policies if entry["type"] == ESCALATION_POLICY else self.schedules
        target.append(item(action, fields if action == "updated" else ()))


def _without_repeats(items: list[_Item]) -> list[_Item]:
    """Each change once. A graph write not caused by an audit record (the full sync caught
    up first) repeats PagerDuty's record of the change when that record is the object's
    change just before it, with the same action; anything between them makes it a change
    of its own (a second grant needs a revocation first). When in doubt, listed twice
    rather than dropped."""
    kept: list[_Item] = []
    last: dict[str, _Item] = {}  # key → its latest item listed
    matched: set[int] = set()  # id() of the records a graph write was found to repeat
    for it in sorted(items, key=lambda i: (i.at, i.source != PAGERDUTY, i.key)):
        before = last.get(it.key)
        if (
            it.source != PAGERDUTY
            and before is not None
            and before.source == PAGERDUTY
            and before.action == it.action
            and id(before) not in matched
            and before.at <= it.at + SAME_CHANGE_SLACK
        ):
            matched.add(id(before))
            continue
        kept.append(it)
        last[it.key] = it
    return sorted(kept, key=lambda i: (i.at, i.key))


def _oncall_changes(
    entries: Iterable[Entry],
    services: Collection[str],
    start: float,
    measured_from: float | None,
    people: _People,
) -> dict[str, list[_OncallChange]]:
    """Service key → the changes of its on-call edges since coverage is measured from
    (None: it is not), as the entries stream by; every other entry since the period's
    `start` goes to `people`."""
    oncall: dict[str, list[_OncallChange]] = {}
    for seq, entry in enumerate(entries):
        # Entries after `end` are kept: the graph was read after it, and PagerDuty's clock
        # may run a little ahead of this one; a replayed change after `end` counts no time.
        at = entry_epoch(entry)
        if entry["type"] not in ONCALL_TYPES:
            if at >= start:
                people.add(entry, at)
            continue
        if measured_from is None or at < measured_from or (entry.get("source") or GRAPH) != GRAPH:
            continue
        service = _edge_service(entry)
        if service in services:
            action, changes = entry["action"], entry.get("changes") or {}
            before = (
                {}  # undone by removing the edge
                if action == "created"
                else {p: changes[p].get("before") for p in _LEVEL_PROPERTIES if p in changes}
            )
            change = _OncallChange(at, seq, entry["key"], action, before)
            oncall.setdefault(service, []).append(change)
    return oncall


def period_evidence(
    graph: Graph,
    entries: Iterable[Entry],
    *,
    start: float,
    end: float,
    history_from: float | None,
    initial_loads: Collection[str] = (),
) -> dict[str, Any]:
    """SPEC §3's `period` of a report at `end` over [start, end] (epoch seconds), from the
    graph at `end` and the history's entries of PERIOD_TYPES since `start` (any order;
    streamed once). `history_from`: the time of the oldest entry the history holds (None:
    it holds none). `initial_loads`: the ids of full-sync runs that loaded an empty graph."""
    services = {
        e.key: e
        for e in graph.entities.values()
        if e.type == SERVICE and _service_active(e.properties)
    }
    measured_from = None if history_from is None else max(start, history_from)
    people = _People(initial_loads)
    oncall = _oncall_changes(entries, services, start, measured_from, people)
    now_edges: dict[str, dict[str, frozenset[int]]] = {}
    for edge in graph.relationships.values():
        if edge.type in ONCALL_TYPES and edge.to_key in services:
            now_edges.setdefault(edge.to_key, {})[edge.key] = _levels(edge.properties)
    rows = [
        _service_row(
            services[key].properties,
            key,
            measured_from,
            end,
            now_edges.get(key, {}),
            oncall.get(key, []),
        )
        for key in sorted(services)
    ]
    names = {**people.names, **{k: _name(e.properties, k) for k, e in graph.entities.items()}}

    def listed(items: list[_Item], with_fields: bool = False) -> list[dict[str, Any]]:
        return [i.as_dict(names.get(i.key, i.key), with_fields) for i in _without_repeats(items)]

    return {
        "from": iso_seconds(start),
        "to": iso_seconds(end),
        "historyFrom": None if history_from is None else iso(history_from),
        "services": rows,
        "adminChanges": listed(people.admin),
        "usersCreated": listed(people.created),
        "usersDeleted": listed(people.deleted),
        "policyChanges": listed(people.policies, with_fields=True),
        "scheduleChanges": listed(people.schedules, with_fields=True),
    }


def _name(properties: Mapping[str, Any], key: str) -> str:
    return str(properties.get("name") or key)


def _service_active(properties: Mapping[str, Any]) -> bool:
    active = properties.get("active")
    return active if isinstance(active, bool) else properties.get("status") != "disabled"


def _service_row(
    properties: Mapping[str, Any],
    key: str,
    measured_from: float | None,
    end: float,
    edges: dict[str, frozenset[int]],
    changes: list[_OncallChange],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": key,
        "name": _name(properties, key),
        "level1CoveredPct": None,
        "longestUncoveredMinutes": None,
    }
    if measured_from is None:
        return row  # the history holds nothing: the period is not known
    created_on = properties.get("createdOn")  # epoch ms: nothing to cover before it existed
    if isinstance(created_on, int | float) and not isinstance(created_on, bool):
        measured_from = max(measured_from, created_on / 1000)
    if end <= measured_from:
        return row
    coverage = _replay(measured_from, end, edges, changes)
    row["level1CoveredPct"] = round(100 * coverage.covered / (end - measured_from), 2)
    row["longestUncoveredMinutes"] = round(coverage.longest_gap / 60, 1)
    return row
