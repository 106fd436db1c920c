"""What deskpulse sends to Klaviyo: the operations, their rate limits, and the wire quirks.

`OPERATIONS` lists every request the connector can make, with the burst (per second) and steady
(per minute) limits the official OpenAPI document gives it in `x-klaviyo-ratelimit`; a test
checks the table against shared/specs/klaviyo/stable.json. Each operation is its own bucket:
Klaviyo counts limits per account and endpoint.

`KlaviyoLimiter` paces both windows of each bucket, reads `RateLimit-Remaining`/`RateLimit-Reset`
(the steady window of the endpoint just called; absent from 429 answers) and puts a floor under
`Retry-After`: a 429 that says "available in 0 seconds" would otherwise be retried at once.

`KlaviyoTransport` wraps the HTTP transport: JSON:API media types on every request, and an answer
refusing the revision (400/404/410 naming it) becomes one fatal line instead of "stream skipped".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from deskpulse.connectors.errors import FatalError
from deskpulse.connectors.http import DEFAULT_BUCKET, RateLimiter

JSON_API = "application/vnd.api+json"

RETRY_AFTER_FLOOR = 1.0
"""Seconds to wait after a 429 at least, whatever Retry-After says (Klaviyo sends 0)."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    burst: int  # requests per second
    steady: int  # requests per minute


OPERATIONS: dict[str, Operation] = {
    "get_profiles": Operation("GET", "/api/profiles", 75, 750),
    "get_events": Operation("GET", "/api/events", 350, 3500),
    "get_metrics": Operation("GET", "/api/metrics", 10, 150),
    "update_profile": Operation("PATCH", "/api/profiles/{id}", 75, 750),
    "bulk_subscribe_profiles": Operation(
        "POST", "/api/profile-subscription-bulk-create-jobs", 75, 750
    ),
    "get_profiles_for_list": Operation("GET", "/api/lists/{id}/profiles", 75, 750),
}
"""operationId -> request and limits, as in stable.json (revision 2026-07-15)."""


class RevisionRejected(FatalError):
    """Klaviyo refused the `revision` header: retired, unknown or malformed."""


class KlaviyoLimiter(RateLimiter):
    """Steady (per minute) pacing per operation in this limiter, burst (per second) pacing in a
    second one; Klaviyo's `RateLimit-*` headers block a bucket whose window is spent."""

    def __init__(
        self,
        paced: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        floor: float = RETRY_AFTER_FLOOR,
        window: float = 60.0,
    ) -> None:
        steady = {name: op.steady for name, op in OPERATIONS.items()} if paced else None
        burst = {name: op.burst for name, op in OPERATIONS.items()} if paced else None
        super().__init__(steady, clock=clock, sleep=sleep, window=window)
        # The burst window is Klaviyo's second: a 60th of the steady window.
        self._burst = RateLimiter(burst, clock=clock, sleep=sleep, window=window / 60.0)
        self.floor = floor

    def acquire(self, bucket: str = DEFAULT_BUCKET) -> float:
        waited = super().acquire(bucket)
        waited += self._burst.acquire(bucket)
        return waited

    def block(self, bucket: str, seconds: float) -> None:
        # The shared client calls this with a 429's Retry-After; 0 would retry at once.
        super().block(bucket, max(seconds, self.floor))

    def update(self, bucket: str, headers: httpx.Headers) -> None:
        remaining = _number(headers.get("ratelimit-remaining"))
        if remaining is not None and remaining <= 0:
            reset = _number(headers.get("ratelimit-reset"))
            self.block(bucket, reset if reset is not None else 60.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class KlaviyoTransport(httpx.BaseTransport):
    """JSON:API content negotiation and the revision check, around the real transport."""

    def __init__(self, inner: httpx.BaseTransport, revision: str) -> None:
        self._inner = inner
        self._revision = revision

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Accept"] = JSON_API
        if request.method in ("POST", "PATCH", "PUT"):
            request.headers["Content-Type"] = JSON_API
        response = self._inner.handle_request(request)
        if response.status_code in (400, 404, 410):
            response.read()
            detail = _error_detail(response.content)
            if response.status_code == 410 or "revision" in detail.lower():
                raise RevisionRejected(
                    f"klaviyo: the API refused revision {self._revision} "
                    f"({response.status_code}{': ' + detail if detail else ''}); set "
                    "KLAVIYO_REVISION to a current revision (deskpulse is tested with "
                    "2026-07-15)"
                )
        return response

    def close(self) -> None:
        self._inner.close()


def _error_detail(content: bytes) -> str:
    """The first JSON:API error's detail (or title), cut to one short line."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    text = errors[0].get("detail") or errors[0].get("title") or ""
    return " ".join(str(text).split())[:160]


def error_detail(content: bytes) -> str:
    return _error_detail(content)


__all__ = [
    "JSON_API",
    "OPERATIONS",
    "RETRY_AFTER_FLOOR",
    "KlaviyoLimiter",
    "KlaviyoTransport",
    "Operation",
    "RevisionRejected",
    "error_detail",
]
