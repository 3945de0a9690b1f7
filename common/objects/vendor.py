"""PagerDuty vendors → `pagerduty_vendor` entities (Vendor: the monitoring tool behind an
integration); only vendors some integration uses (SPEC §5).

Read after the integrations: `/vendors` (a few hundred, paged), kept where used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.clients.pagerduty.listings import Listing, object_id
from common.graph import PropertyValue
from common.objects.base import (
    AccountRead,
    Build,
    ObjectKind,
    PagerDutyObject,
    common_properties,
    without_nulls,
)
from common.objects.integration import vendor_id

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

VENDOR = "pagerduty_vendor"


def list_vendors(client: PagerDutyClient, read: AccountRead) -> Sequence[PagerDutyObject]:
    """The vendors the listed integrations use (none read when none is used)."""
    used = {vendor_id(i) for i in read.listings.get("integrations", ())} - {None}
    if not used:
        return []
    vendors = client.listings.all_pages(Listing("/vendors", "vendors", [], object_id))
    return [v for v in vendors if v["id"] in used]


def vendor_properties(vendor: PagerDutyObject, build: Build) -> dict[str, PropertyValue]:
    properties: dict[str, PropertyValue] = {
        **common_properties(vendor, build.account_name),
        "category": ["software"],
        "website": vendor.get("website_url") or None,
    }
    return without_nulls(properties)


KIND = ObjectKind(
    name="vendor",
    listing="vendors",
    stage=3,
    write_order=5,
    list_all=list_vendors,
    entity_type=VENDOR,
    entity_class="Vendor",
    properties=vendor_properties,
    unannounced=True,
)
