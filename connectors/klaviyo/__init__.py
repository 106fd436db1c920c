"""Klaviyo connector: profiles, orders, refunds and engagement, joined to support by e-mail.

Contract: every request is a row of `api.ENDPOINTS` (operationId, burst and steady limits,
checked against stable.json) and pages through the shared loop (`HttpClient.paginate`, JSON:API
`links.next`); both windows are paced per operation and Klaviyo's `RateLimit-*` headers are read
on every answer (`api.read_limits`); a refused `revision` stops the connector with one line. The
API's quirks (auth and revision, JSON:API, streams and cursors, rate limits, traps):
docs/connectors/klaviyo.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from deskpulse.connectors.base import WRITE_SUBSCRIPTIONS, WRITE_USER_FIELDS, SourceOptions
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.klaviyo.api import (
    ENDPOINTS,
    KlaviyoLimiter,
    KlaviyoTransport,
    read_limits,
)
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
from deskpulse.connectors.skeleton import Hints, Profile, VendorConnector, Wiring

log = logging.getLogger(__name__)

STREAM_NAMES: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)


def profile(
    source: str,
    settings: KlaviyoSettings,
    key_variable: str,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    job_wait: float,
) -> Profile:
    """What the skeleton builds a Klaviyo connector from (connectors.skeleton)."""
    key = require_key(settings, key_variable)
    limiter = KlaviyoLimiter(settings.paced, clock=clock, sleep=sleep, window=settings.rate_window)
    return Profile(
        settings.base_url,
        KlaviyoAuth(key),
        limiter,
        Hints(
            f"check {key_variable} (a private key with read scopes)",
            "check KLAVIYO_BASE_URL / network",
        ),
        read_limits=read_limits,
        writer=lambda client: KlaviyoWriter(
            client, sleep=sleep, clock=clock, job_wait=job_wait, source=source
        ),
        headers={"revision": settings.revision},
        transport=lambda inner: KlaviyoTransport(inner, settings.revision),
    )


class KlaviyoConnector(VendorConnector):
    """A Klaviyo account as streams (see the module docstring for the quirks).

    Pass `settings` (KlaviyoSettings) or its fields (`api_key=...`). `start_time` is where a
    first sync of the time-filtered streams begins (default: all history); `paced=False`
    turns client-side pacing off (the sandbox); `streams` limits which streams exist. Its
    write-back surface is `writer` (klaviyo.writes).
    """

    vendor = "klaviyo"
    fills: ClassVar[Mapping[str, str]] = {
        "customers": "Klaviyo profiles",
        "orders": "Klaviyo (Placed Order events)",
        "engagement_events": "Klaviyo (e-mail and site events)",
    }
    capabilities = frozenset({"read", WRITE_USER_FIELDS, WRITE_SUBSCRIPTIONS})
    settings_class = KlaviyoSettings
    webhook_verifier = KlaviyoWebhooks
    """connectors.webhooks: the verifier of this vendor's deliveries, from the secret."""
    stream_types = STREAM_TYPES
    writer: KlaviyoWriter

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
        if settings is not None and values:
            raise ConfigError("klaviyo: pass either settings= or its fields, not both")
        self.settings = settings or load(**values)
        made = profile(source, self.settings, key_variable, sleep, clock, job_wait)
        super().__init__(source, made, Wiring(transport, timeout, max_retries, sleep, streams))
        self.revision_warning = revision_warning(self.settings.revision)
        if self.revision_warning:
            log.warning("%s", self.revision_warning)
        self._start = start_time
        self._now = now

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

    def context(self) -> Context:
        """One run's context (its start and its metric ids)."""
        return Context(
            self.client,
            started=self._now(),
            start_time=self._start,
            predictive=self.settings.predictive,
            source=self.source,
        )


__all__ = ["ENDPOINTS", "STREAM_NAMES", "KlaviyoConnector", "KlaviyoSettings"]
