"""Zendesk's time-based incremental exports: ticket events (with the backfill of a first sync),
ticket metric events (SLA) and Talk's calls. Each pages by `start_time` in and `end_time` out
(connectors.paging's TimeWatermark) until the answer says the export ended.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from msgspec import UNSET

from deskpulse.connectors.base import Cursor, Page, Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.http import Fetched, TimeWatermark
from deskpulse.connectors.records import Record, RecordType
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.backfill import (
    AUDIT_PAGE,
    AUDITS,
    HANDOVER_OVERLAP,
    Backfill,
    ExportPage,
    Frontier,
    budgets_of,
    choose,
    iso_second,
    pages_left,
)
from deskpulse.connectors.zendesk.context import EXPORT_PAGE, ZendeskStream, query
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS, INCREMENTAL
from deskpulse.connectors.zendesk.sla import sla_rows

log = logging.getLogger(__name__)


class TimeBasedStream(ZendeskStream):
    """A time-based incremental export: `start_time` in, `end_time` + `end_of_stream` out.

    Each page's cursor is `{"start_time": end_time}`. The next request starts at `end_time`
    inclusive, so Zendesk serves the boundary second again: records of the previous page are
    dropped by id (nothing duplicated) and nothing is lost. A page whose `end_time` does not
    advance while `end_of_stream` is false is a loop (PaginationLoopError), not a reason to spin.
    """

    endpoint = ""
    key = ""
    extra_params: tuple[tuple[str, str], ...] = ()
    records: RecordType[Any] = zr.PLAIN
    """How one record decodes (typed for the big exports, a plain dict for the small ones)."""

    @property
    def bucket(self) -> str:
        """The budget this export spends (its endpoint's, zendesk.endpoints)."""
        return ENDPOINTS[self.endpoint].bucket

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

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        state = cursor if isinstance(cursor, Mapping) else {}
        start = state.get("start_time")
        if not isinstance(start, int):
            start = self.ctx.start_time
        yield from self._walk(self._export(self.mark.cap_epoch(start)))

    @functools.cached_property
    def mark(self) -> Watermark:
        """This run's watermark rule (connectors.watermark): the stored `start_time` never
        passes the sync's start; records dated a day past it are reported."""
        return self.ctx.mark(self.name)

    def _export(self, start: int) -> Iterator[ExportPage]:
        """The export from `start`, a page at a time: (records not on the previous page,
        end_time, end of stream, the first record's time)."""
        endpoint = ENDPOINTS[self.endpoint]

        def done(page: Fetched) -> bool:
            return self._done(page.body, page.records)

        paginator = TimeWatermark(f"zendesk {self.name}", done=done)
        previous: set[Any] = set()
        for page in self.ctx.client.paginate(
            endpoint.path,
            query(self.endpoint, start_time=start, **dict(self.extra_params)),
            paginator=paginator,
            records=self.key,
            bucket=endpoint.bucket,
            decoder=zr.TIME_EXPORT,
        ):
            raw = self.records.wrap_all(page.records)
            records = [r for r in raw if _record_key(r) not in previous] if previous else raw
            previous = {_record_key(r) for r in raw}
            end_time = paginator.end(page)[0]
            yield records, end_time, done(page), _first_time(raw)

    def _walk(
        self, export: Iterator[ExportPage], first: ExportPage | None = None
    ) -> Iterator[Page]:
        """The export's pages (`first`: its first answer, already read)."""
        mark = self.mark
        try:
            for records, end_time, _, _ in _chain(first, export):
                if records:
                    self._prepare()
                for record in records:
                    mark.see_epoch(_record_time(record), _record_key(record))
                yield Page(
                    records, cursor={"start_time": mark.cap_epoch(end_time)}, counts=mark.counts()
                )
        finally:
            mark.warn()


def _chain(first: ExportPage | None, rest: Iterator[ExportPage]) -> Iterator[ExportPage]:
    if first is not None:
        yield first
    yield from rest


def _first_time(records: list[Record[Any]]) -> int | None:
    """The time of a page's first record (a ticket event's `timestamp`), when it has one."""
    for record in records[:1]:
        stamp = getattr(record.value, "timestamp", None)
        return stamp if isinstance(stamp, int) else None
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


class TicketEventsStream(TimeBasedStream):
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
            yield from self._backfill(frontier, self._export(frontier.export))
            return
        if "start_time" in state or self.ctx.history == "incremental":
            yield from super().pages(cursor)
            return
        start = self.ctx.start_time
        export = self._export(start)
        first = next(export)
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
            yield from self._walk(export, first)
            return
        log.info("zendesk: ticket events backfill through ticket audits up to %s", t0)
        frontier = Frontier(t0=t0, export=end_time, origin=first_ts)
        self._prepare()
        yield Page(records, cursor={"backfill": frontier.dump(start)})
        yield from self._backfill(frontier, export)

    def _t0(self) -> int | None:
        """The hand-over time: the newest audit's, less a minute (None: no live audits)."""
        body = self.ctx.client.get_json(
            ENDPOINTS["ticket_audits"].path,
            query("ticket_audits", **{"page[size]": 1}),
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

    def _backfill(self, frontier: Frontier, export: Iterator[ExportPage]) -> Iterator[Page]:
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
            export,
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


class SlaEventsStream(TimeBasedStream):
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


class CallsStream(TimeBasedStream):
    """Talk incremental calls export -> `calls`.

    Talk's trap: `next_page` is never null, even on the last page (it points at the next
    export); `count` tells whether more is available now. A page shorter than a full page ends
    the run; a full page whose successor repeats the same `start_time` is a loop.
    """

    endpoint = "calls"
    key = "calls"

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
