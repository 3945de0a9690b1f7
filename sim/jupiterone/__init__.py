"""A JupiterOne simulator: sync jobs (DIFF/PATCH), GraphQL key lookups and mutations.

Implements what pdgraph uses, with the rules of shared/reference/jupiterone.md: Bearer +
`JupiterOne-Account` auth, 413 over the body limit, the validation rules (flat property
types, `_key` ≥ 10, no custom `_` properties, TitleCase / UPPER classes), PATCH refusing
relationships, DIFF deleting whatever the upload left out of the scope, job polling,
`queryV1` for the J1QL shapes pdgraph sends, `createRelationship`, `deleteRelationship`,
`deleteEntityV2` (aliased in one document), 429 with `RateLimit-*` headers, injectable
faults (sim._http), `graph(scope)` and `account()` (every scope) for tests.
`GET /_sim/graph?scope=` shows a scope, `GET /_sim/account` the whole account.
`graphql_relationships` (`--graphql-relationships scoped|unscoped`) picks which reading
of JupiterOne's undocumented behaviour createRelationship follows (sim/jupiterone/graphql.py).
"""

from sim.jupiterone.graphql import PAGE_ROWS
from sim.jupiterone.server import MAX_BODY, JupiterOneSim
from sim.jupiterone.store import READINGS, UNSCOPED, Job, Scope
from sim.jupiterone.validation import BadData, validate_entity, validate_relationship

__all__ = [
    "MAX_BODY",
    "PAGE_ROWS",
    "READINGS",
    "UNSCOPED",
    "BadData",
    "Job",
    "JupiterOneSim",
    "Scope",
    "validate_entity",
    "validate_relationship",
]
