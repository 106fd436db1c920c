"""The sandbox's dialect seam: one generated help desk, served in each vendor's shapes.

`sandbox.data.Account` is the vendor-neutral help desk (people, tickets, conversations, calls,
chats, ratings, SLA events). A *dialect* serves that one account the way one vendor's API does.
Each registered dialect (`sandbox.dialects.DIALECTS`, one line each) listens on its own loopback
port, like a separate vendor host, inside one `SandboxServer` sharing one Account.

The server runs the shared pipeline for every request (sandbox.server); a dialect says only what
is vendor-specific::

    /__sandbox/...  control paths (stats, writes, info, faults): the server's, never limited or
                    faulted
    match()         the route, or None: 404 (path unknown) / 405 (method), bodies from error()
    authenticate()  None to go on, or the vendor's 401 for missing or wrong credentials
    --forbid        route.stream in the forbidden set: 403, body from error(403)
    authorise()     None, or the answer to a route's own rule (e.g. an API that takes OAuth only)
    rate limits     budgets() per bucket and window; a request spends base_buckets + route.bucket;
                    optionally bursts() per bucket and second (a second window, both must
                    allow); rate_headers() go on every answer; too_many() is the 429 (server
                    adds Retry-After)
    faults          the server's Faults (latency, hangs, truncated or malformed bodies); an
                    injected 429/500/503 takes its body from error(status); 502 is a proxy's HTML
    handle()        the answer; writes go to `writes` (GET/DELETE /__sandbox/writes)
    env()           the `NAME=value` lines that point deskpulse at this host (`deskpulse sandbox`);
                    under a time scale the server adds `<NAME>_RATE_WINDOW=<seconds>` (the
                    connector's rate_window setting, named after the dialect)

A dialect class is constructed as `Factory(account, base_url, **options)`; options are its own
(credentials, switches) and have defaults, so a bare `SandboxServer()` serves every dialect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.wire import ApiError, Request, Response


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    stream: str  # what --forbid names (and stats group by path)
    handler_name: str
    bucket: str | None = None  # endpoint-specific rate-limit bucket
    path: str = ""  # the template, e.g. "/api/v2/tickets/{id}"
    params: tuple[str, ...] = ()  # the query parameters the handler reads (others are ignored)


def route(
    method: str,
    path: str,
    stream: str,
    handler: str,
    bucket: str | None = None,
    params: tuple[str, ...] = (),
) -> Route:
    """A route for `path` with `{name}` placeholders (one path segment each)."""
    rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^{rx}$"), stream, handler, bucket, path, params)


Match = tuple[Route | None, dict[str, str], bool]
"""(route, path params, path known): known is True when only the method is wrong (405)."""


def match_route(routes: Sequence[Route], method: str, path: str) -> Match:
    known = False
    for r in routes:
        m = r.pattern.match(path)
        if m:
            if r.method == method:
                return r, m.groupdict(), True
            known = True
    return None, {}, known


def dispatch(
    dialect: object,
    req: Request,
    route: Route,
    params: dict[str, str],
    answer: Callable[[int, Any], Response] = Response.json,
) -> Response:
    """A `handle()` for dialects whose handlers are methods `h_<handler>(req, params)`: the
    handler's answer, or `answer(status, payload)` for the ApiError it raises."""
    handler: Callable[[Request, dict[str, str]], Response] = getattr(
        dialect, "h_" + route.handler_name
    )
    try:
        return handler(req, params)
    except ApiError as e:
        return answer(e.status, e.payload)


@dataclass
class Received:
    """What a dialect's accepted writes did, told without its wire format (the demo prints it;
    only the dialect reads its own request bodies).

    `requests`: per request ("PUT /api/v2/tickets/update_many"), its calls, the records they
    wrote and how many values of each field ("ticket field 7"). `values`: per record kind
    ("ticket", "user"), each record's fields as written last. `notes`: the posts (title,
    reference, body)."""

    requests: dict[str, RequestCount] = field(default_factory=dict)
    values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, request: str, records: int, fields: Sequence[str]) -> None:
        """One call of `request` that wrote `records` records and these fields' values."""
        found = self.requests.setdefault(request, RequestCount())
        found.calls += 1
        found.records += records
        for name in fields:
            found.fields[name] = found.fields.get(name, 0) + 1


@dataclass
class RequestCount:
    calls: int = 0
    records: int = 0
    fields: dict[str, int] = field(default_factory=dict)


class WriteRecorder(Protocol):
    """What a dialect recorded of the writes it accepted (served at /__sandbox/writes)."""

    @property
    def writes(self) -> list[dict[str, Any]]: ...

    def clear(self) -> None: ...


def received(recorder: WriteRecorder) -> Received:
    """`recorder.received()` when the dialect tells its writes that way, else each recorded
    write counted as one call of its method and path."""
    tell = getattr(recorder, "received", None)
    if callable(tell):
        told: Received = tell()
        return told
    out = Received()
    for w in recorder.writes:
        out.count(f"{w.get('method', '?')} {w.get('path', '?')}", 1, ())
    return out


class Dialect(Protocol):
    """One vendor's API over the shared account (see the module docstring for the pipeline)."""

    @property
    def name(self) -> str:
        """The dialect's name ("zendesk"): its key in sandbox.dialects and in info."""
        ...

    @property
    def streams(self) -> frozenset[str]:
        """The stream names its routes use (what --forbid accepts)."""
        ...

    @property
    def base_buckets(self) -> tuple[str, ...]:
        """Budgets every request spends (e.g. an account-wide one)."""
        ...

    @property
    def writes(self) -> WriteRecorder: ...

    def match(self, method: str, path: str) -> Match: ...

    def authenticate(self, req: Request) -> Response | None: ...

    def authorise(self, req: Request, route: Route) -> Response | None: ...

    def error(self, status: int, description: str | None = None) -> Response:
        """The vendor's error answer for `status` (400, 403, 404, 405, 413, 429, 500, 503)."""
        ...

    def budgets(self) -> dict[str, int]:
        """Requests per rate-limit window, per bucket (the vendor's documented defaults)."""
        ...

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]: ...

    def too_many(self, usage: Usage) -> Response: ...

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response: ...

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        """Settings that point deskpulse at this host. `oauth`: add optional OAuth lines;
        `limited=False`: the sandbox enforces no limits (a dialect may tell deskpulse so)."""
        ...

    def auth_headers(self) -> dict[str, str]:
        """Headers a client with valid credentials sends (for tests and `SandboxServer.client`)."""
        ...


DialectFactory = Callable[..., Dialect]
"""`factory(account, base_url, **options)`: a dialect class."""


class BudgetSet(Protocol):
    """Rate limits for one dialect other than its defaults (e.g. sandbox.zendesk.RateLimits)."""

    @property
    def dialect(self) -> str: ...

    def budgets(self) -> dict[str, int]: ...
