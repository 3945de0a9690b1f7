"""`python -m sim.pagerduty --users N --port P`: serve a generated account until Ctrl-C."""

from __future__ import annotations

import argparse

from sim._http import serve_until_interrupted
from sim.pagerduty.account import Account
from sim.pagerduty.server import PagerDutySim


def main() -> None:
    parser = argparse.ArgumentParser(description="A PagerDuty REST API v2 simulator.")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--api-key", default="sim-api-key")
    parser.add_argument("--rate-limit", type=int, default=None)
    parser.add_argument(
        "--audit-records",
        choices=("ok", "402", "403"),
        default="ok",
        help="402: plan without the Audit Trail; 403: key not admin or account-level",
    )
    args = parser.parse_args()
    sim = PagerDutySim(
        Account.generate(args.seed, args.users),
        args.api_key,
        rate_limit=args.rate_limit,
        audit_records=args.audit_records,
    )
    serve_until_interrupted(
        sim, args.port, f"PagerDuty simulator with {args.users} users at {{url}}"
    )


if __name__ == "__main__":
    main()
