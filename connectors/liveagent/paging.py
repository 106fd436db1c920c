"""How LiveAgent's list endpoints page: three readers on the one page loop (`HttpClient.paginate`),
each with a fresh paginator per run.

* `numbered`: `_page` / `_perPage` over a bare JSON array without totals (connectors.paging's
  PageNumber): the last page is the first one shorter than `_perPage`.
* `ChangedSince`: an incremental read by a date field (`date_changed` on tickets and contacts,
  `date_created` on chats), keyset-style: every request is page 1 of
  `_filters=[[field, "D>=", since]]` sorted ascending by that field, and `since` moves to the last
  record's date after each page. Numbered pages of one fixed filter would skip a record each time
  one ahead of the reader changes (it jumps to the end of the sort); a keyset read cannot. The
  boundary second is served again by the next request (`D>=`), so its records are dropped by id;
  only when a whole page shares one second does it fall back to `_page=2, 3...` of that filter.
  The cursor is `{"since": ISO-8601 UTC, "seen": [ids at that second]}`; a new run starts
  `overlap` earlier (LiveAgent serves ticket lists from an Elasticsearch index that lags the
  database a little: a ticket changed just before a read may show up a moment later with an
  earlier date_changed).
  `Keyset` is its paginator.
* `IdCursor`: `GET /calls` and `GET /tickets/history` page by `_cursor`, whose next value comes
  in the `next_page_cursor` *response header* (connectors.paging's HeaderCursor); the cursor is
  base64 of `{"id": "<last id>"}` and means "records after that id", so a run resumes from the
  last committed id even when the last page carried no header. A cursor that repeats raises
  PaginationLoopError.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson

from deskpulse.connectors.errors import BadResponse, RecordError
from deskpulse.connectors.http import (
    Fetched,
    HeaderCursor,
    HttpClient,
    PageNumber,
    PageRequest,
    Paginator,
)
from deskpulse.connectors.liveagent.mapping import format_when, parse_when
from deskpulse.connectors.watermark import Watermark

NEXT_PAGE_CURSOR = "next_page_cursor"


def records(body: Any, where: str) -> list[Any]:
    """A bare-array page; anything else (an object, an error body with 200) is a BadResponse."""
    if not isinstance(body, list):
        raise BadResponse(f"liveagent: {where} answered {type(body).__name__}, not a list")
    return body


def numbered(
    client: HttpClient, path: str, per_page: int, params: Mapping[str, Any] | None = None
) -> Iterator[list[Any]]:
    """Pages of a `_page`/`_perPage` endpoint until a short page; a page that opens with the
    record an earlier page opened with repeats it (PaginationLoopError)."""
    paginator = PageNumber(
        f"liveagent {path}", size=per_page, param="_page", size_param="_perPage", key=record_id
    )
    for page in client.paginate(path, params, paginator=paginator):
        yield page.records


def plain_id(value: Any) -> str | None:
    """An id as text when it is one (a string or an integer), else None."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    return None


def record_id(record: Any) -> str | None:
    return plain_id(record.get("id")) if isinstance(record, Mapping) else None


