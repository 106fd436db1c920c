"""The webhook seam: how a vendor's signed "something changed" request becomes a hint.

A connector class that can receive webhooks declares `webhook_verifier(secret) -> Verifier`
(a static method, like `ticket_field_problem`). The daemon's receiver (sync.webhooks) hands the
verifier the request exactly as it came (lower-cased header names, the query string's values,
the raw body) and gets back a `Hint`, or `Unverified` with a reason that never holds the secret
nor the signature. Everything vendor-specific (header names, signing scheme, body shape) is in
the verifier; the receiver does what is the same for every vendor: the size cap, the replay
window on `Hint.sent_at`, duplicate delivery ids, the 401, the debounce.

A hint is never data: it names what changed (`ticket_ids`, empty when the vendor's webhook names
nothing the connector can read one at a time) and the daemon reads that through the API.

Connectors that can read named tickets say READ_TICKETS in `capabilities` and implement
`TicketReader`: streams that read only those tickets (and what their per-ticket values need),
whose pages carry no cursor, so a webhook never moves one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from deskpulse.connectors.base import Stream

READ_TICKETS = "read:tickets"
"""Capability: read named tickets on demand (`TicketReader`)."""


class Unverified(Exception):
    """The request is not a genuine delivery: answered 401, nothing done. The message says why
    in words an operator can act on ("stale timestamp"), never with the secret or signature."""


class Malformed(Exception):
    """A genuine delivery (its signature holds) that names nothing readable: answered 400."""


@dataclass(frozen=True)
class Hint:
    """What a verified delivery says changed. `delivery` is the vendor's id of this delivery
    (a retry of it carries the same id), `sent_at` the signed time it was sent (None when the
    vendor signs no time: a shared secret)."""

    ticket_ids: tuple[str, ...] = ()
    delivery: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Request:
    """One webhook request as received: header names lower-cased, query values, raw body."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@runtime_checkable
class Verifier(Protocol):
    def verify(self, request: Request) -> Hint:
        """The hint of a genuine delivery; raises Unverified otherwise. Constant time in the
        secret (`same`)."""
        ...


class SecretVerifier:
    """A base for vendors' verifiers: holds the secret, never shows it (`repr`)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(secret=***)"


@runtime_checkable
class TicketReader(Protocol):
    def ticket_streams(self, ticket_ids: Sequence[str]) -> Sequence[Stream]:
        """Streams reading these tickets now (their pages have `cursor=None`)."""
        ...


def hmac_sha256(secret: str, *parts: bytes) -> bytes:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def same(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a received signature or token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def parse_time(text: str | None) -> datetime:
    """A signed timestamp: ISO 8601 (`2026-12-05T10:00:00Z`) or epoch seconds."""
    if not text:
        raise Unverified("no signature timestamp")
    text = text.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise Unverified("unreadable signature timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = [
    "READ_TICKETS",
    "Hint",
    "Malformed",
    "Request",
    "SecretVerifier",
    "TicketReader",
    "Unverified",
    "Verifier",
    "b64",
    "hmac_sha256",
    "parse_time",
    "same",
]
