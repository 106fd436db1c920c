"""Zendesk connector: Support (tickets, events, users, CSAT, SLA, business hours), Talk and Chat.

Quirks of the API, recorded where the code that handles them lives:

Auth
    Basic auth as `{email}/token:{api_token}` (ZENDESK_EMAIL, ZENDESK_API_TOKEN), or an OAuth
    access token as `Authorization: Bearer` (ZENDESK_OAUTH_TOKEN). Host
    `https://{subdomain}.zendesk.com` unless ZENDESK_BASE_URL overrides it (the sandbox). The Chat
    API accepts OAuth only: with API-token auth its 401 makes the `chats` stream unavailable
    instead of failing the connector. A 401 anywhere else is fatal (AuthError).

Paths
    The official OpenAPI document (support-oas.yaml) writes paths without `.json`; the connector
    sends them exactly so. Every request the connector can send is in `streams.ENDPOINTS`, and a
    test checks it (and every request actually sent) against that document. Not in it: Talk
    (`/api/v2/channels/voice/stats/incremental/calls`, Talk API "Incremental Exports"), Chat
    (`/api/v2/chat/incremental/chats`, Chat API "Incremental Export", on the Zendesk host) and
    business hours (`/api/v2/business_hours/schedules[/{id}/holidays]`, "Schedules"); their shapes
    follow Zendesk's documentation pages and the recorded samples in shared/specs/zendesk/samples.

Pagination and cursors (what each stream persists after a page commits)
    tickets    cursor-based incremental export: `start_time` on the first call only, then
               `cursor=after_cursor`, stop on `end_of_stream`. Cursor
               `{"cursor": after_cursor, "generated_timestamp": max seen}`. The watermark is
               `generated_timestamp` (moves on every update, system ones too), never `updated_at`.
               `include=metric_sets` sideloads solve/reply metrics. The live API embeds each
               ticket's own `metric_set` (Singer's tap-zendesk reads it there); older
               recordings show a top-level `metric_sets` list: both are read (the list joined by
               `ticket_id`). A bad metric set costs only itself; non-deleted tickets that come
               without one are reported in one warning per run, and the run record counts the
               metric sets read (`streams.tickets.counts.metric_sets`).
    users      cursor-based incremental export, `per_page=1000`; cursor
               `{"cursor": ..., "staff": {"<id>": role}}` (the staff map, see the traps).
               Always from the beginning of time, whatever `start_time` says (dimensions).
    ticket_events, sla_events, calls
               time-based exports: `start_time` in, `end_time`/`end_of_stream` out; cursor
               `{"start_time": end_time}`. The next page starts at end_time *inclusive*, so the
               boundary second is served twice: repeats are dropped by id, nothing is lost.
               A first sync of ticket events may be a backfill (`zendesk.backfill`): the export
               from the oldest event and `ticket_audits` (account-wide budget, newest first,
               archived tickets, named by the search, one request each) until they meet;
               cursor `{"backfill": {t0, each reader's position, progress}}`, then
               `{"start_time": t0}` (the hand-over: the next sync goes on from t0).
    satisfaction_ratings
               cursor pagination (`page[size]`, `page[after]`, `meta.has_more`) filtered by
               `start_time`; cursor `{"start_time": max updated_at}` saved with the last page only.
    chats      Chat export by (`start_time`, `start_id`); cursor `{"start_time", "start_id"}`.
    schedules  a small full read every run (no cursor).
    A page token, cursor or end_time that repeats while the vendor says there is more raises
    PaginationLoopError: the stream stops at its last commit instead of looping. A stored
    cursor the API rejects (400/422) restarts tickets from their `generated_timestamp`
    watermark and users from the beginning, instead of failing every later sync.

Rate limits
    200, 400 or 700 requests/minute account-wide by plan (`ratelimit-limit`,
    `ratelimit-remaining`, `ratelimit-reset`, `X-Rate-Limit` headers) and 10/minute shared by
    the incremental exports (`Zendesk-RateLimit-incremental-exports: total=10; remaining=9;
    resets=45`; 30 with the High Volume add-on); the users cursor export has its own 20
    (`Zendesk-RateLimit-incremental-exports-cursor`). Talk's exports have their own 10/minute,
    the Chat API 200/minute. The client paces each bucket (`rate_limits`, at the budget a
    header states once it has seen one) and also waits whenever a header says remaining=0 (read
    in `limits.py`), so a sync spends the budget without provoking a 429; a 429's `Retry-After`
    is honoured anyway. With pacing on, SLA events wait for tickets and ticket events, so the
    core streams spend the shared export budget first.

Known traps (each has a test)
    * `via.channel` is a via type (string) or a via id (integer, e.g. 4 = mail, 30 = twitter).
    * Custom field values are text, numbers, booleans, lists (multi-select) or null: kept as
      typed in the ticket's `extra["custom_fields"]`.
    * `status: deleted` tickets come through the export: they become tombstones (status
      `deleted`, excluded from every metric) and produce nothing else.
    * Ticket events name authors by id only; whether a comment is an agent's reply depends on the
      author's role. The connector cannot read the warehouse: the users stream (first) keeps the
      staff map (a few hundred ids) in its own cursor and updates it incrementally, so every id
      outside the map is an end-user. Without a whole map (users not synced in this run) the
      staff list is loaded once on the first unknown author. Author -1 is the system user
      (triggers, automations). Zendesk has no bot role: a user tagged `bot` (or with user field
      `bot: true`) is a bot, and bot replies never stop a clock.
    * Talk's `next_page` is never null, even on the last page: `count` below a full page ends it.
    * Schedule time zones are Rails names ("Pacific Time (US & Canada)"), mapped to IANA keys.
    * CSAT: good -> 5, bad -> 1 on a 1-5 scale; `offered` -> score NULL (offered, unanswered);
      `unoffered` is skipped.
    * Ticket `group` and agents' `group` are group names, looked up once per run (`/api/v2/groups`);
      an agent's group is their default group (`default_group_id`).
    * Unknown enum values (status, priority, role, CSAT score, call completion status...) or wrong
      types in one record raise RecordError: the engine quarantines that record and goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
    FieldValues,
    Post,
    RequestStats,
    SourceOptions,
    Stream,
    WriteResult,
)
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.http import HttpClient, RateLimiter
from deskpulse.connectors.webhooks import READ_TICKETS
from deskpulse.connectors.zendesk.by_id import TicketEventsById, TicketsById
from deskpulse.connectors.zendesk.config import ZendeskConfig
from deskpulse.connectors.zendesk.limits import read_limits
from deskpulse.connectors.zendesk.settings import (
    DEFAULT_RATE_LIMITS,
    ZendeskSettings,
    parse_rate_limits,
)
from deskpulse.connectors.zendesk.streams import (
    ENDPOINTS,
    STREAM_TYPES,
    Context,
    Directory,
    start_epoch,
)
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


class ZendeskConnector:
    """A Zendesk account as a set of streams (see the module docstring for the quirks).

    `start_time` (aware datetime or epoch seconds) is where a first sync of the time-filtered
    streams begins (default: all history). `rate_limits` paces requests per minute per bucket
    (`None`: no pacing, e.g. against the sandbox); `streams` limits which streams exist;
    `rate_window` is the seconds of a rate-limit window (60 on Zendesk; shorter against a
    sandbox run with a time scale); `history` is how a first sync reads ticket events
    (HISTORY_PLANS: `auto` plans from the budgets, see zendesk.backfill).
    """

    vendor = "zendesk"
    capabilities = frozenset(
        {"read", READ_TICKETS, WRITE_TICKET_FIELDS, WRITE_USER_FIELDS, WRITE_POSTS}
    )
    settings_class = ZendeskSettings
    webhook_verifier = ZendeskWebhooks
    """connectors.webhooks: the verifier of this vendor's signed deliveries, from the secret."""

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
        if config is None:
            config = ZendeskConfig(**config_values)
        elif config_values:
            raise ConfigError("zendesk: pass either config= or its fields, not both")
        if streams is not None:
            unknown = sorted(set(streams) - set(STREAM_NAMES))
            if unknown:
                raise ConfigError(
                    f"zendesk: unknown stream {', '.join(unknown)} "
                    f"(streams: {', '.join(STREAM_NAMES)})"
                )
        self.source = source
        self.config = config
        self._wanted = tuple(streams) if streams is not None else STREAM_NAMES
        self.client = HttpClient(
            config.url,
            vendor="zendesk",
            auth=config.auth(),
            transport=transport,
            timeout=timeout,
            max_retries=max_retries,
            rate_limiter=RateLimiter(
                rate_limits,
                sleep=sleep,
                window=rate_window,
                margin=PACING_MARGIN,
                slack=PACING_SLACK,
            ),
            read_limits=read_limits,
            sleep=sleep,
            auth_hint=config.auth_hint,
            reach_hint=f"{config.url_hint} / network",
            url_hint=config.url_hint,
        )
        if history not in HISTORY_PLANS:
            raise ConfigError(f"zendesk: history must be one of {', '.join(HISTORY_PLANS)}")
        self._history = history
        self._start = start_epoch(start_time)
        self.stats: RequestStats = self.client.stats
        self.writer = ZendeskWriter(self.client, sleep=sleep)

    def streams(self) -> list[Stream]:
        """Fresh stream objects sharing one run's directory, in dependency order (users first)."""
        ctx = self._context()
        return [kind(ctx) for kind in STREAM_TYPES if kind.name in self._wanted]

    def ticket_streams(self, ticket_ids: Sequence[str]) -> list[Stream]:
        """Streams reading just these tickets and their audits (zendesk.by_id; no cursor)."""
        ctx = self._context()
        return [TicketsById(ctx, ticket_ids), TicketEventsById(ctx, ticket_ids)]

    def setup_webhooks(self, endpoint: str) -> SetupResult:
        """The webhook calling `endpoint` and its trigger, created where missing."""
        return setup(self.client, self.source, endpoint)

    def _context(self) -> Context:
        return Context(
            self.client,
            Directory(self.client),
            self._start,
            oauth=self.config.uses_oauth,
            prefix=self.config.prefix,
            history=self._history,
            source=self.source,
        )

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ZendeskConnector(source={self.source!r}, url={self.config.url!r})"

    # write-back (connectors.base write protocols; the work is in zendesk.writeback) ---------

    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        return self.writer.write_ticket_fields(batch)

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self.writer.read_ticket_fields(record_ids, fields)

    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        return self.writer.write_user_fields(batch)

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        return self.writer.read_user_fields(record_ids, fields)

    def post(self, post: Post) -> WriteResult:
        return self.writer.post(post)

    def find_post(self, key: str) -> str | None:
        return self.writer.find_post(key)

    def update_ticket(self, ticket_id: int | str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """`PUT /api/v2/tickets/{ticket_id}` with `{"ticket": fields}`; returns the ticket."""
        path = ENDPOINTS["update_ticket"].path.format(ticket_id=int(ticket_id))
        body = self.client.put_json(path, {"ticket": dict(fields)})
        ticket = body.get("ticket") if isinstance(body, Mapping) else None
        return dict(ticket) if isinstance(ticket, Mapping) else {}


__all__ = [
    "DEFAULT_RATE_LIMITS",
    "STREAM_NAMES",
    "ZendeskConfig",
    "ZendeskConnector",
    "ZendeskSettings",
]
