"""PagerDuty's vendor catalog (`GET /vendors`), a fixed few of it: what an integration's
`vendor` names. The spec's `Vendor`: id, type, summary, self, name, website_url, logo_url,
thumbnail_url, description, integration_guide_url (its example has no html_url)."""

from __future__ import annotations

from typing import Any

from sim.pagerduty.objects import HOST

ASSETS = "https://assets.pagerduty.test/vendors"


def _vendor(vendor_id: str, name: str, website_url: str, description: str) -> dict[str, Any]:
    slug = name.lower().replace(" ", "_")
    return {
        "id": vendor_id,
        "type": "vendor",
        "summary": name,
        "self": f"{HOST}/vendors/{vendor_id}",
        "name": name,
        "website_url": website_url,
        "logo_url": f"{ASSETS}/{slug}_large.png",
        "thumbnail_url": f"{ASSETS}/{slug}_thumb.png",
        "description": description,
        "integration_guide_url": f"{ASSETS}/{slug}-integration-guide/",
    }


# id -> vendor, in the listing's order (by name); Amazon CloudWatch has the spec example's id
VENDORS: dict[str, dict[str, Any]] = {
    v["id"]: v
    for v in (
        _vendor(
            "PZQ6AUS",
            "Amazon CloudWatch",
            "https://aws.amazon.com/cloudwatch",
            "Amazon Web Services CloudWatch provides monitoring for AWS cloud resources and "
            "customer-run applications.",
        ),
        _vendor(
            "PVDTDG1",
            "Datadog",
            "https://www.datadoghq.com",
            "Datadog monitors servers, databases, tools and services and alerts on them.",
        ),
        _vendor(
            "PVNRLC1",
            "New Relic",
            "https://newrelic.com",
            "New Relic's application performance monitoring alerts on slow or failing apps.",
        ),
        _vendor(
            "PVPRMT1",
            "Prometheus",
            "https://prometheus.io",
            "Prometheus' Alertmanager sends the alerts of Prometheus' metrics rules.",
        ),
        _vendor(
            "PVSPLK1",
            "Splunk",
            "https://www.splunk.com",
            "Splunk searches, monitors and alerts on machine data.",
        ),
    )
}

# the integration type PagerDuty creates for a vendor's integration (the generated catalog's)
INTEGRATION_TYPES = {
    "PZQ6AUS": "aws_cloudwatch_inbound_integration",
    "PVDTDG1": "events_api_v2_inbound_integration",
    "PVNRLC1": "events_api_v2_inbound_integration",
    "PVPRMT1": "events_api_v2_inbound_integration",
    "PVSPLK1": "events_api_v2_inbound_integration",
}


def vendor_ref(vendor_id: str) -> dict[str, Any]:
    """An integration's `vendor`: as the spec's example, id, type, summary and self."""
    vendor = VENDORS[vendor_id]
    return {
        "id": vendor_id,
        "type": "vendor_reference",
        "summary": vendor["name"],
        "self": vendor["self"],
    }
