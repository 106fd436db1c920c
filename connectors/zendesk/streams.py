"""The Zendesk streams: how each endpoint pages, what cursor it persists, how records map.

Every request the connector can send is declared in `ENDPOINTS` (path template and query
parameters); tests check that table, and every request actually sent, against Zendesk's OpenAPI
document. Streams share a per-run `Directory` (group names, staff roles) and never read the
warehouse.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from msgspec import UNSET, Raw

from deskpulse.connectors.base import ContextStream, Cursor, Page, Row
from deskpulse.connectors.errors import AuthError, BadResponse, RecordError, StreamUnavailable
from deskpulse.connectors.http import HttpClient, Paginator, RejectedRequest
from deskpulse.connectors.records import Record, RecordType
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk import writeback as wb
from deskpulse.connectors.zendesk.backfill import (
    AUDIT_PAGE,
    AUDITS,
    HANDOVER_OVERLAP,
    Backfill,
    ClosedTickets,
    Fetch,
    Frontier,
    budgets_of,
    choose,
    iso_second,
    pages_left,
)
from deskpulse.connectors.zendesk.sla import sla_rows

log = logging.getLogger(__name__)

INCREMENTAL = "incremental"
"""Rate-limit bucket of the incremental export endpoints (10 requests/minute on Zendesk)."""
INCREMENTAL_CURSOR = "incremental-cursor"
"""The cursor-based users export's own budget (`Zendesk-RateLimit-incremental-exports-cursor`,
20 requests/minute)."""
TALK = "talk"
"""Talk's incremental exports: their own 10 requests/minute."""
CHAT = "chat"
"""The Chat API: its own 200 requests/minute."""


@dataclass(frozen=True)
class Endpoint:
    """One request the connector can send: method, path as the spec writes it, query params."""

    method: str
    path: str
    params: frozenset[str]
    in_spec: bool = True
    source: str = "support-oas.yaml"


def _ep(method: str, path: str, *params: str, in_spec: bool = True, source: str = "") -> Endpoint:
    return Endpoint(method, path, frozenset(params), in_spec, source or "support-oas.yaml")


ENDPOINTS: dict[str, Endpoint] = {
    "tickets": _ep("GET", "/api/v2/incremental/tickets/cursor", "start_time", "cursor", "include"),
    "ticket_events": _ep("GET", "/api/v2/incremental/ticket_events", "start_time", "include"),
    "users": _ep("GET", "/api/v2/incremental/users/cursor", "start_time", "cursor", "per_page"),
    "staff": _ep("GET", "/api/v2/users", "role[]", "page[size]", "page[after]"),
    "groups": _ep("GET", "/api/v2/groups", "page[size]", "page[after]"),
    "satisfaction_ratings": _ep(
        "GET", "/api/v2/satisfaction_ratings", "start_time", "page[size]", "page[after]"
    ),
    "ticket_metric_events": _ep("GET", "/api/v2/incremental/ticket_metric_events", "start_time"),
    # a first sync's history through the account-wide budget (zendesk.backfill)
    "ticket_audits": _ep("GET", "/api/v2/ticket_audits", "page[size]", "page[after]"),
    "ticket_audits_of": _ep(
        "GET", "/api/v2/tickets/{ticket_id}/audits", "page[size]", "page[after]"
    ),
    "search": _ep("GET", "/api/v2/search", "query", "sort_by", "sort_order", "per_page", "page"),
    "update_ticket": _ep("PUT", "/api/v2/tickets/{ticket_id}"),
    # write-back (connectors.zendesk.writeback)
    "update_many_tickets": _ep("PUT", wb.UPDATE_MANY_TICKETS),
    "update_many_users": _ep("PUT", wb.UPDATE_MANY_USERS),
    "show_many_tickets": _ep("GET", wb.SHOW_MANY_TICKETS, "ids"),
    # named tickets read on a webhook's hint (zendesk.by_id)
    "tickets_by_id": _ep("GET", wb.SHOW_MANY_TICKETS, "ids", "include"),
    "show_many_users": _ep("GET", wb.SHOW_MANY_USERS, "ids"),
    "job_status": _ep("GET", wb.JOB_STATUS),
    "find_post": _ep("GET", wb.TICKETS, "external_id"),
    "create_post": _ep("POST", wb.TICKETS),
    # Not in the Support OpenAPI document (see the package docstring for their sources).
    "schedules": _ep(
        "GET",
        "/api/v2/business_hours/schedules",
        in_spec=False,
        source="developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/",
    ),
    "holidays": _ep(
        "GET",
        "/api/v2/business_hours/schedules/{schedule_id}/holidays",
        in_spec=False,
        source="developer.zendesk.com/api-reference/ticketing/ticket-management/schedules/",
    ),
    "calls": _ep(
        "GET",
        "/api/v2/channels/voice/stats/incremental/calls",
        "start_time",
        in_spec=False,
        source="developer.zendesk.com/api-reference/voice/talk-api/incremental_exports/",
    ),
    "chats": _ep(
        "GET",
        "/api/v2/chat/incremental/chats",
        "start_time",
        "start_id",
        "fields",
        "limit",
        in_spec=False,
        source="developer.zendesk.com/api-reference/live-chat/chat-api/incremental_export/",
    ),
}

