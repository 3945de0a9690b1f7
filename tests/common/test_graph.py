"""JupiterOne's rules hold at construction; diffs are exact."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.graph import Entity, Graph, Relationship, diff, fingerprint


def entity(key: str = "user:PABCDEF", **props: object) -> Entity:
    return Entity(
        key=key,
        type="pagerduty_user",
        class_="User",
        properties={"name": "n", "displayName": "n", **props},
    )


def test_short_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="at least 10"):
        entity(key="user:P1")


@pytest.mark.parametrize(
    "value",
    [{"nested": 1}, [1, "a"], [{"a": 1}], [[1]], object()],
    ids=["object", "mixed-array", "array-of-objects", "nested-array", "non-json"],
)
def test_non_flat_property_is_rejected(value: object) -> None:
    with pytest.raises(ValidationError, match="property 'bad'"):
        entity(bad=value)


@pytest.mark.parametrize("value", ["s", 1, 1.5, True, None, ["a", "b"], [1, 2.5], [True], []])
def test_flat_property_is_accepted(value: object) -> None:
    assert entity(ok=value).properties["ok"] == value


def test_custom_underscore_property_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must not start with '_'"):
        entity(_secret=1)


def test_entity_needs_name_and_display_name() -> None:
    with pytest.raises(ValidationError, match="displayName"):
        Entity(key="user:PABCDEF", type="pagerduty_user", class_="User", properties={"name": "n"})


def test_classes_follow_jupiterone_case() -> None:
    with pytest.raises(ValidationError, match="TitleCase"):
        Entity(
            key="user:PABCDEF",
            type="pagerduty_user",
            class_="user",
            properties={"name": "n", "displayName": "n"},
        )
    with pytest.raises(ValidationError, match="UPPER"):
        Relationship.between("pagerduty_team_has_user", "Has", "team:PABCDEF", "user:PABCDEF")


def test_relationship_key_follows_spec() -> None:
    rel = Relationship.between("pagerduty_team_has_user", "HAS", "team:PABCDEF", "user:PABCDEF")
    assert rel.key == "team:PABCDEF|has|user:PABCDEF"


def test_graph_round_trips_through_j1_shape() -> None:
    rel = Relationship.between("pagerduty_team_has_user", "HAS", "team:PABCDEF", "user:PABCDEF")
    graph = Graph.of([entity()], [rel])
    assert Graph.from_j1(graph.to_j1()) == graph


def test_diff_reports_creates_updates_and_deletes_only() -> None:
    old = Graph.of([entity("user:PAAAAAA"), entity("user:PBBBBBB"), entity("user:PCCCCCC")], [])
    new = Graph.of(
        [entity("user:PAAAAAA"), entity("user:PBBBBBB", email="x"), entity("user:PDDDDDD")], []
    )
    changes = diff(old, new)
    assert [e.key for e in changes.create_entities] == ["user:PDDDDDD"]
    assert [e.key for e in changes.update_entities] == ["user:PBBBBBB"]
    assert changes.delete_entities == ["user:PCCCCCC"]
    assert not diff(new, new)


def test_fingerprint_changes_with_any_part_of_the_object() -> None:
    base = entity()
    assert fingerprint(base) == fingerprint(entity())
    assert fingerprint(base) != fingerprint(entity(email="x"))
    assert fingerprint(base) != fingerprint(entity(key="user:PZZZZZZ"))
    rel = Relationship.between(
        "pagerduty_user_oncall_service",
        "ONCALL",
        "user:PABCDEF",
        "service:PABCDEF",
        {"escalationLevel": 1},
    )
    moved = Relationship.between(
        "pagerduty_user_oncall_service",
        "ONCALL",
        "user:PABCDEF",
        "service:PABCDEF",
        {"escalationLevel": 2},
    )
    assert fingerprint(rel) != fingerprint(moved)


def test_diff_against_an_index_equals_diff_against_the_graph() -> None:
    old = Graph.of([entity("user:PAAAAAA"), entity("user:PBBBBBB")], [])
    new = Graph.of([entity("user:PAAAAAA", email="x"), entity("user:PCCCCCC")], [])
    assert diff(old.index(), new) == diff(old, new)
