"""The Zendesk dialect of the sandbox: Zendesk's real REST API over a generated account.

Start it with `sandbox.server.SandboxServer` (tests, bench) or `sandbox.command.run_sandbox`
(`deskpulse sandbox`). Everything below is what a connector sees; it follows Zendesk's OpenAPI
document (../shared/specs/zendesk/support-oas.yaml), the recorded samples, and Zendesk's docs for
Talk/Chat/Schedules, which the OpenAPI document does not cover.

Conventions
-----------
* Every path works with and without the `.json` suffix (`/api/v2/groups` == `/api/v2/groups.json`).
* Absolute URLs in responses (`url`, `after_url`, `next_page`, `links.next`) point at the sandbox's
  own base URL (`http://127.0.0.1:PORT`), where Zendesk would say `https://{subdomain}.zendesk.com`.
* Timestamps are `YYYY-MM-DDTHH:MM:SSZ` (UTC); `start_time`/`end_time`/`timestamp` are Unix epochs.
* Ids are integers (Zendesk-sized, > 2^32 for most objects); ticket ids are 1..N in
  generated_timestamp order. Chat ids are strings.
* Data is generated from `seed` (see sandbox.data): same seed, same responses, byte for byte.

Auth (401 `{"error": "Couldn't authenticate you"}` otherwise)
-----------------------------------------------------------
* `Authorization: Basic base64("{email}/token:{api_token}")` -- defaults
  `agent@sandbox.test` / `sandbox-token`, or
* `Authorization: Bearer {oauth_token}` -- default `sandbox-oauth-token`.
The Chat API takes OAuth only, as on Zendesk: API-token (Basic) auth on /api/v2/chat/... gets 401
`{"error": "invalid_token", ...}` (`SandboxServer(chat_basic_auth=True)` relaxes that).
Forbidden streams (`SandboxServer(forbid=("talk", "chat"))`): 403
`{"error": "Forbidden", "description": "You do not have access to this page. ..."}`. Stream names:
tickets, ticket_events, ticket_metric_events, users, groups, group_memberships,
satisfaction_ratings, talk, chat, business_hours, writes.

Errors
------
* Unknown path: 404 `{"error": "InvalidEndpoint", "description": "Not found"}`.
* Unknown record: 404 `{"error": "RecordNotFound", "description": "Not found"}`.
* Bad parameter (missing start_time, bad cursor, page size out of range): 400
  `{"error": "InvalidPaginationParameter" | "InvalidValue", "description": ...}`.
* Wrong method on a known path: 405 `{"error": "MethodNotAllowed", ...}`.

Rate limits (see sandbox.limits; `rate_limit=False` turns them off)
-------------------------------------------------------------------
Fixed 60-second windows (aligned to the injectable clock's minute). Every response carries
`X-Rate-Limit`, `X-Rate-Limit-Remaining`, `ratelimit-limit`, `ratelimit-remaining`,
`ratelimit-reset` (seconds to the window end) for the account-wide budget (default 700/min, every
request counts, 429s do not). `/api/v2/incremental/*` (tickets/cursor, ticket_events,
ticket_metric_events) also spend the incremental-export budget (default 10/min) and carry
`Zendesk-RateLimit-incremental-exports: total=10; remaining=9; resets=45`; the users cursor export
has its own bucket (default 20/min) and header `Zendesk-RateLimit-incremental-exports-cursor`, as
Zendesk documents for that endpoint. Talk's incremental calls export has its own 10/min bucket
(no specific header); the Chat API has 200/min. Over a limit: 429, `Retry-After: <seconds to window end>`, body
`{"error": "APIRateLimitExceeded", "description": "Number of allowed incremental export API
requests per minute exceeded"}` (or "...API requests per minute exceeded").

Endpoints
---------
GET /api/v2/incremental/tickets/cursor.json?start_time=<epoch>[&per_page=1..1000][&include=metric_sets][&exclude_deleted=true]
GET /api/v2/incremental/tickets/cursor.json?cursor=<after_cursor>[&per_page][&include]
    `{tickets, [metric_sets], after_cursor, after_url, before_cursor: null, before_url: null,
    end_of_stream}`. Ordered by (generated_timestamp, id); default and max per_page 1000.
    `after_cursor` is always set, also on the last page (end_of_stream true): keep it and poll
    later. Deleted tickets are included with `status: "deleted"` unless exclude_deleted=true.
    Tickets changed through the write endpoints move to the end of the stream with a new
    generated_timestamp (anchor + n seconds), as a real update would.
    `start_time` and `cursor` are mutually exclusive; one is required.
GET /api/v2/incremental/ticket_events.json?start_time=<epoch>[&include=comment_events][&per_page]
    Time-based: `{ticket_events, next_page, end_time, count, end_of_stream}`. One ticket event per
    ticket update (audit): `{id, ticket_id, timestamp, created_at, updater_id, via, system,
    merged_ticket_ids, event_type: "Audit", child_events: [...]}`. Child events:
      - Comment (with include=comment_events): `{id, via, type: "Comment", author_id, body,
        html_body, plain_body, public, attachments, audit_id, created_at, event_type: "Comment"}`;
        without the sideload only `{id, via, comment_present: true, comment_public, event_type}`.
        `public: false` = internal note.
      - Create / Change: `{id, via, event_type, "<field>": value, field_name, value,
        previous_value (Change only)}` for status, assignee_id, group_id, priority, type,
        subject, requester_id, tags (+ added_tags/removed_tags), satisfaction_score.
        Ids in values are strings (as Zendesk sends them).
      - SatisfactionRating: `{id, via, type, score: good|bad, assignee_id, body, event_type}`.
    Authors (`updater_id` / `author_id`): end-users, agents/admins, the bot (BOT_USER_ID
    361000000001: role "agent", tags ["bot"], user_fields.bot true, via.channel "answer_bot"), and
    the system (-1, via.channel "rule" or via id 8) for routing, CSAT offers and auto-close.
    `via.channel` is usually a string (web, email, api, chat, voice, twitter, facebook,
    instagram_dm, rule, answer_bot) and sometimes Zendesk's integer via id (0 web, 4 email,
    5 api, 8 rule, 29 chat, 30 twitter, 34 voice, 38 facebook) -- real exports mix both.
    Paging (Zendesk's time-based behaviour): a page holds up to per_page (default/max 1000)
    events ordered by (timestamp, id) and is then extended with every remaining event of the last
    page's second, so a second is never split (a page may exceed 1000). `end_time` = timestamp of
    the last event (start_time on an empty page); `next_page` = this URL with start_time=end_time
    and is never null. The next page starts at end_time INCLUSIVE, so the boundary second's events
    are served again: dedupe on id. `end_of_stream` is true when nothing follows the page; stop
    then (or when count < per_page). A second holding more than per_page events makes end_time
    equal to start_time: a client must not loop on a non-advancing end_time (Zendesk's known
    trap; the sandbox does not generate such a second for ticket events).
GET /api/v2/incremental/ticket_metric_events.json?start_time=<epoch>[&per_page]
    Time-based like ticket_events: `{ticket_metric_events, next_page, count, end_time,
    end_of_stream}`; `{id, ticket_id, metric, instance_id, type, time}` with type activate,
    pause, fulfill, apply_sla (+ `sla: {target (minutes), target_in_seconds, business_hours,
    policy: {id, title, description}}`), breach (+ `deleted: false`). Metrics: agent_work_time,
    requester_wait_time, resolution_time, reply_time. With `page[size]` (<= 100) it uses cursor
    pagination instead (`meta.has_more/after_cursor`, `links.next`, `page[after]`).
GET /api/v2/incremental/users/cursor.json?start_time=<epoch> | ?cursor=<after_cursor> [&per_page]
    Like the tickets cursor export: `{users, after_cursor, after_url, before_cursor, before_url,
    end_of_stream}`, ordered by (updated_at, id). Users: admins, agents (some inactive), the bot,
    end-users (the first up-to-1500 were bulk imported in the same second).
    `{id, name, email, role: end-user|agent|admin, active, default_group_id, created_at,
    updated_at, time_zone, iana_time_zone, tags, user_fields: {bot}, ...}`.
GET /api/v2/users.json[?role[]=agent&role[]=admin] -- list endpoint (both paginations, below);
    staff first, then end-users; links keep the role[] filter.
GET /api/v2/users/me.json (an admin), /api/v2/users/{id}.json, /api/v2/tickets/{id}.json
GET /api/v2/groups.json, /api/v2/group_memberships.json (and /api/v2/users.json)
    Cursor pagination with `page[size]` (1..100) and `page[after]`: `{groups|group_memberships,
    meta: {has_more, after_cursor, before_cursor}, links: {next, prev}}`. Without page[size]:
    offset pagination (`page`, `per_page` <= 100): `{..., next_page, previous_page, count}`.
GET /api/v2/satisfaction_ratings.json?start_time=&end_time=&score=&page[size]=&page[after]=
    Cursor pagination (page[size] default 100, max 100), ordered by (updated_at, id); start_time /
    end_time filter updated_at (inclusive / exclusive). score filter: offered, unoffered, good,
    bad, received (good+bad). `links.next` keeps the start_time/end_time/score params.
    Objects: `{id, url, assignee_id, group_id, requester_id, ticket_id, score, comment, reason,
    reason_id, created_at, updated_at}`.
GET /api/v2/channels/voice/stats/incremental/calls.json?start_time=<epoch>
    Talk: `{calls, next_page, count, end_time}`, ordered by updated_at, up to 1000 per page
    (`per_page` is a sandbox extension for small test pages),
    same-second extension as above. TRAP (real Zendesk): next_page is NEVER null, also on the
    last page and on empty pages; stop when count < page size (0 at the end) or when end_time
    stops advancing. Call objects follow Zendesk's incremental-calls item (agent_id, customer_id,
    ticket_id, direction, completion_status, wait_time, talk_time, hold_time, wrap_up_time,
    time_to_answer, duration, voicemail, exceeded_queue_wait_time, outside_business_hours, ...).
    completion_status: "completed" (answered), "abandoned_in_queue" / "abandoned_in_ivr"
    (abandoned), "voicemail" (missed: no agent took it; exceeded_queue_wait_time true).
    Abandoned/missed calls have no ticket_id and agent_id null.
GET /api/v2/chat/incremental/chats?start_time=<epoch>[&start_id=<id>][&limit=1..1000]&fields=chats(*)
    Chat: `{chats, next_page, count, end_time, end_id}` ordered by (update_timestamp, id). With
    start_id the page starts strictly after (start_time, start_id) -- no duplicates; next_page
    carries start_time=end_time&start_id=end_id and, like Talk, is never null: stop when
    count < limit. Chats: `{id, type: chat|offline_msg, timestamp, end_timestamp,
    update_timestamp, duration, missed, agent_ids (strings = Support user ids), agent_names,
    zendesk_ticket_id, visitor, session, response_time {first, avg, max}, count {visitor, agent,
    total}, rating, history, ...}`. Missed chats: missed true, no agent, no ticket. `fields` is
    accepted and ignored (objects are always complete).
GET /api/v2/business_hours/schedules.json -> `{schedules: [{id, name, time_zone, intervals:
    [{start_time, end_time}], created_at, updated_at}]}`; interval times are minutes since
    Sunday 00:00 local time. `time_zone` uses Zendesk's (Rails) names, e.g. "Eastern Time (US &
    Canada)", "London" -- map them to IANA names.
GET /api/v2/business_hours/schedules/{id}/holidays.json -> `{holidays: [{id, name, start_date,
    end_date}]}` (dates YYYY-MM-DD, inclusive, local to the schedule).
PUT /api/v2/tickets/{id}.json  body `{"ticket": {custom_fields, status, priority, type, tags,
    assignee_id, group_id, subject, comment: {body, public, author_id}}}` -> 200
    `{ticket, audit}`; recorded and applied: the ticket shows the change (ticket show and the
    tickets export, where it moves to the end with generated_timestamp = anchor + n), and the
    ticket_events export gains the audit (Comment / Change child events, updater = an admin,
    via "api") at that timestamp.
PUT /api/v2/tickets/update_many.json?ids=1,2 body `{"ticket": {...}}`, or body
    `{"tickets": [{id, ...}, ...]}` -> 200 `{job_status: {id, url, status: "queued", ...}}`;
    GET /api/v2/job_statuses/{id}.json -> `{job_status: {status: "completed", results: [...]}}`.
    Per-ticket failures are job results `{id, success: false, error, details}`, as Zendesk
    reports them: an unknown id (RecordNotFound), a closed ticket (RecordInvalid), or a ticket
    a test made refuse (`WriteLog.refuse[id] = n`: its next n bulk updates fail).
GET /api/v2/tickets/show_many.json?ids=1,2 and /api/v2/users/show_many.json?ids= (<= 100 ids)
    -> `{tickets|users: [...]}` with the writes applied; unknown ids are left out.
PUT /api/v2/users/update_many.json body `{"users": [{id, user_fields: {...}}]}` -> a job as
    above; the written user_fields show in user show / show_many (not in the users export).
POST /api/v2/tickets.json body `{"ticket": {subject, comment: {body, public}, external_id,
    tags}}` -> 201 `{ticket}` (ids from 900000001); GET /api/v2/tickets.json?external_id= lists
    them. Created tickets are recorded but not served by the exports (a sandbox gap).

Fault injection (SandboxServer(faults=sandbox.limits.Faults(...)); per path prefix with `paths`)
----------------------------------------------------------------------------------------------
Drawn from `random.Random(fault seed)` in request order: `error_rate` -> 500 (JSON), 502 (HTML
body), 503 (`Retry-After: 1`) or 429 (`Retry-After: 1`); `latency` seconds added;
`timeout_rate`/`timeout_seconds` -> the answer comes after the client's timeout; `truncate_rate`
-> full Content-Length, half the body, connection closed; `malformed_rate` -> 200 with a body that
is not JSON. Faults come after auth and rate limiting; control paths are never faulted.

Fidelity notes (what could not be checked against Zendesk's own documents)
--------------------------------------------------------------------------
* ticket_events child events: Zendesk's export names the changed field as a key ("status":
  "open"); the sandbox also adds field_name/value (the Ticket Audits spelling). Read either.
* Chat's next_page on the last page and Talk's page size (1000) follow the documents' wording
  ("use count to determine whether more items are available"), not recorded traffic.
* Same-second page extension is documented for time-based exports in general; the sandbox applies
  it to every time-based stream (ticket events, metric events, calls).
* 400/500 error bodies are plausible Zendesk shapes (`{"error", "description"}`), not recordings.

Sandbox control (no auth, never rate limited or faulted)
--------------------------------------------------------
GET /__sandbox/writes -> `{writes: [{method, path, query, body, ticket_ids, at}]}`;
DELETE /__sandbox/writes clears them (and the applied overrides);
GET /__sandbox/stats -> `{requests: {"GET /api/v2/...": {"200": n, "429": m}}, total}`;
DELETE /__sandbox/stats resets the counters. Stats keys use the path without query and without
`.json`, and with numeric ids replaced by `{id}`.

Known gaps: no organizations, brands, ticket forms, side conversations or messaging; business
minutes in metric_sets are null; writes add ticket events (after the anchor) but no metric events; time-based ticket and user exports (non-cursor) and the incremental
sample endpoint are not served; the "data of the last minute is withheld" rule is moot (all data
is older than the anchor).

Performance (measured at 100,000 tickets over HTTP, server CPU only, one core): tickets export
with metric_sets ~36,000 tickets/s, ticket events with comment_events ~140,000 events/s, metric
events ~275,000 events/s; walking every stream costs the sandbox ~0.17 ms CPU per ticket (~6,000
tickets/s if the sandbox were the only bottleneck). Run it as its own process
(sandbox.command.start_subprocess) for benchmarks. Memory does not grow with the account size: the
process peaked at ~50 MB serving 100,000 tickets; each time-ordered export being paged holds about
MAX_SPAN (12 days) of tickets' records (~10 MB at 100,000 tickets a year, ~10x at 1,000,000).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import urlencode

import orjson

from deskpulse.sandbox import render, streams
from deskpulse.sandbox.data import (
    SCHEDULE_BASE,
    Account,
    Audit,
    Child,
    Ticket,
    TicketRef,
    User,
    ts_iso,
)
from deskpulse.sandbox.streams import Peekable, Record, ResumeCache

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else None


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, obj: Any) -> Response:
        """obj as JSON; values that are JSONArray are written as they were serialised."""
        if isinstance(obj, dict) and any(isinstance(v, JSONArray) for v in obj.values()):
            pieces: list[bytes | memoryview] = []
            for key, value in obj.items():
                pieces += (b",", orjson.dumps(key), b":")
                if isinstance(value, JSONArray):
                    value.write_to(pieces)
                else:
                    pieces.append(orjson.dumps(value))
            pieces[0] = b"{"
            pieces.append(b"}")
            return cls(status, b"".join(pieces), [("Content-Type", JSON_TYPE)])
        return cls(status, orjson.dumps(obj), [("Content-Type", JSON_TYPE)])


_CHUNK = 100


class JSONArray:
    """A page's records, serialised to JSON _CHUNK at a time as they are added. A page renders
    megabytes of dicts; this way they are freed while still in the CPU cache, and before the
    cyclic GC has had to scan them (which otherwise costs ~15% of a ticket_events page).
    Response.json writes it as orjson.dumps(the list of the items) would."""

    def __init__(self) -> None:
        self._chunks: list[memoryview] = []  # each: the items of a chunk, without the brackets
        self._batch: list[Any] = []
        self.count = 0

    def append(self, item: Any) -> None:
        self._batch.append(item)
        self.count += 1
        if len(self._batch) >= _CHUNK:
            self._flush()

    def extend(self, items: list[Any]) -> None:
        """Add items (a chunk of them: see _CHUNK)."""
        self._flush()
        self._batch = items
        self.count += len(items)
        self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._chunks.append(memoryview(orjson.dumps(self._batch))[1:-1])
            self._batch = []

    def write_to(self, pieces: list[bytes | memoryview]) -> None:
        self._flush()
        pieces.append(b"[")
        for n, chunk in enumerate(self._chunks):
            if n:
                pieces.append(b",")
            pieces.append(chunk)
        pieces.append(b"]")

    def __len__(self) -> int:
        return self.count


class ApiError(Exception):
    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.payload: dict[str, Any] = {"error": error}
        if description is not None:
            self.payload["description"] = description


def _bad(description: str, error: str = "InvalidValue") -> ApiError:
    return ApiError(400, error, description)


def _int_arg(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        val = int(raw)
    except ValueError:
        raise _bad(f"{name} must be an integer") from None
    if not lo <= val <= hi:
        raise _bad(f"{name} must be between {lo} and {hi}", "InvalidPaginationParameter")
    return val


def _record_id(raw: Any) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise _bad(f"invalid id {raw!r}") from None


def _ids_arg(req: Request) -> list[int]:
    raw = [part for part in (req.arg("ids") or "").split(",") if part.strip()]
    if not raw or len(raw) > 100:
        raise _bad("ids: 1 to 100 comma-separated ids")
    return [_record_id(part) for part in raw]


def _b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


def _unb64(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad("invalid cursor", "InvalidPaginationParameter") from None


# ---- writes ------------------------------------------------------------------------------------


class WriteLog:
    """Recorded writes, and the field overrides they apply to served tickets."""

    def __init__(self, anchor_ts: int) -> None:
        self._lock = threading.Lock()
        self._anchor_ts = anchor_ts
        self.writes: list[dict[str, Any]] = []
        self.overrides: dict[int, dict[str, Any]] = {}
        self.tail: list[tuple[int, int]] = []  # (generated_ts, ticket id) of updated tickets
        self._seq = 0
        # job id -> [(record id, failure or None)]; a failure is (error, details).
        self.jobs: dict[str, list[tuple[int, tuple[str, str] | None]]] = {}
        self.user_fields: dict[int, dict[str, Any]] = {}  # user id -> written user_fields
        self.created: list[dict[str, Any]] = []  # tickets created through the API (posts)
        # Ticket id -> how many more bulk updates of it fail (tests' transient failures).
        self.refuse: dict[int, int] = {}
        # Ticket events produced by writes: records as streams.audits_of makes them.
        self.audits: list[Record] = []

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.writes.append(entry)

    def apply(self, ticket_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            ts = self._anchor_ts + self._seq
            ov = dict(self.overrides.get(ticket_id, {}))
            for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
                if key in changes:
                    ov[key] = changes[key]
            if "custom_fields" in changes:
                merged = {f["id"]: f for f in ov.get("custom_fields", [])}
                for f in changes["custom_fields"]:
                    merged[f["id"]] = {"id": f["id"], "value": f.get("value")}
                ov["custom_fields"] = list(merged.values())
            ov["_ts"] = ts
            self.overrides[ticket_id] = ov
            self.tail = [e for e in self.tail if e[1] != ticket_id]
            self.tail.append((ts, ticket_id))
            return ov

    def clear(self) -> None:
        with self._lock:
            self.writes.clear()
            self.overrides.clear()
            self.tail.clear()
            self.jobs.clear()
            self.audits.clear()
            self.user_fields.clear()
            self.created.clear()
            self.refuse.clear()

    def refused(self, ticket_id: int) -> bool:
        """Whether this update of `ticket_id` is to fail (and count it down)."""
        with self._lock:
            left = self.refuse.get(ticket_id, 0)
            if left > 0:
                self.refuse[ticket_id] = left - 1
            return left > 0

    def add_audit(self, ref: TicketRef, audit: Audit, seq: int) -> None:
        with self._lock:
            payload = (ref, audit.author_id, audit.via, audit.children, -seq)  # as audits_of
            self.audits.append((audit.ts, ref.id * 64 + 63, payload))

    def audits_from(self, start: int) -> list[Record]:
        with self._lock:
            return [rec for rec in self.audits if rec[0] >= start]


class _Deferred(Iterator[Record]):
    """Iterates what `fetch()` returns, calling it only when first needed (after the merge)."""

    def __init__(self, fetch: Callable[[], list[Record]]) -> None:
        self._fetch = fetch
        self._it: Iterator[Record] | None = None

    def __next__(self) -> Record:
        if self._it is None:
            self._it = iter(self._fetch())
        return next(self._it)


class _LazyUsers(Sequence[dict[str, Any]]):
    """Staff, then every end-user, rendered only when a page slices them."""

    def __init__(self, account: Account, staff: list[User], base: str) -> None:
        self._a = account
        self._staff = staff
        self._base = base

    def __len__(self) -> int:
        return len(self._staff) + self._a.n_end_users

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if i < len(self._staff):
            return render.user_json(self._staff[i], self._base)
        return render.user_json(self._a.user(len(self._a.staff) + i - len(self._staff)), self._base)


# ---- the API -----------------------------------------------------------------------------------

Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    stream: str
    handler_name: str
    bucket: str | None = None  # endpoint-specific rate-limit bucket


def _r(method: str, path: str, stream: str, handler: str, bucket: str | None = None) -> Route:
    rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{rx}$"), stream, handler, bucket)


ROUTES: tuple[Route, ...] = (
    _r(
        "GET",
        "/api/v2/incremental/tickets/cursor",
        "tickets",
        "tickets_cursor",
        "incremental-exports",
    ),
    _r(
        "GET",
        "/api/v2/incremental/ticket_events",
        "ticket_events",
        "ticket_events",
        "incremental-exports",
    ),
    _r(
        "GET",
        "/api/v2/incremental/ticket_metric_events",
        "ticket_metric_events",
        "metric_events",
        "incremental-exports",
    ),
    _r(
        "GET",
        "/api/v2/incremental/users/cursor",
        "users",
        "users_cursor",
        "incremental-exports-cursor",
    ),
    _r("GET", "/api/v2/users", "users", "users_list"),
    _r("PUT", "/api/v2/users/update_many", "writes", "users_update_many"),
    _r("GET", "/api/v2/users/show_many", "users", "users_show_many"),
    _r("GET", "/api/v2/users/me", "users", "user_me"),
    _r("GET", "/api/v2/users/{id}", "users", "user_show"),
    _r("GET", "/api/v2/groups", "groups", "groups"),
    _r("GET", "/api/v2/group_memberships", "group_memberships", "memberships"),
    _r("GET", "/api/v2/satisfaction_ratings", "satisfaction_ratings", "ratings"),
    _r(
        "GET",
        "/api/v2/channels/voice/stats/incremental/calls",
        "talk",
        "calls",
        "talk-incremental-exports",
    ),
    _r("GET", "/api/v2/chat/incremental/chats", "chat", "chats", "chat"),
    _r("GET", "/api/v2/business_hours/schedules", "business_hours", "schedules"),
    _r("GET", "/api/v2/business_hours/schedules/{id}/holidays", "business_hours", "holidays"),
    _r("PUT", "/api/v2/tickets/update_many", "writes", "update_many"),
    _r("GET", "/api/v2/tickets/show_many", "tickets", "tickets_show_many"),
    _r("GET", "/api/v2/tickets", "tickets", "tickets_by_external_id"),
    _r("POST", "/api/v2/tickets", "writes", "ticket_create"),
    _r("GET", "/api/v2/tickets/{id}", "tickets", "ticket_show"),
    _r("PUT", "/api/v2/tickets/{id}", "writes", "ticket_update"),
    _r("GET", "/api/v2/job_statuses/{id}", "writes", "job_status"),
)


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path_known). path_known is True when only the method is wrong."""
    if path.endswith(".json"):
        path = path[:-5]
    known = False
    for route in ROUTES:
        m = route.pattern.match(path)
        if m:
            if route.method == method:
                return route, m.groupdict(), True
            known = True
    return None, {}, known


