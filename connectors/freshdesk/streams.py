"""The Freshdesk streams: what each reads, in which order, and what cursor it keeps.

Every request the connector can send is in `ENDPOINTS` (method, path as the reconstructed
document writes it, query parameters, rate-limit bucket); a test checks the table against that
document (tests/connectors/fixtures/freshdesk). Streams share a per-run `Directory` (agents,
groups, companies, the default SLA policy) and never read the warehouse.

Paging. Lists are JSON arrays of up to 100 (`per_page`), numbered by `page`; a page shorter
than asked is the last. The ticket list stops at page 300 (a 400 past it), so tickets are never
walked by page numbers: each request asks `updated_since` = the last ticket's `updated_at`
(`order_by=updated_at&order_type=asc`) from page 1, skipping the tickets already read at that
second; only a second holding more than a page of tickets turns to page 2, 3, ... (`TimeWalk`).
The cursor after each page is that position, so a killed sync resumes where it stopped and a
ticket updated meanwhile moves behind the walk, where it is read again. Other lists are read by
page numbers from their filter (`_updated_since`, `created_since`, `executed_after`) less the
overlap, and store their watermark once the walk ended (their order is not documented).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deskpulse.connectors.base import ContextStream, Cursor, Page, Row
from deskpulse.connectors.errors import BadResponse, RecordError, StreamUnavailable
from deskpulse.connectors.freshdesk import normalise as nl
from deskpulse.connectors.freshdesk.mapping import UnknownCodes, format_time, parse_time
from deskpulse.connectors.http import HttpClient, Paginator
from deskpulse.connectors.ratelimit import DEFAULT_BUCKET
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk.timezones import iana_zone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    params: frozenset[str] = frozenset()
    bucket: str = DEFAULT_BUCKET


_PAGED = frozenset({"page", "per_page"})
ENDPOINTS: dict[str, Endpoint] = {
    "tickets": Endpoint(
        "GET",
        "/tickets",
        _PAGED | {"updated_since", "order_by", "order_type", "include", "filter"},
        "tickets_list",
    ),
    "conversations": Endpoint("GET", "/tickets/{id}/conversations", _PAGED),
    "ratings": Endpoint("GET", "/surveys/satisfaction_ratings", _PAGED | {"created_since"}),
    "time_entries": Endpoint("GET", "/time_entries", _PAGED | {"executed_after"}),
    "agents": Endpoint("GET", "/agents", _PAGED),
    "groups": Endpoint("GET", "/groups", _PAGED),
    "companies": Endpoint("GET", "/companies", _PAGED),
    "contacts": Endpoint("GET", "/contacts", _PAGED | {"_updated_since"}, "contacts_list"),
    "business_hours": Endpoint("GET", "/business_hours"),
    "sla_policies": Endpoint("GET", "/sla_policies"),
    "ticket": Endpoint("GET", "/tickets/{id}"),
    "update_ticket": Endpoint("PUT", "/tickets/{id}", bucket="tickets_update"),
    "create_ticket": Endpoint("POST", "/tickets", bucket="tickets_create"),
    "add_note": Endpoint("POST", "/tickets/{id}/notes"),
    "search_tickets": Endpoint("GET", "/search/tickets", frozenset({"query"})),
    "contact": Endpoint("GET", "/contacts/{id}"),
    "update_contact": Endpoint("PUT", "/contacts/{id}"),
}

PER_PAGE = 100
"""Freshdesk's largest page."""
TICKET_VIEWS = (None, "deleted", "spam")
"""The default ticket list has neither deleted nor spam tickets: each is asked for apart."""


def page_of(body: Any, what: str) -> list[Any]:
    if not isinstance(body, list):
        raise BadResponse(f"freshdesk {what}: expected a JSON array, got {type(body).__name__}")
    return body


def numbered(
    client: HttpClient, endpoint: Endpoint, params: Mapping[str, Any], per_page: int
) -> Iterator[list[Any]]:
    """Pages of a numbered list until a short one."""
    page = 1
    while True:
        body = client.get_json(
            endpoint.path, {**params, "page": page, "per_page": per_page}, bucket=endpoint.bucket
        )
        found = page_of(body, endpoint.path)
        yield found
        if len(found) < per_page:
            return
        page += 1


