"""PagerDuty v3 webhooks from a simulated account: signed, one event per POST, with the
redeliveries, duplicates and reordering real deliveries bring."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests


@dataclass
class Delivery:
    """One webhook delivery: re-sending it re-sends the same body and X-Webhook-Id."""

    webhook_id: str
    event_type: str
    body: bytes
    statuses: list[int] = field(default_factory=list)  # 0: no answer (connection error)

    @property
    def delivered(self) -> bool:
        return any(200 <= status < 300 for status in self.statuses)


class WebhookSender:
    """Delivers an Account's events as signed PagerDuty v3 webhooks (one event per POST).

    `hold = True` keeps deliveries back until `release()` (in any order, for out-of-order
    tests); `redeliver()` repeats one (duplicates); `retry_failed()` re-sends those that got
    no 2xx, as PagerDuty does for 5xx, 429 and timeouts.
    """

    def __init__(
        self, url: str, secrets: list[str], subscription_id: str = "PSUBSIM1", timeout: float = 10
    ) -> None:
        self.url = url
        self.secrets = secrets
        self.subscription_id = subscription_id
        self.timeout = timeout
        self.hold = False
        self.deliveries: list[Delivery] = []
        self.held: list[Delivery] = []
        self._session = requests.Session()
        self._lock = threading.Lock()

    def __call__(self, event_type: str, resource_type: str, data: dict[str, Any]) -> None:
        event = {
            "id": f"01{uuid.uuid4().hex[:24].upper()}",
            "event_type": event_type,
            "resource_type": resource_type,
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "agent": None,
            "client": None,
            "data": data,
        }
        body = json.dumps({"event": event}, ensure_ascii=False).encode("utf-8")
        delivery = Delivery(str(uuid.uuid4()), event_type, body)
        with self._lock:
            self.deliveries.append(delivery)
            if self.hold:
                self.held.append(delivery)
                return
        self.send(delivery)

    def ping(self) -> Delivery:
        self("pagey.ping", "pagey", {"message": "Hello from your friend Pagey!", "type": "ping"})
        return self.deliveries[-1]

    def signature(self, body: bytes) -> str:
        return ", ".join(
            "v1=" + hmac.new(s.encode("utf-8"), body, hashlib.sha256).hexdigest()
            for s in self.secrets
        )

    def send(self, delivery: Delivery) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-PagerDuty-Signature": self.signature(delivery.body),
            "X-Webhook-Id": delivery.webhook_id,
            "X-Webhook-Subscription": self.subscription_id,
        }
        try:
            status = self._session.post(
                self.url, data=delivery.body, headers=headers, timeout=self.timeout
            ).status_code
        except requests.RequestException:
            status = 0
        delivery.statuses.append(status)
        return status

    def redeliver(self, delivery: Delivery) -> int:
        return self.send(delivery)

    def release(self, order: Callable[[list[Delivery]], list[Delivery]] = list) -> None:
        with self._lock:
            held, self.held = self.held, []
        for delivery in order(held):
            self.send(delivery)

    def retry_failed(self) -> int:
        """Re-send every delivery not yet accepted; how many are still not accepted."""
        pending = [d for d in self.deliveries if not d.delivered and d not in self.held]
        for delivery in pending:
            self.send(delivery)
        return sum(1 for d in pending if not d.delivered)
