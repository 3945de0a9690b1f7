"""The embedded SQLite graph."""

from __future__ import annotations

import pytest

from common.graph import ChangeSet, Entity, Graph, Relationship, diff
from common.sinks import SinkError
from common.sinks.local import LocalSink


def user(uid: str, name: str = "Zoë Ødegaard") -> Entity:
    return Entity(
        key=f"user:{uid}",
        type="pagerduty_user",
        class_="User",
        properties={
            "name": name,
            "displayName": name,
            "active": True,
            "count": 3,
            "ratio": 0.5,
            "tags": ["a", "ß"],
            "gone": None,
        },
    )


def has(team: str, uid: str) -> Relationship:
    return Relationship.between("pagerduty_team_has_user", "HAS", f"team:{team}", f"user:{uid}")


def test_replace_all_then_read_back_is_identical(graph_path: str) -> None:
    graph = Graph.of([user("PAAAAAA"), user("PBBBBBB")], [has("PTTTTTT", "PAAAAAA")])
    sink = LocalSink(graph_path)
    sink.replace_all(graph)
    assert sink.read_graph() == graph
    assert LocalSink(graph_path).read_graph() == graph  # persisted, readable by another


def test_replace_all_removes_what_is_not_in_the_new_graph(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    sink.replace_all(Graph.of([user("PAAAAAA"), user("PBBBBBB")], [has("PT00001", "PAAAAAA")]))
    sink.replace_all(Graph.of([user("PBBBBBB")], []))
    assert sorted(sink.read_graph().entities) == ["user:PBBBBBB"]
    assert sink.read_graph().relationships == {}


def test_apply_writes_a_diff_and_an_empty_change_set_writes_nothing(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    old = Graph.of([user("PAAAAAA"), user("PBBBBBB")], [has("PT00001", "PAAAAAA")])
    sink.replace_all(old)
    new = Graph.of([user("PAAAAAA", "Renamed"), user("PCCCCCC")], [has("PT00001", "PCCCCCC")])
    writes = sink.writes
    sink.apply(diff(old, new))
    assert sink.read_graph() == new
    assert sink.writes == writes + 4
    sink.apply(ChangeSet())
    assert sink.writes == writes + 4


def test_counts_by_type(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    sink.replace_all(Graph.of([user("PAAAAAA"), user("PBBBBBB")], [has("PT00001", "PAAAAAA")]))
    assert sink.counts_by_type() == {"pagerduty_team_has_user": 1, "pagerduty_user": 2}


def test_unwritable_path_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(SinkError, match="LOCAL_GRAPH_PATH"):
        LocalSink("/nonexistent-dir/graph.sqlite3")


def test_replace_all_with_an_unchanged_graph_changes_no_row(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    graph = Graph.of([user("PAAAAAA"), user("PBBBBBB")], [has("PT00001", "PAAAAAA")])
    sink.replace_all(graph)
    before = sink.rows_changed
    sink.replace_all(Graph.from_j1(graph.to_j1()))
    assert sink.rows_changed == before
    sink.replace_all(Graph.of([user("PAAAAAA", "Renamed"), user("PBBBBBB")], []))
    assert sink.rows_changed == before + 2  # one update, one delete


def test_index_matches_the_graph_it_holds(graph_path: str) -> None:
    sink = LocalSink(graph_path)
    graph = Graph.of([user("PAAAAAA")], [has("PT00001", "PAAAAAA")])
    sink.replace_all(graph)
    assert sink.index() == graph.index()
    assert not diff(sink.index(), graph)
