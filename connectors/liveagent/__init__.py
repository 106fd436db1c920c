"""LiveAgent connector (API v3): tickets and their conversations, history, agents, contacts,
departments, calls, chats, ratings and social conversations.

Quirks of the API, recorded where the code that handles them lives:

Spec
    LiveAgent publishes no OpenAPI document. The requests follow the Swagger 2.0 document deskpulse
    reconstructed from LiveAgent's generated Python client
    (shared/specs/liveagent/liveagent-v3.reconstructed.swagger.json) and, where it is silent,
    LiveAgent's help articles (filters, `_cursor`, rate limits). Every request the connector can
    send is in `streams.ENDPOINTS`; a test checks it against that document.

Auth and host
    `LIVEAGENT_URL` (`https://{account}.ladesk.com`), the API under `/api/v3`, the key
    (`LIVEAGENT_API_KEY`) in an `apikey` header. A 401 is fatal (AuthError naming the variable).
    Errors come as `{"message": "..."}`.

Dates
    `YYYY-MM-DD HH:MM:SS` wall times without an offset, in the account's time zone
    (`LIVEAGENT_TIMEZONE`, default UTC); filters take the same format. `0000-00-00 00:00:00` means
    unset. In the hour a DST change repeats, a wall time is read as its earlier instant, and a
    filter sent for a moment in that hour is moved an hour earlier (an overlap, never a gap).

Pagination (see `paging`)
    Bare JSON arrays without totals: a page shorter than `_perPage` is the last. Tickets,
    contacts and chats are read keyset-style by their date (`_filters=[["date_changed", "D>=",
    ...]]`, `_sortDir=ASC`), with an overlap window on each new run because LiveAgent serves ticket
    lists from an Elasticsearch index that lags; cursor `{"since", "seen"}`. Calls and ticket
    history page by `_cursor`, whose next value is the `next_page_cursor` *response header*
    (base64 of `{"id": last id}`); a repeated cursor ends the stream with PaginationLoopError.

Streams and what they cost
    agents (+ departments and tags, once per run), contacts, tickets (one list request per 50
    tickets, plus one conversation request per changed ticket: `GET /tickets/{id}/messages`;
    deleted and spam tickets skip it), history, calls, chats. The conversation gives messages
    (public replies, internal notes, system messages: bots and rules speak as system messages),
    customers' ratings (message type `W`, reward / neutral / punishment -> CSAT 5 / 3 / 1 on 1-5)
    and, for Facebook and Twitter conversations, the social mention's first reply.
    A message's author is an agent when the id is in `GET /agents`, else the customer.

Rate limit
    180 requests a minute per API key, every endpoint alike. The connector paces itself at
    `LIVEAGENT_RATE_LIMIT` (default 160) in any trailing minute, per key (two sources with one key
    share one limiter), and honours `Retry-After` on a 429.

Codes
    Ticket status (I N T P R X B A C W L), channel (E B M I C W F A T Q S V), message group and
    message types, agent roles, call types: explicit tables in `mapping`. An unknown code maps to
    a neutral value, keeps its raw form in `extra`, and logs one warning per code per sync.
    LiveAgent has no priority, no ticket type and no `api` channel (API tickets are e-mail).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_TICKET_FIELDS,
    FieldValues,
    Post,
    RequestStats,
    SourceOptions,
    Stream,
    WriteResult,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import DEFAULT_BUCKET, HttpClient, RateLimiter, base_url_problem
from deskpulse.connectors.liveagent.mapping import STATUS_CODES, UnknownCodes, zone
from deskpulse.connectors.liveagent.paging import HeaderTap
from deskpulse.connectors.liveagent.streams import (
    LIST_PAGE,
    STREAM_TYPES,
    Context,
    Directory,
)
from deskpulse.connectors.liveagent.webhooks import LiveAgentWebhooks
from deskpulse.connectors.liveagent.writeback import LiveAgentWriter, field_text

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


class LiveAgentConnector:
    """A LiveAgent account as a set of streams (see the module docstring for the quirks)."""

    vendor = "liveagent"
    capabilities = frozenset({"read", WRITE_TICKET_FIELDS, WRITE_POSTS})
    settings_class = LiveAgentSettings
    webhook_verifier = LiveAgentWebhooks
    """connectors.webhooks: the verifier of this vendor's deliveries, from the secret."""

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
        if streams is not None:
            unknown = sorted(set(streams) - set(STREAM_NAMES))
            if unknown:
                raise ConfigError(
                    f"liveagent: unknown stream {', '.join(unknown)} "
                    f"(streams: {', '.join(STREAM_NAMES)})"
                )
        if start_time is not None and start_time.tzinfo is None:
            raise ConfigError("liveagent: start_time must be timezone-aware")
        try:
            self.tz = zone(timezone)
        except Exception:
            raise ConfigError(f"liveagent: unknown LIVEAGENT_TIMEZONE {timezone!r}") from None
        self.source = source
        self.url = url.rstrip("/")
        self._wanted = tuple(streams) if streams is not None else STREAM_NAMES
        self._start = start_time or datetime(1970, 1, 1, tzinfo=UTC)
        self._overlap = overlap
        self._now = now  # a sync's start: no stream's watermark passes it
        self._page_size = page_size
        self.tap = HeaderTap(transport)
        self.client = HttpClient(
            api_base(url),
            vendor="liveagent",
            auth=ApiKeyAuth(key),
            transport=self.tap,
            timeout=timeout,
            max_retries=max_retries,
            rate_limiter=shared_limiter(url, key, rate_limit, sleep, rate_window),
            sleep=sleep,
            auth_hint=f"check {hints[0]}",
            reach_hint=f"check {hints[1]} / network",
        )
        self.stats: RequestStats = self.client.stats
        self.codes = UnknownCodes()
        self.writer = LiveAgentWriter(
            self.client, post_recipient=post_recipient, post_owner=post_owner
        )

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

    def streams(self) -> list[Stream]:
        """Fresh streams sharing one run's directory and one warning-once set of codes."""
        self.codes = UnknownCodes()
        sizes = {}
        if self._page_size is not None:  # tests page in small steps
            sizes = {"page_size": self._page_size, "ticket_page": self._page_size}
        ctx = Context(
            self.client,
            self.tap,
            Directory(self.client, self._page_size or LIST_PAGE),
            self.tz,
            self._start,
            self._overlap,
            self._now(),
            self.source,
            self.codes,
            **sizes,
        )
        return [kind(ctx) for kind in STREAM_TYPES if kind.name in self._wanted]

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"LiveAgentConnector(source={self.source!r}, url={self.url!r})"

    # write-back (connectors.base write protocols; the work is in liveagent.writeback) -------

    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        return self.writer.write_ticket_fields(batch)

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self.writer.read_ticket_fields(record_ids, fields)

    def post(self, post: Post) -> WriteResult:
        return self.writer.post(post)

    def find_post(self, key: str) -> str | None:
        return self.writer.find_post(key)

    def update_ticket(
        self,
        ticket_id: str,
        *,
        custom_fields: Mapping[str, Any] | None = None,
        status: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """`PUT /tickets/{id}` with `custom_fields` by code (values as text), a canonical status
        (sent as its code) and tag ids; returns the ticket as LiveAgent answers it."""
        body: dict[str, Any] = {}
        if custom_fields:
            body["custom_fields"] = [
                {"code": code, "value": field_text(value)} for code, value in custom_fields.items()
            ]
        if status is not None:
            if status not in STATUS_CODES:
                raise ConfigError(f"liveagent: cannot write status {status!r}")
            body["status"] = STATUS_CODES[status]
        if tags is not None:
            body["tags"] = list(tags)
        return self.writer.update_ticket(ticket_id, body)


__all__ = [
    "DEFAULT_PACE",
    "RATE_LIMIT",
    "STREAM_NAMES",
    "LiveAgentConnector",
    "LiveAgentSettings",
]