EXPORT_PAGE = 1000
"""Records per page of the incremental exports (Zendesk's default and maximum)."""
LIST_PAGE = 100
"""Records per page of cursor-paginated list endpoints (Zendesk's maximum)."""


def _params(name: str, **values: Any) -> dict[str, Any]:
    """Query parameters for endpoint `name`; a parameter not declared in ENDPOINTS is a bug."""
    declared = ENDPOINTS[name].params
    unknown = set(values) - declared
    if unknown:  # pragma: no cover - guards the spec conformance table
        raise AssertionError(f"{name}: undeclared parameters {sorted(unknown)}")
    return {k: v for k, v in values.items() if v is not None}


def _records(body: Any, key: str, where: str) -> list[Any]:
    if not isinstance(body, Mapping):
        raise BadResponse(f"zendesk: {where} answered {type(body).__name__}, not an object")
    records = body.get(key)
    if records is None:
        return []
    if not isinstance(records, list):
        raise BadResponse(f"zendesk: {where}: `{key}` is not a list")
    return records


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


# --------------------------------------------------------------------------------------------
# Per-run lookups


class Directory:
    """What one run learns and shares between streams: group names and staff roles.

    The trap: ticket events name their author by user id only, and a comment is a *reply* only
    when its author is an agent. The connector cannot read the warehouse, so the users stream
    (which runs first) keeps the account's staff (agents, admins, bots: a few hundred ids) in
    its own cursor: a full read builds the map, each incremental read starts from the stored map
    and applies the users that changed, and every id not in the complete map is an end-user.
    Only when the users stream did not run to its end in this run (filtered out, forbidden, an
    old cursor without the map) is the map incomplete: the first unknown author then loads all
    staff once (`GET /api/v2/users?role[]=agent&role[]=admin`); if that list is unavailable too,
    unknown authors count as customers (and a warning says so). Author -1 is Zendesk's system
    user (triggers, automations): `system`. Bots are agents flagged as bots.
    """

    def __init__(self, client: HttpClient) -> None:
        self._client = client
        self._groups: dict[int, str] | None = None
        self.staff: dict[int, str] = {}
        self.staff_complete = False
        self.closed = ClosedTickets()
        """Closed tickets the tickets stream saw: the ones a backfill reads per ticket."""

    def staff_state(self) -> dict[str, str]:
        """The staff map as JSON for a cursor (ids as text keys)."""
        # a snapshot first: ticket events may fill the map from another thread meanwhile
        return {str(k): v for k, v in list(self.staff.items())}

    def seed_staff(self, state: Any) -> bool:
        """Start from a stored staff map; False when `state` is not one."""
        if not isinstance(state, Mapping):
            return False
        for key, role in state.items():
            uid = _as_int(key)
            if uid is not None and role in ("agent", "admin", "bot"):
                self.staff[uid] = role
        return True

    # groups ------------------------------------------------------------------------------
    # Lookups load from `pages()` (ensure_*), never from `normalise`: normalising does no I/O,
    # and a lookup that fails surfaces as the stream's own error.

    def ensure_groups(self, group_ids: Iterable[Any]) -> None:
        """Load the group names once per run, as soon as a record names a group."""
        if self._groups is not None or all(g is None for g in group_ids):
            return
        groups: dict[int, str] = {}
        try:
            for record in _list_pages(self._client, "groups", "groups", {}):
                gid = _as_int(record.get("id"))
                if gid is not None:
                    groups[gid] = str(record.get("name") or gid)
        except StreamUnavailable as exc:
            log.warning("zendesk: cannot list groups (%s); groups are named by id", exc)
        self._groups = groups

    def group_name(self, group_id: Any) -> str | None:
        """A group's name; its id as text when the group is unknown (deleted, or no list)."""
        if group_id is None:
            return None
        key = _as_int(group_id)
        if self._groups is not None and key is not None and key in self._groups:
            return self._groups[key]
        return str(group_id)

    # users -------------------------------------------------------------------------------

    def note_user(self, user_id: Any, role: str) -> None:
        key = _as_int(user_id)
        if key is None:
            return
        if role == "end-user":
            self.staff.pop(key, None)
        else:
            self.staff[key] = role

    def author_kind(self, user_id: Any) -> str:
        key = _as_int(user_id)
        if key is None or key < 0:
            return "system"
        role = self.staff.get(key)
        if role is None:
            return "customer"
        return "bot" if role == "bot" else "agent"

    def ensure_staff(self) -> None:
        """Make the staff map whole: load all staff once when the users stream did not."""
        if self.staff_complete:
            return
        params = {"role[]": ["agent", "admin"]}
        try:
            for user in _list_pages(self._client, "staff", "users", params):
                try:
                    staff = zr.USERS.value(user)
                    role = nz.user_role(staff)
                except RecordError:
                    continue
                self.note_user(staff.id, role)
        except StreamUnavailable as exc:
            log.warning(
                "zendesk: cannot list staff (%s); authors not synced as staff count as customers",
                exc,
            )
        self.staff_complete = True


