"""What `make demo` prints: where to look, the line that points the CLI at the demo, and
the report findings planted in its account."""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from sim.demo_changes import DemoAccount
from sim.jupiterone import JupiterOneSim

# What `pdgraph check`, `report`, `changes` and `export` read to work against the demo (never
# the webhook secrets or read tokens: the CLI needs neither).
CLI_VARIABLES = (
    "PAGERDUTY_API_KEY",
    "PAGERDUTY_API_URL",
    "REDIS_URL",
    "GRAPH_SINK",
    "LOCAL_GRAPH_PATH",
    "JUPITERONE_ACCOUNT_ID",
    "JUPITERONE_API_KEY",
    "JUPITERONE_API_URL",
    "JUPITERONE_GRAPHQL_URL",
    "AUDIT_POLL_SECONDS",
)


def say(message: str) -> None:
    print(f"demo   | {message}", flush=True)


def redis_location(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def cli_exports(env: dict[str, str]) -> str:
    """`export NAME=value ...`: what a newcomer pastes into a shell to run the CLI against
    the demo. A Redis password (of a --redis-url) is left out, never printed."""
    values = {name: env[name] for name in CLI_VARIABLES if name in env}
    if urlsplit(values["REDIS_URL"]).password:
        values["REDIS_URL"] = redis_location(values["REDIS_URL"])
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())


def print_where_to_look(
    port: int, env: dict[str, str], j1: JupiterOneSim | None, demo: DemoAccount
) -> None:
    token = env["READ_TOKENS"]
    # The token as basic auth's password: a browser opens the page with it, no prompt.
    say(f"status page:  http://demo:{token}@127.0.0.1:{port}/status")
    say(f"report:       http://demo:{token}@127.0.0.1:{port}/report")
    say(
        f"or:           curl -H 'Authorization: Bearer {token}' "
        f"-H 'Accept: application/json' http://127.0.0.1:{port}/status"
    )
    if j1 is not None:
        say(f"the graph:    curl '{j1.url}/_sim/graph?scope=pagerduty'")
    else:
        say(f"the graph:    LOCAL_GRAPH_PATH={env['LOCAL_GRAPH_PATH']} .venv/bin/pdgraph export")
    say(f"metrics:      curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/metrics")
    say(f"the CLI:      {cli_exports(env)}")
    if urlsplit(env["REDIS_URL"]).password:
        say("              (REDIS_URL without its password: add yours)")
    say("              then .venv/bin/pdgraph report (or check, changes) in that shell")
    say(
        "who made whom an admin: .venv/bin/pdgraph changes --source pagerduty "
        f"--actor {demo.admin.id}"
    )
    say("a user or team changes now and then: 'people change:' lines say which, and who")
    say("Ctrl-C stops everything")


def print_planted(demo: DemoAccount) -> None:
    """The example of each report check planted in the account: graph key and name."""
    account = demo.account
    names = {
        **{f"user:{i}": u["name"] for i, u in account.users.items()},
        **{f"service:{i}": s["name"] for i, s in account.services.items()},
        **{f"escalation_policy:{i}": p.name for i, p in account.policies.items()},
        **{f"schedule:{i}": s.name for i, s in account.schedules.items()},
        **{
            f"business_service:{i}": b["name"] for i, b in account.catalog.business_services.items()
        },
    }
    say("the report finds, among others, what the demo account has planted:")
    width = max(map(len, demo.findings))
    for check, keys in demo.findings.items():
        say(f"  {check:<{width}}  {', '.join(f'{k} ({names[k]})' for k in keys)}")
