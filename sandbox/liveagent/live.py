"""The LiveAgent dialect's live contacts: calls (cursor pages) and chats (incremental on
`date_created`)."""

from __future__ import annotations

from typing import Any

from deskpulse.sandbox.data import CALL_BASE
from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.liveagent.common import (
    MAX_PER_PAGE,
    LiveAgentBase,
    cursor_id,
    int_arg,
    json_answer,
    next_cursor,
)
from deskpulse.sandbox.wire import Request, Response


class Live(LiveAgentBase):
    def calls(self, req: Request) -> Response:
        after = cursor_id(req)
        per_page = int_arg(req, "_perPage", 10, 1, MAX_PER_PAGE)
        a = self.account
        out: list[dict[str, Any]] = []
        start = 0 if after is None else max(0, (after - CALL_BASE) // 4 - 1)
        for i in range(start, a.n_tickets):
            if len(out) >= per_page:
                break
            channel, orphan_call, _ = a.traits(i)
            if channel != "voice" and not orphan_call:
                continue
            for call in a.ticket(i, custom_fields=False, story=False).calls:
                if after is None or call.id > after:
                    out.append(render.call_json(call, self.tz))
        out = out[:per_page]
        headers = [("next_page_cursor", next_cursor(out[-1]["id"]))] if out else []
        return json_answer(200, out, headers)

    def chats(self, req: Request) -> Response:
        if self._chats is None:
            chats = [
                render.chat_json(c, self.account, self.tz) for c in render.all_chats(self.account)
            ]
            chats.sort(key=lambda c: (c["date_created"], c["id"]))
            self._chats = chats
        since = self._since(req, "date_created")
        offset, per_page = self._page(req)
        rows = self._chats
        if since is not None:
            rows = [c for c in rows if self._ts(c["date_created"]) >= since]
        return json_answer(200, rows[offset : offset + per_page])
