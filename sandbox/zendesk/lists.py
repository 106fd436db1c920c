"""The Zendesk dialect's list and show endpoints: users, groups, group memberships (offset and
cursor pagination), one ticket, and business-hours schedules with their holidays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deskpulse.sandbox.data import SCHEDULE_BASE, ts_iso
from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk import render
from deskpulse.sandbox.zendesk.common import (
    APIBase,
    LazyList,
    bad,
    ids_arg,
    not_found,
)


class Lists(APIBase):
    def h_ticket_show(self, _: Request, params: dict[str, str]) -> Response:
        t = self._ticket_or_404(params["id"])
        return Response.json(200, {"ticket": self._ticket_json(t)})

    def h_user_me(self, _: Request, __: dict[str, str]) -> Response:
        return Response.json(200, {"user": render.user_json(self.account.staff[1], self.base_url)})

    def h_user_show(self, _: Request, params: dict[str, str]) -> Response:
        try:
            k = self.account.user_index_by_id(int(params["id"]))
        except ValueError:
            k = None
        if k is None:
            raise not_found()
        return Response.json(200, {"user": self._user_json(k)})

    # ---- groups, memberships (list endpoints with dual pagination) ----------------------

    def h_users_list(self, req: Request, _: dict[str, str]) -> Response:
        roles = [r for r in (req.query.get("role[]", []) + req.query.get("role", [])) if r]
        valid = {"end-user", "agent", "admin"}
        if any(r not in valid for r in roles):
            raise bad("role must be end-user, agent or admin")
        a = self.account
        items: Sequence[dict[str, Any]]
        if roles and "end-user" not in roles:
            items = [render.user_json(u, self.base_url) for u in a.staff if u.role in roles]
        else:
            staff_roles = set(roles or valid)
            staff = [u for u in a.staff if u.role in staff_roles]
            base, n_staff = self.base_url, len(a.staff)

            def user_at(k: int) -> dict[str, Any]:  # chosen staff, then every end-user
                if k < len(staff):
                    return render.user_json(staff[k], base)
                return render.user_json(a.user(n_staff + k - len(staff)), base)

            items = LazyList(len(staff) + a.n_end_users, user_at)
        keep = {"role[]": roles} if roles else {}
        return self._list(req, "/api/v2/users.json", "users", items, keep)

    def h_groups(self, req: Request, _: dict[str, str]) -> Response:
        items = [render.group_json(g, self.base_url) for g in self.account.groups]
        return self._list(req, "/api/v2/groups.json", "groups", items)

    def h_memberships(self, req: Request, _: dict[str, str]) -> Response:
        items = [render.membership_json(m, self.base_url) for m in self.account.memberships]
        return self._list(req, "/api/v2/group_memberships.json", "group_memberships", items)

    # ---- business hours -----------------------------------------------------------------

    def schedules(self) -> list[dict[str, Any]]:
        created = ts_iso(self.account.start_ts - 200 * 86_400)

        def week(start_h: int, end_h: int) -> list[dict[str, int]]:
            return [
                {"start_time": d * 1440 + start_h * 60, "end_time": d * 1440 + end_h * 60}
                for d in range(1, 6)
            ]

        return [
            {
                "id": SCHEDULE_BASE + 1,
                "name": "Americas support",
                "time_zone": "Eastern Time (US & Canada)",
                "intervals": week(9, 17),
                "created_at": created,
                "updated_at": created,
            },
            {
                "id": SCHEDULE_BASE + 2,
                "name": "EMEA support",
                "time_zone": "London",
                "intervals": [
                    *[
                        iv
                        for d in range(1, 6)
                        for iv in (
                            {"start_time": d * 1440 + 8 * 60, "end_time": d * 1440 + 12 * 60},
                            {"start_time": d * 1440 + 13 * 60, "end_time": d * 1440 + 18 * 60},
                        )
                    ]
                ],
                "created_at": created,
                "updated_at": created,
            },
        ]

    def h_schedules(self, _: Request, __: dict[str, str]) -> Response:
        return Response.json(200, {"schedules": self.schedules()})

    def h_holidays(self, _: Request, params: dict[str, str]) -> Response:
        try:
            sid = int(params["id"])
        except ValueError:
            sid = 0
        if sid not in (SCHEDULE_BASE + 1, SCHEDULE_BASE + 2):
            raise not_found()
        years = sorted(
            {int(ts_iso(self.account.start_ts)[:4]), int(ts_iso(self.account.anchor_ts)[:4])}
        )
        hol: list[dict[str, Any]] = []
        for y in years:
            if sid == SCHEDULE_BASE + 1:
                days = [
                    ("New Year's Day", f"{y}-01-01", f"{y}-01-01"),
                    ("Independence Day", f"{y}-07-04", f"{y}-07-04"),
                    ("Thanksgiving", f"{y}-11-26", f"{y}-11-27"),
                    ("Christmas", f"{y}-12-25", f"{y}-12-25"),
                ]
            else:
                days = [
                    ("New Year's Day", f"{y}-01-01", f"{y}-01-01"),
                    ("Christmas", f"{y}-12-25", f"{y}-12-26"),
                ]
            for n, (name, s, e) in enumerate(days):
                hol.append(
                    {
                        "id": sid * 100 + (y % 100) * 10 + n,
                        "name": name,
                        "start_date": s,
                        "end_date": e,
                    }
                )
        return Response.json(200, {"holidays": hol})

    def h_tickets_show_many(self, req: Request, _: dict[str, str]) -> Response:
        """`include=metric_sets`: a top-level `metric_sets` list, as Zendesk sideloads."""
        tickets, metric_sets = [], []
        for tid in ids_arg(req):
            if 1 <= tid <= self.account.n_tickets:
                t = self._ticket_or_404(str(tid))
                tickets.append(self._ticket_json(t))
                metric_sets.append(render.metric_set_json(t, self.base_url))
        body: dict[str, Any] = {"tickets": tickets}
        if "metric_sets" in (req.arg("include") or "").split(","):
            body["metric_sets"] = metric_sets
        return Response.json(200, body)

    def h_users_show_many(self, req: Request, _: dict[str, str]) -> Response:
        users = []
        for uid in ids_arg(req):
            k = self.account.user_index_by_id(uid)
            if k is not None:
                users.append(self._user_json(k))
        return Response.json(200, {"users": users})

    def _user_json(self, k: int) -> dict[str, Any]:
        user = render.user_json(self.account.user(k), self.base_url)
        written = self.writes.user_fields.get(user["id"])
        if written:
            user["user_fields"] = {**(user.get("user_fields") or {}), **written}
        return user
