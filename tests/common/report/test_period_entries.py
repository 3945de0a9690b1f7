"""Evidence over a period, on hand-made history entries (common/report/period.py, pure;
common/report/inputs.py's reading of run records): the replay's rules one by one."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from common.graph import Cause, Graph, Relationship
from common.report.checks import build_report
from common.report.inputs import initial_load_runs
from common.report.period import parse_period, period_evidence
from common.sinks.history import audit_entry, make_entry
from common.state.full_sync import record_full_sync
from tests.common.report.test_period import (
    ACTOR,
    DAY,
    END,
    HOUR,
    PROVENANCE,
    audit_record,
    oncall,
    role,
)
from tests.report_graphs import NOW, GraphBuilder


def entry(at: float, key: str, type_: str, action: str, before: Any, after: Any, **kw: Any) -> Any:
    made = make_entry(at, key, type_, action, before, after, kw.pop("cause", None))
    return {**made, **kw}


def edge_j1(user: str, service: str, **props: Any) -> dict[str, Any]:
    return {
        "_key": f"{user}|oncall|{service}",
        "_type": "pagerduty_user_oncall_service",
        "_class": "ONCALL",
        "_fromEntityKey": user,
        "_toEntityKey": service,
        **props,
    }


def one_service(*oncall_edges: Relationship, created_on: int | None = None) -> Graph:
    g = GraphBuilder()
    policy = g.policy("PEPX", 1)
    g.service("PSX", policy)
    if created_on is not None:
        service = g.entities[-1]
        g.entities[-1] = service.model_copy(
            update={"properties": {**service.properties, "createdOn": created_on}}
        )
    return Graph.of(g.entities, [*g.edges, *oncall_edges])


def coverage(graph: Graph, entries: list[Any], start: float, history_from: float) -> Any:
    period = period_evidence(graph, entries, start=start, end=END, history_from=history_from)
    [row] = period["services"]
    return row["level1CoveredPct"], row["longestUncoveredMinutes"]


def test_older_entries_with_only_the_lowest_level_are_undone_too() -> None:
    """Before edges listed every level, `escalationLevel` alone said which."""
    now_edge = oncall("user:PUALPHA", "service:PSX", 1)
    old = edge_j1("user:PUALPHA", "service:PSX", escalationLevel=2)
    new = edge_j1("user:PUALPHA", "service:PSX", escalationLevel=1, escalationLevels=[1])
    entries = [entry(END - 2 * HOUR, now_edge.key, now_edge.type, "updated", old, new)]
    assert coverage(one_service(now_edge), entries, END - 10 * HOUR, END - 20 * HOUR) == (
        20.0,
        480.0,
    )


def test_a_deleted_edge_is_restored_from_its_before_values() -> None:
    gone = edge_j1("user:PUALPHA", "service:PSX", escalationLevel=1, escalationLevels=[1])
    key = gone["_key"]
    entries = [entry(END - HOUR, key, "pagerduty_user_oncall_service", "deleted", gone, None)]
    assert coverage(one_service(), entries, END - 4 * HOUR, END - 5 * HOUR) == (75.0, 60.0)


def test_coverage_counts_from_the_service_s_creation_and_not_before_the_history() -> None:
    edge = oncall("user:PUALPHA", "service:PSX", 1)
    created = edge_j1("user:PUALPHA", "service:PSX", escalationLevel=1, escalationLevels=[1])
    entries = [entry(END - HOUR, edge.key, edge.type, "created", None, created)]
    # asked for 10 hours, the history from 4 hours ago, the service 2 hours old
    graph = one_service(edge, created_on=int((END - 2 * HOUR) * 1000))
    assert coverage(graph, entries, END - 10 * HOUR, END - 4 * HOUR) == (50.0, 60.0)


def test_an_empty_history_gives_no_coverage_figure_and_says_so() -> None:
    period = period_evidence(one_service(), [], start=END - DAY, end=END, history_from=None)
    assert period["historyFrom"] is None
    assert period["services"] == [
        {
            "key": "service:PSX",
            "name": "service:PSX",
            "level1CoveredPct": None,
            "longestUncoveredMinutes": None,
        }
    ]
    report = build_report(one_service(), NOW, provenance=PROVENANCE, period=period)
    assert report["provenance"]["warnings"] == [
        "The change history holds no entries: nothing is known of the period from"
        " 2030-05-05T12:00:00Z; its level-1 coverage is not given."
    ]


def test_a_full_sync_catching_up_on_a_recorded_change_is_listed_once() -> None:
    record = audit_record("PAR0100", END - 5 * HOUR, "update", role("user", "admin"))
    recorded = audit_entry(record, "user:PUALPHA", "pagerduty_user")
    caught_up = entry(
        END - HOUR,
        "user:PUALPHA",
        "pagerduty_user",
        "updated",
        {"role": "user", "admin": False},
        {"role": "admin", "admin": True},
        cause=Cause("full_sync", "fullsync-nightly"),
    )
    revoked = entry(
        END - HOUR / 2,
        "user:PUALPHA",
        "pagerduty_user",
        "updated",
        {"role": "admin"},
        {"role": "user"},
        cause=Cause("refresh", "people-9"),
    )
    period = period_evidence(
        Graph(), [caught_up, revoked, recorded], start=END - DAY, end=END, history_from=END - DAY
    )
    assert [(c["action"], c["actor"]) for c in period["adminChanges"]] == [
        ("granted", ACTOR),
        ("revoked", None),
    ]


def test_the_initial_load_is_known_from_its_run_record_or_the_first_entry(
    redis_client: redis.Redis,
) -> None:
    record_full_sync(
        redis_client,
        {
            "id": "fullsync-first",
            "outcome": "ok",
            "changes": {"entities_created": 3, "relationships_created": 1, "entities_updated": 0},
            "graph": {"pagerduty_user": 3, "pagerduty_team_has_user": 1},
        },
    )
    record_full_sync(
        redis_client,
        {
            "id": "fullsync-nightly",
            "outcome": "ok",
            "changes": {"entities_created": 1, "entities_updated": 2},
            "graph": {"pagerduty_user": 4},
        },
    )
    assert initial_load_runs(redis_client, None) == {"fullsync-first"}
    first = entry(
        1.0,
        "user:PUALPHA",
        "pagerduty_user",
        "created",
        None,
        {"role": "user"},
        cause=Cause("full_sync", "fullsync-unrecorded"),
    )
    assert initial_load_runs(redis_client, first) == {"fullsync-first", "fullsync-unrecorded"}
    nightly = {**first, "cause": {"kind": "full_sync", "id": "fullsync-nightly"}}
    assert initial_load_runs(redis_client, nightly) == {"fullsync-first"}


@pytest.mark.parametrize("text", ["0", "-3", "7.5", "seven", "", "3651"])
def test_a_period_is_a_whole_number_of_days_from_1_to_3650(text: str) -> None:
    with pytest.raises(ValueError, match="period must be a whole number of days from 1 to 3650"):
        parse_period(text)
    assert parse_period(" 30 ") == 30
