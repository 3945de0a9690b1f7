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
DIFF relationships may name ends in other scopes (`_fromEntitySource`/`Scope`/`Key`, …);
`foreign_endpoints`, `partition_diff`, `foreign_end_deleted` (`--foreign-endpoints`,
`--partition-diff`, `--foreign-end-deleted`) pick the readings of what JupiterOne does not
document about them (sim/jupiterone/persister.py).
"""

from sim.jupiterone.graphql import PAGE_ROWS
from sim.jupiterone.server import MAX_BODY, JupiterOneSim
from sim.jupiterone.store import (
    FOREIGN_END_DELETED,
    FOREIGN_ENDPOINTS,
    PARTITION_DIFF,
    READINGS,
    UNSCOPED,
    CrossScopeReadings,
    Job,
    Scope,
)
from sim.jupiterone.validation import BadData, validate_entity, validate_relationship

__all__ = [
    "FOREIGN_ENDPOINTS",
    "FOREIGN_END_DELETED",
    "MAX_BODY",
    "PAGE_ROWS",
    "PARTITION_DIFF",
    "READINGS",
    "UNSCOPED",
    "BadData",
    "CrossScopeReadings",
    "Job",
    "JupiterOneSim",
    "Scope",
    "validate_entity",
    "validate_relationship",
]
