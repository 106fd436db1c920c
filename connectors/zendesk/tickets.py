"""Zendesk's two cursor-based incremental exports: tickets (with their metric sets) and users
(with the staff map ticket events resolve authors by). Both page by `after_cursor` until
`end_of_stream` (connectors.paging's BodyCursor), and both restart a stored cursor the API
rejects (400/422): tickets from their `generated_timestamp` watermark, users from the beginning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
from msgspec import Raw

from deskpulse.connectors.base import Cursor, Page, Row
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.http import BodyCursor, PageRequest, RejectedRequest
from deskpulse.connectors.records import Record
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.context import EXPORT_PAGE, ZendeskStream, query, when_or_none
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS

log = logging.getLogger(__name__)


def export_cursor(what: str) -> BodyCursor:
    """The cursor exports' paginator: `after_cursor` into `cursor` (replacing `start_time`)
    until `end_of_stream`; an answer without a cursor keeps the one it was asked with."""
    return BodyCursor(
        f"zendesk {what}",
        cursor="after_cursor",
        param="cursor",
        more=None,
        done="end_of_stream",
        drop=("start_time",),
        sticky=True,
    )


class TicketsStream(ZendeskStream):
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
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor")
        watermark = state.get("generated_timestamp")
        mark = self.ctx.mark(self.name)
        if isinstance(watermark, int) and mark.cap_epoch(watermark) != watermark:
            token, watermark = None, mark.cap_epoch(watermark)  # stored before the cap
        if token:
            first = query("tickets", cursor=token, include="metric_sets")
        else:
            start = watermark if isinstance(watermark, int) else self.ctx.start_time
            first = query("tickets", start_time=start, include="metric_sets")
        # From the beginning, this run names every closed ticket (archived ones, for a backfill).
        closed = self.ctx.directory.closed
        closed.start(not token and not isinstance(watermark, int))
        complete = False
        try:
            yield from self._pages(first, watermark, mark)
            complete = True
        finally:
            closed.stop(complete)
            mark.warn()

    def _pages(self, first: dict[str, Any], watermark: Any, mark: Watermark) -> Iterator[Page]:
        def restart(exc: RejectedRequest, request: PageRequest) -> PageRequest | None:
            # A stored cursor the API no longer takes (400/422): restart from the watermark
            # instead of failing every sync until a full refresh. Rows upsert, so the overlap
            # re-read is harmless.
            if request.param("cursor") is None or not isinstance(watermark, int):
                return None
            log.warning(
                "zendesk: tickets cursor rejected (%s); restarting from generated_timestamp %s",
                exc.status,
                watermark,
            )
            return PageRequest(
                request.url, query("tickets", start_time=watermark, include="metric_sets")
            )

        warned = False
        paginator = export_cursor("tickets")
        tickets_export = ENDPOINTS["tickets"]
        decoder = zr.TICKET_EXPORT
        for page in self.ctx.client.paginate(
            tickets_export, first, paginator=paginator, decoder=decoder, restart=restart
        ):
            body: zr.TicketExportPage = page.body
            after = paginator.after(page)
            tickets = [_without_bad_metric_set(r) for r in zr.TICKETS.wrap_all(page.records)]
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


class UsersStream(ZendeskStream):
    """Cursor-based incremental user export -> `agents` (agents, admins, bots) and `customers`
    (end-users). Runs first: it keeps the account's staff map in its cursor,
    `{"cursor": after_cursor, "staff": {"<id>": "agent" | "admin" | "bot"}}`, which ticket
    events resolve authors with (see `Directory`). Once a user updated past the sync's start has
    carried the export's cursor past changes still to come (connectors.watermark), the cursor is
    `{"start_time": the sync's start, "staff": ...}` instead, and the next sync resumes there."""

    name = "users"

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        directory = self.ctx.directory
        state = cursor if isinstance(cursor, Mapping) else {}
        token = state.get("cursor")
        resume = state.get("start_time") if not token else None
        resume = resume if isinstance(resume, int) and not isinstance(resume, bool) else None
        # The map is whole at the end of this read if it starts from nothing or from a stored map.
        whole = (not token and resume is None) or directory.seed_staff(state.get("staff"))
        if token:
            first = query("users", cursor=token, per_page=EXPORT_PAGE)
        else:
            # Users are dimensions: from the beginning, whatever the tickets' start_time.
            first = query("users", start_time=resume or 0, per_page=EXPORT_PAGE)
        mark = self.ctx.mark(self.name)
        try:
            yield from self._pages(first, whole, mark)
        finally:
            mark.warn()

    def _pages(self, first: dict[str, Any], whole: bool, mark: Watermark) -> Iterator[Page]:
        directory = self.ctx.directory
        latest: int | None = None  # the latest `updated_at` read, in epoch seconds
        restarted = False

        def restart(exc: RejectedRequest, request: PageRequest) -> PageRequest | None:
            nonlocal restarted
            if request.param("cursor") is None:
                return None
            # A stored cursor the API no longer takes: users are few, read them all again.
            log.warning("zendesk: users cursor rejected (%s); re-reading all users", exc.status)
            restarted = True
            return PageRequest(request.url, query("users", start_time=0, per_page=EXPORT_PAGE))

        paginator = export_cursor("users")
        users_export = ENDPOINTS["users"]
        decoder = zr.USER_EXPORT
        for page in self.ctx.client.paginate(
            users_export, first, paginator=paginator, decoder=decoder, restart=restart
        ):
            users = zr.USERS.wrap_all(page.records)
            directory.ensure_groups(u.value.default_group_id for u in users if u.value)
            # Roles go into the map before the page's cursor is cut, so the cursor holds them.
            for user in users:
                if user.value is None:
                    continue  # normalise quarantines it
                updated = when_or_none(user.value.updated_at)
                mark.see(updated, user.value.id)
                if updated is not None:
                    latest = max(latest or 0, nz.epoch(updated))
                try:
                    directory.note_user(user.value.id, nz.user_role(user.value))
                except RecordError:
                    continue  # normalise quarantines it
            after = paginator.after(page)
            page_cursor: dict[str, Any] | None = None
            if after and latest is not None and mark.cap_epoch(latest) != latest:
                page_cursor = {"start_time": mark.cap_epoch(latest)}
            elif after:
                page_cursor = {"cursor": after}
            if page_cursor is not None:
                page_cursor["staff"] = directory.staff_state()
            yield Page(users, cursor=page_cursor, counts=mark.counts())
        if whole or restarted:
            directory.staff_complete = True

    def normalise(self, record: Any) -> Iterable[Row]:
        user = zr.USERS.value(record)
        return [nz.user_rows(user, nz.user_role(user), self.ctx.directory.group_name)]
