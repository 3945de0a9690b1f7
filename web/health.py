"""Liveness and readiness for the platform's checks, and `/` leading people to /status."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, redirect, url_for
from flask.typing import ResponseReturnValue

from web.auth import public
from web.replies import reply
from web.state import web_state

health = Blueprint("health", __name__)


@health.get("/")
@public  # only a redirect: /status asks for the token
def index() -> ResponseReturnValue:
    return redirect(url_for("status.status_page"))


@health.get("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """The process answers (Redis is not asked: a Redis outage must not restart web)."""
    return reply(200, "alive")


@health.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    try:
        web_state().connection.ping()
    except redis.RedisError:
        return reply(503, "Redis does not answer")
    return reply(200, "ready")
