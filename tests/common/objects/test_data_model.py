"""Every object pdgraph writes passes JupiterOne's published data model (SPEC §5).

Entities are validated against the JSON schema of their `_class` from npm
`@jupiterone/data-model` (vendored in tests/fixtures/jupiterone_data_model, README there),
with jsonschema, formats checked; relationships against `GraphObject` and the package's
`RelationshipClass` enum. `ONCALL`, the seed's on-call class, is not in that enum (SPEC §5:
it stays the default), so with GRAPH_MODEL=seed it is the one class let through; with
GRAPH_MODEL=jupiterone every relationship class must be in the enum.

Covered: the full sync as `pdgraph export` prints it, and what the incremental paths write
(a service webhook's refresh, an on-call refresh, the audit-records feed and the light
refresh of users and teams), in both graph models.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT7

from common.graph import ChangeSet
from common.objects import EDGE_TYPES, KINDS
from common.sinks.local import LocalSink
from sim.demo_changes import PeopleChanges, plant_findings
from sim.pagerduty import Account
from tests.cli import run_pdgraph
from tests.stack import Stack, configure_env
from worker import jobs

SCHEMAS = Path(__file__).parents[2] / "fixtures" / "jupiterone_data_model"
# The schemas' `$id`s are fragment-only (`"#User"`) and they `$ref` each other by them
# (`"#Entity"`): in draft-07 those are plain-name anchors, which resolve only inside one
# document. So the files are bundled under one root, where each `#Name` is its anchor.
BUNDLE = "urn:jupiterone:data-model"
MODELS = ["seed", "jupiterone"]
SEED_ONLY_CLASSES = frozenset({"ONCALL"})  # SPEC §5: the seed's name, not in the data model
SHOWN = 8  # violations shown in a failure message
ENTITY_KINDS = [k for k in KINDS if k.entity_type]


@cache
def registry() -> Registry[Any]:
    bundle = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": BUNDLE,
        "definitions": {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")},
    }
    return Registry().with_resource(BUNDLE, DRAFT7.create_resource(bundle)).crawl()


@cache
def validator(class_name: str) -> Draft7Validator:
    if not (SCHEMAS / f"{class_name}.json").exists():
        raise KeyError(class_name)
    return Draft7Validator(
        {"$ref": f"{BUNDLE}#{class_name}"},
        registry=registry(),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


@cache
def relationship_classes() -> frozenset[str]:
    """The values of the package's `RelationshipClass` enum."""
    text = (SCHEMAS / "RelationshipClass.d.ts").read_text()
    return frozenset(re.findall(r'^\s*[A-Z_]+ = "([A-Z_]+)",?$', text, re.MULTILINE))


@dataclass(frozen=True)
class Violation:
    key: str
    class_: str
    property: str  # "" for the object as a whole
    message: str


def _property_of(error: ValidationError) -> str:
    if error.validator == "required":
        missing = re.match(r"'(.+)' is a required property", error.message)
        return missing.group(1) if missing else ""
    if "propertyNames" in error.schema_path:  # the error is about the name itself
        return str(error.instance)
    return str(error.absolute_path[0]) if error.absolute_path else ""


def _schema_errors(obj: Mapping[str, Any], class_name: str) -> Iterator[Violation]:
    key = str(obj.get("_key"))
    try:
        check = validator(class_name)
    except KeyError:
        yield Violation(key, class_name, "_class", "no such class in the data model")
        return
    for error in check.iter_errors(dict(obj)):
        message = error.message if len(error.message) < 120 else error.message[:117] + "..."
        yield Violation(key, class_name, _property_of(error), message)


def entity_violations(entities: Iterable[Mapping[str, Any]]) -> list[Violation]:
    found: list[Violation] = []
    for entity in entities:
        classes = entity["_class"]
        for class_name in [classes] if isinstance(classes, str) else classes:
            found += _schema_errors(entity, class_name)
    return found


def relationship_violations(
    relationships: Iterable[Mapping[str, Any]], allowed_outside: frozenset[str] = frozenset()
) -> list[Violation]:
    found: list[Violation] = []
    for rel in relationships:
        found += [
            Violation(v.key, rel["_class"], v.property, v.message)
            for v in _schema_errors(rel, "GraphObject")
        ]
        if rel["_class"] not in relationship_classes() | allowed_outside:
            message = "not a RelationshipClass of the data model"
            found.append(Violation(rel["_key"], rel["_class"], "_class", message))
    return found


