"""Klaviyo connector: profiles, orders, refunds and engagement, joined to support by e-mail.

Quirks of the API, recorded where the code that handles them lives:

Auth and revision
    A private API key in `Authorization: Klaviyo-API-Key <key>` (KLAVIYO_API_KEY), and a
    `revision: YYYY-MM-DD` header on every call (KLAVIYO_REVISION, pinned to the revision of
    shared/specs/klaviyo/stable.json, 2026-07-15; a warning when the pin is more than a year
    old: Klaviyo deprecates a revision after a year and retires it after two). An answer that
    refuses the revision (410, or 400/404 naming it) stops the connector with one line saying
    to move the pin (`api.KlaviyoTransport`), instead of every stream being "skipped".
    Host `https://a.klaviyo.com` unless KLAVIYO_BASE_URL says otherwise (the sandbox).

JSON:API
    Media type `application/vnd.api+json` both ways; records in `data` as
    `{type, id, attributes, relationships, links}`; the next page's full URL in `links.next`,
    followed verbatim (the page cursor inside is opaque, and the URL carries the first
    request's filter and sort). Filters are `op(field,value)`, several joined by commas;
    strings quoted, datetimes NOT quoted (`greater-or-equal(datetime,2026-01-01T00:00:00+00:00)`:
    a quoted datetime is an invalid filter).

Streams and cursors (see `streams`)
    profiles           GET /api/profiles, `greater-than(updated, since - overlap)`, sort updated,
                       100 a page, with `additional-fields[profile]=subscriptions` (consent) and
                       `predictive_analytics` when KLAVIYO_PREDICTIVE=true (Klaviyo's historic and
                       predicted CLV and churn probability, kept in customers.extra beside our own
                       figures, never mixed into them).
    orders             "Placed Order" events -> orders keyed by `$event_id` (the order id that
                       refunds and cancellations repeat), amount `$value`.
    order_adjustments  "Refunded Order" / "Cancelled Order" events -> order_adjustments, matched
                       to the order by `$event_id`; either may be read first.
    engagement         Opened/Clicked Email, Active on Site, Viewed Product, referral metrics ->
                       engagement_events.
    Events come from GET /api/events with `equals(metric_id,"..")` and
    `greater-or-equal(datetime, since - overlap)`, sorted by datetime, 1000 a page. Metric names
    are resolved to ids once per sync (GET /api/metrics); a name several integrations send
    (Shopify's and an API's "Placed Order") has several ids, each read. "Ordered Product" (one
    event per line item of an order) is never read, so no order is counted twice.
    Cursors hold a watermark that is never later than the sync's start (a future-dated event
    cannot freeze it), plus the `links.next` to resume a backfill; a stored page cursor that
    Klaviyo answers with 400 "Invalid cursor" restarts from the watermark.

Rate limits (see `api`)
    Per account and endpoint, two fixed windows: burst per second and steady per minute, as
    each operation's `x-klaviyo-ratelimit` in the spec says (profiles 75/s 750/m, events
    350/s 3500/m, metrics 10/s 150/m). The client paces both; `RateLimit-Remaining` /
    `RateLimit-Reset` (steady window, on answers that are not 429) block an endpoint whose
    window is spent; a 429 carries only `Retry-After`, which may say 0: it is given a floor.

Known traps (each has a test)
    * Future-dated events; records sharing a second across a page boundary and a restart; a
      429 with `Retry-After: 0`; a stored page cursor answered 400; refunds read before or after
      their order; a retired revision; "Ordered Product" beside "Placed Order".
    * A profile's e-mail may differ in case or surrounding spaces from the help desk's: people
      are matched on the trimmed, lower-cased e-mail (kpi_core.identity).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from deskpulse.connectors.base import (
    WRITE_SUBSCRIPTIONS,
    WRITE_USER_FIELDS,
    FieldValues,
    RequestStats,
    SourceOptions,
    Stream,
    WriteResult,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.klaviyo.api import KlaviyoLimiter, KlaviyoTransport
from deskpulse.connectors.klaviyo.config import (
    KlaviyoAuth,
    KlaviyoSettings,
    load,
    require_key,
    revision_warning,
)
from deskpulse.connectors.klaviyo.streams import STREAM_TYPES, Context
from deskpulse.connectors.klaviyo.webhooks import KlaviyoWebhooks
from deskpulse.connectors.klaviyo.writes import KlaviyoWriter

log = logging.getLogger(__name__)

STREAM_NAMES: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)


class KlaviyoConnector:
    """A Klaviyo account as streams (see the module docstring for the quirks).

    Pass `settings` (KlaviyoSettings) or its fields (`api_key=...`). `start_time` is where a
    first sync of the time-filtered streams begins (default: all history); `paced=False`
    turns client-side pacing off (the sandbox); `streams` limits which streams exist.
    """

    vendor = "klaviyo"
    capabilities = frozenset({"read", WRITE_USER_FIELDS, WRITE_SUBSCRIPTIONS})
    settings_class = KlaviyoSettings
    webhook_verifier = KlaviyoWebhooks
    """connectors.webhooks: the verifier of this vendor's deliveries, from the secret."""

    def __init__(
        self,
        source: str = "klaviyo",
        settings: KlaviyoSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        start_time: datetime | None = None,
        max_retries: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        streams: Sequence[str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        key_variable: str = "KLAVIYO_API_KEY",
        job_wait: float = 120.0,
        **values: Any,
    ) -> None:
        if settings is None:
            settings = load(**values)
        elif values:
            raise ConfigError("klaviyo: pass either settings= or its fields, not both")
        if streams is not None:
            unknown = sorted(set(streams) - set(STREAM_NAMES))
            if unknown:
                raise ConfigError(
                    f"klaviyo: unknown stream {', '.join(unknown)} "
                    f"(streams: {', '.join(STREAM_NAMES)})"
                )
        key = require_key(settings, key_variable)
        warning = revision_warning(settings.revision)
        if warning:
            log.warning("%s", warning)
        self.source = source
        self.settings = settings
        self.revision_warning = warning
        self._wanted = tuple(streams) if streams is not None else STREAM_NAMES
        self._start = start_time
        self._now = now
        self.client = HttpClient(
            settings.base_url,
            vendor="klaviyo",
            auth=KlaviyoAuth(key),
            headers={"revision": settings.revision},
            transport=KlaviyoTransport(transport or httpx.HTTPTransport(), settings.revision),
            timeout=timeout,
            max_retries=max_retries,
            rate_limiter=KlaviyoLimiter(
                settings.paced, clock=clock, sleep=sleep, window=settings.rate_window
            ),
            sleep=sleep,
            auth_hint="check KLAVIYO_API_KEY (a private key with read scopes)",
            reach_hint="check KLAVIYO_BASE_URL / network",
        )
        self.stats: RequestStats = self.client.stats
        self.writer = KlaviyoWriter(
            self.client, sleep=sleep, clock=clock, job_wait=job_wait, source=source
        )

    @classmethod
    def from_settings(
        cls, source: str, settings: KlaviyoSettings, options: SourceOptions
    ) -> KlaviyoConnector:
        """The source's connector from its `<PREFIX>*` settings (see connectors.base)."""
        return cls(
            source,
            settings,
            timeout=options.timeout,
            max_retries=options.max_retries,
            start_time=options.start_time,
            sleep=options.sleep,
            key_variable=options.var("api_key"),
        )

    def streams(self) -> list[Stream]:
        """Fresh streams sharing one run's context (its start and its metric ids)."""
        ctx = Context(
            self.client,
            started=self._now(),
            start_time=self._start,
            predictive=self.settings.predictive,
            source=self.source,
        )
        return [kind(ctx) for kind in STREAM_TYPES if kind.name in self._wanted]

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"KlaviyoConnector(source={self.source!r}, url={self.settings.base_url!r})"

    # write-back (see `writes`) ------------------------------------------------------------

    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        """Profile properties (`deskpulse_*`), one PATCH per profile."""
        return self.writer.write_user_fields(batch)

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self.writer.read_user_fields(record_ids, fields)

    def subscribe(self, list_id: str, emails: Sequence[str]) -> list[WriteResult]:
        """Bulk subscription jobs, polled to their end (see `writes`)."""
        return self.writer.subscribe(list_id, emails)

    def subscribed(self, list_id: str, emails: Sequence[str]) -> set[str]:
        return self.writer.subscribed(list_id, emails)


__all__ = ["STREAM_NAMES", "KlaviyoConnector", "KlaviyoSettings"]
