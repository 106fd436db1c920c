"""How LiveAgent's list endpoints page, as three small readers (each a fresh instance per run).

* `numbered`: `_page` / `_perPage` over a bare JSON array without totals: the last page is the
  first one shorter than `_perPage`.
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
* `HeaderCursor`: `GET /calls` and `GET /tickets/history` page by `_cursor`, whose next value comes
  in the `next_page_cursor` *response header*; the cursor is base64 of `{"id": "<last id>"}` and
  means "records after that id", so a run resumes from the last committed id even when the
  last page carried no header. A cursor that repeats raises PaginationLoopError.

`HeaderTap` is the transport wrapper that lets the connector read that header: the shared HTTP
client returns bodies only, so the tap keeps each thread's last response headers.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import httpx
import orjson

from deskpulse.connectors.errors import BadResponse, PaginationLoopError, RecordError
from deskpulse.connectors.http import HttpClient, Paginator
from deskpulse.connectors.liveagent.mapping import format_when, parse_when
from deskpulse.connectors.watermark import Watermark

NEXT_PAGE_CURSOR = "next_page_cursor"


class HeaderTap(httpx.BaseTransport):
    """Wraps a transport and remembers, per thread, the headers of the last response."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self._local = threading.local()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self._local.headers = response.headers
        return response

    def last_headers(self) -> httpx.Headers:
        headers = getattr(self._local, "headers", None)
        return headers if headers is not None else httpx.Headers()

    def close(self) -> None:
        self._inner.close()


def records(body: Any, where: str) -> list[Any]:
    """A bare-array page; anything else (an object, an error body with 200) is a BadResponse."""
    if not isinstance(body, list):
        raise BadResponse(f"liveagent: {where} answered {type(body).__name__}, not a list")
    return body


def numbered(
    client: HttpClient, path: str, per_page: int, params: Mapping[str, Any] | None = None
) -> Iterator[list[Any]]:
    """Pages of a `_page`/`_perPage` endpoint until a short page."""
    page = 1
    first_ids: set[Any] = set()
    while True:
        body = records(
            client.get_json(path, {**(params or {}), "_page": page, "_perPage": per_page}), path
        )
        if body:
            head = record_id(body[0])
            if head is not None and head in first_ids:
                raise PaginationLoopError(
                    f"liveagent {path}: page {page} repeats an earlier page; stopping instead "
                    "of looping"
                )
            first_ids.add(head)
        yield body
        if len(body) < per_page:
            return
        page += 1


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
        page = 1
        guard = Paginator(f"liveagent {self.path}")
        guard.seen((since.isoformat(), page))
        while True:
            query = {
                "_filters": orjson.dumps([[self.field, "D>=", self.filter_value(since)]]).decode(),
                "_sortField": self.field,
                "_sortDir": "ASC",
                "_page": page,
                "_perPage": self.per_page,
            }
            body = records(self.client.get_json(self.path, query), self.path)
            fresh: list[Any] = []
            last_stamp: datetime | None = None
            for record in body:
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
            stored = self.mark.cap(watermark)
            seen = sorted(boundary) if stored == watermark else []
            yield fresh, {"since": stored.isoformat(), "seen": seen}
            if len(body) < self.per_page:
                return
            if last_stamp is not None and last_stamp > since:
                since, page = last_stamp, 1
            else:
                page += 1  # a whole page in one second: go on within that second
            guard.advance((since.isoformat(), page))


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


class HeaderCursor:
    """The `_cursor` / `next_page_cursor` header read described in the module docstring.

    `settled(record)` says whether a record is final; the stored cursor never passes the first
    record of a run that is not (an ongoing call), so the next run reads it again.
    """

    def __init__(
        self,
        client: HttpClient,
        tap: HeaderTap,
        path: str,
        *,
        per_page: int,
        params: Mapping[str, Any] | None = None,
        settled: Callable[[Any], bool] = lambda record: True,
    ) -> None:
        self.client = client
        self.tap = tap
        self.path = path
        self.per_page = per_page
        self.params = dict(params or {})
        self.settled = settled

    def _get(self, cursor: str | None) -> tuple[list[Any], str | None]:
        query: dict[str, Any] = {"_perPage": self.per_page}
        if cursor:
            query["_cursor"] = cursor
        else:
            query.update(self.params)
        body = records(self.client.get_json(self.path, query), self.path)
        header = self.tap.last_headers().get(NEXT_PAGE_CURSOR)
        return body, (header.strip() or None) if header else None

    def pages(self, cursor: Any) -> Iterator[tuple[list[Any], dict[str, Any] | None]]:
        """(records, cursor to store after them, or None to keep the stored one) per page."""
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor") if isinstance(state.get("cursor"), str) else None
        guard = Paginator(f"liveagent {self.path}")
        guard.seen(token)
        held = False  # a record that may still change was seen: the cursor stays before it
        while True:
            body, after = self._get(token)
            commit: str | None = None
            for record in body:
                if not held and not self.settled(record):
                    held = True
                rid = record_id(record)
                if not held and rid is not None:
                    commit = rid
            stored = {"cursor": id_cursor(commit)} if commit is not None else None
            yield body, stored
            if len(body) < self.per_page or not after:
                return
            guard.advance(after)
            token = after