def report(violations: list[Violation], checked: int, where: str) -> str:
    """The failure message: the count, then each (class, property) with how many objects
    break it and a first example."""
    groups = Counter((v.class_, v.property) for v in violations)
    first = {}
    for v in violations:
        first.setdefault((v.class_, v.property), v)
    lines = [f"{len(violations)} data-model violations in {checked} objects ({where}):"]
    for (class_name, prop), count in groups.most_common(SHOWN):
        example = first[(class_name, prop)]
        lines.append(f"  {class_name}.{prop or '*'} ×{count}: {example.message} ({example.key})")
    if len(groups) > SHOWN:
        lines.append(f"  ... and {len(groups) - SHOWN} more (class, property) pairs")
    return "\n".join(lines)


def assert_conforms(graph: Mapping[str, list[dict[str, Any]]], model: str, where: str) -> None:
    allowed = SEED_ONLY_CLASSES if model == "seed" else frozenset()
    entities, relationships = graph.get("entities", []), graph.get("relationships", [])
    violations = entity_violations(entities) + relationship_violations(relationships, allowed)
    checked = len(entities) + len(relationships)
    assert not violations, report(violations, checked, f"{where}, GRAPH_MODEL={model}")


# -- the validator itself: resolves the bundle, and is not vacuous --------------------------

GOOD_USER = {
    "_key": "user:PABCDEF",
    "_type": "pagerduty_user",
    "_class": "User",
    "name": "Ada Lovelace",
    "displayName": "Ada Lovelace",
    "email": ["ada@example.com"],
    "username": ["ada@example.com"],
    "shortLoginId": ["ada"],
    "firstName": "Ada",
    "lastName": "Lovelace",
    "active": True,
}


def test_the_vendored_schemas_resolve_and_accept_a_conforming_user() -> None:
    assert entity_violations([GOOD_USER]) == []
    for path in SCHEMAS.glob("*.json"):  # every `$ref` of every schema resolves
        assert list(validator(path.stem).iter_errors({}))  # ... and `{}` lacks `_key`


@pytest.mark.parametrize(
    ("change", "class_property"),
    [
        ({"description": None}, ("User", "description")),  # Entity: description is a string
        ({"email": "ada@example.com"}, ("User", "email")),  # an array now
        ({"email": ["not an address"]}, ("User", "email")),  # format: email
        ({"firstName": None, "lastName": None, "shortLoginId": None}, None),  # nullable
        ({"_key": "user:P1"}, ("User", "_key")),  # GraphObject: ≥ 10 characters
        ({"bad/name": 1}, ("User", "bad/name")),  # GraphObject: property names
    ],
)
def test_the_validator_reports_by_class_and_property(
    change: dict[str, Any], class_property: tuple[str, str] | None
) -> None:
    found = {(v.class_, v.property) for v in entity_violations([{**GOOD_USER, **change}])}
    assert found == ({class_property} if class_property else set())


def test_missing_required_properties_are_named() -> None:
    user = {k: v for k, v in GOOD_USER.items() if k not in ("firstName", "shortLoginId")}
    message = report(entity_violations([user]), 1, "here")
    assert message.startswith("2 data-model violations in 1 objects (here):")
    assert "User.firstName ×1" in message and "User.shortLoginId ×1" in message


def test_every_edge_type_of_the_registry_has_a_class_of_the_package() -> None:
    """The jupiterone graph model's relationship classes are all the data model's; the
    seed model's on-call class is the one exception (SPEC §5)."""
    outside = {e.type: e.class_ for e in EDGE_TYPES if e.class_ not in relationship_classes()}
    assert outside == {"pagerduty_user_oncall_service": "ONCALL"}
    assert all(e.model != "jupiterone" for e in EDGE_TYPES if e.class_ in SEED_ONLY_CLASSES)


def test_relationship_classes_come_from_the_package() -> None:
    classes = relationship_classes()
    assert {"HAS", "ASSIGNED", "USES", "MONITORS"} <= classes
    assert "ONCALL" not in classes  # why GRAPH_MODEL=jupiterone writes MONITORS
    oncall = {
        "_key": "user:PABCDEF|oncall|service:PABCDEF",
        "_type": "pagerduty_user_oncall_service",
        "_class": "ONCALL",
    }
    assert relationship_violations([oncall], SEED_ONLY_CLASSES) == []
    [violation] = relationship_violations([oncall])
    assert (violation.class_, violation.property) == ("ONCALL", "_class")


