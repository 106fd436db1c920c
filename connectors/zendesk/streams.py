"""The Zendesk streams: how each endpoint pages, what cursor it persists, how records map.

The cursor exports (tickets, users) are in zendesk.tickets, the time-based exports (ticket
events, SLA events, calls) in zendesk.exports; here the Chat export, the CSAT list and the
business hours, and the streams in the order a run reads them (`STREAM_TYPES`). Every request
goes through the endpoint table (zendesk.endpoints) and the one page loop (`HttpClient.paginate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from deskpulse.connectors.base import Cursor, Page, Row
from deskpulse.connectors.errors import AuthError, RecordError, StreamUnavailable
from deskpulse.connectors.http import BodyCursor, Fetched, TimeWatermark
from deskpulse.connectors.paging import records_of
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk.context import (
    EXPORT_PAGE,
    Context,
    ZendeskStream,
    query,
    start_epoch,
    when_or_none,
)
from deskpulse.connectors.zendesk.directory import LIST_PAGE, Directory
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS
from deskpulse.connectors.zendesk.exports import (
    CallsStream,
    SlaEventsStream,
    TicketEventsStream,
    TimeBasedStream,
)
from deskpulse.connectors.zendesk.tickets import TicketsStream, UsersStream


class ChatsStream(ZendeskStream):
    """Chat incremental export (`/api/v2/chat/incremental/chats`) -> `chats`.

    Pages by (`start_time`, `start_id`) from the previous response's `end_time`/`end_id`; the
    cursor persists both. The Chat API accepts only OAuth tokens: with API-token auth its 401 is
    this stream being unavailable, not the account's credentials being wrong.
    """

    name = "chats"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        start_id = state.get("start_id")
        if not isinstance(start, int):
            start = self.ctx.start_time
        mark = self.ctx.mark(self.name)
        if mark.cap_epoch(start) != start:  # stored before the cap (connectors.watermark)
            start, start_id = mark.cap_epoch(start), None
        try:
            yield from self._pages(start, start_id, mark)
        except AuthError:
            if self.ctx.oauth:
                raise
            raise StreamUnavailable(
                f"zendesk: the Chat API refused API-token auth (it needs "
                f"{self.ctx.prefix}OAUTH_TOKEN); chats skipped"
            ) from None
        finally:
            mark.warn()

    def _pages(self, start: int, start_id: Any, mark: Watermark) -> Iterator[Page]:
        endpoint = ENDPOINTS["chats"]
        paginator = TimeWatermark(
            "zendesk chats",
            moves={"start_time": "end_time", "start_id": "end_id"},
            done=_chats_done,
        )
        first = query(
            "chats", start_time=start, start_id=start_id, fields="chats(*)", limit=EXPORT_PAGE
        )
        for page in self.ctx.client.paginate(
            endpoint.path, first, paginator=paginator, records="chats", bucket=endpoint.bucket
        ):
            end_time, end_id = paginator.end(page)
            for record in page.records:
                if isinstance(record, Mapping):
                    mark.see(when_or_none(record.get("update_timestamp")), record.get("id"))
            stored = mark.cap_epoch(end_time)  # past the sync's start: from it, by time alone
            yield Page(
                page.records,
                cursor={"start_time": stored, "start_id": end_id if stored == end_time else None},
                counts=mark.counts(),
            )

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.chat_rows(record)


def _chats_done(page: Fetched) -> bool:
    """The Chat export's last page: it says so, or it is short, or it has no next page."""
    body = page.body
    count = body.get("count")
    if not isinstance(count, int):
        count = len(page.records)
    return body.get("end_of_stream") is True or count < EXPORT_PAGE or not body.get("next_page")


class SatisfactionRatingsStream(ZendeskStream):
    """CSAT ratings -> `survey_responses`, cursor-paginated, filtered by `start_time`.

    A rating changes after it is created (offered -> good/bad), so the watermark is the largest
    `updated_at` seen, and it is saved only with the last page (the list is not guaranteed to be
    in watermark order, so a middle page's maximum is not a safe resume point; a run killed in the
    middle re-reads from the previous watermark and upserts).
    """

    name = "satisfaction_ratings"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        if not isinstance(start, int):
            start = self.ctx.start_time
        mark = self.ctx.mark(self.name)
        start = mark.cap_epoch(start)  # a watermark stored before the cap heals
        try:
            yield from self._pages(start, mark)
        finally:
            mark.warn()

    def _pages(self, start: int, mark: Watermark) -> Iterator[Page]:
        watermark = start
        endpoint = ENDPOINTS["satisfaction_ratings"]
        paginator = BodyCursor("zendesk satisfaction_ratings")
        first = query("satisfaction_ratings", start_time=start, **{"page[size]": LIST_PAGE})
        for page in self.ctx.client.paginate(
            endpoint.path, first, paginator=paginator, records="satisfaction_ratings"
        ):
            for record in page.records:
                stamp = record.get("updated_at") or record.get("created_at")
                try:
                    moment = nz.when(stamp)
                except RecordError:
                    continue
                mark.see(moment, record.get("id"))
                if moment is not None:
                    watermark = max(watermark, nz.epoch(moment))
            last = paginator.last(page) or not paginator.after(page)
            cursor = {"start_time": mark.cap_epoch(watermark)} if last else None
            yield Page(page.records, cursor=cursor, counts=mark.counts())

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.rating_rows(record)


class SchedulesStream(ZendeskStream):
    """Business hours schedules (+ their holidays) -> `schedules`; small, re-read every run."""

    name = "schedules"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["schedules"].path
        body = self.ctx.client.get_json(path)
        schedules = records_of(body, "schedules", f"zendesk: {path}")
        for schedule in schedules:
            sid = schedule.get("id")
            if type(sid) is not int:  # no id to ask for holidays with: the normaliser says why
                continue
            holidays_path = ENDPOINTS["holidays"].url(schedule_id=sid)
            try:
                holidays = self.ctx.client.get_json(holidays_path)
            except StreamUnavailable:
                continue  # holidays are optional: a plan without them keeps the weekly hours
            schedule["holidays"] = records_of(holidays, "holidays", f"zendesk: {holidays_path}")
        yield Page(schedules, cursor=None)

    def normalise(self, record: Any) -> Iterable[Row]:
        return nz.schedule_rows(record)


STREAM_TYPES: tuple[type[ZendeskStream], ...] = (
    UsersStream,
    TicketsStream,
    TicketEventsStream,
    SatisfactionRatingsStream,
    SlaEventsStream,
    SchedulesStream,
    CallsStream,
    ChatsStream,
)

__all__ = [
    "ENDPOINTS",
    "STREAM_TYPES",
    "Context",
    "Directory",
    "TimeBasedStream",
    "start_epoch",
]
