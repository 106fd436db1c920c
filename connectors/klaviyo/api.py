"""What deskpulse sends to Klaviyo: the operations, their rate limits, and the wire quirks.

`ENDPOINTS` (connectors.endpoints' one table type) lists every request the connector can make,
with the burst (per second) and steady (per minute) limits the official OpenAPI document gives
it in `x-klaviyo-ratelimit`; a test checks the table against shared/specs/klaviyo/stable.json.
Each operation is its own bucket, named by its operationId: Klaviyo counts limits per account
and endpoint.

`KlaviyoLimiter` paces both windows of each bucket and puts a floor under `Retry-After`: a 429
that says "available in 0 seconds" would otherwise be retried at once. `read_limits` (the
client's LimitReader) reads `RateLimit-Limit`/`-Remaining`/`-Reset` (the steady window of the
endpoint just called; absent from 429 answers): a spent window blocks the endpoint until its
reset, and a stated limit below the document's becomes the endpoint's steady pace.

`KlaviyoTransport` wraps the HTTP transport: JSON:API media types on every request, and an answer
refusing the revision (400/404/410 naming it) becomes one fatal line instead of "stream skipped".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx
import orjson

from deskpulse.connectors.endpoints import Endpoint, endpoint
from deskpulse.connectors.errors import FatalError
from deskpulse.connectors.ratelimit import (
    DEFAULT_BUCKET,
    Observed,
    RateLimiter,
    header_number,
    ietf_limits,
)

JSON_API = "application/vnd.api+json"

RETRY_AFTER_FLOOR = 1.0
"""Seconds to wait after a 429 at least, whatever Retry-After says (Klaviyo sends 0)."""


_PROFILES = ("filter", "sort", "page[size]", "additional-fields[profile]")


def _operation(
    method: str, path: str, name: str, burst: int, steady: int, *params: str
) -> Endpoint:
    return endpoint(
        method,
        path,
        *params,
        bucket=name,
        operation=name,
        per_minute=steady,
        per_second=burst,
    )


ENDPOINTS: dict[str, Endpoint] = {
    "get_profiles": _operation("GET", "/api/profiles", "get_profiles", 75, 750, *_PROFILES),
    "get_events": _operation(
        "GET", "/api/events", "get_events", 350, 3500, "filter", "sort", "page[size]"
    ),
    "get_metrics": _operation("GET", "/api/metrics", "get_metrics", 10, 150, "fields[metric]"),
    "update_profile": _operation("PATCH", "/api/profiles/{id}", "update_profile", 75, 750),
    "bulk_subscribe_profiles": _operation(
        "POST", "/api/profile-subscription-bulk-create-jobs", "bulk_subscribe_profiles", 75, 750
    ),
    "get_profiles_for_list": _operation(
        "GET", "/api/lists/{id}/profiles", "get_profiles_for_list", 75, 750, "filter", "page[size]"
    ),
}
"""operationId -> request and limits, as in stable.json (revision 2026-07-15). Next pages are
`links.next` URLs, followed verbatim (their `page[cursor]` is Klaviyo's)."""


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
        steady = {n: e.per_minute for n, e in ENDPOINTS.items() if e.per_minute} if paced else None
        burst = {n: e.per_second for n, e in ENDPOINTS.items() if e.per_second} if paced else None
        super().__init__(steady, clock=clock, sleep=sleep, window=window)
        # The burst window is Klaviyo's second: a 60th of the steady window.
        self._burst = RateLimiter(burst, clock=clock, sleep=sleep, window=window / 60.0)
        self.floor = floor

    def acquire(self, bucket: str = DEFAULT_BUCKET) -> float:
        waited = super().acquire(bucket)
        waited += self._burst.acquire(bucket)
        return waited

    def portion(self, share: float) -> KlaviyoLimiter:
        # The burst budgets are the account's too: the share scales them with the steady ones.
        part = super().portion(share)
        assert isinstance(part, KlaviyoLimiter)
        if part is not self:
            part._burst = self._burst.portion(share)
        return part

    def block(self, bucket: str, seconds: float) -> None:
        # The shared client calls this with a 429's Retry-After; 0 would retry at once.
        super().block(bucket, max(seconds, self.floor))


def read_limits(bucket: str, headers: httpx.Headers) -> list[Observed]:
    """What a Klaviyo answer says of the endpoint's steady window (the IETF draft's headers):
    remaining requests, seconds to the reset, and the window's limit."""
    seen = ietf_limits(bucket, headers)
    limit = header_number(headers, "ratelimit-limit")
    stated = ENDPOINTS[bucket].per_minute if bucket in ENDPOINTS else None
    if seen and limit is not None and 0 < limit < (stated or math.inf):
        return [seen[0]._replace(limit=int(limit))]
    return seen


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
    "ENDPOINTS",
    "JSON_API",
    "RETRY_AFTER_FLOOR",
    "KlaviyoLimiter",
    "KlaviyoTransport",
    "RevisionRejected",
    "error_detail",
    "read_limits",
]
