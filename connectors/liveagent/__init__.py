"""LiveAgent connector (API v3): tickets and their conversations, history, agents, contacts,
departments, calls, chats, ratings and social conversations.

Contract: every request is a row of `endpoints.ENDPOINTS` (checked against the reconstructed
Swagger document) and pages through the shared loop (`HttpClient.paginate`, readers in `paging`);
one limiter per API key paces every source sharing the key at LIVEAGENT_RATE_LIMIT; dates are
wall times in LIVEAGENT_TIMEZONE. A 401 is fatal. The API's quirks (dates, pagination, codes,
costs): docs/connectors/liveagent.md.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.base import WRITE_POSTS, WRITE_TICKET_FIELDS, SourceOptions
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import DEFAULT_BUCKET, RateLimiter, base_url_problem
from deskpulse.connectors.liveagent.endpoints import ENDPOINTS
from deskpulse.connectors.liveagent.mapping import UnknownCodes, zone
from deskpulse.connectors.liveagent.streams import (
    LIST_PAGE,
    STREAM_TYPES,
    Context,
    Directory,
)
from deskpulse.connectors.liveagent.webhooks import LiveAgentWebhooks
from deskpulse.connectors.liveagent.writeback import LiveAgentWriter
from deskpulse.connectors.skeleton import Hints, Profile, VendorConnector, Wiring

RATE_LIMIT = 180
"""LiveAgent's documented limit: API requests per minute per API key."""
DEFAULT_PACE = 160
"""What the connector spends of it by default: headroom for the help desk's own integrations."""
DEFAULT_OVERLAP = timedelta(minutes=10)
STREAM_NAMES: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)


class LiveAgentSettings(BaseSettings):
    """`LIVEAGENT_*` variables."""

    model_config = SettingsConfigDict(
        env_prefix="LIVEAGENT_", extra="ignore", env_ignore_empty=True, env_file=None
    )

    url: str = Field(description="https://{account}.ladesk.com")
    api_key: SecretStr = Field(repr=False)
    timezone: str = "UTC"
    post_recipient: str | None = None
    """The support mailbox summary posts are addressed to (posts are off without it)."""
    post_owner: str = "deskpulse@deskpulse.invalid"
    """The contact that owns summary posts."""
    rate_limit: int = Field(DEFAULT_PACE, ge=0, le=10_000)
    """Requests per minute the connector paces itself at; 0 = no pacing (the sandbox)."""
    rate_window: float = Field(60.0, ge=1, le=60)
    """Seconds of the rate-limit window it paces in (60 on LiveAgent; shorter against a sandbox
    run with --time-scale K, whose env lines say LIVEAGENT_RATE_WINDOW=60/K)."""
    overlap_minutes: float = Field(DEFAULT_OVERLAP.total_seconds() / 60, ge=0, le=24 * 60)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if problem := base_url_problem(value):
            raise ValueError(f"{problem} (e.g. https://acme.ladesk.com)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except Exception:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Bratislava)") from None
        return value


