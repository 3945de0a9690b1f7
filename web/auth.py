"""Read tokens (SPEC §2 `READ_TOKENS`, §4): every view needs one unless marked `public`;
and the answers of those views are paced to the readers' output rate (web/readers.py).

The graph the read endpoints show is the account's roster (names, e-mail addresses, who
is an admin, who is on call): closed unless the request carries a `READ_TOKENS` token,
as `Authorization: Bearer <token>` (Prometheus' `authorization` / `bearer_token`) or as
the password of HTTP basic auth with any user name (a browser's login prompt). Closed by
default: a view someone adds later needs a token until it is marked `public`. Without
any token configured every closed view stays closed, and the answer says how to open it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from web.readers import ReadersBusy
from web.replies import busy, reply
from web.state import web_state

View = TypeVar("View", bound=Callable[..., Any])

CHALLENGE = 'Basic realm="pdgraph"'
NOT_CONFIGURED = (
    "closed: no read token is configured; set READ_TOKENS (comma-separated, each at least "
    "16 characters) and send one as 'Authorization: Bearer <token>' or as the basic-auth "
    "password"
)
NO_CREDENTIAL = (
    "a read token is needed: 'Authorization: Bearer <token>', or basic auth with the "
    "token as password (any user name)"
)


def public(view: View) -> View:
    """Mark a view as open to anyone (health checks; the webhook, whose signature is its
    credential)."""
    view.pdgraph_public = True  # type: ignore[attr-defined]
    return view


def require_read_tokens(app: Flask) -> None:
    """Ask every request to a view not marked `public` for a read token."""
    app.before_request(_check_read_token)


def pace_readers(app: Flask) -> None:
    """Hold every answer of a view not marked `public` to the readers' output rate."""
    app.after_request(_pace)


def is_public() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and getattr(view, "pdgraph_public", False)


def presented_token() -> bytes | None:
    """The token the request's Authorization header carries (bearer, or basic auth's
    password), as werkzeug parses it."""
    parsed = request.authorization
    if parsed is None:
        return None
    if parsed.type == "bearer" and parsed.token:
        return parsed.token.encode("utf-8")
    if parsed.type == "basic" and parsed.password:
        return parsed.password.encode("utf-8")
    return None


def token_matches(candidate: bytes, tokens: list[bytes]) -> bool:
    """Constant time whichever token matches, or none: every one is compared."""
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token)
    return matched


def _check_read_token() -> ResponseReturnValue | None:
    if is_public():
        return None
    tokens = web_state().settings.read_token_values()
    if not tokens:
        return _unauthorized(NOT_CONFIGURED)
    candidate = presented_token()
    if candidate is None or not token_matches(candidate, tokens):
        return _unauthorized(NO_CREDENTIAL)
    return None


def _unauthorized(message: str) -> ResponseReturnValue:
    response, status = reply(401, message)
    response.headers["WWW-Authenticate"] = CHALLENGE
    response.headers["Cache-Control"] = "no-store"
    return response, status


def _pace(response: Response) -> Response:
    if is_public():
        return response
    try:
        web_state().readers.pace(response.content_length or 0)
    except ReadersBusy:
        busy_response, status = busy()
        busy_response.status_code = status
        return busy_response
    return response