def _list_pages(
    client: HttpClient, endpoint: str, key: str, params: dict[str, Any]
) -> Iterator[Mapping[str, Any]]:
    """Records of a cursor-paginated list endpoint (`meta.has_more`, `meta.after_cursor`)."""
    path = ENDPOINTS[endpoint].path
    pages = Paginator(f"zendesk {endpoint}")
    query = _params(endpoint, **params, **{"page[size]": LIST_PAGE})
    while True:
        body = client.get_json(path, query)
        yield from _records(body, key, path)
        meta = body.get("meta") or {}
        after = meta.get("after_cursor")
        if not meta.get("has_more") or not pages.advance(after):
            return
        query = {**query, "page[after]": after}


# --------------------------------------------------------------------------------------------
# Streams


@dataclass
class Context:
    client: HttpClient
    directory: Directory
    start_time: int
    oauth: bool = False
    prefix: str = "ZENDESK_"  # the source's variables, for messages
    history: str = "auto"  # how a first sync reads ticket events: auto | audits | incremental
    source: str = "zendesk"
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The sync's start: no stream's watermark passes it (connectors.watermark)."""

    def mark(self, stream: str) -> Watermark:
        return Watermark(f"{self.source}/{stream}", self.started)


class _Stream(ContextStream[Context]):
    """This connector's streams, on one run's Context (connectors.base.ContextStream)."""


class TicketsStream(_Stream):
    """Cursor-based incremental ticket export with the `metric_sets` sideload.

    First request `start_time`, then `cursor=after_cursor` until `end_of_stream`. Each page's
    cursor is `{"cursor": after_cursor}`; the next sync resumes there (the export's cursor
    orders by `generated_timestamp` and id, so same-second tickets at a page boundary are
    neither lost nor repeated). `generated_timestamp` is kept too: it, not `updated_at`, is the
    export's watermark, and a sync that has only it restarts from there. A ticket generated past
    the sync's start (connectors.watermark) would carry the export's cursor past every change
    still to come: from that page on, the stored cursor is the watermark capped at the sync's
    start alone, and the next sync restarts the export from there.
    """

    name = "tickets"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        paginator = Paginator("zendesk tickets")
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor")
        watermark = state.get("generated_timestamp")
        mark = self.ctx.mark(self.name)
        if isinstance(watermark, int) and mark.cap_epoch(watermark) != watermark:
            token, watermark = None, mark.cap_epoch(watermark)  # stored before the cap
        if token:
            paginator.seen(token)
            query = _params("tickets", cursor=token, include="metric_sets")
        else:
            start = watermark if isinstance(watermark, int) else self.ctx.start_time
            query = _params("tickets", start_time=start, include="metric_sets")
        # From the beginning, this run names every closed ticket (archived ones, for a backfill).
        closed = self.ctx.directory.closed
        closed.start(not token and not isinstance(watermark, int))
        complete = False
        try:
            yield from self._pages(paginator, query, token, watermark, mark)
            complete = True
        finally:
            closed.stop(complete)
            mark.warn()

    def _pages(
        self,
        paginator: Paginator,
        query: dict[str, Any],
        token: Any,
        watermark: Any,
        mark: Watermark,
    ) -> Iterator[Page]:
        warned = False
        while True:
            try:
                body = self._get(query)
            except RejectedRequest as exc:
                # A stored cursor the API no longer takes (400/422): restart from the watermark
                # instead of failing every sync until a full refresh. Rows upsert, so the
                # overlap re-read is harmless.
                if token is None or "cursor" not in query or not isinstance(watermark, int):
                    raise
                log.warning(
                    "zendesk: tickets cursor rejected (%s); restarting from generated_timestamp %s",
                    exc.status,
                    watermark,
                )
                token = None
                query = _params("tickets", start_time=watermark, include="metric_sets")
                continue
            after = body.after_cursor or token
            last = bool(body.end_of_stream) or not after
            tickets = [_without_bad_metric_set(r) for r in zr.TICKETS.wrap_all(body.tickets)]
            _join_metric_sets(tickets, body.metric_sets)
            with_sets, missing = _metric_set_counts(tickets)
            if missing and not warned:
                warned = True  # once per run: the run record's count shows the rest
                log.warning(
                    "zendesk: tickets came without a metric set although include=metric_sets "
                    "asked for them (first: ticket %s); their solve and reply times fall back to "
                    "the tickets' own fields",
                    missing[0],
                )
            for record in tickets:
                stamp = record.value.generated_timestamp if record.value is not None else None
                if isinstance(stamp, int):
                    mark.see_epoch(stamp, record.value.id if record.value else None)
                    if watermark is None or stamp > watermark:
                        watermark = stamp
            self.ctx.directory.ensure_groups(r.value.group_id for r in tickets if r.value)
            self.ctx.directory.closed.note(tickets)
            page_cursor: dict[str, Any] = {"cursor": after}
            if watermark is not None:
                capped = mark.cap_epoch(watermark)
                # Past the sync's start, the export's own cursor is too: keep the capped time.
                page_cursor = {"cursor": after} if capped == watermark else {}
                page_cursor["generated_timestamp"] = capped
            yield Page(
                tickets,
                cursor=page_cursor if after else None,
                counts={"metric_sets": with_sets, **mark.counts()},
            )
            if last:
                return
            paginator.advance(after)
            token = after
            query = _params("tickets", cursor=after, include="metric_sets")

    def _get(self, query: dict[str, Any]) -> zr.TicketExportPage:
        body: zr.TicketExportPage = self.ctx.client.get_json(
            ENDPOINTS["tickets"].path, query, bucket=INCREMENTAL, decoder=zr.TICKET_EXPORT
        )
        return body

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.ticket_rows(zr.TICKETS.value(record), self.ctx.directory.group_name)


def _without_bad_metric_set(record: Record[zr.Ticket]) -> Record[zr.Ticket]:
    """A ticket whose embedded `metric_set` does not decode, decoded again without it: a bad
    metric set costs only itself (as in the list shape), and stays in the quarantine payload
    should the ticket fail later."""
    if record.value is not None or not (record.error or "").startswith("metric_set"):
        return record
    payload = record.as_payload()
    if not isinstance(payload, dict):  # pragma: no cover - the error says it was an object
        return record
    bad = payload.pop("metric_set", None)
    again = zr.TICKETS.wrap(Raw(orjson.dumps(payload)))
    again.sideload = {"metric_set": bad}
    return again


def _metric_set_counts(tickets: list[Record[zr.Ticket]]) -> tuple[int, list[Any]]:
    """(tickets with a metric set, ids of the others that should have one: not deleted)."""
    with_sets, missing = 0, []
    for record in tickets:
        value = record.value
        if value is None:
            continue
        if value.metric_set is not None:
            with_sets += 1
        elif value.status != "deleted":
            missing.append(value.id)
    return with_sets, missing


def _join_metric_sets(tickets: list[Record[zr.Ticket]], raws: list[Any] | None) -> None:
    """Attach each ticket's entry of a top-level `metric_sets` list (joined by ticket id). A
    metric set that does not decode is left out: the ticket still maps, from its own fields."""
    if not raws:
        return
    by_ticket: dict[Any, tuple[zr.MetricSet, Any]] = {}
    for entry in zr.METRIC_SETS.wrap_all(raws):
        if entry.value is not None:
            by_ticket[entry.value.ticket_id] = (entry.value, entry.raw)
    for record in tickets:
        found = by_ticket.get(record.value.id if record.value is not None else record.raw_id())
        if found is not None:
            if record.value is not None:
                record.value.metric_set = found[0]
            record.sideload = {"metric_set": found[1]}


class UsersStream(_Stream):
    """Cursor-based incremental user export -> `agents` (agents, admins, bots) and `customers`
    (end-users). Runs first: it keeps the account's staff map in its cursor,
    `{"cursor": after_cursor, "staff": {"<id>": "agent" | "admin" | "bot"}}`, which ticket
    events resolve authors with (see `Directory`). Once a user updated past the sync's start has
    carried the export's cursor past changes still to come (connectors.watermark), the cursor is
    `{"start_time": the sync's start, "staff": ...}` instead, and the next sync resumes there."""

    name = "users"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["users"].path
        directory = self.ctx.directory
        paginator = Paginator("zendesk users")
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor")
        resume = state.get("start_time") if not token else None
        resume = resume if isinstance(resume, int) and not isinstance(resume, bool) else None
        # The map is whole at the end of this read if it starts from nothing or from a stored map.
        whole = (not token and resume is None) or directory.seed_staff(state.get("staff"))
        if token:
            paginator.seen(token)
            query = _params("users", cursor=token, per_page=EXPORT_PAGE)
        else:
            # Users are dimensions: from the beginning, whatever the tickets' start_time.
            query = _params("users", start_time=resume or 0, per_page=EXPORT_PAGE)
        mark = self.ctx.mark(self.name)
        try:
            yield from self._pages(path, paginator, query, token, whole, mark)
        finally:
            mark.warn()

    def _pages(
        self,
        path: str,
        paginator: Paginator,
        query: dict[str, Any],
        token: Any,
        whole: bool,
        mark: Watermark,
    ) -> Iterator[Page]:
        directory = self.ctx.directory
        latest: int | None = None  # the latest `updated_at` read, in epoch seconds
        while True:
            try:
                body = self.ctx.client.get_json(
                    path, query, bucket=INCREMENTAL_CURSOR, decoder=zr.USER_EXPORT
                )
            except RejectedRequest as exc:
                if token is None or "cursor" not in query:
                    raise
                # A stored cursor the API no longer takes: users are few, read them all again.
                log.warning("zendesk: users cursor rejected (%s); re-reading all users", exc.status)
                token, whole = None, True
                query = _params("users", start_time=0, per_page=EXPORT_PAGE)
                continue
            users = zr.USERS.wrap_all(body.users)
            directory.ensure_groups(u.value.default_group_id for u in users if u.value)
            # Roles go into the map before the page's cursor is cut, so the cursor holds them.
            for user in users:
                if user.value is None:
                    continue  # normalise quarantines it
                updated = _when_or_none(user.value.updated_at)
                mark.see(updated, user.value.id)
                if updated is not None:
                    latest = max(latest or 0, nz.epoch(updated))
                try:
                    directory.note_user(user.value.id, nz.user_role(user.value))
                except RecordError:
                    continue  # normalise quarantines it
            after = body.after_cursor or token
            page_cursor: dict[str, Any] | None = None
            if after and latest is not None and mark.cap_epoch(latest) != latest:
                page_cursor = {"start_time": mark.cap_epoch(latest)}
            elif after:
                page_cursor = {"cursor": after}
            if page_cursor is not None:
                page_cursor["staff"] = directory.staff_state()
            yield Page(users, cursor=page_cursor, counts=mark.counts())
            if body.end_of_stream or not after:
                if whole:
                    directory.staff_complete = True
                return
            paginator.advance(after)
            token = after
            query = _params("users", cursor=after, per_page=EXPORT_PAGE)

    def normalise(self, record: Any) -> Iterable[Row]:
        user = zr.USERS.value(record)
        return [nz.user_rows(user, nz.user_role(user), self.ctx.directory.group_name)]


class _TimeBasedStream(_Stream):
    """A time-based incremental export: `start_time` in, `end_time` + `end_of_stream` out.

    Each page's cursor is `{"start_time": end_time}`. The next request starts at `end_time`
    inclusive, so Zendesk serves the boundary second again: records of the previous page are
    dropped by id (nothing duplicated) and nothing is lost. A page whose `end_time` does not
    advance while `end_of_stream` is false is a loop (PaginationLoopError), not a reason to spin.
    """

    endpoint = ""
    key = ""
    extra_params: tuple[tuple[str, str], ...] = ()
    bucket = INCREMENTAL
    records: RecordType[Any] = zr.PLAIN
    """How one record decodes (typed for the big exports, a plain dict for the small ones)."""

    def _done(self, body: zr.TimeExportPage, records: list[Any]) -> bool:
        if body.end_of_stream is not UNSET:
            return bool(body.end_of_stream)
        # Older time-based exports carry no end_of_stream: a short page is the last one.
        count = body.count
        if not isinstance(count, int):
            count = len(records)
        return count < EXPORT_PAGE or not records or body.next_page is None

    def _prepare(self) -> None:
        """Load what `normalise` looks up, before the first page with records goes out."""

    def _query(self, start: int) -> dict[str, Any]:
        return _params(self.endpoint, start_time=start, **dict(self.extra_params))

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        if not isinstance(start, int):
            start = self.ctx.start_time
        yield from self._walk(self.mark.cap_epoch(start), self._fetcher())

    @functools.cached_property
    def mark(self) -> Watermark:
        """This run's watermark rule (connectors.watermark): the stored `start_time` never
        passes the sync's start; records dated a day past it are reported."""
        return self.ctx.mark(self.name)

    def _fetcher(self) -> Fetch:
        """One export request at a time: start_time -> (records not on the previous page,
        end_time, end of stream, the first record's time)."""
        path = ENDPOINTS[self.endpoint].path
        previous: set[Any] = set()

        def fetch(start: int) -> tuple[list[Any], int, bool, int | None]:
            nonlocal previous
            body = self._get(path, self._query(start))
            found = getattr(body, self.key) or []
            done = self._done(body, found)
            end_time = body.end_time
            if not isinstance(end_time, int):
                end_time = start
            raw = self.records.wrap_all(found)
            records = [r for r in raw if _record_key(r) not in previous] if previous else raw
            previous = {_record_key(r) for r in raw}
            return records, end_time, done, _first_time(raw)

        return fetch

    def _walk(self, start: int, fetch: Fetch, first: Any = None) -> Iterator[Page]:
        """Pages from `start` (`first`: that request's answer, already fetched)."""
        paginator = Paginator(f"zendesk {self.name}")
        paginator.seen(start)
        mark = self.mark
        try:
            while True:
                records, end_time, done, _ = first if first is not None else fetch(start)
                first = None
                if records:
                    self._prepare()
                for record in records:
                    mark.see_epoch(_record_time(record), _record_key(record))
                yield Page(
                    records, cursor={"start_time": mark.cap_epoch(end_time)}, counts=mark.counts()
                )
                if done:
                    return
                paginator.advance(end_time)
                start = end_time
        finally:
            mark.warn()

    def _get(self, path: str, query: dict[str, Any]) -> zr.TimeExportPage:
        body: zr.TimeExportPage = self.ctx.client.get_json(
            path, query, bucket=self.bucket, decoder=zr.TIME_EXPORT
        )
        return body


