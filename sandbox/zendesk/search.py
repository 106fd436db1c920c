"""The Zendesk dialect's search (`GET /api/v2/search`): tickets and users by `type:` and
`updated`/`created` date filters, offset pagination, and Zendesk's cap of 1,000 results per
query (`count` says how many matched; asking for a page past the cap is a 422, as on Zendesk).

Query syntax served: whitespace-separated terms `type:ticket|user`,
`updated<op>DATE` / `created<op>DATE` with op one of `> >= < <= :` and DATE `YYYY-MM-DD` or an
ISO-8601 date-time (`2026-10-01T12:00:00Z`); other terms (free text, other fields) are ignored,
which a real search would use to narrow the results. `sort_by=updated_at|created_at`,
`sort_order=asc|desc` (default desc).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk import render
from deskpulse.sandbox.zendesk.common import APIBase, api_error, bad, int_arg

SEARCH_CAP = 1000
_TERM = re.compile(r"^(updated|created)(>=|<=|>|<|:)(.+)$")
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">": lambda v, x: v > x,
    ">=": lambda v, x: v >= x,
    "<": lambda v, x: v < x,
    "<=": lambda v, x: v <= x,
}


def _date(raw: str) -> tuple[int, int]:
    """[start, end) epoch seconds of a search date: a day, or a second for a date-time."""
    raw = raw.strip('"')
    try:
        if "T" in raw:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            ts = int(dt.timestamp())
            return ts, ts + 1
        day = datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        raise bad(f"invalid date in search: {raw}", "invalid") from None
    ts = int(day.timestamp())
    return ts, ts + 86_400


def _within(at: int, lo: int, hi: int) -> Callable[[int, int], bool]:
    """(created, updated)[at] on that day (or second)."""
    return lambda created, updated: lo <= (created, updated)[at] < hi


def _compare(at: int, op: Callable[[int, int], bool], x: int) -> Callable[[int, int], bool]:
    return lambda created, updated: op((created, updated)[at], x)


def _filters(query: str) -> tuple[str | None, list[Callable[[int, int], bool]]]:
    """(type, filters on (created_ts, updated_ts))."""
    kind: str | None = None
    tests: list[Callable[[int, int], bool]] = []
    for term in query.split():
        if term.startswith("type:"):
            kind = term[5:].lower()
            continue
        m = _TERM.match(term)
        if not m:
            continue
        which, op, raw = m.groups()
        lo, hi = _date(raw)
        at = 0 if which == "created" else 1
        if op == ":":
            tests.append(_within(at, lo, hi))
        else:
            tests.append(_compare(at, _OPS[op], lo if op in (">=", "<") else hi - 1))
    return kind, tests


class Search(APIBase):
    def _tickets(self, tests: list[Callable[[int, int], bool]]) -> Iterator[dict[str, Any]]:
        a = self.account
        overrides = self.writes.overrides
        for i in range(a.n_tickets):
            t = a.ticket(i, story=False)
            ov = overrides.get(t.id)
            updated = ov["_ts"] if ov else t.updated_ts  # a write updates the ticket
            if all(test(t.created_ts, updated) for test in tests):
                yield self._ticket_json(t)

    def _users(self, tests: list[Callable[[int, int], bool]]) -> Iterator[dict[str, Any]]:
        a = self.account
        for k in range(a.n_users):
            u = a.user(k)
            if all(test(u.created_ts, u.updated_ts) for test in tests):
                yield render.user_json(u, self.base_url)

    def h_search(self, req: Request, _: dict[str, str]) -> Response:
        query = req.arg("query")
        if not query:
            raise bad("query is required", "invalid")
        kind, tests = _filters(query)
        if kind not in ("ticket", "user"):
            raise bad("the sandbox searches type:ticket or type:user", "invalid")
        per_page = int_arg(req, "per_page", 100, 1, 100)
        page = int_arg(req, "page", 1, 1, 10_000)
        if page * per_page > SEARCH_CAP:
            raise api_error(
                422,
                "invalid",
                "Invalid search: Requested response size was greater than Search Response Limits",
            )
        found = list(self._tickets(tests) if kind == "ticket" else self._users(tests))
        sort_by = req.arg("sort_by") or "updated_at"
        if sort_by not in ("updated_at", "created_at"):
            raise bad("sort_by must be updated_at or created_at", "invalid")
        descending = (req.arg("sort_order") or "desc") != "asc"
        found.sort(key=lambda r: (r[sort_by], r["id"]), reverse=descending)
        lo = (page - 1) * per_page
        results = [{**r, "result_type": kind} for r in found[lo : lo + per_page]]
        keep = {"query": query, "per_page": per_page}
        for name in ("sort_by", "sort_order"):
            if req.arg(name):
                keep[name] = req.arg(name)
        more = lo + per_page < min(len(found), SEARCH_CAP)
        path = "/api/v2/search.json"
        return Response.json(
            200,
            {
                "results": results,
                "facets": None,
                "next_page": self.url(path, {**keep, "page": page + 1}) if more else None,
                "previous_page": self.url(path, {**keep, "page": page - 1}) if page > 1 else None,
                "count": len(found),
            },
        )
