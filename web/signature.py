"""PagerDuty v3 webhook signatures (developer-docs: webhooks/webhook-signatures).

`X-PagerDuty-Signature` holds comma-separated `v1=<hex>` entries, each
hex(HMAC-SHA256(secret, raw body)); several appear while a secret is rotated. A match of
any entry against any configured secret is valid. Verify the raw bytes as received.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


class MalformedHeader(Exception):
    """The signature header is missing or holds no `v1=` entry (answer 400)."""


class InvalidSignature(Exception):
    """No entry matches any configured secret (answer 403)."""


def signatures_in(header: str | None) -> list[bytes]:
    """The `v1=` signatures of the header, spaces around entries stripped."""
    if not header:
        raise MalformedHeader("X-PagerDuty-Signature is missing")
    entries = [entry.strip() for entry in header.split(",")]
    found = [e[3:].strip().encode("utf-8", "replace") for e in entries if e.startswith("v1=")]
    if not found:
        raise MalformedHeader("X-PagerDuty-Signature has no v1= entry")
    return found


def sign(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[bytes]) -> None:
    """Return if any signature matches any secret; raise MalformedHeader / InvalidSignature."""
    signatures = signatures_in(header)
    matched = False
    for secret in secrets:
        expected = sign(secret, body).encode("ascii")
        for signature in signatures:
            # compare_digest: constant time, so a forger learns nothing from response times
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise InvalidSignature("no signature matches a configured secret")