def _first_time(records: list[Record[Any]]) -> int | None:
    """The time of a page's first record (a ticket event's `timestamp`), when it has one."""
    for record in records[:1]:
        stamp = getattr(record.value, "timestamp", None)
        return stamp if isinstance(stamp, int) else None
    return None


def _when_or_none(value: Any) -> datetime | None:
    """A record's time for the watermark's report, or None when it has no readable one."""
    try:
        return nz.when(value)
    except RecordError:
        return None


def _record_time(record: Record[Any]) -> int | None:
    """A time-based export record's time in epoch seconds (a ticket event's `timestamp`, a
    metric event's `time`, a call's `updated_at`), when it has a readable one."""
    value = record.value
    found = value.get("timestamp") if isinstance(value, dict) else getattr(value, "timestamp", None)
    if isinstance(found, int) and not isinstance(found, bool):
        return found
    if isinstance(value, dict):
        for name in ("time", "updated_at"):
            if isinstance(value.get(name), str):
                try:
                    moment = nz.when(value[name])
                except RecordError:
                    return None
                return nz.epoch(moment) if moment is not None else None
    return None


def _record_key(record: Record[Any]) -> Any:
    """What identifies a record across two pages: its id, or its raw text when it has none."""
    value = record.value
    found = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
    return found if isinstance(found, int | str) else bytes(record.raw)


