"""Freshdesk connector (API v2): tickets with their conversations, satisfaction ratings, time
entries, agents, groups, companies, contacts, business hours and SLA targets.

Quirks of the API, recorded where the code that handles them lives:

Spec
    Freshdesk publishes its reference as one HTML page (developers.freshdesk.com/api), no
    OpenAPI document. deskpulse reconstructed one for the endpoints it uses, saying where each
    part came from (tests/connectors/fixtures/freshdesk); every request the connector can send
    is in `streams.ENDPOINTS`, and a test checks the table against it.

Auth and host
    `FRESHDESK_DOMAIN` (`acme`, `acme.freshdesk.com`, or a full URL), the API under `/api/v2`;
    HTTP Basic with the API key (`FRESHDESK_API_KEY`) as the user name and `X` as the password.
    A 401 is fatal (AuthError naming the variable).

Times
    ISO 8601 in UTC (`2026-03-02T09:15:00Z`); filters (`updated_since`, `created_since`,
    `executed_after`, `_updated_since`) are sent in UTC with `Z` (a local time would be read as
    UTC by Freshdesk and shift the window).

Pagination (see `paging` and `streams`)
    Bare arrays, `page` and `per_page` (at most 100). The ticket list stops at page 300: tickets
    are walked by moving `updated_since` to the last ticket read, never by page numbers. Without
    `updated_since` the list holds only the last 30 days' tickets, so it is always sent.
    Deleted and spam tickets are listed only under `filter=deleted` / `filter=spam`: the tickets
    stream reads both after the default list (their conversations are not read).

Streams and what they cost
    agents (+ groups, companies and SLA policies, once per run), contacts, tickets (one list
    request per 100 tickets, `include=stats,requester`, plus one conversation request per
    changed ticket), satisfaction_ratings, time_entries, business_hours.

Rate limits
    Per account (every key of the account shares them), per plan, per minute: an account-wide
    budget and endpoint caps (tickets list, contacts list, ticket create, ticket update;
    `PLANS`, Freshdesk's legacy plans). Every answer says `X-RateLimit-Total` and
    `X-RateLimit-Remaining`: the connector reads them (the account's real budget replaces the
    plan's), paces itself at `FRESHDESK_RATE_LIMIT` a minute (default 90% of the plan's) and
    waits the `Retry-After` of a 429.

Codes
    Statuses, priorities, sources and survey answers are numbers: explicit tables in
    `mapping` (custom statuses in `FRESHDESK_STATUS_MAP`); an unknown code maps to a neutral
    value, keeps its number in `extra`, and logs one warning per code per sync.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
    SourceOptions,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.freshdesk.context import PER_PAGE, Context, Directory
from deskpulse.connectors.freshdesk.mapping import STATUSES, UnknownCodes, status_map
from deskpulse.connectors.freshdesk.streams import STREAM_TYPES
from deskpulse.connectors.freshdesk.writeback import FreshdeskWriter, field_problem
from deskpulse.connectors.http import base_url_problem
from deskpulse.connectors.ratelimit import DEFAULT_BUCKET, Observed, RateLimiter, header_number
from deskpulse.connectors.skeleton import Hints, Profile, VendorConnector, Wiring

PLANS: dict[str, dict[str, int]] = {
    "growth": {DEFAULT_BUCKET: 200, "tickets_list": 20, "contacts_list": 20,
               "tickets_create": 80, "tickets_update": 80},
    "pro": {DEFAULT_BUCKET: 400, "tickets_list": 100, "contacts_list": 100,
            "tickets_create": 160, "tickets_update": 160},
    "enterprise": {DEFAULT_BUCKET: 700, "tickets_list": 200, "contacts_list": 200,
                   "tickets_create": 280, "tickets_update": 280},
}  # fmt: skip
"""Requests a minute per (legacy) plan: the account's budget and Freshdesk's endpoint caps."""
HEADROOM = 0.9
"""Share of a budget the connector spends by default: the rest is the help desk's own apps'."""
DEFAULT_OVERLAP = timedelta(minutes=10)
STREAM_NAMES: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)


class FreshdeskSettings(BaseSettings):
    """`FRESHDESK_*` variables."""

    model_config = SettingsConfigDict(
        env_prefix="FRESHDESK_", extra="ignore", env_ignore_empty=True, env_file=None
    )

    domain: str = Field(description="acme, acme.freshdesk.com or https://acme.freshdesk.com")
    api_key: SecretStr = Field(repr=False)
    plan: str = "growth"
    """growth, pro or enterprise: the budgets paced in (headers then correct the account's)."""
    rate_limit: int | None = Field(None, ge=0, le=100_000)
    """Account-wide requests a minute to pace at (default: 90% of the plan's); 0 = no pacing."""
    rate_window: float = Field(60.0, ge=1, le=60)
    """Seconds of the window it paces in (60; shorter against a sandbox under --time-scale)."""
    status_map: str | None = None
    """The account's custom statuses: `8=hold,9=pending` (code=canonical status)."""
    digest_ticket: str | None = None
    """A ticket whose private notes hold the KPI digests."""
    post_email: str | None = None
    """Or: the requester e-mail of a new (closed) ticket per digest."""
    overlap_minutes: float = Field(DEFAULT_OVERLAP.total_seconds() / 60, ge=0, le=24 * 60)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        url = base_url(value)
        if problem := base_url_problem(url):
            raise ValueError(f"{problem} (e.g. acme or https://acme.freshdesk.com)")
        return value.strip()

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: str) -> str:
        if value.strip().lower() not in PLANS:
            raise ValueError(f"unknown plan {value!r} (one of {', '.join(PLANS)})")
        return value.strip().lower()

    @field_validator("status_map")
    @classmethod
    def _status_map(cls, value: str | None) -> str | None:
        status_map(value)
        return value


