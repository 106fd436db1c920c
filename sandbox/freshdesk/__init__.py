"""The Freshdesk dialect of the sandbox: Freshdesk's API v2 over the generated help desk.

`FreshdeskDialect` (sandbox.dialect.Dialect, registered in sandbox.dialects) serves the same
`sandbox.data.Account` as the other dialects (see sandbox.freshdesk.render for how each record
looks here) on its own loopback port, under `/api/v2`, the way Freshdesk answers:

* Auth: HTTP Basic with the API key as the user name and any password (`key:X`); otherwise 401
  `{"code": "invalid_credentials", "message": ...}`.
* Lists are bare JSON arrays; `page` (1-based) and `per_page` (1..100, default 30); a full page
  with more behind it carries `Link: <...page=N+1>; rel="next"`.
* `GET /tickets`: `updated_since` (ISO 8601; a time without an offset is UTC), `order_by`
  (`created_at` by default, or `updated_at`), `order_type` (`desc` by default, or `asc`),
  `include` (any of `requester`, `stats`, `description`), `filter=deleted` / `filter=spam` (only
  those; the default list has neither), `requester_id`. Without `updated_since` only tickets
  created in the 30 days before the account's anchor are listed, as on Freshdesk. A page past
  `page_cap` (300, Freshdesk's cap) is the 400 Freshdesk sends ("You cannot access tickets
  beyond the 300th page").
* `GET /tickets/{id}/conversations`, `/surveys/satisfaction_ratings` (`created_since`, default
  the last 30 days), `/time_entries` (`executed_after`, `executed_before`, `agent_id`),
  `/contacts` (`_updated_since`), `/agents`, `/groups`, `/companies`: paged as above, in
  ascending time order. `/business_hours` and `/sla_policies`: one page.
* Errors: a bad parameter is 400 `{"description": "Validation failed", "errors": [{"field",
  "message", "code"}]}`; others `{"code", "message"}`.
* Rate limits per plan (option `plan`: growth, pro, enterprise, Freshdesk's legacy per-minute
  plans): an account-wide budget a minute, and the endpoint caps Freshdesk documents (tickets
  list, contacts list, ticket create, ticket update). Every answer carries
  `X-RateLimit-Total`, `X-RateLimit-Remaining` (the account's budget) and
  `X-RateLimit-Used-CurrentRequest: 1`; over a budget, 429 with `Retry-After`. Embedding
  (`include=`) costs Freshdesk an extra credit each; the sandbox counts one per request (a gap).
* Writes (sandbox.freshdesk.writes): `PUT /tickets/{id}` (status, priority, responder_id,
  group_id, tags, subject, `custom_fields` by `cf_` name), `POST /tickets`, `POST
  /tickets/{id}/notes`, `PUT /contacts/{id}` (`custom_fields`); a written ticket's
  `updated_at` moves to anchor + n, so the next incremental read finds it. `GET
  /search/tickets?query="tag:'x'"` finds tickets by tag (the only query the sandbox knows).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from deskpulse.sandbox.data import DAY, Account
from deskpulse.sandbox.dialect import Match, Route, match_route, route
from deskpulse.sandbox.freshdesk import render
from deskpulse.sandbox.freshdesk.common import Invalid, answer, int_arg, invalid_answer, time_arg
from deskpulse.sandbox.freshdesk.writes import WriteHandlers
from deskpulse.sandbox.limits import SandboxConfigError, Usage
from deskpulse.sandbox.wire import Request, Response

DEFAULT_KEY = "sandbox-freshdesk-key"
PREFIX = "/api/v2"
ACCOUNT = "account"
PAGE_CAP = 300
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30

PLANS: dict[str, dict[str, int]] = {
    "growth": {ACCOUNT: 200, "tickets_list": 20, "contacts_list": 20, "tickets_create": 80,
               "tickets_update": 80},
    "pro": {ACCOUNT: 400, "tickets_list": 100, "contacts_list": 100, "tickets_create": 160,
            "tickets_update": 160},
    "enterprise": {ACCOUNT: 700, "tickets_list": 200, "contacts_list": 200, "tickets_create": 280,
                   "tickets_update": 280},
}  # fmt: skip
"""Requests a minute per legacy plan: the account's budget and the endpoint caps."""