class TicketEventsStream(_TimeBasedStream):
    """Incremental ticket event export with the `comment_events` sideload: one request per
    1000 ticket updates, each carrying its comments, status changes and assignments.

    A first sync may read the history through the account-wide budget as well (ticket audits,
    zendesk.backfill) when the budgets say it pays; the cursor is then
    `{"backfill": {...}}` until the history is in, and `{"start_time": T0}` from the hand-over
    on: the next sync goes on with the export alone."""

    endpoint = "ticket_events"
    key = "ticket_events"
    extra_params = (("include", "comment_events"),)

    name = "ticket_events"
    records = zr.TICKET_EVENTS
    # Not after users: a big account's users export (its own 20 requests a minute) would hold
    # the history back for minutes while the account budget sits idle. Authors are agents or
    # customers by the staff map, which ensure_staff lists (a request per 100 staff) when the
    # users stream has not made it whole yet.
    after = ()

    def _prepare(self) -> None:
        self.ctx.directory.ensure_staff()

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        stored = state.get("backfill")
        frontier = Frontier.load(stored) if isinstance(stored, Mapping) else None
        if frontier is not None:  # a backfill that stopped: resume the same plan
            yield from self._backfill(frontier, self._fetcher())
            return
        if "start_time" in state or self.ctx.history == "incremental":
            yield from super().pages(cursor)
            return
        start = self.ctx.start_time
        fetch = self._fetcher()
        first = fetch(start)
        records, end_time, last, first_ts = first
        t0 = None
        if not last and (
            self.ctx.history == "audits"
            or choose(
                budgets_of(self.ctx.client, INCREMENTAL),
                pages_left(first_ts, end_time, int(time.time())),
            )
        ):
            t0 = self._t0()
        if t0 is None or t0 <= end_time:
            yield from self._walk(start, fetch, first)
            return
        log.info("zendesk: ticket events backfill through ticket audits up to %s", t0)
        frontier = Frontier(t0=t0, export=end_time, origin=first_ts)
        self._prepare()
        yield Page(records, cursor={"backfill": frontier.dump(start)})
        yield from self._backfill(frontier, fetch)

    def _t0(self) -> int | None:
        """The hand-over time: the newest audit's, less a minute (None: no live audits)."""
        body = self.ctx.client.get_json(
            ENDPOINTS["ticket_audits"].path,
            _params("ticket_audits", **{"page[size]": 1}),
            decoder=AUDIT_PAGE,
        )
        newest = [r.value.created_at for r in AUDITS.wrap_all(body.audits) if r.value]
        try:
            moment = nz.when(newest[0]) if newest else None
        except RecordError:
            moment = None
        if moment is None:
            return None
        return min(nz.epoch(moment), int(time.time())) - HANDOVER_OVERLAP

    def _backfill(self, frontier: Frontier, fetch: Fetch) -> Iterator[Page]:
        self._prepare()
        paths = {
            "ticket_audits": ENDPOINTS["ticket_audits"].path,
            "ticket_audits_of": ENDPOINTS["ticket_audits_of"].path,
            "search": ENDPOINTS["search"].path,
        }
        client = self.ctx.client
        backfill = Backfill(
            client,
            self.ctx.directory.closed,
            fetch,
            frontier,
            self.ctx.start_time,
            paths,
            self.bucket,
        )
        yield from backfill.pages()
        # The hand-over: from T0 on, the export alone. The changes made while the backfill ran
        # come with the next sync, as later ones do: the history is in now, not a window later
        # (the export's last pages have mostly spent its budget), and with the tickets stream,
        # read at the start, the warehouse holds one moment.
        yield Page([], cursor={"start_time": frontier.t0})
        log.info(
            "zendesk: ticket events history in up to %s; later changes come with the next sync",
            iso_second(frontier.t0),
        )

    def normalise(self, record: Any) -> Iterable[Row]:
        event = zr.TICKET_EVENTS.value(record)
        return nz.ticket_event_rows(event, self.ctx.directory.author_kind)


