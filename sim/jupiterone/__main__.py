"""`python -m sim.jupiterone --port P`: serve a JupiterOne simulator until Ctrl-C."""

from __future__ import annotations

import argparse

from sim._http import serve_until_interrupted
from sim.jupiterone.server import JupiterOneSim
from sim.jupiterone.store import READINGS


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
    args = parser.parse_args()
    sim = JupiterOneSim(
        args.account_id,
        args.api_key,
        rate_limit=args.rate_limit,
        graphql_relationships=args.graphql_relationships,
    )
    serve_until_interrupted(
        sim,
        args.port,
        "JupiterOne simulator at {url} (GraphQL {url}/graphql); "
        "graph at {url}/_sim/graph?scope=pagerduty, every scope at {url}/_sim/account",
    )


if __name__ == "__main__":
    main()
