"""`python -m sim.jupiterone --port P`: serve a JupiterOne simulator until Ctrl-C."""

from __future__ import annotations

import argparse

from sim._http import serve_until_interrupted
from sim.jupiterone.server import JupiterOneSim
from sim.jupiterone.store import FOREIGN_END_DELETED, FOREIGN_ENDPOINTS, PARTITION_DIFF, READINGS


def main() -> None:
    parser = argparse.ArgumentParser(
        description="A JupiterOne simulator: sync jobs (DIFF/PATCH), GraphQL key lookups "
        "and mutations."
    )
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--account-id", default="j1-sim-account")
    parser.add_argument("--api-key", default="j1-sim-key")
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument(
        "--graphql-relationships",
        choices=READINGS,
        default="scoped",
        help="which subgraph a GraphQL-created relationship joins (JupiterOne does not "
        "document it): its from-entity's sync scope, or none",
    )
    _cross_scope_flags(parser)
    args = parser.parse_args()
    sim = JupiterOneSim(
        args.account_id,
        args.api_key,
        rate_limit=args.rate_limit,
        graphql_relationships=args.graphql_relationships,
        foreign_endpoints=args.foreign_endpoints,
        partition_diff=args.partition_diff,
        foreign_end_deleted=args.foreign_end_deleted,
    )
    serve_until_interrupted(
        sim,
        args.port,
        "JupiterOne simulator at {url} (GraphQL {url}/graphql); "
        "graph at {url}/_sim/graph?scope=pagerduty, every scope at {url}/_sim/account",
    )


def _cross_scope_flags(parser: argparse.ArgumentParser) -> None:
    """The readings of what JupiterOne does not document about relationships across
    scopes (sim/jupiterone/persister.py); the first choice of each is the default."""
    parser.add_argument(
        "--foreign-endpoints",
        choices=FOREIGN_ENDPOINTS,
        default=FOREIGN_ENDPOINTS[0],
        help="whether a DIFF accepts a relationship whose both endpoints are in another "
        "scope (rejected: the job ends ERROR_BAD_DATA)",
    )
    parser.add_argument(
        "--partition-diff",
        choices=PARTITION_DIFF,
        default=PARTITION_DIFF[0],
        help="whether a DIFF of a scope deletes its relationships between other scopes' "
        "entities when the upload leaves them out",
    )
    parser.add_argument(
        "--foreign-end-deleted",
        choices=FOREIGN_END_DELETED,
        default=FOREIGN_END_DELETED[0],
        help="whether deleting an entity deletes the relationships of other scopes naming "
        "it by scope and key (keeps: they join it again when it is written again)",
    )


if __name__ == "__main__":
    main()
