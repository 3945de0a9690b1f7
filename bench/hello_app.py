"""Baseline for bench/ingest.py: the same route, doing nothing (no signature, no Redis)."""

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/pagerduty")
    def accept() -> tuple[str, int]:
        return "", 202

    return app