class Directory:
    """What one run learns once and shares: agent ids (author kinds), group and company names,
    the default SLA policy's targets. Loaded from `pages()` (`ensure`), never from `normalise`."""

    def __init__(self, client: HttpClient, per_page: int = PER_PAGE) -> None:
        self._client = client
        self._per_page = per_page
        self.agents: list[Any] = []
        self.agent_ids: set[str] = set()
        self.groups: dict[str, str] = {}
        self.companies: dict[str, str] = {}
        self.policy: dict[str, Any] = {}
        self._loaded = False

    def _all(self, name: str) -> list[Any]:
        return [r for page in numbered(self._client, ENDPOINTS[name], {}, self._per_page)
                for r in page]  # fmt: skip

    def ensure(self) -> None:
        if self._loaded:
            return
        self.agents = self._all("agents")
        self.agent_ids = {
            str(a["id"]) for a in self.agents if isinstance(a, Mapping) and a.get("id")
        }
        self.groups = self._names("groups")
        self.companies = self._names("companies")
        try:
            body = self._client.get_json(ENDPOINTS["sla_policies"].path)
            policies = [p for p in page_of(body, "/sla_policies") if isinstance(p, Mapping)]
        except StreamUnavailable as exc:  # a plan without SLA policies
            log.warning("freshdesk: cannot list SLA policies (%s); SLA targets unnamed", exc)
            policies = []
        default = next((p for p in policies if p.get("is_default")), None)
        if default is not None:
            self.policy = {
                "id": default.get("id"),
                "name": default.get("name"),
                "targets": policy_targets(default.get("sla_target")),
            }
        self._loaded = True

    def _names(self, name: str) -> dict[str, str]:
        try:
            rows = self._all(name)
        except StreamUnavailable as exc:
            log.warning("freshdesk: cannot list %s (%s); they are named by id", name, exc)
            return {}
        return {str(r["id"]): str(r.get("name") or r["id"]) for r in rows
                if isinstance(r, Mapping) and r.get("id") is not None}  # fmt: skip

    def group(self, group_id: Any) -> str | None:
        if group_id in (None, ""):
            return None
        return self.groups.get(str(group_id), str(group_id))

    def company(self, company_id: str | None) -> str | None:
        return None if company_id is None else self.companies.get(company_id, company_id)


def policy_targets(raw: Any) -> dict[int, dict[str, Any]]:
    """`{"priority_4": {respond_within, resolve_within, business_hours}}` -> {4: {...}}; what
    is not a number of seconds or a flag is left out (the due times still give the target)."""
    targets: dict[int, dict[str, Any]] = {}
    for key, target in raw.items() if isinstance(raw, Mapping) else ():
        number = str(key).removeprefix("priority_")
        if not number.isdigit() or not isinstance(target, Mapping):
            continue
        kept = {k: v for k in ("respond_within", "resolve_within")
                if isinstance(v := target.get(k), int) and not isinstance(v, bool) and v >= 0}  # fmt: skip
        if isinstance(target.get("business_hours"), bool):
            kept["business_hours"] = target["business_hours"]
        targets[int(number)] = kept
    return targets


@dataclass
class Context:
    client: HttpClient
    directory: Directory
    start: datetime
    overlap: timedelta
    started: datetime  # the sync's start: no watermark passes it (connectors.watermark)
    statuses: Mapping[int, str]
    source: str = "freshdesk"
    codes: UnknownCodes = field(default_factory=UnknownCodes)
    per_page: int = PER_PAGE

    def zone(self, name: str) -> str:
        try:
            return iana_zone(name)
        except ValueError:
            raise RecordError(f"time_zone: unknown time zone {name!r}") from None


class Part:
    """A ticket with its conversations (read apart), as one record; the quarantine keeps both."""

    __slots__ = ("conversations", "ticket")

    def __init__(self, ticket: Any, conversations: list[Any]) -> None:
        self.ticket = ticket
        self.conversations = conversations

    def as_payload(self) -> Any:
        return {"ticket": self.ticket, "conversations": self.conversations}


