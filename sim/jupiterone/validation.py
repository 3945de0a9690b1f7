"""JupiterOne's rules for what an upload may hold (shared/reference/jupiterone.md)."""

from __future__ import annotations

import re
from typing import Any

_SYSTEM = frozenset({"_key", "_type", "_class", "_fromEntityKey", "_toEntityKey", "_rawData"})
# How a relationship names an end in another scope ("relationships across scopes"); the
# persister checks at finalize that they name an entity (sim/jupiterone/persister.py).
_CROSS_SCOPE = ("_fromEntitySource", "_fromEntityScope", "_toEntitySource", "_toEntityScope")
_RELATIONSHIP_SYSTEM = _SYSTEM | frozenset(_CROSS_SCOPE)
_ENTITY_CLASS = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_RELATIONSHIP_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")


class BadData(Exception):
    pass


def _check_properties(obj: dict[str, Any], what: str, system: frozenset[str]) -> None:
    key = obj.get("_key")
    if not isinstance(key, str) or len(key) < 10:
        raise BadData(f"{what} _key must be a string of at least 10 characters: {key!r}")
    if not isinstance(obj.get("_type"), str):
        raise BadData(f"{what} {key}: _type required")
    for name, value in obj.items():
        if name.startswith("_"):
            if name not in system:
                raise BadData(f"{what} {key}: custom property {name!r} must not start with '_'")
            continue
        if value is None or isinstance(value, str | bool | int | float):
            continue
        if isinstance(value, list) and len({type(v) for v in value}) <= 1:
            if all(isinstance(v, str | bool | int | float) for v in value):
                continue
        raise BadData(f"{what} {key}: property {name!r} is not a flat value")


def _validate(
    obj: Any,
    what: str,
    class_pattern: re.Pattern[str],
    class_rule: str,
    system: frozenset[str] = _SYSTEM,
) -> None:
    if not isinstance(obj, dict):
        raise BadData(f"{what} must be an object")
    _check_properties(obj, what, system)
    if not isinstance(obj.get("_class"), str) or not class_pattern.match(obj["_class"]):
        raise BadData(f"{what} {obj['_key']}: _class must be {class_rule}")


def validate_entity(obj: Any) -> None:
    _validate(obj, "entity", _ENTITY_CLASS, "TitleCase")


def validate_relationship(obj: Any) -> None:
    _validate(obj, "relationship", _RELATIONSHIP_CLASS, "UPPER_CASE", _RELATIONSHIP_SYSTEM)
    for end in ("_fromEntityKey", "_toEntityKey"):
        if not isinstance(obj.get(end), str):
            raise BadData(f"relationship {obj['_key']}: {end} required")
    for name in _CROSS_SCOPE:
        if name in obj and not isinstance(obj[name], str):
            raise BadData(f"relationship {obj['_key']}: {name} must be a string")
