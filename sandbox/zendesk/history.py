"""The Zendesk dialect's ticket history read record by record (not through the incremental
exports): a ticket's audits, comments and metrics, the account-wide ticket audits (cursor
pagination both ways, newest first, archived tickets left out as the spec says) and the ticket metrics
list. Ids are the exports' (an audit's id is its ticket event's id), so a client may read history
here and changes through the ticket events export and deduplicate at the hand-over.

Archiving: a ticket closed more than ARCHIVE_AFTER (120 days) before the anchor is archived, as
Zendesk archives closed tickets: `/ticket_audits` leaves its audits out, and its own
`/tickets/{id}/audits` answers them all at once (no pagination, as for archived tickets).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from deskpulse.sandbox import streams
from deskpulse.sandbox.data import DAY, Account
from deskpulse.sandbox.streams import Peekable, Record
from deskpulse.sandbox.wire import ApiError, Request, Response
from deskpulse.sandbox.zendesk import pages, render
from deskpulse.sandbox.zendesk.common import APIBase, LazyList, b64, unb64

ARCHIVE_AFTER = 120 * DAY


def archived(account: Account, audits: Sequence[Record]) -> bool:
    """Whether the ticket with these audit records (streams.audits_of) is archived: its last
    audit closed it more than ARCHIVE_AFTER before the anchor."""
    if not audits:
        return False
    ts, _, (_, _, _, children, _) = audits[-1]
    if ts >= account.anchor_ts - ARCHIVE_AFTER or not children:
        return False
    first = children[0]
    return bool(first.field_name == "status" and first.value == "closed")


def live_audits_of(account: Account, j: int) -> Iterable[Record]:
    """streams.audits_of without archived tickets' audits (what /ticket_audits serves)."""
    recs = list(streams.audits_of(account, j))
    return () if archived(account, recs) else recs


class History(APIBase):
    def _ticket_audits(self, raw_id: str) -> tuple[list[dict[str, Any]], bool]:
        """(the ticket's audits as audit_json, oldest first, writes included; archived)."""
        t = self._ticket_or_404(raw_id)
        recs = list(streams.audits_of(self.account, t.idx))
        recs += [r for r in self.writes.audits_from(0) if r[2][0].id == t.id]
        audits = [render.audit_json(ref, ts, a, via, ch, n) for ts, _, (ref, a, via, ch, n) in recs]
        return audits, archived(self.account, recs)

    def h_ticket_audits_of(self, req: Request, params: dict[str, str]) -> Response:
        audits, is_archived = self._ticket_audits(params["id"])
        path = f"/api/v2/tickets/{params['id']}/audits.json"
        if is_archived:  # archived tickets' audits come all at once
            return Response.json(
                200,
                {"audits": audits, "next_page": None, "previous_page": None, "count": len(audits)},
            )
        return self._list(req, path, "audits", audits)

    def h_ticket_comments_of(self, req: Request, params: dict[str, str]) -> Response:
        audits, _ = self._ticket_audits(params["id"])
        comments = [c for a in audits for c in render.comments_json(a)]
        if (req.arg("sort_order") or "asc") == "desc":
            comments.reverse()
        path = f"/api/v2/tickets/{params['id']}/comments.json"
        keep = {"sort_order": req.arg("sort_order")} if req.arg("sort_order") else None
        return self._list(req, path, "comments", comments, keep)

    def h_ticket_metrics_of(self, _: Request, params: dict[str, str]) -> Response:
        t = self._ticket_or_404(params["id"])
        return Response.json(200, {"ticket_metric": render.metric_set_json(t, self.base_url)})

    def h_ticket_metrics(self, req: Request, _: dict[str, str]) -> Response:
        a, base = self.account, self.base_url
        items = LazyList(
            a.n_tickets,
            lambda i: render.metric_set_json(a.ticket(i, custom_fields=False, story=False), base),
        )
        return self._list(req, "/api/v2/ticket_metrics.json", "ticket_metrics", items)

    @staticmethod
    def _audit_cursor(token: str, name: str) -> tuple[int, int]:
        try:
            ts_s, id_s = unb64(token).split(":", 1)
            return int(ts_s), int(id_s)
        except (ValueError, ApiError):
            raise pages.pagination_error(f"{name} is not valid") from None

    def _newer_audits(self, than: tuple[int, int], size: int) -> tuple[list[Record], bool]:
        """The `size` live audits just newer than `than`, newest first, and whether there are
        more newer ones (a page[before] page)."""
        written = sorted(r for r in self.writes.audits_from(0) if r[:2] > than)
        newer = itertools.chain(
            (r for r in streams.merged(self.account, live_audits_of, than[0]) if r[:2] > than),
            written,
        )
        recs = list(itertools.islice(newer, size + 1))
        return recs[:size][::-1], len(recs) > size

    def h_ticket_audits(self, req: Request, _: dict[str, str]) -> Response:
        """Every live ticket's audits, newest first, cursor-paginated (page[size] <= 100,
        page[after] to older audits, page[before] to newer ones)."""
        args = pages.CursorArgs.of(req)
        path = "/api/v2/ticket_audits.json"
        if args.before:
            recs, has_more = self._newer_audits(
                self._audit_cursor(args.before, "page[before]"), args.size
            )
            older = bool(recs)  # the page[before] cursor came from a page below these
        else:
            before = self._audit_cursor(args.after, "page[after]") if args.after else None
            it = self._resume.take(("ticket_audits", before))
            if it is None:
                written = sorted(
                    (r for r in self.writes.audits_from(0) if before is None or r[:2] < before),
                    key=lambda r: (r[0], r[1]),
                    reverse=True,
                )
                it = Peekable(
                    itertools.chain(
                        written, streams.merged_desc(self.account, live_audits_of, before)
                    )
                )
            recs, has_more = streams.cursor_page(it, args.size)
            if has_more and recs:
                self._resume.put(("ticket_audits", (recs[-1][0], recs[-1][1])), it)
            older = has_more
        after_cursor = b64(f"{recs[-1][0]}:{recs[-1][1]}") if recs else None
        before_cursor = b64(f"{recs[0][0]}:{recs[0][1]}") if recs else None
        audits = [render.audit_json(ref, ts, a, via, ch, n) for ts, _, (ref, a, via, ch, n) in recs]
        return Response.json(
            200,
            pages.cursor_body(
                "audits",
                audits,
                has_more=has_more,
                after_cursor=after_cursor,
                before_cursor=before_cursor,
                next_url=self.url(path, {"page[after]": after_cursor, "page[size]": args.size})
                if older
                else None,
                prev_url=self.url(path, {"page[before]": before_cursor, "page[size]": args.size})
                if recs
                else None,
            ),
        )