class SlaEventsStream(_TimeBasedStream):
    """Ticket metric events -> `sla_events` in the neutral vocabulary (`zendesk.sla`),
    time-based from `start_time`."""

    endpoint = "ticket_metric_events"
    key = "ticket_metric_events"

    name = "sla_events"

    @property
    def after(self) -> tuple[str, ...]:  # type: ignore[override]
        """With the incremental budget paced, the core streams (tickets and their events,
        which most KPIs need) spend it first, and SLA events follow; unpaced, side by side."""
        if self.ctx.client.limiter.budget(INCREMENTAL) is not None:
            return ("tickets", "ticket_events")
        return ()

    def normalise(self, record: Any) -> Iterable[Row]:
        return sla_rows(zr.PLAIN.value(record))


class CallsStream(_TimeBasedStream):
    """Talk incremental calls export -> `calls`.

    Talk's trap: `next_page` is never null, even on the last page (it points at the next
    export); `count` tells whether more is available now. A page shorter than a full page ends
    the run; a full page whose successor repeats the same `start_time` is a loop.
    """

    endpoint = "calls"
    key = "calls"
    bucket = TALK

    name = "calls"

    def _done(self, body: zr.TimeExportPage, records: list[Any]) -> bool:
        if body.end_of_stream is True:
            return True
        count = body.count
        if not isinstance(count, int):
            count = len(records)
        return count < EXPORT_PAGE

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.call_rows(zr.PLAIN.value(record))


