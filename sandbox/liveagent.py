"""The LiveAgent dialect of the sandbox: LiveAgent's API v3 over the generated help desk.

`LiveAgentDialect` (sandbox.dialect.Dialect, registered in sandbox.dialects) serves the same
`sandbox.data.Account` as the Zendesk dialect (same people, tickets, conversations, calls and
chats; see sandbox.liveagent_render for how each looks here) on its own loopback port, under
`/api/v3`, the way LiveAgent answers:

* Auth: header `apikey: <key>` (default `sandbox-liveagent-key`); otherwise 401
  `{"message": "Invalid API key"}`.
* Lists are bare JSON arrays without totals. `_page` (1-based) / `_perPage` (1..100, default 10)
  on tickets, contacts, chats, agents, departments and conversations; `_filters` as a JSON object
  `{"col": "value"}` or a list `[["col", "op", "value"]]`, with the `D>=` / `D>` date operators
  on `date_changed` (tickets, contacts) and `date_created` (chats), `_sortField` (that date) /
  `_sortDir` (ASC). Dates are `YYYY-MM-DD HH:MM:SS` in the account's time zone. What the
  document declares and the dialect does not serve is UNSERVED (with the reason): a 400.
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

import base64
import binascii
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from deskpulse.sandbox import liveagent_render as render
from deskpulse.sandbox.data import ALL_TAGS, CALL_BASE, Account
from deskpulse.sandbox.dialect import Match, Route, match_route, route
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.wire import JSON_TYPE, Request, Response

DEFAULT_KEY = "sandbox-liveagent-key"
PREFIX = "/api/v3"
RATE_LIMIT = 180
MAX_PER_PAGE = 100
KEY_BUCKET = "apikey"

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

SORTED_BY = {
    f"{PREFIX}/tickets": "date_changed",
    f"{PREFIX}/contacts": "date_changed",
    f"{PREFIX}/chats": "date_created",
}
"""The one `_sortField` a list takes: the date it is served in (ascending) and filtered by."""

_RANGE = "_from/_to: the document leaves open whether _to is inclusive; page with _page/_perPage"
_ASCENDING = "lists are served in ascending order only"
_ONE_ORDER = "served in one order (ids ascending)"
_NO_FILTER = "no _filters on this list (a full read each time)"
UNSERVED: dict[tuple[str, str], str] = {
    **{
        (f"{PREFIX}{path}", name): _RANGE
        for path in ("/tickets", "/tickets/{id}/messages", "/agents", "/departments", "/contacts",
                     "/chats")
        for name in ("_from", "_to")
    },
    **{
        (f"{PREFIX}{path}", "_sortDir=DESC"): _ASCENDING
        for path in ("/tickets", "/tickets/history", "/tickets/{id}/messages", "/agents",
                     "/departments", "/contacts", "/calls", "/chats")
    },
    **{
        (f"{PREFIX}{path}", "_sortField"): _ONE_ORDER
        for path in ("/tickets/history", "/tickets/{id}/messages", "/agents", "/departments",
                     "/calls")
    },
    **{
        (f"{PREFIX}{path}", "_filters"): _NO_FILTER
        for path in ("/tickets/{id}/messages", "/agents", "/departments", "/calls")
    },
    (f"{PREFIX}/tickets/history", "Timezone-Offset"): "a header: dates are written in the "
    "account's zone (the dialect's `timezone`), whatever the client's offset",
    (f"{PREFIX}/calls", "Timezone-Offset"): "a header: dates are written in the account's zone",
}  # fmt: skip
"""Parameters the document declares on a served route that the dialect does not serve, with the
reason (`name=value`: that value only). A query parameter here answers 400 naming it, never a
silently different list; tests/sandbox/test_liveagent_conformance.py checks the table against
the document and walks the rest. Filters served: `[[date field, "D>=" | "D>", date]]` on the
SORTED_BY date, and `{"subject": text}` on tickets; any other column or operator is a 400."""

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


class _Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE), *headers])


def _error(status: int, message: str) -> Response:
    return _json(status, {"message": message})


def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _Error(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise _Error(400, f"{name} must be between {lo} and {hi}")
    return value


def _cursor_id(req: Request) -> int | None:
    raw = req.arg("_cursor")
    if not raw:
        return None
    try:
        value = orjson.loads(base64.b64decode(raw.encode(), validate=True))
        return int(value["id"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise _Error(400, "Invalid cursor") from None


def _served(req: Request, route: Route) -> None:
    """The 400 for a parameter or value of UNSERVED (or a _sortField other than SORTED_BY's)."""
    for name in req.query:
        reason = UNSERVED.get((route.path, name))
        if reason is not None:
            raise _Error(400, f"{name} is not supported by the sandbox ({reason})")
    if (req.arg("_sortDir") or "ASC").upper() != "ASC" and "_sortDir" in route.params:
        raise _Error(400, f"_sortDir {req.arg('_sortDir')!r}: {_ASCENDING}")
    field = req.arg("_sortField")
    if field and "_sortField" in route.params and field != SORTED_BY.get(route.path):
        raise _Error(400, f"Unsupported _sortField {field!r}: {SORTED_BY.get(route.path)} only")


def _cursor(last_id: str) -> str:
    return base64.b64encode(orjson.dumps({"id": last_id})).decode()


class WriteRecord:
    """The writes the dialect accepted (the server serves them at /__sandbox/writes)."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.writes.clear()


class LiveAgentDialect:
    """LiveAgent's API v3 over the shared account (sandbox.dialect.Dialect). Thread-safe."""

    name = "liveagent"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets = (KEY_BUCKET,)

    def __init__(
        self,
        account: Account,
        base_url: str,
        *,
        api_key: str = DEFAULT_KEY,
        timezone: str = "UTC",
    ) -> None:
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.timezone = timezone
        self.tz: tzinfo = UTC if timezone == "UTC" else ZoneInfo(timezone)
        self._lock = threading.Lock()
        self.writes = WriteRecord()
        self.overrides: dict[int, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.extra_history: list[dict[str, Any]] = []
        self._seq = 0
        self._chats: list[dict[str, Any]] | None = None

    # ---- the seam -------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path.rstrip("/") or "/")

    def authenticate(self, req: Request) -> Response | None:
        return None if req.headers.get("apikey") == self.api_key else self.error(401)

    def authorise(self, req: Request, route: Route) -> Response | None:
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        return _error(status, description or _ERRORS.get(status, _ERRORS[500]))

    def budgets(self) -> dict[str, int]:
        return {KEY_BUCKET: RATE_LIMIT}

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        return []

    def too_many(self, usage: Usage) -> Response:
        return self.error(429)

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        handler: Callable[..., Response] = getattr(self, route.handler_name)
        try:
            _served(req, route)
            return handler(req, **params)
        except _Error as exc:
            return _error(exc.status, exc.message)

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
        return _json(200, {})

    # ---- filters ------------------------------------------------------------------------------

    def _since(self, req: Request, field: str) -> int | None:
        """The lower bound of a `D>=` / `D>` filter on `field`, as epoch seconds."""
        raw = req.arg("_filters")
        if not raw:
            return None
        try:
            filters = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _Error(400, "Invalid _filters: not JSON") from None
        if not isinstance(filters, list):  # {"subject": ...} is the tickets' search, read before
            raise _Error(400, f'Unsupported _filters: [[{field!r}, "D>=" | "D>", date]] only')
        bound: int | None = None
        for item in filters:
            if not (isinstance(item, list) and len(item) == 3):
                raise _Error(400, "Invalid _filters: expected [column, operator, value]")
            column, operator, value = item
            if column != field or operator not in ("D>=", "D>"):
                raise _Error(
                    400,
                    f"Unsupported _filters [{column!r}, {operator!r}]: {field} by D>= or D> only",
                )
            try:
                moment = datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                raise _Error(400, f"Invalid date in _filters: {value!r}") from None
            ts = int(moment.replace(tzinfo=self.tz).astimezone(UTC).timestamp())
            bound = ts + 1 if operator == "D>" else ts
        return bound

    def _page(self, req: Request) -> tuple[int, int]:
        page = _int(req, "_page", 1, 1, 10_000_000)
        per_page = _int(req, "_perPage", 10, 1, MAX_PER_PAGE)
        return (page - 1) * per_page, per_page

    # ---- tickets ------------------------------------------------------------------------------

    def _ticket_json(self, index: int) -> dict[str, Any]:
        t = self.account.ticket(index)
        return render.ticket_json(self.account, t, self.tz, self.overrides.get(t.id))

    def _subject_search(self, req: Request) -> str | None:
        """`_filters={"subject": text}`: LiveAgent's "contains" search on the subject."""
        raw = req.arg("_filters")
        try:
            filters = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise _Error(400, "Invalid _filters: not JSON") from None
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
            return _json(200, [t for t in found if search in str(t["subject"]).lower()])
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
        return _json(200, out)

    def _index(self, la_id: str) -> int:
        number = render.ticket_number(la_id)
        if number is None or not 1 <= number <= self.account.n_tickets:
            raise _Error(404, "Ticket not found")
        return number - 1

    def _created(self, n: int) -> dict[str, Any]:
        return {k: v for k, v in self.created[n].items() if k != "_ts"}

    def ticket(self, req: Request, id: str) -> Response:
        for n, created in enumerate(self.created):
            if created["id"] == id:
                return _json(200, self._created(n))
        return _json(200, self._ticket_json(self._index(id)))

    def messages(self, req: Request, id: str) -> Response:
        if any(c["id"] == id for c in self.created):
            return _json(200, [])
        index = self._index(id)
        offset, per_page = self._page(req)
        groups = render.conversation(self.account.ticket(index, custom_fields=False), self.tz)
        return _json(200, groups[offset : offset + per_page])

    def history(self, req: Request) -> Response:
        after = _cursor_id(req)
        per_page = _int(req, "_perPage", 10, 1, MAX_PER_PAGE)
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
        headers = [("next_page_cursor", _cursor(out[-1]["id"]))] if out else []
        return _json(200, out, headers)

    def _ts(self, text: str) -> int:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.tz)
        return int(moment.astimezone(UTC).timestamp())

    # ---- writes -------------------------------------------------------------------------------

    def _body(self, req: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            raise _Error(400, "Invalid JSON body") from None
        if not isinstance(body, dict):
            raise _Error(400, "Expected a JSON object")
        return body

    def _record(self, req: Request, body: dict[str, Any]) -> int:
        with self._lock:
            self._seq += 1
            self.writes.writes.append(
                {"method": req.method, "path": req.path, "body": body, "seq": self._seq}
            )
            return self._seq

    def update_ticket(self, req: Request, id: str) -> Response:
        index = self._index(id)
        body = self._body(req)
        status = body.get("status")
        if status is not None and status not in render.STATUS.values() and status not in "ITPB":
            raise _Error(400, f"Invalid status {status!r}")
        fields = body.get("custom_fields") or []
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("code"), str) for f in fields
        ):
            raise _Error(400, "custom_fields must be a list of {code, value}")
        before = self._ticket_json(index)
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        with self._lock:
            ov = dict(self.overrides.get(index + 1, {}))
            for key in ("status", "agentid", "tags", "subject"):
                if key in body:
                    ov[key] = body[key]
            if fields:
                merged = {f["code"]: f for f in ov.get("custom_fields", [])}
                merged.update(
                    {f["code"]: {"code": f["code"], "value": f.get("value")} for f in fields}
                )
                ov["custom_fields"] = list(merged.values())
            ov["_ts"] = ts
            self.overrides[index + 1] = ov
            if ov.get("status", before["status"]) != before["status"] or (
                "agentid" in body and body["agentid"] != before["agentid"]
            ):
                self.extra_history.append(
                    {
                        "id": str((self.account.n_tickets + 1) * render.HISTORY_SLOTS + seq),
                        "conversation_id": id,
                        "conversation_code": before["code"],
                        "department_id": before["departmentid"],
                        "department_name": None,
                        "agent_id": ov.get("agentid", before["agentid"]),
                        "status": ov.get("status", before["status"]),
                        "date_from": render.wall(ts, self.tz),
                        "date_to": None,
                        "elapsed_time": None,
                    }
                )
        return _json(200, self._ticket_json(index))

    def create_ticket(self, req: Request) -> Response:
        body = self._body(req)
        for key in ("subject", "message", "recipient", "useridentifier"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise _Error(400, f"{key} is required")
        seq = self._record(req, body)
        ts = self.account.anchor_ts + seq
        ticket = {
            "id": "n" + render.base36(seq),
            "ownerid": None,
            "owner_contactid": body["useridentifier"],
            "departmentid": body.get("departmentid"),
            "agentid": None,
            "status": body.get("status") or "N",
            "tags": [],
            "code": f"NEW-{seq:03d}-API",
            "channel_type": "E",
            "date_created": render.wall(ts, self.tz),
            "date_changed": render.wall(ts, self.tz),
            "subject": body["subject"],
            "custom_fields": [],
            "_ts": ts,
        }
        with self._lock:
            self.created.append(ticket)
        # The answer is the document's TicketInformation, whose tags are one comma-joined string.
        return _json(200, {**self._created(len(self.created) - 1), "tags": ""})

    # ---- people -------------------------------------------------------------------------------

    def agents(self, req: Request) -> Response:
        offset, per_page = self._page(req)
        agents = [render.agent_json(u) for u in self.account.staff if not u.bot]
        return _json(200, agents[offset : offset + per_page])

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
        return _json(200, out[offset : offset + per_page])

    def tags(self, req: Request) -> Response:
        return _json(
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
        return _json(200, out)

    # ---- live contacts ------------------------------------------------------------------------

    def calls(self, req: Request) -> Response:
        after = _cursor_id(req)
        per_page = _int(req, "_perPage", 10, 1, MAX_PER_PAGE)
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
        headers = [("next_page_cursor", _cursor(out[-1]["id"]))] if out else []
        return _json(200, out, headers)

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
        return _json(200, rows[offset : offset + per_page])
