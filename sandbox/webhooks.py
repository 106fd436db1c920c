"""The sandbox's outgoing webhooks: what a vendor does when a ticket changes.

Each host has an `Outbox`. Its targets come from the dialect's own API where the vendor has one
(Zendesk: `POST /api/v2/webhooks` and a trigger whose action is `notification_webhook`,
sandbox.zendesk.hooks) or from `POST /__sandbox/webhooks` (any dialect):
`{"url", "secret", "body": "{\"ticket_id\": \"{{ticket.id}}\"}"}`. A change to a ticket (through
the API, or the generated activity of `POST /__sandbox/activity`) becomes one delivery per
target, signed as the vendor signs (the dialect's `sign_webhook`, else `sign_token`), posted by one sender thread, retried on a non-2xx
answer or a connection error (RETRIES times, RETRY_WAIT seconds doubling), with a delivery log at
`GET /__sandbox/webhooks/deliveries` (cleared with DELETE).

`POST /__sandbox/webhooks/faults` `{"drop": 0.2, "duplicate": 0.1, "delay": 2.0, "reorder": 0.5,
"seed": 7}` makes deliveries go wrong as a network and a vendor's queue do: dropped (never sent,
logged `dropped`), sent twice, held `delay` seconds, or held back behind the next one
(reordered); drawn from their own seeded random stream.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

RETRIES = 3
RETRY_WAIT = 0.5


def sign_token(secret: str, body: bytes, delivery: str) -> dict[str, str]:
    """The default: the shared token in deskpulse's header, as a rule's HTTP request sends it
    (a dialect whose vendor signs its deliveries declares `sign_webhook`)."""
    return {"X-Deskpulse-Token": secret}


Signer = Callable[[str, bytes, str], dict[str, str]]


def hmac_sha256(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Target:
    url: str
    secret: str
    body: str = '{"ticket_id": "{{ticket.id}}"}'


@dataclass
class Delivery:
    id: str
    url: str
    ticket_id: str
    body: bytes
    secret: str
    due: float
    attempts: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "pending"  # delivered | failed | dropped

    def log(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "ticket_id": self.ticket_id,
                "attempts": self.attempts, "outcome": self.outcome}  # fmt: skip


@dataclass
class Faults:
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    seed: int = 0


class Outbox:
    """One host's deliveries: targets, the queue, the sender thread and its log."""

    def __init__(self, sign: Signer = sign_token) -> None:
        self.sign = sign
        self.targets: list[Target] = []
        self.faults = Faults()
        self._random = random.Random(0)
        self._queue: list[Delivery] = []
        self._log: list[Delivery] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.client = httpx.Client(timeout=5.0)
        self.targets_of: Callable[[], list[Target]] = lambda: list(self.targets)
        """Where a change goes (Zendesk: its active triggers' webhooks, sandbox.zendesk.hooks)."""

    def configure(self, doc: Any) -> None:
        if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
            raise ValueError('expected {"url": ..., "secret": ...}')
        self.targets.append(Target(doc["url"], str(doc.get("secret") or ""),
                                   str(doc.get("body") or Target.body)))  # fmt: skip

    def set_faults(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise ValueError("expected an object of drop, duplicate, delay, reorder, seed")
        values = {k: doc[k] for k in ("drop", "duplicate", "delay", "reorder", "seed") if k in doc}
        with self._cond:
            self.faults = Faults(**values)
            self._random = random.Random(self.faults.seed)

    def changed(self, ticket_id: int | str) -> None:
        """A ticket changed: one delivery per target."""
        now = time.monotonic()
        with self._cond:
            for target in self.targets_of():
                body = target.body.replace("{{ticket.id}}", str(ticket_id))
                body = body.replace("{$conversation_id}", str(ticket_id))
                d = Delivery(uuid.uuid4().hex, target.url, str(ticket_id), body.encode(),
                             target.secret, now)  # fmt: skip
                self._log.append(d)
                f, r = self.faults, self._random
                if f.drop and r.random() < f.drop:
                    d.outcome = "dropped"
                    continue
                if f.delay:
                    d.due = now + f.delay
                if f.reorder and r.random() < f.reorder:
                    d.due += 0.2  # behind whatever comes next
                self._queue.append(d)
                if f.duplicate and r.random() < f.duplicate:
                    self._queue.append(d)  # the same delivery twice (same id)
            self._start()
            self._cond.notify_all()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.log() for d in self._log]

    def clear(self) -> None:
        with self._cond:
            self._log.clear()
            self._queue.clear()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_loop, daemon=True,
                                            name="sandbox-webhooks")  # fmt: skip
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.client.close()

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                ready = [d for d in self._queue if d.due <= now]
                if ready:
                    d = min(ready, key=lambda x: x.due)
                    self._queue.remove(d)
                    return d
                wait = min((d.due - now for d in self._queue), default=1.0)
                self._cond.wait(max(0.01, wait))
            return None

    def _send_loop(self) -> None:
        while (d := self._next()) is not None:
            self._send(d)

    def _send(self, d: Delivery) -> None:
        headers = {"Content-Type": "application/json", **self.sign(d.secret, d.body, d.id)}
        error: str | None = None
        try:
            status = self.client.post(d.url, content=d.body, headers=headers).status_code
        except httpx.HTTPError as exc:
            status, error = 0, type(exc).__name__
        with self._cond:
            d.attempts.append({"status": status, "error": error, "at": time.time()})
            if 200 <= status < 300:
                d.outcome = "delivered"
            elif len(d.attempts) > RETRIES:
                d.outcome = "failed"
            else:
                d.due = time.monotonic() + RETRY_WAIT * 2 ** (len(d.attempts) - 1)
                self._queue.append(d)


def control(outbox: Outbox, method: str, path: str, body: bytes) -> tuple[int, Any] | None:
    """`/__sandbox/webhooks[...]` for a host; None when the path is not one of these."""
    try:
        doc = json.loads(body or b"null")
        if path == "/__sandbox/webhooks" and method == "POST":
            outbox.configure(doc)
            return 200, {"targets": len(outbox.targets)}
        if path == "/__sandbox/webhooks/faults" and method == "POST":
            outbox.set_faults(doc)
            return 200, vars(outbox.faults)
    except ValueError as exc:
        return 400, {"error": "InvalidWebhook", "description": str(exc)}
    if path == "/__sandbox/webhooks/deliveries":
        if method == "GET":
            return 200, {"deliveries": outbox.deliveries()}
        if method == "DELETE":
            outbox.clear()
            return 200, {"deliveries": []}
    return None


__all__ = ["Outbox", "Signer", "control", "hmac_sha256", "now_stamp", "sign_token"]
