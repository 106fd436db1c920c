"""Zendesk connector: Support (tickets, events, users, CSAT, SLA, business hours), Talk and Chat.

Contract: streams in dependency order (users first: they carry the staff map ticket events need),
each resuming from the cursor its last committed page stored; every request is a row of
`endpoints.ENDPOINTS` (checked against Zendesk's OpenAPI document by the spec test) and pages
through the shared loop (`HttpClient.paginate`). Budgets: paced per bucket at the plan's stated
budget, never past what a header says is left. A 401 is fatal, except on the OAuth-only Chat API
(its stream is unavailable). The API's quirks, its cursors and rate limits, and the traps each
test covers: docs/connectors/zendesk.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
    SourceOptions,
    Stream,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import RateLimiter
from deskpulse.connectors.skeleton import Hints, Profile, VendorConnector, Wiring
from deskpulse.connectors.webhooks import READ_TICKETS
from deskpulse.connectors.zendesk.by_id import TicketEventsById, TicketsById
from deskpulse.connectors.zendesk.config import ZendeskConfig
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS
from deskpulse.connectors.zendesk.limits import read_limits
from deskpulse.connectors.zendesk.settings import (
    DEFAULT_RATE_LIMITS,
    ZendeskSettings,
    parse_rate_limits,
)
from deskpulse.connectors.zendesk.streams import STREAM_TYPES, Context, Directory, start_epoch
from deskpulse.connectors.zendesk.webhooks import SetupResult, ZendeskWebhooks, setup
from deskpulse.connectors.zendesk.writeback import ZendeskWriter

STREAM_NAMES: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)
PACING_MARGIN = 0.01
PACING_SLACK = 0.15
"""Zendesk's windows are paced 1% and 0.15 s longer: a request that reaches Zendesk a little
after it left (a busy machine, a slow network) must not land in a window that is already full
(zero 429s; 98.5% of each budget at Zendesk's minute)."""
HISTORY_PLANS = ("auto", "audits", "incremental")
"""How a first sync reads ticket events (zendesk.backfill): planned from the budgets, or forced."""


def profile(
    config: ZendeskConfig,
    rate_limits: Mapping[str, int] | None,
    rate_window: float,
    sleep: Callable[[float], None],
) -> Profile:
    """What the skeleton builds a Zendesk connector from (connectors.skeleton)."""
    limiter = RateLimiter(
        rate_limits, sleep=sleep, window=rate_window, margin=PACING_MARGIN, slack=PACING_SLACK
    )
    return Profile(
        config.url,
        config.auth(),
        limiter,
        Hints(config.auth_hint, f"{config.url_hint} / network", config.url_hint),
        read_limits=read_limits,
        writer=lambda client: ZendeskWriter(client, sleep=sleep),
    )


class ZendeskConnector(VendorConnector):
    """A Zendesk account as a set of streams (see the module docstring for the quirks).

    `start_time` (aware datetime or epoch seconds) is where a first sync of the time-filtered
    streams begins (default: all history). `rate_limits` paces requests per minute per bucket
    (`None`: no pacing, e.g. against the sandbox); `streams` limits which streams exist;
    `rate_window` is the seconds of a rate-limit window (60 on Zendesk; shorter against a
    sandbox run with a time scale); `history` is how a first sync reads ticket events
    (HISTORY_PLANS: `auto` plans from the budgets, see zendesk.backfill). Its write-back
    surface is `writer` (zendesk.writeback).
    """

    vendor = "zendesk"
    fills: ClassVar[Mapping[str, str]] = {
        "tickets": "Zendesk tickets",
        "ticket_events": "Zendesk ticket audits",
        "sla_events": "Zendesk SLA policies",
        "calls": "Zendesk Talk",
        "chats": "Zendesk Chat",
        "social_mentions": "Zendesk social tickets (Facebook, Twitter)",
        "survey_responses": "Zendesk satisfaction ratings",
        "customers": "Zendesk end-users",
        "agents": "Zendesk agents",
        "schedules": "Zendesk schedules",
    }
    closed_is_final = True  # Zendesk refuses any update of a closed ticket
    capabilities = frozenset(
        {"read", READ_TICKETS, WRITE_TICKET_FIELDS, WRITE_USER_FIELDS, WRITE_POSTS}
    )
    settings_class = ZendeskSettings
    webhook_verifier = ZendeskWebhooks
    """connectors.webhooks: the verifier of this vendor's signed deliveries, from the secret."""
    stream_types = STREAM_TYPES
    writer: ZendeskWriter

    @staticmethod
    def ticket_field_problem(field: str) -> str | None:
        """Why `field` cannot name a custom ticket field (a numeric id, 64-bit), or None."""
        if field.isascii() and field.isdigit() and 0 < int(field) < 2**63:
            return None
        return (
            f"{field!r} is not a Zendesk ticket field id: the field's number (1 to 2^63-1; "
            "Admin Center > Objects and rules > Tickets > Fields), e.g. 360000000101"
        )

    @classmethod
    def from_settings(
        cls, source: str, settings: ZendeskSettings, options: SourceOptions
    ) -> ZendeskConnector:
        """The source's connector from its `<PREFIX>*` settings (see connectors.base)."""
        config = ZendeskConfig(
            subdomain=settings.subdomain,
            email=settings.email,
            api_token=settings.api_token,
            oauth_token=settings.oauth_token,
            base_url=settings.base_url,
            prefix=options.env_prefix,
        )
        return cls(
            source,
            config,
            start_time=options.start_time,
            rate_limits=parse_rate_limits(settings.rate_limits, DEFAULT_RATE_LIMITS),
            rate_window=settings.rate_window,
            max_retries=options.max_retries,
            timeout=options.timeout,
            sleep=options.sleep,
        )

    def __init__(
        self,
        source: str = "zendesk",
        config: ZendeskConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        start_time: datetime | int | None = None,
        rate_limits: Mapping[str, int] | None = DEFAULT_RATE_LIMITS,
        max_retries: int = 5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        streams: Sequence[str] | None = None,
        rate_window: float = 60.0,
        history: str = "auto",
        **config_values: Any,
    ) -> None:
        if config is not None and config_values:
            raise ConfigError("zendesk: pass either config= or its fields, not both")
        self.config = config or ZendeskConfig(**config_values)
        if history not in HISTORY_PLANS:
            raise ConfigError(f"zendesk: history must be one of {', '.join(HISTORY_PLANS)}")
        self._history = history
        self._start = start_epoch(start_time)
        wiring = Wiring(transport, timeout, max_retries, sleep, streams)
        super().__init__(source, profile(self.config, rate_limits, rate_window, sleep), wiring)

    def context(self) -> Context:
        """One run's context: a fresh directory the streams share (users first)."""
        return Context(
            self.client,
            Directory(self.client),
            self._start,
            oauth=self.config.uses_oauth,
            prefix=self.config.prefix,
            history=self._history,
            source=self.source,
        )

    def ticket_streams(self, ticket_ids: Sequence[str]) -> list[Stream]:
        """Streams reading just these tickets and their audits (zendesk.by_id; no cursor)."""
        ctx = self.context()
        return [TicketsById(ctx, ticket_ids), TicketEventsById(ctx, ticket_ids)]

    def setup_webhooks(self, endpoint: str) -> SetupResult:
        """The webhook calling `endpoint` and its trigger, created where missing."""
        return setup(self.client, self.source, endpoint)


__all__ = [
    "DEFAULT_RATE_LIMITS",
    "ENDPOINTS",
    "STREAM_NAMES",
    "ZendeskConfig",
    "ZendeskConnector",
    "ZendeskSettings",
]
