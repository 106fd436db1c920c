"""The Zendesk dialect's search (`GET /api/v2/search`): tickets and users by `type:`,
`status` and `updated`/`created` date filters, offset pagination, and Zendesk's cap of 1,000
results per query (`count` says how many matched; asking for a page past the cap is a 422, as on
Zendesk). Archived tickets are found like the others, as on Zendesk.

Query syntax served: whitespace-separated terms `type:ticket|user`,
`updated<op>DATE` / `created<op>DATE` with op one of `> >= < <= :` and DATE `YYYY-MM-DD` or an
ISO-8601 date-time (`2026-10-01T12:00:00Z`), and `status<op>VALUE` for tickets (the same ops;
Zendesk orders the statuses new < open < pending < hold < solved < closed); other terms (free
text, other fields) are ignored, which a real search would use to narrow the results.
`sort_by=updated_at|created_at`, `sort_order=asc|desc` (default desc).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from deskpulse.sandbox.wire import Request, Response
from deskpulse.sandbox.zendesk import render
from deskpulse.sandbox.zendesk.common import APIBase, api_error, bad, int_arg

SEARCH_CAP = 1000
_TERM = re.compile(r"^(updated|created|status)(>=|<=|>|<|:)(.+)$")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
"""Ticket statuses in the order Zendesk's search compares them."""
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


Test = Callable[[int, int, int], bool]
"""A search filter on (created_ts, updated_ts, status rank; -1 for users)."""


def _within(at: int, lo: int, hi: int) -> Test:
    """(created, updated, status)[at] in [lo, hi): on that day (or second), or that status."""
    return lambda *values: lo <= values[at] < hi


def _compare(at: int, op: Callable[[int, int], bool], x: int) -> Test:
    return lambda *values: op(values[at], x)


def _status(raw: str) -> tuple[int, int]:
    name = raw.strip('"').lower()
    if name not in STATUSES:
        raise bad(f"invalid status in search: {raw}", "invalid")
    rank = STATUSES.index(name)
    return rank, rank + 1


def _rank(status: Any) -> int:
    return STATUSES.index(status) if status in STATUSES else -1


def _filters(query: str) -> tuple[str | None, list[Test]]:
    """(type, filters on (created_ts, updated_ts, status rank))."""
    kind: str | None = None
    tests: list[Test] = []
    for term in query.split():
        if term.startswith("type:"):
            kind = term[5:].lower()
            continue
        m = _TERM.match(term)
        if not m:
            continue
        which, op, raw = m.groups()
        lo, hi = _status(raw) if which == "status" else _date(raw)
        at = ("created", "updated", "status").index(which)
        if op == ":":
            tests.append(_within(at, lo, hi))
        else:
            tests.append(_compare(at, _OPS[op], lo if op in (">=", "<") else hi - 1))
    return kind, tests


class Search(APIBase):
    """Matches are worked out on a table of every ticket's (created, updated, status rank, id),
    built on the first ticket search (about a second at 20,000 tickets) and read with the
    writes applied, so a search costs the sandbox milliseconds and renders only its page."""

    _table_lock = threading.Lock()
    _table: list[tuple[int, int, int, int]] | None = None

    def _ticket_table(self) -> list[tuple[int, int, int, int]]:
        with self._table_lock:
            if self._table is None:
                a = self.account
                rows = []
                for i in range(a.n_tickets):
                    t = a.ticket(i, story=False)
                    rows.append((t.created_ts, t.updated_ts, _rank(t.status), t.id))
                self._table = rows
            return self._table

    def _tickets(self, tests: list[Test]) -> list[tuple[int, int, int, int]]:
        """(created, updated, id, index) of the matching tickets."""
        overrides = self.writes.overrides
        found = []
        for i, (created, updated, rank, tid) in enumerate(self._ticket_table()):
            ov = overrides.get(tid)
            if ov:  # a write updates the ticket
                updated = ov["_ts"]
                rank = _rank(ov.get("status")) if "status" in ov else rank
            if all(test(created, updated, rank) for test in tests):
                found.append((created, updated, tid, i))
        return found

    def _users(self, tests: list[Test]) -> list[tuple[int, int, int, int]]:
        a = self.account
        found = []
        for k in range(a.n_users):
            u = a.user(k)
            if all(test(u.created_ts, u.updated_ts, -1) for test in tests):
                found.append((u.created_ts, u.updated_ts, u.id, k))
        return found

    def _render(self, kind: str, index: int) -> dict[str, Any]:
        if kind == "ticket":
            return self._ticket_json(self.account.ticket(index, story=False))
        return render.user_json(self.account.user(index), self.base_url)

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
        found = self._tickets(tests) if kind == "ticket" else self._users(tests)
        sort_by = req.arg("sort_by") or "updated_at"
        if sort_by not in ("updated_at", "created_at"):
            raise bad("sort_by must be updated_at or created_at", "invalid")
        at = 0 if sort_by == "created_at" else 1
        descending = (req.arg("sort_order") or "desc") != "asc"
        found.sort(key=lambda r: (r[at], r[2]), reverse=descending)
        lo = (page - 1) * per_page
        results = [
            {**self._render(kind, r[3]), "result_type": kind} for r in found[lo : lo + per_page]
        ]
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
