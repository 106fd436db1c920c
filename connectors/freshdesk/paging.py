"""Freshdesk's ticket list, read past its 300-page cap: the `UpdatedSince` paginator.

`GET /tickets` refuses any `page` past 300 (a 400), so tickets are not walked by page numbers.
Each request asks `updated_since` = the `updated_at` of the last ticket read
(`order_by=updated_at&order_type=asc`), from the first page. The filter is inclusive, so the
tickets of that second come again: their ids are kept (`seen`) and skipped. Only a second that
holds more tickets than a page goes on at page 2, 3, ... of that second (the page after the
tickets already read there: they are the first of that second in the list). Walking from a
fixed `updated_since` by page numbers would also lose tickets: one updated during the walk
moves to the end, and every ticket after it shifts back a place, past the next page's start.

The cursor after each page is `{"since", "seen", "page"}` (see `take`): a killed sync resumes
where it stopped. A future-dated ticket moves the walk, but the stored `since` stays at the
sync's start (connectors.watermark).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any

from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.freshdesk.mapping import format_time, parse_time
from deskpulse.connectors.paging import Fetched, PageRequest, Paginator
from deskpulse.connectors.watermark import Watermark


def number(record: Any) -> str | None:
    """A record's id when it is a positive number (one a URL can hold), else None."""
    value = record.get("id") if isinstance(record, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        return None
    return str(int(value)) if int(value) > 0 else None


def record_time(record: Any, key: str) -> datetime | None:
    """A record's time for paging (a bad one is left to the normaliser to quarantine)."""
    if not isinstance(record, Mapping):
        return None
    try:
        return parse_time(record.get(key), key)
    except RecordError:
        return None


class UpdatedSince(Paginator):
    """The ticket list by moving `updated_since` (see the module docstring). The stream calls
    `take(page)` on each page before committing it; `next` then asks for the following one."""

    def __init__(self, what: str, cursor: Mapping[str, Any], start: datetime, mark: Watermark):
        super().__init__(what)
        since = parse_time(cursor.get("since"), "cursor since")
        self.since = mark.cap(since) if since is not None else start
        self.read_ids = {str(s) for s in cursor.get("seen", ())}
        self.page = int(cursor.get("page", 1))
        self.mark = mark
        self.done = False

    def token(self) -> Hashable:
        """Where the walk stands: a request for the same place twice is a loop."""
        return (self.since, self.page, len(self.read_ids))

    def first(self, request: PageRequest) -> PageRequest:
        self.seen(self.token())
        return request.with_params(updated_since=format_time(self.since), page=self.page)

    def take(self, page: Fetched) -> tuple[list[Any], dict[str, Any]]:
        """This page's tickets not read before, and the cursor after them."""
        since, seen = self.since, self.read_ids
        fresh, last = [], since
        for ticket in page.records:
            when, key = record_time(ticket, "updated_at"), number(ticket)
            if when is not None and when <= since and key in seen:
                continue  # read at the end of the page before
            fresh.append(ticket)
            if when is not None and when > last:
                last, seen = when, set()
            if when is not None and when == last and key is not None:
                seen.add(key)
            self.mark.see(when, key)
        size = int(page.request.param("per_page") or 0)
        self.done = len(page.records) < size
        if last > since:
            self.page = len(seen) // size + 1 if size else 1
        elif page.records:
            self.page += 1  # a whole page in one second: the next page of that second
        self.since, self.read_ids = last, seen
        stored = self.mark.cap(last)
        after: dict[str, Any] = {"since": format_time(stored), "seen": [], "page": 1}
        if stored == last:
            after["seen"] = sorted(seen)
            if not self.done:
                after["page"] = self.page
        return fresh, after

    def next(self, page: Fetched) -> PageRequest | None:
        if self.done or not self.advance(self.token()):
            return None
        return page.request.with_params(updated_since=format_time(self.since), page=self.page)


__all__ = ["UpdatedSince", "number", "record_time"]