class ChatsStream(_Stream):
    """Chat incremental export (`/api/v2/chat/incremental/chats`) -> `chats`.

    Pages by (`start_time`, `start_id`) from the previous response's `end_time`/`end_id`; the
    cursor persists both. The Chat API accepts only OAuth tokens: with API-token auth its 401 is
    this stream being unavailable, not the account's credentials being wrong.
    """

    name = "chats"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["chats"].path
        paginator = Paginator("zendesk chats")
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        start_id = state.get("start_id")
        if not isinstance(start, int):
            start = self.ctx.start_time
        mark = self.ctx.mark(self.name)
        if mark.cap_epoch(start) != start:  # stored before the cap (connectors.watermark)
            start, start_id = mark.cap_epoch(start), None
        paginator.seen((start, start_id))
        try:
            yield from self._pages(path, paginator, start, start_id, mark)
        finally:
            mark.warn()

    def _pages(
        self, path: str, paginator: Paginator, start: int, start_id: Any, mark: Watermark
    ) -> Iterator[Page]:
        while True:
            query = _params(
                "chats", start_time=start, start_id=start_id, fields="chats(*)", limit=EXPORT_PAGE
            )
            try:
                body = self.ctx.client.get_json(path, query, bucket=CHAT)
            except AuthError:
                if self.ctx.oauth:
                    raise
                raise StreamUnavailable(
                    f"zendesk: the Chat API refused API-token auth (it needs "
                    f"{self.ctx.prefix}OAUTH_TOKEN); chats skipped"
                ) from None
            records = _records(body, "chats", path)
            end_time = body.get("end_time")
            end_id = body.get("end_id")
            if not isinstance(end_time, int):
                end_time, end_id = start, start_id
            for record in records:
                if isinstance(record, Mapping):
                    mark.see(_when_or_none(record.get("update_timestamp")), record.get("id"))
            stored = mark.cap_epoch(end_time)  # past the sync's start: from it, by time alone
            yield Page(
                records,
                cursor={"start_time": stored, "start_id": end_id if stored == end_time else None},
                counts=mark.counts(),
            )
            count = body.get("count")
            if not isinstance(count, int):
                count = len(records)
            if (
                body.get("end_of_stream") is True
                or count < EXPORT_PAGE
                or not body.get("next_page")
            ):
                return
            paginator.advance((end_time, end_id))
            start, start_id = end_time, end_id

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.chat_rows(record)


