"""Reading named tickets on demand (connectors.webhooks.READ_TICKETS): what a webhook hint costs.

Two streams, named like the sync's, so their rows are the same rows:

* `tickets`: `GET /api/v2/tickets/show_many?ids=...&include=metric_sets`, 100 tickets a request
  (account budget, not the 10 a minute of the incremental exports), normalised exactly as the
  export's tickets (the metric sets sideloaded the same way).
* `ticket_events`: each ticket's audits, `GET /api/v2/tickets/{id}/audits` (account budget, one
  request per 100 audits), as the ticket event export spells them (zendesk.backfill.as_event),
  so a ticket's first reply and solves come out as a sync would have them.

Every page has `cursor=None`: the stored cursors stay where the last sync left them, and the
next incremental read passes over these tickets again (rows upsert, nothing doubles).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from deskpulse.connectors.base import Cursor, Page
from deskpulse.connectors.paging import Paginator
from deskpulse.connectors.ratelimit import DEFAULT_BUCKET
from deskpulse.connectors.zendesk import records as zr
from deskpulse.connectors.zendesk.backfill_state import AUDIT_PAGE, AUDITS, AUDITS_PAGE, as_event
from deskpulse.connectors.zendesk.context import Context
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS
from deskpulse.connectors.zendesk.exports import TicketEventsStream
from deskpulse.connectors.zendesk.tickets import (
    TicketsStream,
    _join_metric_sets,
    _without_bad_metric_set,
)
from deskpulse.connectors.zendesk.writeback import chunks


class TicketsById(TicketsStream):
    after: tuple[str, ...] = ()

    def __init__(self, ctx: Context, ids: Sequence[str]) -> None:
        super().__init__(ctx)
        self.ids = list(ids)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        for part in chunks(self.ids):
            query = ENDPOINTS["tickets_by_id"].query(ids=",".join(part), include="metric_sets")
            body: zr.TicketExportPage = self.ctx.client.get_json(
                ENDPOINTS["tickets_by_id"].path, query, decoder=zr.TICKET_EXPORT
            )
            tickets = [_without_bad_metric_set(r) for r in zr.TICKETS.wrap_all(body.tickets)]
            _join_metric_sets(tickets, body.metric_sets)
            self.ctx.directory.ensure_groups(r.value.group_id for r in tickets if r.value)
            yield Page(tickets, cursor=None)


class TicketEventsById(TicketEventsStream):
    def __init__(self, ctx: Context, ids: Sequence[str]) -> None:
        super().__init__(ctx)
        self.ids = list(ids)

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        path = ENDPOINTS["ticket_audits_of"].path
        for ticket_id in self.ids:
            pages = Paginator(f"zendesk ticket {ticket_id} audits")
            query: dict[str, Any] = {"page[size]": AUDITS_PAGE}
            while True:
                body = self.ctx.client.get_json(
                    path.format(ticket_id=ticket_id), query, bucket=DEFAULT_BUCKET,
                    decoder=AUDIT_PAGE,
                )  # fmt: skip
                records = [as_event(r) for r in AUDITS.wrap_all(body.audits)]
                if records:
                    self._prepare()
                yield Page(records, cursor=None)
                meta = body.meta or {}
                after = meta.get("after_cursor")
                if not meta.get("has_more") or not pages.advance(after):
                    break
                query = {**query, "page[after]": after}


__all__ = ["TicketEventsById", "TicketsById"]
