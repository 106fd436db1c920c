"""The Freshdesk streams: what each reads, in which order, and what cursor it keeps.

Every request goes through the endpoint table (`endpoints.ENDPOINTS`) and the client's one page
loop (`HttpClient.paginate`): numbered lists with `PageNumber` (a page shorter than asked is the
last), the ticket list with `paging.UpdatedSince` (past its 300-page cap). Streams share one
run's `context.Directory` and never read the warehouse. Lists other than tickets are read from
their filter (`_updated_since`, `created_since`, `executed_after`) less the overlap, and store
their watermark once the walk ended (their order is not documented).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from deskpulse.connectors.base import ContextStream, Cursor, Page, Row
from deskpulse.connectors.errors import StreamUnavailable
from deskpulse.connectors.freshdesk import normalise as nl
from deskpulse.connectors.freshdesk.context import Context, numbered, page_of
from deskpulse.connectors.freshdesk.endpoints import ENDPOINTS
from deskpulse.connectors.freshdesk.mapping import format_time, parse_time
from deskpulse.connectors.freshdesk.paging import UpdatedSince, number, record_time
from deskpulse.connectors.watermark import Watermark

log = logging.getLogger(__name__)

TICKET_VIEWS = (None, "deleted", "spam")
"""The default ticket list has neither deleted nor spam tickets: each is asked for apart."""


class Part:
    """A ticket with its conversations (read apart), as one record; the quarantine keeps both."""

    __slots__ = ("conversations", "ticket")

    def __init__(self, ticket: Any, conversations: list[Any]) -> None:
        self.ticket = ticket
        self.conversations = conversations

    def as_payload(self) -> Any:
        return {"ticket": self.ticket, "conversations": self.conversations}


class _Stream(ContextStream[Context]):
    def _mark(self) -> Watermark:
        return Watermark(f"{self.ctx.source}/{self.name}", self.ctx.started)


class AgentsStream(_Stream):
    """`GET /agents` (and groups, companies, SLA policies for the directory) -> `agents`."""

    name = "agents"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        self.ctx.directory.ensure()
        yield Page(list(self.ctx.directory.agents), cursor=None)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.agent_rows(record, self.ctx)


class TicketsStream(_Stream):
    """`GET /tickets` (the default list, then `filter=deleted`, then `filter=spam`, each with
    its own cursor), and for each listed ticket that is neither its conversations ->
    `tickets`, message `ticket_events`, `sla_events`, `social_mentions`. A page of tickets with
    their conversations is committed with one cursor."""

    name = "tickets"
    after = ("agents",)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        self.ctx.directory.ensure()
        state: dict[str, Any] = dict(cursor or {})
        mark = self._mark()
        endpoint = ENDPOINTS["tickets"]
        for view in TICKET_VIEWS:
            key = view or "tickets"
            walk = UpdatedSince(f"freshdesk {key}", state.get(key) or {}, self.ctx.start, mark)
            params = endpoint.query(
                order_by="updated_at",
                order_type="asc",
                include="stats,requester",
                per_page=self.ctx.per_page,
                filter=view,
            )
            for page in self.ctx.client.paginate(
                endpoint.path, params, paginator=walk, bucket=endpoint.bucket
            ):
                found, state[key] = walk.take(page)
                parts = [Part(t, [] if view else self._conversations(t)) for t in found]
                yield Page(parts, cursor=dict(state), counts=mark.counts())
        mark.warn()

    def _conversations(self, ticket: Any) -> list[Any]:
        tid = number(ticket)
        if tid is None:
            return []  # the normaliser quarantines the ticket
        endpoint = ENDPOINTS["conversations"]
        try:
            pages = numbered(self.ctx.client, endpoint, self.ctx.per_page, {"id": tid})
            return [c for page in pages for c in page]
        except StreamUnavailable:
            log.info("freshdesk: conversations of ticket %s are gone", tid)
            return []

    def normalise(self, record: Any) -> Iterable[Row]:
        if isinstance(record, Part):
            return nl.ticket_rows(record.ticket, record.conversations, self.ctx)
        return nl.ticket_rows(record, [], self.ctx)


class SinceStream(_Stream):
    """A list read by page numbers from a time filter less the overlap; the watermark (the
    latest `time_field` read, capped at the sync's start) is stored once the walk ended."""

    endpoint = ""
    param = ""
    time_field = "updated_at"
    rows: Callable[[Any, Context], list[Row]]

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        mark = self._mark()
        since = parse_time((cursor or {}).get("since"), "cursor since")
        since = since - self.ctx.overlap if since is not None else self.ctx.start
        latest = since
        params = {self.param: format_time(since)}
        endpoint = ENDPOINTS[self.endpoint]
        for found in numbered(self.ctx.client, endpoint, self.ctx.per_page, params=params):
            for record in found:
                when = record_time(record, self.time_field)
                if isinstance(record, Mapping):
                    mark.see(when, record.get("id"))
                if when is not None and when > latest:
                    latest = when
            yield Page(found, cursor=None, counts=mark.counts())
        yield Page([], cursor={"since": format_time(mark.cap(latest))})
        mark.warn()

    def normalise(self, record: Any) -> Iterable[Row]:
        return type(self).rows(record, self.ctx)


class ContactsStream(SinceStream):
    """`GET /contacts?_updated_since=` -> `customers`."""

    name = "contacts"
    after = ("agents",)
    endpoint, param = "contacts", "_updated_since"
    rows = staticmethod(nl.contact_rows)


class RatingsStream(SinceStream):
    """`GET /surveys/satisfaction_ratings?created_since=` -> `survey_responses`."""

    name = "satisfaction_ratings"
    endpoint, param, time_field = "ratings", "created_since", "created_at"
    rows = staticmethod(nl.rating_rows)


class TimeEntriesStream(SinceStream):
    """`GET /time_entries?executed_after=` -> `agent_sessions` (state busy)."""

    name = "time_entries"
    endpoint, param, time_field = "time_entries", "executed_after", "executed_at"
    rows = staticmethod(nl.time_entry_rows)


class BusinessHoursStream(_Stream):
    """`GET /business_hours` -> `schedules` (a small full read every run)."""

    name = "business_hours"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        body = self.ctx.client.get_json(ENDPOINTS["business_hours"].path)
        yield Page(page_of(body, "/business_hours"), cursor=None)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nl.schedule_rows(record, self.ctx)


STREAM_TYPES: tuple[type[_Stream], ...] = (
    AgentsStream,
    ContactsStream,
    TicketsStream,
    RatingsStream,
    TimeEntriesStream,
    BusinessHoursStream,
)

__all__ = ["STREAM_TYPES", "TICKET_VIEWS", "Part"]
