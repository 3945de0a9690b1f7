"""PagerDuty tags → the `tags` property of users, teams and escalation policies (SPEC §5).

Tags have no entity of their own. A full sync and the light refresh read `/tags` and, per
tag, the users, teams and policies tagged with it (1 + 3 requests a tag: cheaper than one
request per object); an object re-read on its own reads `/{users|teams|escalation_policies}
/{id}/tags`. Tags send no webhook and no audit record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from common.clients.pagerduty.errors import PagerDutyNotFoundError
from common.clients.pagerduty.listings import Listing, object_id
from common.graph import PropertyValue
from common.objects.base import AccountRead, Build, ObjectKind, PagerDutyObject, key_of

if TYPE_CHECKING:
    from common.clients.pagerduty import PagerDutyClient

# The listing of what a tag is on → the kind of object it names.
TAGGED = {"users": "user", "teams": "team", "escalation_policies": "escalation_policy"}


def _pages(client: PagerDutyClient, path: str, key: str) -> Sequence[PagerDutyObject]:
    """Every page of a small listing; nothing when PagerDuty answers 404 (deleted)."""
    try:
        return client.listings.all_pages(Listing(path, key, [], object_id))
    except PagerDutyNotFoundError:
        return []


def list_tags(client: PagerDutyClient, _: AccountRead) -> Sequence[PagerDutyObject]:
    return read_tags(client)


def read_tags(client: PagerDutyClient) -> Sequence[PagerDutyObject]:
    """Every tag with the keys of the users, teams and policies it is on."""
    tags: list[PagerDutyObject] = []
    for tag in client.listings.all_pages(Listing("/tags", "tags", [], object_id)):
        keys = [
            key_of(kind, str(obj["id"]))
            for path, kind in TAGGED.items()
            for obj in _pages(client, f"/tags/{tag['id']}/{path}", path)
        ]
        tags.append({"id": tag["id"], "label": str(tag.get("label") or ""), "keys": keys})
    return tags


def with_tags(tags: Sequence[PagerDutyObject], build: Build) -> Build:
    labels: dict[str, set[str]] = {}
    for tag in tags:
        for key in tag["keys"]:
            labels.setdefault(key, set()).add(tag["label"])
    return replace(build, tags={key: tuple(sorted(found)) for key, found in labels.items()})


def object_tags(client: PagerDutyClient, kind: str, object_id_: str, build: Build) -> Build:
    """`build` with the tags of one object (`/{kind}s/{id}/tags`), for its re-read alone."""
    path = next(p for p, k in TAGGED.items() if k == kind)
    found = _pages(client, f"/{path}/{object_id_}/tags", "tags")
    labels = tuple(sorted({str(t.get("label") or "") for t in found}))
    return replace(build, tags={**build.tags, key_of(kind, object_id_): labels})


def tag_properties(key: str, build: Build) -> dict[str, PropertyValue]:
    """`tags` (sorted labels) when the object has any."""
    labels = build.tags.get(key)
    return {"tags": list(labels)} if labels else {}


KIND = ObjectKind(
    name="tag",
    listing="tags",
    stage=1,
    write_order=9,
    list_all=list_tags,
    prepare=with_tags,
    light_refresh=True,
)
