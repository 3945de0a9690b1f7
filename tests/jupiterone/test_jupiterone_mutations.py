"""Planning GraphQL mutations and reading their answers: pure, no Redis, no HTTP."""

from __future__ import annotations

from common.graph import Relationship
from common.sinks.jupiterone.mutations import (
    MUTATIONS_PER_REQUEST,
    Mutations,
    errors_by_alias,
    interpret,
    plan_mutations,
)

TEAM, SERVICE, USER = "team:PTEAM01", "service:PSVC001", "user:PUSER01"


def assigned(team: str = TEAM, service: str = SERVICE) -> Relationship:
    return Relationship.between("pagerduty_team_assigned_service", "ASSIGNED", team, service)


def oncall(user: str = USER) -> Relationship:
    return Relationship.between("pagerduty_user_oncall_service", "ONCALL", user, SERVICE)


def ops(mutations: Mutations) -> list[tuple[str, str]]:
    return list(mutations.meaning.values())


def test_deletes_come_before_creates_and_name_objects_by_their_id() -> None:
    old, new = oncall("user:POLD001"), oncall()
    plan = plan_mutations(
        [old.key],
        {old.key: (old.from_key, old.to_key)},
        ["user:POLD001"],
        [new],
        {"user:POLD001": "e-old", USER: "e-user", SERVICE: "e-svc"},
        {old.key: "r-old"},
    )
    [request] = plan.batches
    assert ops(request) == [
        ("deleteRelationship", old.key),
        ("deleteEntityV2", "user:POLD001"),
        ("createRelationship", new.key),
    ]
    assert request.variables["m0_relationshipId"] == "r-old"
    assert request.variables["m1_entityId"] == "e-old"
    assert request.variables["m2_fromEntityId"] == "e-user"
    assert request.variables["m2_toEntityId"] == "e-svc"
    assert request.variables["m2_relationshipKey"] == new.key
    document = request.document()
    assert document.startswith("mutation PdgraphChanges($m0_relationshipId: String!, ")
    assert "  m2: createRelationship(relationshipKey: $m2_relationshipKey, " in document
    assert plan.gone == [] and plan.missing == []


def test_objects_jupiterone_no_longer_holds_need_no_request() -> None:
    edge, orphan = assigned(), assigned(team="team:PGONE01")
    plan = plan_mutations(
        [edge.key, orphan.key, "team:PX|has|user:PY"],  # the last: not in the record
        {edge.key: (TEAM, SERVICE), orphan.key: ("team:PGONE01", SERVICE)},
        ["user:PNOID01"],
        [],
        {TEAM: "e-team"},  # the service has no _id any more: an edge cannot outlive it
        {edge.key: "r-1", orphan.key: "r-2"},
    )
    assert plan.batches == []
    assert sorted(plan.gone) == sorted(
        [edge.key, orphan.key, "team:PX|has|user:PY", "user:PNOID01"]
    )


def test_an_edge_whose_ends_have_no_id_is_missing_not_sent() -> None:
    plan = plan_mutations([], {}, [], [assigned()], {TEAM: "e-team"}, {})
    assert plan.batches == [] and plan.missing == [assigned()]


def test_requests_hold_at_most_the_mutations_per_request() -> None:
    users = [f"user:PU{n:05d}" for n in range(MUTATIONS_PER_REQUEST + 1)]
    ids = {key: f"e{n}" for n, key in enumerate(users)}
    plan = plan_mutations([], {}, users, [], ids, {})
    assert [len(b) for b in plan.batches] == [MUTATIONS_PER_REQUEST, 1]
    assert ops(plan.batches[1]) == [("deleteEntityV2", users[-1])]
    assert list(plan.batches[1].meaning) == ["m0"]  # aliases restart in each request


def test_errors_are_read_by_the_alias_their_path_names() -> None:
    data, errors = errors_by_alias(
        {
            "data": {"m0": None},
            "errors": [{"message": "not found", "path": ["m0"]}, {"message": "rate"}],
        }
    )
    assert data == {"m0": None}
    assert errors == {"m0": "not found", "#1": "rate"}
    assert errors_by_alias({}) == ({}, {})


def test_an_answer_says_what_was_done_what_failed_and_what_was_already_there() -> None:
    made, there, refused = assigned(), oncall(), oncall("user:PUSER02")
    mutations = Mutations()
    mutations.add("deleteRelationship", "team:PA|assigned|service:PB", {}, "")
    mutations.add("deleteEntityV2", "user:PSTALE1", {}, "")
    for rel in (made, there, refused):
        mutations.add("createRelationship", rel.key, {}, "")
    outcome = interpret(
        mutations,
        {"m0": {"relationship": {"_id": "r0"}}, "m2": {"relationship": {"_id": "r-made"}}},
        {
            "m1": "Entity not found",
            "m3": "Relationship Already Exists",
            "m4": "refused",
            "#5": "a request-level error",
        },
        {r.key: r for r in (made, there, refused)},
    )
    assert outcome.deleted == ["team:PA|assigned|service:PB"]
    assert outcome.created == [made, there]  # "already exists": written by a lost run
    assert outcome.new_ids == {made.key: "r-made"}
    assert outcome.failed == ["user:PSTALE1", refused.key]
    assert outcome.failures == [
        "deleteEntityV2 user:PSTALE1: Entity not found",
        f"createRelationship {refused.key}: refused",
        "a request-level error",
    ]


def test_a_mutation_with_neither_result_nor_error_failed() -> None:
    mutations = Mutations()
    mutations.add("deleteEntityV2", "user:PGHOST1", {}, "")
    outcome = interpret(mutations, {}, {}, {})
    assert outcome.failed == ["user:PGHOST1"]
    assert outcome.failures == ["deleteEntityV2 user:PGHOST1: no result"]
