"""`pdgraph webhooks subscribe`: the account's v3 webhook subscription, made once."""

from __future__ import annotations

import click

from common.clients.pagerduty import PagerDutyError, client_from_settings
from common.config import ConfigError
from common.signals import SUBSCRIBED_EVENTS
from worker.cli.base import EXIT_CONFIG, fail, fail_configuration, settings_for_command


@click.group()
def webhooks() -> None:
    """PagerDuty webhook subscriptions."""


@webhooks.command()
@click.option("--url", required=True, help="Public https URL of /webhooks/pagerduty.")
def subscribe(url: str) -> None:
    """Create the account-wide v3 subscription and print its signing secret (once).

    Exit 1 when a subscription for the URL exists or PagerDuty fails; 2 when the URL is
    not https or the configuration is wrong.
    """
    if not url.startswith("https://"):
        fail("--url must be an https:// URL (PagerDuty delivers to HTTPS only)", EXIT_CONFIG)
    settings = settings_for_command()
    try:
        client = client_from_settings(settings, None)
        existing = [
            sub
            for sub in client.webhook_subscriptions()
            if (sub.get("delivery_method") or {}).get("url") == url
        ]
        if existing:
            fail(
                f"a subscription for {url} already exists ({existing[0]['id']}); not creating"
                " another"
            )
        created = client.create_webhook_subscription(
            url, SUBSCRIBED_EVENTS, "pdgraph: keeps the JupiterOne graph of this account live"
        )
    except ConfigError as exc:
        fail_configuration(exc)
    except PagerDutyError as exc:
        fail(str(exc))
    secret = created["delivery_method"].get("secret", "")
    click.echo(
        f"created subscription {created['id']} for {url} ({len(SUBSCRIBED_EVENTS)} event types)"
    )
    click.echo(f"signing secret (PagerDuty shows it only now): {secret}")
    click.echo("add it to PAGERDUTY_WEBHOOK_SECRETS (comma-separated with any current one)")