def base_url(domain: str) -> str:
    """`acme` / `acme.freshdesk.com` / a URL -> the account's base URL (without /api/v2)."""
    text = domain.strip().rstrip("/")
    if text.lower().startswith(("http://", "https://")):
        return text.removesuffix("/api/v2")
    if "." not in text:
        text = f"{text}.freshdesk.com"
    return f"https://{text}"


def read_limits(bucket: str, headers: httpx.Headers) -> Iterable[Observed]:
    """X-RateLimit-Remaining of X-RateLimit-Total: the account-wide budget, paced at HEADROOM
    of the total the account really has (it replaces the plan's)."""
    remaining = header_number(headers, "x-ratelimit-remaining")
    if remaining is None:
        return []
    total = header_number(headers, "x-ratelimit-total")
    pace = max(1, int(total * HEADROOM)) if total else None
    return [Observed(DEFAULT_BUCKET, int(remaining), None, pace)]


_LIMITERS: dict[tuple[Any, ...], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def account_limiter(
    url: str, budgets: Mapping[str, int] | None, sleep: Callable[[float], None], window: float
) -> RateLimiter:
    """One limiter per account (Freshdesk counts per account): its sources share it."""
    if not budgets:
        return RateLimiter(sleep=sleep)
    key = (url, tuple(sorted(budgets.items())), window, sleep)
    with _LIMITERS_LOCK:
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(budgets, sleep=sleep, window=window)
        return _LIMITERS[key]


def paced(plan: str, rate_limit: int | None) -> dict[str, int] | None:
    """The budgets to pace in: HEADROOM of the plan's, the account's as `rate_limit` says."""
    if rate_limit == 0:
        return None
    budgets = {name: max(1, int(n * HEADROOM)) for name, n in PLANS[plan].items()}
    if rate_limit is not None:
        budgets[DEFAULT_BUCKET] = rate_limit
    return budgets


def profile(
    domain: str,
    key: SecretStr,
    plan: str,
    rate_limit: int | None,
    rate_window: float,
    sleep: Callable[[float], None],
    hints: tuple[str, str],
    digest_ticket: str | None,
    post_email: str | None,
) -> Profile:
    """What the skeleton builds a Freshdesk connector from (connectors.skeleton)."""
    url = base_url(domain)
    return Profile(
        f"{url}/api/v2",
        httpx.BasicAuth(key.get_secret_value(), "X"),
        account_limiter(url, paced(plan, rate_limit), sleep, rate_window),
        Hints(f"check {hints[0]}", f"check {hints[1]} / network", f"check {hints[1]}"),
        read_limits=read_limits,
        writer=lambda client: FreshdeskWriter(
            client, digest_ticket=digest_ticket, post_email=post_email
        ),
    )


class FreshdeskConnector(VendorConnector):
    """A Freshdesk account as a set of streams (see the module docstring for the quirks); its
    write-back surface is `writer` (freshdesk.writeback)."""

    vendor = "freshdesk"
    fills: ClassVar[Mapping[str, str]] = {
        "tickets": "Freshdesk tickets",
        "ticket_events": "Freshdesk conversations",
        "sla_events": "Freshdesk SLA due times",
        "social_mentions": "Freshdesk (Facebook, Twitter)",
        "survey_responses": "Freshdesk satisfaction ratings",
        "customers": "Freshdesk contacts",
        "agents": "Freshdesk agents",
        "agent_sessions": "Freshdesk time entries",
        "schedules": "Freshdesk business hours",
    }
    closed_is_final = False  # its API updates closed tickets (they stay closed)
    capabilities = frozenset({"read", WRITE_TICKET_FIELDS, WRITE_USER_FIELDS, WRITE_POSTS})
    settings_class = FreshdeskSettings
    stream_types = STREAM_TYPES
    ticket_field_problem = staticmethod(field_problem)
    writer: FreshdeskWriter

    def __init__(
        self,
        source: str = "freshdesk",
        *,
        domain: str,
        api_key: SecretStr | str,
        plan: str = "growth",
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        start_time: datetime | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        max_retries: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        streams: Sequence[str] | None = None,
        per_page: int = PER_PAGE,
        statuses: Mapping[int, str] | None = None,
        digest_ticket: str | None = None,
        post_email: str | None = None,
        hints: tuple[str, str] = ("FRESHDESK_API_KEY", "FRESHDESK_DOMAIN"),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        if not key.get_secret_value():
            raise ConfigError(f"freshdesk: set {hints[0]}")
        if problem := base_url_problem(base_url(domain)):
            raise ConfigError(f"freshdesk: {hints[1]} {problem}")
        if plan not in PLANS:
            raise ConfigError(f"freshdesk: unknown plan {plan!r} (one of {', '.join(PLANS)})")
        if start_time is not None and start_time.tzinfo is None:
            raise ConfigError("freshdesk: start_time must be timezone-aware")
        self.url = base_url(domain)
        self._start = start_time or datetime(1970, 1, 1, tzinfo=UTC)
        self._overlap = overlap
        self._now = now  # a sync's start: no stream's watermark passes it
        self._per_page = per_page
        self._statuses = {**STATUSES, **(statuses or {})}
        self.codes = UnknownCodes()
        made = profile(domain, key, plan, rate_limit, rate_window, sleep, hints, digest_ticket,
                       post_email)  # fmt: skip
        super().__init__(source, made, Wiring(transport, timeout, max_retries, sleep, streams))

    @classmethod
    def from_settings(
        cls, source: str, settings: FreshdeskSettings, options: SourceOptions
    ) -> FreshdeskConnector:
        return cls(
            source,
            domain=settings.domain,
            api_key=settings.api_key,
            plan=settings.plan,
            rate_limit=settings.rate_limit,
            rate_window=settings.rate_window,
            start_time=options.start_time,
            overlap=timedelta(minutes=settings.overlap_minutes),
            max_retries=options.max_retries,
            timeout=options.timeout,
            sleep=options.sleep,
            statuses=status_map(settings.status_map),
            digest_ticket=settings.digest_ticket,
            post_email=settings.post_email,
            hints=(options.var("api_key"), options.var("domain")),
        )

    def context(self) -> Context:
        """One run's context: a fresh directory and a fresh warning-once set of codes."""
        self.codes = UnknownCodes()
        return Context(
            self.client,
            Directory(self.client, self._per_page),
            self._start,
            self._overlap,
            self._now(),
            self._statuses,
            self.source,
            self.codes,
            self._per_page,
        )


__all__ = ["HEADROOM", "PLANS", "STREAM_NAMES", "FreshdeskConnector", "FreshdeskSettings"]
