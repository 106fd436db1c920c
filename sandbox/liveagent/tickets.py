"""The LiveAgent dialect's ticket reads: the ticket list (incremental on `date_changed`, or
LiveAgent's subject search), one ticket, its messages, and the history of status and agent
changes (cursor pages)."""

from __future__ import annotations

from typing import Any

import orjson

from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.liveagent.common import (
    MAX_PER_PAGE,
    Fail,
    LiveAgentBase,
    cursor_id,
    int_arg,
    json_answer,
    next_cursor,
)
from deskpulse.sandbox.wire import Request, Response


class Tickets(LiveAgentBase):
    def _subject_search(self, req: Request) -> str | None:
        """`_filters={"subject": text}`: LiveAgent's "contains" search on the subject."""
        raw = req.arg("_filters")
        try:
            filters = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise Fail(400, "Invalid _filters: not JSON") from None
        if isinstance(filters, dict) and isinstance(filters.get("subject"), str):
            return str(filters["subject"]).lower()
        return None

    def tickets(self, req: Request) -> Response:
        search = self._subject_search(req)
        if search is not None:
            # The sandbox searches the tickets written through the API only.
            with self._lock:
                found = [self._created(n) for n in range(len(self.created))]
                found += [self._ticket_json(tid - 1) for tid in self.overrides]
            return json_answer(200, [t for t in found if search in str(t["subject"]).lower()])
        since = self._since(req, "date_changed") or 0
        offset, per_page = self._page(req)
        a = self.account
        out: list[dict[str, Any]] = []
        i = a.first_ticket_at(since)
        skipped = 0
        with self._lock:
            moved = set(self.overrides)
            tail = sorted(
                [(ov["_ts"], tid) for tid, ov in self.overrides.items()]
                + [(c["_ts"], -n - 1) for n, c in enumerate(self.created)]
            )
        while i < a.n_tickets and len(out) < per_page:
            if i + 1 not in moved:
                if skipped < offset:
                    skipped += 1
                else:
                    out.append(self._ticket_json(i))
            i += 1
        for ts, tid in tail:
            if len(out) >= per_page or ts < since:
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(self._ticket_json(tid - 1) if tid > 0 else self._created(-tid - 1))
        return json_answer(200, out)

    def ticket(self, req: Request, id: str) -> Response:
        for n, created in enumerate(self.created):
            if created["id"] == id:
                return json_answer(200, self._created(n))
        return json_answer(200, self._ticket_json(self._index(id)))

    def messages(self, req: Request, id: str) -> Response:
        if any(c["id"] == id for c in self.created):
            return json_answer(200, [])
        index = self._index(id)
        offset, per_page = self._page(req)
        groups = render.conversation(self.account.ticket(index, custom_fields=False), self.tz)
        return json_answer(200, groups[offset : offset + per_page])

    def history(self, req: Request) -> Response:
        after = cursor_id(req)
        per_page = int_arg(req, "_perPage", 10, 1, MAX_PER_PAGE)
        since = self._since(req, "date_from")
        a = self.account
        out: list[dict[str, Any]] = []
        start = 0 if after is None else after // render.HISTORY_SLOTS
        for i in range(max(0, start - 1), a.n_tickets):
            if len(out) >= per_page:
                break
            for row in render.history(a.ticket(i, custom_fields=False), a, self.tz):
                if after is not None and int(row["id"]) <= after:
                    continue
                if since is not None and self._ts(row["date_from"]) < since:
                    continue
                out.append(row)
        with self._lock:
            extra = list(self.extra_history)
        for row in extra:
            if len(out) < per_page and (after is None or int(row["id"]) > after):
                out.append(row)
        out = out[:per_page]
        headers = [("next_page_cursor", next_cursor(out[-1]["id"]))] if out else []
        return json_answer(200, out, headers)