class ApiKeyAuth(httpx.Auth):
    """The `apikey` header; its repr never shows the key."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["apikey"] = self._key.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(**********)"


_LIMITERS: dict[tuple[str, str, float, Callable[[float], None]], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(
    url: str,
    key: SecretStr,
    per_minute: int | None,
    sleep: Callable[[float], None],
    window: float = 60.0,
) -> RateLimiter:
    """One limiter per API key (LiveAgent counts per key): sources sharing a key share it."""
    if not per_minute:
        return RateLimiter(sleep=sleep)
    digest = hashlib.sha256(key.get_secret_value().encode()).hexdigest()
    # Per sleep too: a daemon's sleep ends when that daemon stops (sync.daemon.StopSleep).
    found = (digest, str(per_minute), window, sleep)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(found)
        if limiter is None:
            limiter = RateLimiter({DEFAULT_BUCKET: per_minute}, sleep=sleep, window=window)
            _LIMITERS[found] = limiter
        return limiter


def api_base(url: str) -> str:
    """`https://acme.ladesk.com` (or with `/api/v3` already) -> the v3 base URL."""
    base = url.rstrip("/")
    return base if base.endswith("/api/v3") else f"{base}/api/v3"


def profile(
    url: str,
    key: SecretStr,
    rate_limit: int | None,
    rate_window: float,
    sleep: Callable[[float], None],
    hints: tuple[str, str],
    post_recipient: str | None,
    post_owner: str,
) -> Profile:
    """What the skeleton builds a LiveAgent connector from (connectors.skeleton)."""
    return Profile(
        api_base(url),
        ApiKeyAuth(key),
        shared_limiter(url, key, rate_limit, sleep, rate_window),
        Hints(f"check {hints[0]}", f"check {hints[1]} / network"),
        writer=lambda client: LiveAgentWriter(
            client, post_recipient=post_recipient, post_owner=post_owner
        ),
    )


class LiveAgentConnector(VendorConnector):
    """A LiveAgent account as a set of streams (see the module docstring for the quirks); its
    write-back surface is `writer` (liveagent.writeback)."""

    vendor = "liveagent"
    fills: ClassVar[Mapping[str, str]] = {
        "tickets": "LiveAgent tickets",
        "ticket_events": "LiveAgent ticket history",
        "calls": "LiveAgent calls",
        "chats": "LiveAgent chats",
        "social_mentions": "LiveAgent (Facebook, Twitter)",
        "survey_responses": "LiveAgent ratings",
        "customers": "LiveAgent contacts",
        "agents": "LiveAgent agents",
    }
    closed_is_final = True  # a closed conversation is final: write-back leaves it alone
    capabilities = frozenset({"read", WRITE_TICKET_FIELDS, WRITE_POSTS})
    settings_class = LiveAgentSettings
    webhook_verifier = LiveAgentWebhooks
    """connectors.webhooks: the verifier of this vendor's deliveries, from the secret."""
    stream_types = STREAM_TYPES
    writer: LiveAgentWriter

    def __init__(
        self,
        source: str = "liveagent",
        *,
        url: str,
        api_key: SecretStr | str,
        timezone: str = "UTC",
        transport: httpx.BaseTransport | None = None,
        start_time: datetime | None = None,
        rate_limit: int | None = DEFAULT_PACE,
        rate_window: float = 60.0,
        overlap: timedelta = DEFAULT_OVERLAP,
        max_retries: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        streams: Sequence[str] | None = None,
        page_size: int | None = None,
        post_recipient: str | None = None,
        post_owner: str = "deskpulse@deskpulse.invalid",
        hints: tuple[str, str] = ("LIVEAGENT_API_KEY", "LIVEAGENT_URL"),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value():
            raise ConfigError("liveagent: set LIVEAGENT_API_KEY")
        if problem := base_url_problem(url):
            raise ConfigError(f"liveagent: {hints[1]} {problem}")
        if start_time is not None and start_time.tzinfo is None:
            raise ConfigError("liveagent: start_time must be timezone-aware")
        try:
            self.tz = zone(timezone)
        except Exception:
            raise ConfigError(f"liveagent: unknown LIVEAGENT_TIMEZONE {timezone!r}") from None
        self._start = start_time or datetime(1970, 1, 1, tzinfo=UTC)
        self._overlap = overlap
        self._now = now  # a sync's start: no stream's watermark passes it
        self._page_size = page_size
        self.codes = UnknownCodes()
        made = profile(url, key, rate_limit, rate_window, sleep, hints, post_recipient, post_owner)
        super().__init__(source, made, Wiring(transport, timeout, max_retries, sleep, streams))

    @classmethod
    def from_settings(
        cls, source: str, settings: LiveAgentSettings, options: SourceOptions
    ) -> LiveAgentConnector:
        return cls(
            source,
            url=settings.url,
            api_key=settings.api_key,
            timezone=settings.timezone,
            start_time=options.start_time,
            rate_limit=settings.rate_limit or None,
            rate_window=settings.rate_window,
            overlap=timedelta(minutes=settings.overlap_minutes),
            max_retries=options.max_retries,
            timeout=options.timeout,
            sleep=options.sleep,
            post_recipient=settings.post_recipient,
            post_owner=settings.post_owner,
            hints=(options.var("api_key"), options.var("url")),
        )

    def context(self) -> Context:
        """One run's context: a fresh directory and one warning-once set of codes."""
        self.codes = UnknownCodes()
        sizes = {}
        if self._page_size is not None:  # tests page in small steps
            sizes = {"page_size": self._page_size, "ticket_page": self._page_size}
        return Context(
            self.client,
            Directory(self.client, self._page_size or LIST_PAGE),
            self.tz,
            self._start,
            self._overlap,
            self._now(),
            self.source,
            self.codes,
            **sizes,
        )


__all__ = [
    "DEFAULT_PACE",
    "ENDPOINTS",
    "RATE_LIMIT",
    "STREAM_NAMES",
    "LiveAgentConnector",
    "LiveAgentSettings",
]