class ChangedSince:
    """The keyset incremental read described in the module docstring."""

    def __init__(
        self,
        client: HttpClient,
        path: str,
        field: str,
        *,
        tz: tzinfo,
        per_page: int,
        start: datetime,
        overlap: timedelta,
        mark: Watermark | None = None,
    ) -> None:
        self.client = client
        self.path = path
        self.field = field
        self.tz = tz
        self.per_page = per_page
        self.start = start
        self.overlap = overlap
        self.mark = mark if mark is not None else Watermark(path, datetime.now(UTC))

    def stamp(self, record: Any) -> datetime | None:
        if not isinstance(record, Mapping):
            return None
        try:
            return parse_when(record.get(self.field), self.tz, self.field)
        except RecordError:
            return None  # normalise quarantines the record; it does not move the watermark

    def filter_value(self, since: datetime) -> str:
        """`since` as the local wall time the filter takes. In the hour a DST change repeats,
        the server may read a wall time as its later instant: send one an hour earlier then, so
        the read can only overlap, never skip."""
        local = since.astimezone(self.tz)
        other = local.replace(fold=1 - local.fold)
        if other.utcoffset() != local.utcoffset() and local.fold == 0:
            return format_when(since - timedelta(hours=1), self.tz)
        return format_when(since, self.tz)

    def pages(self, cursor: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
        """(new records, cursor after them) per page. The stored `since` never passes the
        sync's start (connectors.watermark); `mark` counts the records dated far past it."""
        try:
            yield from self._pages(cursor)
        finally:
            self.mark.warn()

    def query(self, since: datetime, page: int) -> dict[str, Any]:
        """Page `page` of the records whose date is at or after `since`, oldest first."""
        return {
            "_filters": orjson.dumps([[self.field, "D>=", self.filter_value(since)]]).decode(),
            "_sortField": self.field,
            "_sortDir": "ASC",
            "_page": page,
            "_perPage": self.per_page,
        }

    def _pages(self, cursor: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
        state = cursor if isinstance(cursor, Mapping) else {}
        watermark = _iso(state.get("since"))
        boundary: set[str] = {str(i) for i in state.get("seen") or () if i is not None}
        if watermark is not None and self.mark.cap(watermark) != watermark:
            watermark, boundary = self.mark.cap(watermark), set()  # stored before the cap
        if watermark is None:
            since, boundary = self.start, set()
        else:
            since = watermark - self.overlap
        watermark = watermark or self.start
        keyset = Keyset(f"liveagent {self.path}", self, since)
        for page in self.client.paginate(self.path, paginator=keyset):
            fresh: list[Any] = []
            last_stamp: datetime | None = None
            for record in page.records:
                stamp = self.stamp(record)
                rid = record_id(record)
                if stamp is not None and stamp == watermark and rid in boundary:
                    continue  # the boundary second, served again: already committed
                self.mark.see(stamp, rid)
                fresh.append(record)
                if stamp is None:
                    continue
                last_stamp = stamp if last_stamp is None else max(last_stamp, stamp)
                if stamp > watermark:
                    watermark, boundary = stamp, set()
                if stamp == watermark and rid is not None:
                    boundary.add(rid)
            keyset.last_stamp = last_stamp
            stored = self.mark.cap(watermark)
            seen = sorted(boundary) if stored == watermark else []
            yield fresh, {"since": stored.isoformat(), "seen": seen}


class Keyset(Paginator):
    """ChangedSince's paginator: every request is page 1 of "date at or after `since`" until a
    short page; `since` moves to the latest date of the page's new records (`last_stamp`, which
    the reader sets), or, when a whole page shares one second, `_page` goes on within it."""

    def __init__(self, what: str, reader: ChangedSince, since: datetime) -> None:
        super().__init__(what)
        self.reader = reader
        self.since = since
        self.page = 1
        self.last_stamp: datetime | None = None

    def first(self, request: PageRequest) -> PageRequest:
        self.seen((self.since.isoformat(), self.page))
        return PageRequest(request.url, self.reader.query(self.since, self.page))

    def next(self, page: Fetched) -> PageRequest | None:
        if len(page.records) < self.reader.per_page:
            return None
        if self.last_stamp is not None and self.last_stamp > self.since:
            self.since, self.page = self.last_stamp, 1
        else:
            self.page += 1  # a whole page in one second: go on within that second
        self.advance((self.since.isoformat(), self.page))
        return PageRequest(page.request.url, self.reader.query(self.since, self.page))


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def id_cursor(record_id: str) -> str:
    """LiveAgent's `_cursor` for "the records after `record_id`": base64 of `{"id": "..."}`."""
    return base64.b64encode(orjson.dumps({"id": record_id})).decode()


class IdCursor:
    """The `_cursor` / `next_page_cursor` header read described in the module docstring.

    `settled(record)` says whether a record is final; the stored cursor never passes the first
    record of a run that is not (an ongoing call), so the next run reads it again.
    """

    def __init__(
        self,
        client: HttpClient,
        path: str,
        *,
        per_page: int,
        params: Mapping[str, Any] | None = None,
        settled: Callable[[Any], bool] = lambda record: True,
    ) -> None:
        self.client = client
        self.path = path
        self.per_page = per_page
        self.params = dict(params or {})
        self.settled = settled

    def pages(self, cursor: Any) -> Iterator[tuple[list[Any], dict[str, Any] | None]]:
        """(records, cursor to store after them, or None to keep the stored one) per page."""
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor") if isinstance(state.get("cursor"), str) else None
        first = {"_perPage": self.per_page, **({"_cursor": token} if token else self.params)}
        paginator = HeaderCursor(
            f"liveagent {self.path}",
            header=NEXT_PAGE_CURSOR,
            param="_cursor",
            size=self.per_page,
            size_param="_perPage",
        )
        held = False  # a record that may still change was seen: the cursor stays before it
        for page in self.client.paginate(self.path, first, paginator=paginator):
            commit: str | None = None
            for record in page.records:
                if not held and not self.settled(record):
                    held = True
                rid = record_id(record)
                if not held and rid is not None:
                    commit = rid
            yield page.records, {"cursor": id_cursor(commit)} if commit is not None else None
