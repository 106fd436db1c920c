"""The LiveAgent dialect of the sandbox: LiveAgent's API v3 over the generated help desk.

`LiveAgentDialect` (sandbox.dialect.Dialect, registered in sandbox.dialects) serves the same
`sandbox.data.Account` as the Zendesk dialect (same people, tickets, conversations, calls and
chats; see sandbox.liveagent.render for how each looks here;
the handlers are in tickets, writes, people and live) on its own loopback port, under
`/api/v3`, the way LiveAgent answers:

* Auth: header `apikey: <key>` (default `sandbox-liveagent-key`); otherwise 401
  `{"message": "Invalid API key"}`.
* Lists are bare JSON arrays without totals. `_page` (1-based) / `_perPage` (1..100, default 10)
  on tickets, contacts, chats, agents, departments and conversations; `_filters` as a JSON object
  `{"col": "value"}` or a list `[["col", "op", "value"]]`, with the `D>=` / `D>` date operators
  on `date_changed` (tickets, contacts) and `date_created` (chats), `_sortField` (that date) /
  `_sortDir` (ASC). Dates are `YYYY-MM-DD HH:MM:SS` in the account's time zone. What the
  document declares and the dialect does not serve is in unserved.py (with the reason): a 400.
* `GET /calls` and `GET /tickets/history` page by `_cursor` = base64 `{"id": "<last id>"}`
  ("records after that id"), and send the next one in the `next_page_cursor` response header.
* Errors: `{"message": ...}`; unknown path 404, bad parameter 400.
* Rate limit: 180 requests per fixed minute per API key (the server's injectable clock); over
  it 429 `{"message": "Too many requests"}` with `Retry-After`. No rate-limit headers (LiveAgent
  documents none).
* Faults on request: the server's `faults` (sandbox.limits.Faults), bodies `{"message": ...}`.
* Options: `api_key`, `timezone` (the account's zone its dates are written in, default UTC).
* `_filters={"subject": text}` on `GET /tickets` is a "contains" search, as on LiveAgent (the
  sandbox searches only tickets created or changed through its API).
* Writes: `PUT /tickets/{id}` (status, agentid, tags, subject, custom_fields by code) is recorded,
  applied to the ticket (its `date_changed` moves to anchor + n, so the next incremental read
  finds it) and adds a history row when the status or agent changes; `POST /tickets` creates a
  ticket (recorded, served by `GET /tickets/{id}` and in the list). `GET /__sandbox/writes` lists
  the writes (the server's control paths).
"""

from __future__ import annotations

from collections.abc import Callable

from deskpulse.sandbox.dialect import Match, Route, match_route, route
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.liveagent.common import (
    DEFAULT_KEY,
    KEY_BUCKET,
    PREFIX,
    RATE_LIMIT,
    Fail,
    error_answer,
    json_answer,
)
from deskpulse.sandbox.liveagent.live import Live
from deskpulse.sandbox.liveagent.people import People
from deskpulse.sandbox.liveagent.tickets import Tickets
from deskpulse.sandbox.liveagent.unserved import SORTED_BY, UNSERVED, served
from deskpulse.sandbox.liveagent.writes import Writes
from deskpulse.sandbox.wire import Request, Response

__all__ = ["DEFAULT_KEY", "PREFIX", "ROUTES", "SORTED_BY", "UNSERVED", "LiveAgentDialect"]

_PAGED = ("_page", "_perPage", "_sortDir")
_DATED = (*_PAGED, "_sortField", "_filters")
_CURSOR = ("_perPage", "_cursor", "_sortDir")
ROUTES: tuple[Route, ...] = (
    route("GET", f"{PREFIX}/tickets", "tickets", "tickets", None, _DATED),
    route("POST", f"{PREFIX}/tickets", "writes", "create_ticket"),
    route("GET", f"{PREFIX}/tickets/history", "history", "history", None, (*_CURSOR, "_filters")),
    route(
        "GET",
        f"{PREFIX}/tickets/{{id}}/messages",
        "tickets",
        "messages",
        None,
        (*_PAGED, "includeQuotedMessages"),  # no quoted context is generated: the same answer
    ),
    route("GET", f"{PREFIX}/tickets/{{id}}", "tickets", "ticket"),
    route("PUT", f"{PREFIX}/tickets/{{id}}", "writes", "update_ticket"),
    route("GET", f"{PREFIX}/agents", "agents", "agents", None, _PAGED),
    route("GET", f"{PREFIX}/departments", "agents", "departments", None, _PAGED),
    route("GET", f"{PREFIX}/tags", "tickets", "tags"),
    route("GET", f"{PREFIX}/contacts", "contacts", "contacts", None, _DATED),
    route("GET", f"{PREFIX}/calls", "calls", "calls", None, _CURSOR),
    route("GET", f"{PREFIX}/chats", "chats", "chats", None, _DATED),
    route("GET", f"{PREFIX}/ping", "ping", "ping"),
)
"""Each route with the query parameters it reads (`params`)."""
_ERRORS = {
    400: "Bad request",
    401: "Invalid API key",
    403: "Access denied",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class LiveAgentDialect(Tickets, Writes, People, Live):
    """LiveAgent's API v3 over the shared account (sandbox.dialect.Dialect). Thread-safe.

    Options: `api_key` (the key it accepts), `timezone` (the zone its dates are written in).
    """

    name = "liveagent"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets = (KEY_BUCKET,)

    # ---- the seam -------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path.rstrip("/") or "/")

    def authenticate(self, req: Request) -> Response | None:
        return None if req.headers.get("apikey") == self.api_key else self.error(401)

    def authorise(self, req: Request, route: Route) -> Response | None:
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        return error_answer(status, description or _ERRORS.get(status, _ERRORS[500]))

    def budgets(self) -> dict[str, int]:
        return {KEY_BUCKET: RATE_LIMIT}

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        return []

    def too_many(self, usage: Usage) -> Response:
        return self.error(429)

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        handler: Callable[..., Response] = getattr(self, route.handler_name)
        try:
            served(req, route)
            return handler(req, **params)
        except Fail as exc:
            return error_answer(exc.status, exc.message)

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        """LIVEAGENT_* settings; without the sandbox's limits, deskpulse need not pace."""
        env = {
            "LIVEAGENT_URL": self.base_url,
            "LIVEAGENT_API_KEY": self.api_key,
            "LIVEAGENT_TIMEZONE": self.timezone,
        }
        if not limited:
            env["LIVEAGENT_RATE_LIMIT"] = "0"
        return env

    def auth_headers(self) -> dict[str, str]:
        return {"apikey": self.api_key}

    def ping(self, req: Request) -> Response:
        return json_answer(200, {})