class ZendeskAPI:
    """Serves one generated account. Thread-safe."""

    def __init__(self, account: Account, base_url: str, writes: WriteLog | None = None) -> None:
        self.account = account
        self.base_url = base_url
        self.writes = writes or WriteLog(account.anchor_ts)
        self._resume = ResumeCache(8)

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        handler: Callable[[Request, dict[str, str]], Response] = getattr(
            self, "h_" + route.handler_name
        )
        try:
            return handler(req, params)
        except ApiError as e:
            return Response.json(e.status, e.payload)

    def url(self, path: str, params: dict[str, Any]) -> str:
        return f"{self.base_url}{path}?{urlencode(params, doseq=True)}"

    # ---- tickets (cursor export) --------------------------------------------------------

    def _tickets_position(self, start_time: int) -> int:
        a = self.account
        j = a.first_ticket_at(start_time)
        if j < a.n_tickets:
            return j
        tail = self.writes.tail
        k = 0
        while k < len(tail) and tail[k][0] < start_time:
            k += 1
        return a.n_tickets + k

    def h_tickets_cursor(self, req: Request, _: dict[str, str]) -> Response:
        a = self.account
        per_page = _int_arg(req, "per_page", 1000, 1, 1000)
        include = set((req.arg("include") or "").split(","))
        exclude_deleted = (req.arg("exclude_deleted") or "").lower() == "true"
        cursor = req.arg("cursor")
        start = req.arg("start_time")
        if cursor:
            pos = self._decode_pos(cursor)
        elif start is not None:
            pos = self._tickets_position(_int_arg(req, "start_time", 0, 0, 2**40))
        else:
            raise _bad("start_time or cursor is required")
        tickets, metric_sets = JSONArray(), JSONArray()
        overrides = self.writes.overrides
        tail = list(self.writes.tail)
        end = a.n_tickets + len(tail)
        last_ts, last_id = 0, 0
        base, with_metric_sets = self.base_url, "metric_sets" in include
        while pos < end and len(tickets) < per_page:
            if pos < a.n_tickets:
                tid = pos + 1
                if tid in overrides:  # served from the tail instead
                    pos += 1
                    continue
                t = a.ticket(pos, story=False)  # the export shows no audits, no metric events
                d = render.ticket_json(t, base)
            else:
                _ts, tid = tail[pos - a.n_tickets]
                t = a.ticket(tid - 1, story=False)
                d = render.ticket_json(t, base, overrides.get(tid))
            pos += 1
            last_ts, last_id = d["generated_timestamp"], tid
            if exclude_deleted and d["status"] == "deleted":
                continue
            tickets.append(d)
            if with_metric_sets:
                metric_sets.append(render.metric_set_json(t, base))
        if last_id == 0 and cursor:
            token = cursor
        else:
            if last_id == 0:
                last_ts = int(req.arg("start_time") or 0)
            token = _b64(f"{last_ts}.0||{last_id}|{pos}")
        body: dict[str, Any] = {
            "tickets": tickets,
            "after_url": self.url("/api/v2/incremental/tickets/cursor.json", {"cursor": token}),
            "after_cursor": token,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": pos >= end,
        }
        if with_metric_sets:
            body["metric_sets"] = metric_sets
        return Response.json(200, body)

    @staticmethod
    def _decode_pos(token: str) -> int:
        raw = _unb64(token)
        try:
            return int(raw.rsplit("|", 1)[1])
        except (IndexError, ValueError):
            raise _bad("invalid cursor", "InvalidPaginationParameter") from None

    def h_ticket_show(self, _: Request, params: dict[str, str]) -> Response:
        t = self._ticket_or_404(params["id"])
        return Response.json(200, {"ticket": self._ticket_json(t)})

    def _ticket_or_404(self, raw_id: str) -> Ticket:
        try:
            tid = int(raw_id)
        except ValueError:
            raise ApiError(404, "RecordNotFound", "Not found") from None
        if not 1 <= tid <= self.account.n_tickets:
            raise ApiError(404, "RecordNotFound", "Not found")
        return self.account.ticket(tid - 1)

    def _ticket_json(self, t: Ticket) -> dict[str, Any]:
        return render.ticket_json(t, self.base_url, self.writes.overrides.get(t.id))

    # ---- users --------------------------------------------------------------------------

    def h_users_cursor(self, req: Request, _: dict[str, str]) -> Response:
        a = self.account
        per_page = _int_arg(req, "per_page", 1000, 1, 1000)
        cursor = req.arg("cursor")
        if cursor:
            pos = self._decode_pos(cursor)
        elif req.arg("start_time") is not None:
            pos = a.first_user_at(_int_arg(req, "start_time", 0, 0, 2**40))
        else:
            raise _bad("start_time or cursor is required")
        n = a.n_users
        users = JSONArray()
        last_ts = int(req.arg("start_time") or 0)
        last_id = 0
        stop = min(n, pos + per_page)
        base = self.base_url
        for k in range(pos, stop):
            u = a.user(k)
            users.append(render.user_json(u, base))
            last_ts, last_id = u.updated_ts, u.id
        token = cursor if (cursor and not users) else _b64(f"{last_ts}.0||{last_id}|{stop}")
        return Response.json(
            200,
            {
                "users": users,
                "after_url": self.url("/api/v2/incremental/users/cursor.json", {"cursor": token}),
                "after_cursor": token,
                "before_url": None,
                "before_cursor": None,
                "end_of_stream": stop >= n,
            },
        )

    def h_user_me(self, _: Request, __: dict[str, str]) -> Response:
        return Response.json(200, {"user": render.user_json(self.account.staff[1], self.base_url)})

    def h_user_show(self, _: Request, params: dict[str, str]) -> Response:
        try:
            k = self.account.user_index_by_id(int(params["id"]))
        except ValueError:
            k = None
        if k is None:
            raise ApiError(404, "RecordNotFound", "Not found")
        return Response.json(200, {"user": self._user_json(k)})

    # ---- groups, memberships (list endpoints with dual pagination) ----------------------

    def _list(
        self,
        req: Request,
        path: str,
        key: str,
        items: Sequence[dict[str, Any]],
        keep: dict[str, Any] | None = None,
    ) -> Response:
        """A list endpoint with both of Zendesk's paginations. `keep`: params links repeat."""
        keep = keep or {}
        size_raw = req.arg("page[size]")
        if size_raw is not None or req.arg("page[after]") is not None:
            size = _int_arg(req, "page[size]", 100, 1, 100)
            after = req.arg("page[after]")
            start = int(_unb64(after)) if after else 0
            page = items[start : start + size]
            has_more = start + size < len(items)
            after_cursor = _b64(str(start + len(page))) if page else None
            before_cursor = _b64(str(start)) if page else None
            return Response.json(
                200,
                {
                    key: page,
                    "meta": {
                        "has_more": has_more,
                        "after_cursor": after_cursor,
                        "before_cursor": before_cursor,
                    },
                    "links": {
                        "next": self.url(
                            path, {**keep, "page[after]": after_cursor, "page[size]": size}
                        )
                        if has_more
                        else None,
                        "prev": None,
                    },
                },
            )
        per_page = _int_arg(req, "per_page", 100, 1, 100)
        page_no = _int_arg(req, "page", 1, 1, 10_000)
        lo = (page_no - 1) * per_page
        chunk = items[lo : lo + per_page]
        return Response.json(
            200,
            {
                key: chunk,
                "next_page": self.url(path, {**keep, "page": page_no + 1, "per_page": per_page})
                if lo + per_page < len(items)
                else None,
                "previous_page": self.url(path, {**keep, "page": page_no - 1, "per_page": per_page})
                if page_no > 1
                else None,
                "count": len(items),
            },
        )

    def h_users_list(self, req: Request, _: dict[str, str]) -> Response:
        roles = [r for r in (req.query.get("role[]", []) + req.query.get("role", [])) if r]
        valid = {"end-user", "agent", "admin"}
        if any(r not in valid for r in roles):
            raise _bad("role must be end-user, agent or admin")
        a = self.account
        items: Sequence[dict[str, Any]]
        if roles and "end-user" not in roles:
            items = [render.user_json(u, self.base_url) for u in a.staff if u.role in roles]
        else:
            staff_roles = set(roles or valid)
            staff = [u for u in a.staff if u.role in staff_roles]
            items = _LazyUsers(a, staff, self.base_url)
        keep = {"role[]": roles} if roles else {}
        return self._list(req, "/api/v2/users.json", "users", items, keep)

    def h_groups(self, req: Request, _: dict[str, str]) -> Response:
        items = [render.group_json(g, self.base_url) for g in self.account.groups]
        return self._list(req, "/api/v2/groups.json", "groups", items)

    def h_memberships(self, req: Request, _: dict[str, str]) -> Response:
        items = [render.membership_json(m, self.base_url) for m in self.account.memberships]
        return self._list(req, "/api/v2/group_memberships.json", "group_memberships", items)

    # ---- time-based exports -------------------------------------------------------------

    def _time_iter(self, stream: str, extract: streams.Extractor, start: int) -> Peekable:
        it = self._resume.take((stream, start))
        if it is None:
            merged = streams.merged(self.account, extract, start)
            if stream == "ticket_events":  # writes come after every generated event
                merged = itertools.chain(merged, _Deferred(lambda: self.writes.audits_from(start)))
            it = Peekable(merged)
        return it

    def _time_export(
        self,
        req: Request,
        stream: str,
        extract: streams.Extractor,
        default_size: int = 1000,
    ) -> tuple[list[Record], int, bool]:
        """(records, end_time, end_of_stream) for one Zendesk time-based page."""
        raw = req.arg("start_time")
        if raw is None:
            raise _bad("start_time is required")
        start = _int_arg(req, "start_time", 0, 0, 2**40)
        per_page = _int_arg(req, "per_page", default_size, 1, default_size)
        it = self._time_iter(stream, extract, start)
        recs, eos = streams.time_page(it, per_page)
        end_time = recs[-1][0] if recs else start
        # The next page starts at end_time inclusive: hand it the boundary second again. An
        # exhausted iterator is not kept: a later poll must see writes made in between.
        if not eos:
            it.push_front(streams.last_second(recs))
            self._resume.put((stream, end_time), it)
        return recs, end_time, eos

    @staticmethod
    def _next_params(
        req: Request, end_time: int, keep: tuple[str, ...] = ("per_page",)
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"start_time": end_time}
        for name in keep:
            if req.arg(name):
                params[name] = req.arg(name)
        return params

    def h_ticket_events(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/incremental/ticket_events.json"
        recs, end_time, eos = self._time_export(req, "ticket_events", streams.audits_of)
        comments = "comment_events" in (req.arg("include") or "").split(",")
        events = JSONArray()
        for lo in range(0, len(recs), _CHUNK):
            events.extend(
                [
                    render.ticket_event_json(ref, ts, author, via, children, n, comments)
                    for ts, _, (ref, author, via, children, n) in recs[lo : lo + _CHUNK]
                ]
            )
        params = self._next_params(req, end_time, ("include", "per_page"))
        return Response.json(
            200,
            {
                "ticket_events": events,
                "next_page": self.url(path, params),
                "count": len(events),
                "end_time": end_time,
                "end_of_stream": eos,
            },
        )

    def h_metric_events(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/incremental/ticket_metric_events.json"
        if req.arg("page[size]") is not None or req.arg("page[after]") is not None:
            return self._cursor_stream(
                req,
                "ticket_metric_events",
                streams.metric_events_of,
                path,
                "ticket_metric_events",
                lambda rec: render.metric_event_json(*rec[2]),
            )
        recs, end_time, eos = self._time_export(
            req, "ticket_metric_events", streams.metric_events_of
        )
        events = [render.metric_event_json(ref, me, n) for _, _, (ref, me, n) in recs]
        return Response.json(
            200,
            {
                "ticket_metric_events": events,
                "next_page": self.url(path, self._next_params(req, end_time)),
                "count": len(events),
                "end_time": end_time,
                "end_of_stream": eos,
            },
        )

    def h_calls(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/channels/voice/stats/incremental/calls.json"
        recs, end_time, _eos = self._time_export(req, "calls", streams.calls_of)
        calls = [render.call_json(c) for _, _, c in recs]
        # Talk never returns a null next_page (see module docstring).
        return Response.json(
            200,
            {
                "calls": calls,
                "next_page": self.url(path, self._next_params(req, end_time)),
                "count": len(calls),
                "end_time": end_time,
            },
        )

    def h_chats(self, req: Request, _: dict[str, str]) -> Response:
        path = "/api/v2/chat/incremental/chats"
        if req.arg("start_time") is None:
            raise _bad("start_time is required")
        start = _int_arg(req, "start_time", 0, 0, 2**40)
        start_id = req.arg("start_id") or ""
        limit = _int_arg(req, "limit", 1000, 1, 1000)
        key = ("chats", start, start_id)
        it = self._resume.take(key)
        if it is None:
            it = Peekable(streams.merged(self.account, streams.chats_of, start))
            if start_id:
                for rec in it:
                    if (rec[0], rec[1]) > (start, start_id):
                        it.push_front([rec])
                        break
        recs, _more = streams.cursor_page(it, limit)
        end_time = recs[-1][0] if recs else start
        end_id = recs[-1][1] if recs else start_id
        self._resume.put(("chats", end_time, end_id), it)
        chats = [render.chat_json(c, self.account) for _, _, c in recs]
        params = {
            "fields": req.arg("fields") or "chats(*)",
            "limit": limit,
            "start_id": end_id,
            "start_time": end_time,
        }
        return Response.json(
            200,
            {
                "chats": chats,
                "next_page": self.url(path, params),
                "count": len(chats),
                "end_time": end_time,
                "end_id": end_id or None,
            },
        )

    # ---- satisfaction ratings (cursor pagination over a time-ordered stream) ------------

    def _cursor_stream(
        self,
        req: Request,
        stream: str,
        extract: streams.Extractor,
        path: str,
        key: str,
        to_json: Callable[[Record], dict[str, Any]],
        accept: Callable[[Record], bool] | None = None,
        extra_params: dict[str, Any] | None = None,
    ) -> Response:
        size = _int_arg(req, "page[size]", 100, 1, 100)
        after = req.arg("page[after]")
        start = _int_arg(req, "start_time", 0, 0, 2**40)
        end = _int_arg(req, "end_time", 2**40, 0, 2**40)
        filt = (extra_params or {}).get("score")
        cache_key: tuple[Any, ...]
        if after:
            raw = _unb64(after)
            try:
                ts_s, id_s = raw.split(":", 1)
                pos = (int(ts_s), int(id_s))
            except ValueError:
                raise _bad("invalid cursor", "InvalidPaginationParameter") from None
            cache_key = (stream, start, end, filt, pos)
            it = self._resume.take(cache_key)
            if it is None:
                it = Peekable(streams.merged(self.account, extract, pos[0]))
                for rec in it:
                    if (rec[0], rec[1]) > pos:
                        it.push_front([rec])
                        break
        else:
            it = Peekable(streams.merged(self.account, extract, start))

        def filtered() -> Iterator[Record]:
            for rec in it:
                if rec[0] >= end:
                    it.push_front([rec])
                    return
                if accept is None or accept(rec):
                    yield rec

        fit = Peekable(filtered())
        recs, has_more = streams.cursor_page(fit, size)
        # Put the peeked record back on the underlying iterator before caching it.
        if has_more:
            it.push_front([next(fit)])
        after_cursor = _b64(f"{recs[-1][0]}:{recs[-1][1]}") if recs else None
        if recs:
            self._resume.put((stream, start, end, filt, (recs[-1][0], recs[-1][1])), it)
        params: dict[str, Any] = {"page[after]": after_cursor, "page[size]": size}
        for name in ("start_time", "end_time"):
            if req.arg(name) is not None:
                params[name] = req.arg(name)
        params.update(extra_params or {})
        return Response.json(
            200,
            {
                key: [to_json(r) for r in recs],
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": _b64(f"{recs[0][0]}:{recs[0][1]}") if recs else None,
                },
                "links": {"next": self.url(path, params) if has_more else None, "prev": None},
            },
        )

    def h_ratings(self, req: Request, _: dict[str, str]) -> Response:
        score = req.arg("score")
        accept: Callable[[Record], bool] | None = None
        if score:
            wanted = {"received": {"good", "bad"}}.get(score, {score})
            valid = {"offered", "unoffered", "good", "bad", "received"}
            if score not in valid:
                raise _bad(f"invalid score {score}")

            def accept(rec: Record) -> bool:
                return rec[2][1].score in wanted

        return self._cursor_stream(
            req,
            "satisfaction_ratings",
            streams.ratings_of,
            "/api/v2/satisfaction_ratings.json",
            "satisfaction_ratings",
            lambda rec: render.rating_json(rec[2][0], rec[2][1], self.base_url),
            accept,
            {"score": score} if score else None,
        )

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
            raise ApiError(404, "RecordNotFound", "Not found")
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

    # ---- writes -------------------------------------------------------------------------

    def _parse_body(self, req: Request) -> dict[str, Any]:
        try:
            body = orjson.loads(req.body or b"{}")
        except orjson.JSONDecodeError:
            raise ApiError(400, "InvalidJSON", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidJSON", "The request body must be a JSON object")
        return body

    def _update(self, t: Ticket, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        before = self._ticket_json(t)
        ov = self.writes.apply(t.id, changes)
        after = render.ticket_json(t, self.base_url, ov)
        events: list[dict[str, Any]] = []
        audit_id = render.WRITE_AUDIT_BASE + ov["_ts"]
        comment = changes.get("comment")
        if isinstance(comment, dict):
            events.append(
                {
                    "id": audit_id * 10 + 1,
                    "type": "Comment",
                    "author_id": comment.get("author_id", self.account.staff[1].id),
                    "body": comment.get("body") or comment.get("html_body") or "",
                    "public": bool(comment.get("public", True)),
                    "attachments": [],
                    "audit_id": audit_id,
                }
            )
        for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if key in changes and before.get(key) != after.get(key):
                events.append(
                    {
                        "id": audit_id * 10 + len(events) + 1,
                        "type": "Change",
                        "field_name": key,
                        "value": after.get(key),
                        "previous_value": before.get(key),
                    }
                )
        for f in changes.get("custom_fields", []):
            events.append(
                {
                    "id": audit_id * 10 + len(events) + 1,
                    "type": "Change",
                    "field_name": str(f.get("id")),
                    "value": f.get("value"),
                    "previous_value": None,
                }
            )
        self._record_audit(t, changes, before, after, ov["_ts"])
        audit = {
            "id": audit_id,
            "ticket_id": t.id,
            "created_at": after["updated_at"],
            "author_id": self.account.staff[1].id,
            "metadata": {"system": {"client": "sandbox"}, "custom": {}},
            "events": events,
            "via": render.via_obj("api"),
        }
        return after, audit

    def _record_audit(
        self,
        t: Ticket,
        changes: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        ts: int,
    ) -> None:
        """The write as a ticket event, served by the ticket_events export after the anchor."""
        author = self.account.staff[1].id
        children: list[Child] = []
        comment = changes.get("comment")
        if isinstance(comment, dict):
            children.append(
                Child(
                    "Comment",
                    body=str(comment.get("body") or comment.get("html_body") or ""),
                    public=bool(comment.get("public", True)),
                    author_id=int(comment.get("author_id") or author),
                )
            )
        for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if key in changes and before.get(key) != after.get(key):
                value, prev = after.get(key), before.get(key)
                if key in ("assignee_id", "group_id"):
                    value = None if value is None else str(value)
                    prev = None if prev is None else str(prev)
                children.append(Child("Change", key, value, prev))
        for f in changes.get("custom_fields", []):
            if isinstance(f, dict):
                children.append(Child("Change", str(f.get("id")), f.get("value"), None))
        if children:
            ref = TicketRef(t.id, after.get("assignee_id"), after.get("group_id"), t.requester_id)
            self.writes.add_audit(ref, Audit(ts, author, "api", children), ts)

    def h_ticket_update(self, req: Request, params: dict[str, str]) -> Response:
        t = self._ticket_or_404(params["id"])
        body = self._parse_body(req)
        changes = body.get("ticket")
        if not isinstance(changes, dict):
            raise ApiError(400, "InvalidValue", "ticket is required")
        self.writes.record(self._write_entry(req, body, [t.id]))
        after, audit = self._update(t, changes)
        return Response.json(200, {"ticket": after, "audit": audit})

    def h_update_many(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        batch: list[tuple[int, dict[str, Any]]] = []
        if isinstance(body.get("tickets"), list):
            for item in body["tickets"]:
                if not isinstance(item, dict) or "id" not in item:
                    raise _bad("each ticket needs an id")
                batch.append((_record_id(item["id"]), item))
        elif isinstance(body.get("ticket"), dict) and req.arg("ids"):
            for raw in (req.arg("ids") or "").split(","):
                batch.append((_record_id(raw), body["ticket"]))
        else:
            raise _bad("expected {tickets: [...]} or ?ids= with {ticket: {...}}")
        if len(batch) > 100:
            raise _bad("update_many accepts at most 100 tickets")
        self.writes.record(self._write_entry(req, body, [tid for tid, _ in batch]))
        outcome: list[tuple[int, tuple[str, str] | None]] = []
        for tid, changes in batch:
            # Per-ticket failures are job results, as Zendesk reports them, not HTTP errors.
            if not 1 <= tid <= self.account.n_tickets:
                outcome.append((tid, ("RecordNotFound", "Ticket not found")))
                continue
            t = self._ticket_or_404(str(tid))
            if self._ticket_json(t)["status"] == "closed":
                outcome.append((tid, ("RecordInvalid", "Status: closed prevents ticket update")))
            elif self.writes.refused(tid):
                outcome.append((tid, ("TicketUpdateFailed", "Ticket could not be updated")))
            else:
                self._update(t, changes)
                outcome.append((tid, None))
        return self._queue_job(outcome)

    def _queue_job(self, outcome: list[tuple[int, tuple[str, str] | None]]) -> Response:
        job_id = _b64(f"job:{len(self.writes.writes)}").rstrip("=")
        self.writes.jobs[job_id] = outcome
        return Response.json(200, {"job_status": self._job(job_id, done=False)})

    def _job(self, job_id: str, done: bool) -> dict[str, Any]:
        outcome = self.writes.jobs[job_id]
        results: list[dict[str, Any]] = []
        for i, failure in outcome:
            if failure is None:
                results.append({"id": i, "action": "update", "success": True, "status": "Updated"})
            else:
                error, details = failure
                results.append(
                    {"id": i, "action": "update", "success": False, "error": error,
                     "details": details}
                )  # fmt: skip
        return {
            "id": job_id,
            "url": f"{self.base_url}/api/v2/job_statuses/{job_id}.json",
            "total": len(outcome),
            "progress": len(outcome) if done else 0,
            "status": "completed" if done else "queued",
            "message": "Completed at " + ts_iso(self.account.anchor_ts) if done else None,
            "results": results if done else None,
        }

    def h_job_status(self, _: Request, params: dict[str, str]) -> Response:
        if params["id"] not in self.writes.jobs:
            raise ApiError(404, "RecordNotFound", "Not found")
        return Response.json(200, {"job_status": self._job(params["id"], done=True)})

    def h_tickets_show_many(self, req: Request, _: dict[str, str]) -> Response:
        tickets = []
        for tid in _ids_arg(req):
            if 1 <= tid <= self.account.n_tickets:
                tickets.append(self._ticket_json(self._ticket_or_404(str(tid))))
        return Response.json(200, {"tickets": tickets})

    def h_tickets_by_external_id(self, req: Request, _: dict[str, str]) -> Response:
        # Only the external_id filter is served: the list of every ticket is the export's job.
        external_id = req.arg("external_id")
        if external_id is None:
            raise _bad("the sandbox lists tickets by external_id only")
        tickets = [t for t in self.writes.created if t.get("external_id") == external_id]
        return Response.json(200, {"tickets": tickets, "next_page": None, "previous_page": None,
                                   "count": len(tickets)})  # fmt: skip

    def h_ticket_create(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        ticket = body.get("ticket")
        if not isinstance(ticket, dict) or not isinstance(ticket.get("comment"), dict):
            raise ApiError(422, "RecordInvalid", "Description: cannot be blank")
        self.writes.record(self._write_entry(req, body, []))
        comment = ticket["comment"]
        created = {
            "id": render.CREATED_TICKET_BASE + len(self.writes.created) + 1,
            "url": None,
            "external_id": ticket.get("external_id"),
            "subject": ticket.get("subject"),
            "description": comment.get("body"),
            "status": "new",
            "tags": list(ticket.get("tags") or []),
            "requester_id": self.account.staff[1].id,
            "created_at": ts_iso(self.account.anchor_ts),
            "comment_public": bool(comment.get("public", True)),
        }
        created["url"] = f"{self.base_url}/api/v2/tickets/{created['id']}.json"
        self.writes.created.append(created)
        return Response.json(201, {"ticket": created})

    def h_users_update_many(self, req: Request, _: dict[str, str]) -> Response:
        body = self._parse_body(req)
        users = body.get("users")
        if not isinstance(users, list) or len(users) > 100:
            raise _bad("expected {users: [...]} with at most 100 users")
        self.writes.record(self._write_entry(req, body, []))
        outcome: list[tuple[int, tuple[str, str] | None]] = []
        for item in users:
            if not isinstance(item, dict) or "id" not in item:
                raise _bad("each user needs an id")
            uid = _record_id(item["id"])
            if self.account.user_index_by_id(uid) is None:
                outcome.append((uid, ("RecordNotFound", "User not found")))
                continue
            fields = item.get("user_fields")
            if isinstance(fields, dict):
                with self.writes._lock:
                    self.writes.user_fields.setdefault(uid, {}).update(fields)
            outcome.append((uid, None))
        return self._queue_job(outcome)

    def h_users_show_many(self, req: Request, _: dict[str, str]) -> Response:
        users = []
        for uid in _ids_arg(req):
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

    def _write_entry(self, req: Request, body: dict[str, Any], ids: list[int]) -> dict[str, Any]:
        return {
            "method": req.method,
            "path": req.path,
            "query": {k: v[-1] for k, v in req.query.items()},
            "body": body,
            "ticket_ids": ids,
            "seq": len(self.writes.writes) + 1,
        }