ROUTES: tuple[Route, ...] = (
    route("GET", f"{PREFIX}/tickets", "tickets", "tickets", "tickets_list"),
    route("POST", f"{PREFIX}/tickets", "writes", "create_ticket", "tickets_create"),
    route("GET", f"{PREFIX}/tickets/{{id}}", "tickets", "ticket"),
    route("PUT", f"{PREFIX}/tickets/{{id}}", "writes", "update_ticket", "tickets_update"),
    route("GET", f"{PREFIX}/tickets/{{id}}/conversations", "tickets", "conversations"),
    route("POST", f"{PREFIX}/tickets/{{id}}/notes", "writes", "add_note"),
    route("GET", f"{PREFIX}/search/tickets", "tickets", "search"),
    route("GET", f"{PREFIX}/surveys/satisfaction_ratings", "ratings", "ratings"),
    route("GET", f"{PREFIX}/time_entries", "time_entries", "time_entries"),
    route("GET", f"{PREFIX}/contacts", "contacts", "contacts", "contacts_list"),
    route("GET", f"{PREFIX}/contacts/{{id}}", "contacts", "contact"),
    route("PUT", f"{PREFIX}/contacts/{{id}}", "writes", "update_contact"),
    route("GET", f"{PREFIX}/agents", "agents", "agents"),
    route("GET", f"{PREFIX}/groups", "agents", "groups"),
    route("GET", f"{PREFIX}/companies", "contacts", "companies"),
    route("GET", f"{PREFIX}/business_hours", "settings", "business_hours"),
    route("GET", f"{PREFIX}/sla_policies", "settings", "sla_policies"),
)
INCLUDES = frozenset({"requester", "stats", "description"})
_MESSAGES = {
    401: ("invalid_credentials", "You have to be logged in to perform this action."),
    403: ("access_denied", "You are not authorized to perform this action."),
    404: ("not_found", "The requested resource was not found."),
    405: ("method_not_allowed", "The HTTP method is not allowed for this resource."),
    413: ("request_too_large", "The request body is too large."),
    429: ("rate_limit_exceeded", "You have exceeded the limit of requests per minute."),
    500: ("internal_error", "We're sorry, but something went wrong."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
}


class FreshdeskDialect(WriteHandlers):
    """Freshdesk's API v2 over the shared account (sandbox.dialect.Dialect). Thread-safe."""

    name = "freshdesk"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets = (ACCOUNT,)

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        api_key: str = DEFAULT_KEY,
        plan: str = "enterprise",
        page_cap: int = PAGE_CAP,
    ) -> None:
        if plan not in PLANS:
            raise SandboxConfigError(f"unknown Freshdesk plan {plan!r} (known: {', '.join(PLANS)})")
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.plan = plan
        self.page_cap = page_cap
        self._lock = threading.Lock()
        self._cache: dict[str, list[dict[str, Any]]] = {}
        WriteHandlers.__init__(self)

    # ---- the seam -------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path.rstrip("/") or "/")

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
        try:
            user = base64.b64decode(encoded, validate=True).decode().partition(":")[0]
        except ValueError:
            user = ""
        return None if scheme.lower() == "basic" and user == self.api_key else self.error(401)

    def authorise(self, req: Request, route: Route) -> Response | None:
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        code, message = _MESSAGES.get(status, _MESSAGES[500])
        if status == 400:
            return invalid_answer(Invalid("request", description or "Bad request"))
        return answer(status, {"code": code, "message": description or message})

    def budgets(self) -> dict[str, int]:
        return dict(PLANS[self.plan])

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        if ACCOUNT not in usage.limits:
            return []
        return [
            ("X-RateLimit-Total", str(usage.limits[ACCOUNT])),
            ("X-RateLimit-Remaining", str(usage.remaining[ACCOUNT])),
            ("X-RateLimit-Used-CurrentRequest", "1"),
        ]

    def too_many(self, usage: Usage) -> Response:
        return self.error(429)

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        handler: Callable[..., Response] = getattr(self, route.handler_name)
        try:
            return handler(req, **params)
        except Invalid as exc:
            return invalid_answer(exc)

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        """FRESHDESK_* settings; without the sandbox's limits, deskpulse need not pace."""
        env = {
            "FRESHDESK_DOMAIN": self.base_url,
            "FRESHDESK_API_KEY": self.api_key,
            "FRESHDESK_PLAN": self.plan,
        }
        if not limited:
            env["FRESHDESK_RATE_LIMIT"] = "0"
        return env

    def auth_headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.api_key}:X".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    # ---- paging -----------------------------------------------------------------------------

    def _paging(self, req: Request, cap: int | None = None) -> tuple[int, int]:
        message = ""
        if cap is not None:
            message = (
                f"You cannot access tickets beyond the {cap}th page. "
                "Please provide a smaller page number."
            )
        page = int_arg(req, "page", 1, 1, cap or 10_000_000, message)
        return page, int_arg(req, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)

    def _page(
        self, req: Request, rows: list[dict[str, Any]], page: int, per_page: int, more: bool
    ) -> Response:
        """One page of `rows` (already cut); `more`: records lie beyond it (a Link header)."""
        headers = []
        if more:
            query = {k: v[-1] for k, v in req.query.items()}
            query["page"] = str(page + 1)
            headers.append(("Link", f'<{self.base_url}{req.path}?{urlencode(query)}>; rel="next"'))
        return answer(200, [{k: v for k, v in r.items() if k[0] != "_"} for r in rows], headers)

    def _slice(self, req: Request, rows: list[dict[str, Any]]) -> Response:
        page, per_page = self._paging(req)
        start = (page - 1) * per_page
        return self._page(req, rows[start : start + per_page], page, per_page,
                          len(rows) > start + per_page)  # fmt: skip

    def _cached(self, key: str, build: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._cache.get(key)
        if rows is None:
            rows = build()
            with self._lock:
                self._cache[key] = rows
        return rows

    # ---- tickets ------------------------------------------------------------------------------

    def ticket_json(self, index: int, include: frozenset[str] = frozenset()) -> dict[str, Any]:
        t = self.account.ticket(index)
        return render.ticket_json(
            self.account,
            t,
            stats="stats" in include,
            requester="requester" in include,
            description="description" in include,
            override=self.overrides.get(t.id),
        )

    def _includes(self, req: Request) -> frozenset[str]:
        names = frozenset(n.strip() for n in (req.arg("include") or "").split(",") if n.strip())
        unknown = sorted(names - INCLUDES)
        if unknown:
            raise Invalid(
                "include",
                f"It should be one/more of the elements in 'requester,stats,description' "
                f"(got {','.join(unknown)})",
                "invalid_value",
            )
        return names

    def tickets(self, req: Request) -> Response:
        view = req.arg("filter")
        if view not in (None, "deleted", "spam"):
            raise Invalid("filter", f"the sandbox does not model filter={view}", "invalid_value")
        order = req.arg("order_by") or "created_at"
        if order not in ("created_at", "updated_at"):
            raise Invalid("order_by", "It should be one of these values: 'created_at,updated_at'")
        direction = req.arg("order_type") or "desc"
        if direction not in ("asc", "desc"):
            raise Invalid("order_type", "It should be one of these values: 'asc,desc'")
        include = self._includes(req)
        since = time_arg(req, "updated_since")
        requester = int_arg(req, "requester_id", 0, 0, 2**63)
        page, per_page = self._paging(req, self.page_cap)
        a = self.account
        created_after = a.anchor_ts - 30 * DAY if since is None and view is None else None
        with self._lock:
            moved = {tid: ov["_ts"] for tid, ov in self.overrides.items()}
            created = list(self.created)
        # (sort key, index) of every ticket that may qualify, in the asked order.
        keyed: list[tuple[int, int]]
        if order == "updated_at":
            first = a.first_ticket_at(since or 0)
            keyed = [
                (a.generated_ts(i), i) for i in range(first, a.n_tickets) if i + 1 not in moved
            ]
            keyed += sorted((ts, tid - 1) for tid, ts in moved.items() if tid <= a.n_tickets)
        else:
            keyed = self._created_order()
        keyed += [(c["_ts"], a.n_tickets + n) for n, c in enumerate(created)]
        if direction == "desc":
            keyed.reverse()
        skip = (page - 1) * per_page
        out: list[dict[str, Any]] = []
        more = False
        for _, i in keyed:
            body = self._listed(i, view, since, created_after, requester, include, created)
            if body is None:
                continue
            if skip:
                skip -= 1
            elif len(out) < per_page:
                out.append(body)
            else:
                more = True
                break
        return self._page(req, out, page, per_page, more)

    def _created_order(self) -> list[tuple[int, int]]:
        def build() -> list[dict[str, Any]]:
            a = self.account
            pairs = sorted(
                (a.ticket(i, custom_fields=False, story=False).created_ts, i)
                for i in range(a.n_tickets)
            )
            return [{"ts": ts, "i": i} for ts, i in pairs]

        return [(row["ts"], row["i"]) for row in self._cached("created_order", build)]

    def _listed(
        self,
        i: int,
        view: str | None,
        since: int | None,
        created_after: int | None,
        requester: int,
        include: frozenset[str],
        created: list[dict[str, Any]],
    ) -> dict[str, Any] | None:
        a = self.account
        if i >= a.n_tickets:
            body = self.created_json(i - a.n_tickets, created)
            if view is not None:
                return None
        else:
            t = a.ticket(i, custom_fields=False, story=False)
            if not render.is_listed(t, view) or (requester and t.requester_id != requester):
                return None
            if created_after is not None and t.created_ts < created_after:
                return None
            body = self.ticket_json(i, include)
        if (
            since is not None
            and int(datetime.fromisoformat(body["updated_at"]).timestamp()) < since
        ):
            return None
        return body

    def _ticket_index(self, id: str) -> int:
        try:
            number = int(id)
        except ValueError:
            number = 0
        if not 1 <= number <= self.account.n_tickets + len(self.created):
            raise Invalid("id", "Ticket not found", "not_found", status=404)
        return number - 1

    def ticket(self, req: Request, id: str) -> Response:
        index = self._ticket_index(id)
        include = self._includes(req) | {"description"}
        if index >= self.account.n_tickets:
            with self._lock:
                return answer(200, self.created_json(index - self.account.n_tickets, self.created))
        return answer(200, self.ticket_json(index, include))

    def conversations(self, req: Request, id: str) -> Response:
        index = self._ticket_index(id)
        rows = []
        if index < self.account.n_tickets:
            rows = render.conversations(self.account.ticket(index, custom_fields=False))
        with self._lock:
            rows += [n for n in self.notes if n["ticket_id"] == index + 1]
        return self._slice(req, rows)

    # ---- surveys and work ---------------------------------------------------------------------

    def ratings(self, req: Request) -> Response:
        since = time_arg(req, "created_since")
        if since is None:
            since = self.account.anchor_ts - 30 * DAY

        def build() -> list[dict[str, Any]]:
            a = self.account
            rows = []
            for i in range(a.n_tickets):
                rating = render.rating_json(a.ticket(i, custom_fields=False, story=False))
                if rating is not None:
                    rows.append(rating)
            return sorted(rows, key=lambda r: (r["_ts"], r["id"]))

        user = int_arg(req, "user_id", 0, 0, 2**63)
        rows = [
            r
            for r in self._cached("ratings", build)
            if r["_ts"] >= since and (not user or r["user_id"] == user)
        ]
        return self._slice(req, rows)

    def time_entries(self, req: Request) -> Response:
        after = time_arg(req, "executed_after")
        before = time_arg(req, "executed_before")
        agent = int_arg(req, "agent_id", 0, 0, 2**63)

        def build() -> list[dict[str, Any]]:
            a = self.account
            rows = [e for i in range(a.n_tickets) for e in render.time_entries(a.ticket(i))]
            return sorted(rows, key=lambda e: (e["_ts"], e["id"]))

        rows = [
            e
            for e in self._cached("time_entries", build)
            if (after is None or e["_ts"] >= after)
            and (before is None or e["_ts"] < before)
            and (not agent or e["agent_id"] == agent)
        ]
        return self._slice(req, rows)

    # ---- people and settings --------------------------------------------------------------------

    def contacts(self, req: Request) -> Response:
        since = time_arg(req, "_updated_since") or 0
        a = self.account
        first = len(a.staff)
        while first < a.n_users and a.user(first).updated_ts < since:
            first += 1  # end-users are in updated_at order
        page, per_page = self._paging(req)
        with self._lock:
            moved = dict(self.contact_overrides)
        rows = []
        for k in range(first, a.n_users):
            user = a.user(k)
            if user.id not in moved:
                rows.append(render.contact_json(user, a))
        rows += [self.contact_json(uid) for uid, ov in sorted(moved.items(), key=lambda kv: kv[1]["_ts"])
                 if ov["_ts"] >= since]  # fmt: skip
        start = (page - 1) * per_page
        return self._page(req, rows[start : start + per_page], page, per_page,
                          len(rows) > start + per_page)  # fmt: skip

    def contact(self, req: Request, id: str) -> Response:
        return answer(200, self.contact_json(self._user_id(id)))

    def agents(self, req: Request) -> Response:
        a = self.account
        return self._slice(req, [render.agent_json(u, a) for u in a.staff if not u.bot])

    def groups(self, req: Request) -> Response:
        a = self.account
        return self._slice(req, [render.group_json(g, a) for g in a.groups])

    def companies(self, req: Request) -> Response:
        return self._slice(req, render.companies(self.account))

    def business_hours(self, req: Request) -> Response:
        return answer(200, render.business_hours(self.account))

    def sla_policies(self, req: Request) -> Response:
        return answer(200, render.sla_policies(self.account))


__all__ = ["DEFAULT_KEY", "PLANS", "FreshdeskDialect"]