class SatisfactionRatingsStream(_Stream):
    """CSAT ratings -> `survey_responses`, cursor-paginated, filtered by `start_time`.

    A rating changes after it is created (offered -> good/bad), so the watermark is the largest
    `updated_at` seen, and it is saved only with the last page (the list is not guaranteed to be
    in watermark order, so a middle page's maximum is not a safe resume point; a run killed in the
    middle re-reads from the previous watermark and upserts).
    """

    name = "satisfaction_ratings"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["satisfaction_ratings"].path
        paginator = Paginator("zendesk satisfaction_ratings")
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        if not isinstance(start, int):
            start = self.ctx.start_time
        mark = self.ctx.mark(self.name)
        start = mark.cap_epoch(start)  # a watermark stored before the cap heals
        try:
            yield from self._pages(path, paginator, start, mark)
        finally:
            mark.warn()

    def _pages(
        self, path: str, paginator: Paginator, start: int, mark: Watermark
    ) -> Iterator[Page]:
        watermark = start
        query = _params("satisfaction_ratings", start_time=start, **{"page[size]": LIST_PAGE})
        while True:
            body = self.ctx.client.get_json(path, query)
            records = _records(body, "satisfaction_ratings", path)
            for record in records:
                stamp = record.get("updated_at") or record.get("created_at")
                try:
                    moment = nz.when(stamp)
                except RecordError:
                    continue
                mark.see(moment, record.get("id"))
                if moment is not None:
                    watermark = max(watermark, nz.epoch(moment))
            meta = body.get("meta") or {}
            after = meta.get("after_cursor")
            last = not meta.get("has_more") or not after
            cursor = {"start_time": mark.cap_epoch(watermark)} if last else None
            yield Page(records, cursor=cursor, counts=mark.counts())
            if last:
                return
            paginator.advance(after)
            query = {**query, "page[after]": after}

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.rating_rows(record)


class SchedulesStream(_Stream):
    """Business hours schedules (+ their holidays) -> `schedules`; small, re-read every run."""

    name = "schedules"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["schedules"].path
        body = self.ctx.client.get_json(path)
        schedules = _records(body, "schedules", path)
        for schedule in schedules:
            sid = schedule.get("id")
            if type(sid) is not int:  # no id to ask for holidays with: the normaliser says why
                continue
            holidays_path = ENDPOINTS["holidays"].path.format(schedule_id=sid)
            try:
                holidays = self.ctx.client.get_json(holidays_path)
            except StreamUnavailable:
                continue  # holidays are optional: a plan without them keeps the weekly hours
            schedule["holidays"] = _records(holidays, "holidays", holidays_path)
        yield Page(schedules, cursor=None)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.schedule_rows(record)


STREAM_TYPES: tuple[type[_Stream], ...] = (
    UsersStream,
    TicketsStream,
    TicketEventsStream,
    SatisfactionRatingsStream,
    SlaEventsStream,
    SchedulesStream,
    CallsStream,
    ChatsStream,
)


def start_epoch(value: datetime | int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        return int(value.timestamp())
    return int(value)
