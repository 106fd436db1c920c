"""The LiveAgent dialect's people and catalogue lists: agents, departments, tags, contacts
(incremental on `date_changed`)."""

from __future__ import annotations

from deskpulse.sandbox.data import ALL_TAGS
from deskpulse.sandbox.liveagent import render
from deskpulse.sandbox.liveagent.common import (
    LiveAgentBase,
    json_answer,
)
from deskpulse.sandbox.wire import Request, Response


class People(LiveAgentBase):
    def agents(self, req: Request) -> Response:
        offset, per_page = self._page(req)
        agents = [render.agent_json(u) for u in self.account.staff if not u.bot]
        return json_answer(200, agents[offset : offset + per_page])

    def departments(self, req: Request) -> Response:
        offset, per_page = self._page(req)
        a = self.account
        out = []
        for n, group in enumerate(a.groups):
            members = [
                render.user_la_id(m.user_id) for m in a.memberships if m.group_id == group.id
            ]
            out.append(
                {
                    "department_id": "d" + render.base36(n + 1),
                    "agent_count": len(members),
                    "name": group.name,
                    "online_status": "F",
                    "agent_ids": members,
                    "mailaccount_id": None,
                }
            )
        return json_answer(200, out[offset : offset + per_page])

    def tags(self, req: Request) -> Response:
        return json_answer(
            200,
            [
                {"id": render.tag_la_id(name), "name": name, "color": "FFFFFF",
                 "background_color": "000000", "is_public": "Y", "is_archived": "N"}
                for name in ALL_TAGS
            ],
        )  # fmt: skip

    def contacts(self, req: Request) -> Response:
        since = self._since(req, "date_changed") or 0
        offset, per_page = self._page(req)
        a = self.account
        lo, hi = len(a.staff), a.n_users
        while lo < hi:  # end-users are in date_changed order: the first at or after `since`
            mid = (lo + hi) // 2
            if a.user(mid).updated_ts < since:
                lo = mid + 1
            else:
                hi = mid
        first = lo + offset
        out = [
            render.contact_json(a.user(k), self.tz)
            for k in range(first, min(a.n_users, first + per_page))
        ]
        return json_answer(200, out)