class TimeWalk:
    """Tickets of one view by `updated_at`, moving `updated_since` to the last ticket read.

    Cursor `{"since": ISO, "seen": [ids read at that second], "page": n}`: `page` is above 1
    only inside a second that holds more tickets than a page."""

    def __init__(self, ctx: Context, view: str | None, mark: Watermark) -> None:
        self.ctx = ctx
        self.view = view
        self.mark = mark

    def pages(self, cursor: Mapping[str, Any]) -> Iterator[tuple[list[Any], dict[str, Any]]]:
        since = parse_time(cursor.get("since"), "cursor since") or self.ctx.start
        seen = {str(s) for s in cursor.get("seen", ())}
        page = int(cursor.get("page", 1))
        guard = Paginator(f"freshdesk tickets{'/' + self.view if self.view else ''}")
        endpoint = ENDPOINTS["tickets"]
        per_page = self.ctx.per_page
        while True:
            guard.seen((format_time(since), page, len(seen)))
            params: dict[str, Any] = {
                "updated_since": format_time(since),
                "order_by": "updated_at",
                "order_type": "asc",
                "include": "stats,requester",
                "page": page,
                "per_page": per_page,
            }
            if self.view:
                params["filter"] = self.view
            body = self.ctx.client.get_json(endpoint.path, params, bucket=endpoint.bucket)
            found = page_of(body, endpoint.path)
            fresh, last = [], since
            for ticket in found:
                when = _time(ticket, "updated_at")
                key = _number(ticket)
                if when is not None and when <= since and key in seen:
                    continue  # read at the end of the page before
                fresh.append(ticket)
                if when is not None and when > last:
                    last, seen = when, set()
                if when is not None and when == last and key is not None:
                    seen.add(key)
                self.mark.see(when, key)
            if last > since:
                # The tickets read at `last` are the first of that second in the list: a second
                # that filled whole pages goes on at the page after them.
                since, page = last, len(seen) // per_page + 1
            elif found:
                page += 1  # a whole page in one second: the next page of that second
            done = len(found) < per_page
            stored = self.mark.cap(since)
            after: dict[str, Any] = {"since": format_time(stored), "seen": [], "page": 1}
            if stored == since and not done:
                after |= {"seen": sorted(seen), "page": page}
            elif stored == since:
                after["seen"] = sorted(seen)
            yield fresh, after
            if done:
                return
            guard.advance((format_time(since), page, len(seen)))


def _number(record: Any) -> str | None:
    """A record's id when it is a positive number (one a URL can hold), else None."""
    value = record.get("id") if isinstance(record, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    return str(int(value)) if int(value) > 0 else None


def _time(record: Any, key: str) -> datetime | None:
    """A record's time for paging (a bad one is left to the normaliser to quarantine)."""
    if not isinstance(record, Mapping):
        return None
    try:
        return parse_time(record.get(key), key)
    except RecordError:
        return None


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
    """`GET /tickets` (the default list, then `filter=deleted`, then `filter=spam`), and for each
    listed ticket that is neither its conversations -> `tickets`, message `ticket_events`,
    `sla_events`, `social_mentions`. A page of tickets with their conversations is committed
    with one cursor."""

    name = "tickets"
    after = ("agents",)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        self.ctx.directory.ensure()
        state: dict[str, Any] = dict(cursor or {})
        mark = self._mark()
        for view in TICKET_VIEWS:
            key = view or "tickets"
            walk = TimeWalk(self.ctx, view, mark)
            begin = dict(state.get(key) or {})
            if begin.get("since"):
                back = parse_time(begin["since"], "cursor since")
                assert back is not None
                begin["since"] = format_time(mark.cap(back))
            for found, after in walk.pages(begin):
                parts = [Part(t, [] if view else self._conversations(t)) for t in found]
                state[key] = after
                yield Page(parts, cursor=dict(state), counts=mark.counts())
        mark.warn()

    def _conversations(self, ticket: Any) -> list[Any]:
        tid = _number(ticket)
        if tid is None:
            return []  # the normaliser quarantines the ticket
        endpoint = ENDPOINTS["conversations"]
        path = endpoint.path.format(id=tid)
        try:
            return [c for page in numbered(self.ctx.client, Endpoint("GET", path), {},
                                           self.ctx.per_page) for c in page]  # fmt: skip
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
        for found in numbered(self.ctx.client, ENDPOINTS[self.endpoint], params, self.ctx.per_page):
            for record in found:
                when = _time(record, self.time_field)
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

__all__ = ["ENDPOINTS", "STREAM_TYPES", "Context", "Directory", "Part", "TimeWalk"]