# -- what pdgraph writes ----------------------------------------------------------------------


@dataclass
class Written:
    """Every change set the incremental paths hand the local sink."""

    change_sets: list[ChangeSet] = field(default_factory=list)

    def graph(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "entities": [
                e.to_j1() for c in self.change_sets for e in c.create_entities + c.update_entities
            ],
            "relationships": [
                r.to_j1()
                for c in self.change_sets
                for r in c.create_relationships + c.update_relationships
            ],
        }


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> Written:
    record = Written()
    apply = LocalSink.apply

    def recording_apply(sink: LocalSink, changes: ChangeSet, *args: Any, **kwargs: Any) -> Any:
        record.change_sets.append(changes)
        return apply(sink, changes, *args, **kwargs)

    monkeypatch.setattr(LocalSink, "apply", recording_apply)
    return record


def model_stack(make_stack: Callable[..., Stack], model: str, receiver: bool = False) -> Stack:
    return make_stack(
        Account.generate(seed=11, users=80, catalog=True),
        receiver=receiver,
        env={"GRAPH_MODEL": model},
    )


@pytest.mark.parametrize("model", MODELS)
def test_a_full_sync_export_passes_the_data_model(
    make_stack: Callable[..., Stack],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    graph_path: str,
    model: str,
) -> None:
    stack = model_stack(make_stack, model)
    env = {**configure_env(monkeypatch, stack.sim.url, redis_url, graph_path), "GRAPH_MODEL": model}
    result = run_pdgraph("export", env=env)
    assert result.returncode == 0, result.stderr
    graph = json.loads(result.stdout)
    # Every kind of the registry is there, so every class schema it names is exercised.
    assert {e["_class"] for e in graph["entities"]} == {k.entity_class for k in ENTITY_KINDS}
    assert {e["_type"] for e in graph["entities"]} == {k.entity_type for k in ENTITY_KINDS}
    assert_conforms(graph, model, "full sync, pdgraph export")


@pytest.mark.parametrize("model", MODELS)
def test_a_service_webhook_refresh_writes_conforming_objects(
    make_stack: Callable[..., Stack], written: Written, model: str
) -> None:
    stack = model_stack(make_stack, model, receiver=True)
    account = stack.sim.account
    service_id = sorted(account.services)[0]
    with stack.sim.lock:
        account.update_service(service_id, name="renamed by the test", description=None)
        account.add_service(
            "created-by-the-test",
            escalation_policy_id=sorted(account.policies)[0],
            team_ids=sorted(account.teams)[:2],
        )
    stack.drain()
    graph = written.graph()
    types = {e["_type"] for e in graph["entities"]}
    assert "pagerduty_service" in types, graph  # the path wrote: this checks something
    assert_conforms(graph, model, "service webhook refresh")


@pytest.mark.parametrize("model", MODELS)
def test_an_oncall_refresh_writes_conforming_objects(
    make_stack: Callable[..., Stack], written: Written, model: str
) -> None:
    stack = model_stack(make_stack, model)
    account = stack.sim.account
    for policy_id in sorted(account.policies)[:3]:
        account.rotate_oncall(policy_id, sorted(account.users)[5])
    jobs.refresh_all_oncalls()
    graph = written.graph()
    assert graph["relationships"], "the on-call refresh wrote no edge"
    assert_conforms(graph, model, "on-call refresh")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("feed", ["ok", "402"], ids=["audit-feed", "light-refresh"])
def test_user_and_team_changes_write_conforming_objects(
    make_stack: Callable[..., Stack], written: Written, model: str, feed: str
) -> None:
    """What the audit feed writes, and the light refresh where PagerDuty refuses the feed."""
    stack = model_stack(make_stack, model)
    stack.sim.audit_records = feed
    account = stack.sim.account
    # the demo's cycle (rename, admin and back, membership ...) on the demo's planted objects
    people = PeopleChanges(plant_findings(account))
    with stack.sim.lock:
        for _ in range(6):  # ... and a new user, in a team
            people.step()
        account.add_team("Data Model Team", description=None)
        account.rotate_oncall(sorted(account.policies)[0], sorted(account.users)[3])
    result = jobs.poll_audit_records()
    assert result["mode"] == ("audit" if feed == "ok" else "refresh"), result
    graph = written.graph()
    types = {e["_type"] for e in graph["entities"]}
    assert {"pagerduty_user", "pagerduty_team"} <= types, result
    assert_conforms(graph, model, "audit feed" if feed == "ok" else "light refresh")
