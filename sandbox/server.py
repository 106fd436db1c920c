"""The sandbox as real HTTP servers on loopback: one account, one port per dialect.

In tests (background threads)::

    with SandboxServer(seed=7, tickets=200) as sb:
        client = sb.client()  # the first dialect's (Zendesk's) host, with valid credentials
        client.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 0})

In the foreground: `SandboxServer(...).serve_forever()` (see sandbox.command). As a separate
process (demo, benchmark): `sandbox.command.start_subprocess(...)`.

Every registered dialect (sandbox.dialects) gets its own port, like a separate vendor host, and
they all serve the same generated Account. The request pipeline is shared (sandbox.dialect draws
it): control paths (/__sandbox/...) -> route lookup (404/405) -> auth (401) -> forbidden streams
(403) -> route-specific auth rules -> rate limits (429) -> fault injection -> the dialect's handler. Every response is counted
in that host's stats. Faults switched on at run time (`POST /__sandbox/faults`, sandbox.switches)
come in that pipeline too: `down` before the route lookup, `retry_after` in the rate limits'
place, `write_timeout` after the handler (the write applied, its answer held).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from deskpulse.sandbox import webhooks
from deskpulse.sandbox.data import DEFAULT_ANCHOR, Account
from deskpulse.sandbox.dialect import BudgetSet, Dialect, DialectFactory, Route
from deskpulse.sandbox.dialects import DIALECTS
from deskpulse.sandbox.limits import Clock, FaultInjector, Faults, RateLimiter, SandboxConfigError
from deskpulse.sandbox.switches import SwitchError, Switches
from deskpulse.sandbox.webhooks import Outbox
from deskpulse.sandbox.wire import JSON_TYPE, Request, Response

_ID_RE = re.compile(r"/\d+(?=/|$)")
MAX_BODY = 10 * 1024 * 1024
"""Largest request body read (bytes); a larger Content-Length is answered 413 unread."""


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(dict)
        self.bytes_sent = 0

    def add(self, method: str, path: str, status: int, nbytes: int) -> None:
        if path.endswith(".json"):
            path = path[:-5]
        key = f"{method} {_ID_RE.sub('/{id}', path)}"
        with self._lock:
            per = self._counts[key]
            per[str(status)] = per.get(str(status), 0) + 1
            self.bytes_sent += nbytes

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = {k: dict(v) for k, v in sorted(self._counts.items())}
            total = sum(sum(v.values()) for v in requests.values())
            by_status: dict[str, int] = defaultdict(int)
            for v in requests.values():
                for status, n in v.items():
                    by_status[status] += n
            return {
                "requests": requests,
                "total": total,
                "by_status": dict(by_status),
                "bytes_sent": self.bytes_sent,
            }

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self.bytes_sent = 0


class _Drop(Exception):
    """Close the connection without an answer (a switched-on `down`)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    host: Host

    @property
    def idle_timeout(self) -> float:
        return self.host.sandbox.idle_timeout

    def route(self, path: str) -> tuple[Host, str] | None:
        """The host that answers `path`, and the path it sees (sandbox.accounts mounts many
        accounts' hosts under path prefixes of one server)."""
        return self.host, path

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer (a benchmark or a test ending, a killed sync) is
        # the client's business: no traceback on the sandbox's stderr for it.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "deskpulse-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        # A socket timeout: a client that connects and goes quiet (no request, half a body)
        # is dropped after idle_timeout instead of holding a thread forever.
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        routed = self.server.route(parts.path)
        if routed is None:
            self.close_connection = True
            self._send(Response.json(404, {"error": "no such account"}), close=True)
            return
        host, path = routed
        parts = parts._replace(path=path)
        raw_length = self.headers.get("Content-Length") or "0"
        length = int(raw_length) if raw_length.strip().isdigit() else -1
        if length < 0 or length > MAX_BODY:
            # The body is left unread, so the connection cannot carry another request.
            resp = (
                host.dialect.error(400, "Content-Length must be a whole number of bytes")
                if length < 0
                else host.dialect.error(413, f"The request body is over {MAX_BODY} bytes")
            )
            self.close_connection = True
            self._send(resp, close=True)
            host.stats.add(self.command, parts.path, resp.status, len(resp.body))
            return
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            resp, plan_truncate = host.respond(req)
        except _Drop:
            self.close_connection = True
            return
        except Exception:  # a sandbox bug must look like a 500, not a dropped connection
            traceback.print_exc()
            resp = host.dialect.error(500, "sandbox bug")
            plan_truncate = False
        self._send(resp, truncate=plan_truncate)
        if not req.path.startswith("/__sandbox/"):
            host.stats.add(req.method, req.path, resp.status, len(resp.body))

    def _send(self, resp: Response, truncate: bool = False, close: bool = False) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        if truncate or close:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(resp.body)


class Host:
    """One dialect on its own port: its HTTP server, budgets, faults and stats."""

    def __init__(
        self,
        sandbox: SandboxServer,
        factory: DialectFactory,
        address: tuple[str, int] | str,
        options: Mapping[str, Any],
        budgets: dict[str, int] | None,
        clock: Clock,
        faults: Faults | None,
        window: float = 60.0,
    ) -> None:
        self.sandbox = sandbox
        self.httpd: _HTTPServer | None = None
        if isinstance(address, str):  # mounted under this URL by another server (accounts)
            self.base_url = address.rstrip("/")
            self.port = urlsplit(self.base_url).port or 80
        else:
            self.httpd = _HTTPServer(address, _Handler)
            self.httpd.host = self
            h, p = self.httpd.server_address[:2]
            self.port = int(p)
            self.base_url = f"http://{h!s}:{self.port}"
        self.dialect: Dialect = factory(sandbox.account, self.base_url, **options)
        self.window = window  # seconds of the vendor's minute (60 / time scale)
        if budgets is None:
            budgets = self.dialect.budgets()
        # A dialect may add per-bucket burst budgets (a second window, a second long at time
        # scale 1, shortened with the minute), e.g. Klaviyo's per-second limits.
        bursts: dict[str, int] = getattr(self.dialect, "bursts", dict)() if budgets else {}
        self.limiter = (
            RateLimiter(budgets, clock, window, bursts=bursts, burst_window=window / 60.0)
            if budgets
            else None
        )
        self.faults = FaultInjector(faults) if faults else None
        # The dialect's own switches when it has some (it reads job_never_ends itself).
        self.switches: Switches = getattr(self.dialect, "switches", None) or Switches()
        self.stats = _Stats()
        self.thread: threading.Thread | None = None
        # Outgoing webhooks (sandbox.webhooks); a dialect with its own webhook API takes it.
        self.outbox = Outbox(getattr(self.dialect, "sign_webhook", None) or webhooks.sign_token)
        attach = getattr(self.dialect, "attach_outbox", None)
        if attach is not None:
            attach(self.outbox)

    def respond(self, req: Request) -> tuple[Response, bool]:
        """(response, truncate the body). Runs in a handler thread."""
        if req.path.startswith("/__sandbox/"):
            return self._control(req), False
        dialect = self.dialect
        switches = self.switches
        down = switches.take("down", req.path, req.method)
        if down is True:
            raise _Drop
        if down is not None:
            return self._fault_response(int(down)), False
        route, params, known = dialect.match(req.method, req.path)
        early = self._early_answer(req, route, known)
        if early is not None:
            # Rejected before any work: reported budgets, nothing spent.
            if self.limiter is not None:
                usage = self.limiter.check(self._buckets(route), spend=False)
                early.headers += dialect.rate_headers(usage, route)
            return early, False
        assert route is not None
        retry_after = switches.take("retry_after", req.path, req.method)
        if retry_after is not None:
            resp = dialect.error(429, f"Throttled: retry after {retry_after} seconds")
            resp.headers.append(("Retry-After", f"{retry_after:g}"))
            return resp, False
        rate_headers: list[tuple[str, str]] = []
        if self.limiter is not None:
            usage = self.limiter.check(self._buckets(route))
            rate_headers = dialect.rate_headers(usage, route)
            if not usage.allowed:
                resp = dialect.too_many(usage)
                resp.headers += [*rate_headers, ("Retry-After", usage.reset_text)]
                return resp, False
        truncate = False
        if self.faults is not None:
            plan = self.faults.plan(req.path)
            if plan.sleep:
                time.sleep(plan.sleep)
            if plan.status is not None:
                resp = self._fault_response(plan.status)
                resp.headers += rate_headers
                return resp, False
            truncate = plan.truncate
            if plan.malformed:
                resp = dialect.handle(req, route, params)
                resp.body = resp.body[: max(1, len(resp.body) // 3)] + b"<html>oops"
                resp.headers += rate_headers
                return resp, False
        resp = dialect.handle(req, route, params)
        resp.headers += rate_headers
        hold = switches.take("write_timeout", req.path, req.method)
        if hold is not None:
            time.sleep(hold)  # applied; the client has given up before the answer comes
        return resp, truncate

    def _buckets(self, route: Route | None) -> tuple[str, ...]:
        base = self.dialect.base_buckets
        return base if route is None or route.bucket is None else (*base, route.bucket)

    def _early_answer(self, req: Request, route: Route | None, known: bool) -> Response | None:
        """404/405 for unknown paths and methods, 401 for bad credentials, 403 for forbidden
        streams; None when the request may proceed."""
        if route is None:
            return self.dialect.error(405 if known else 404)
        denied = self.dialect.authenticate(req)
        if denied is None and route.stream in self.sandbox.forbid:
            denied = self.dialect.error(403)
        return denied or self.dialect.authorise(req, route)

    def _fault_response(self, status: int) -> Response:
        if status == 502:  # from a proxy in front of the vendor: HTML, whatever the vendor
            return Response(
                502, b"<html><body>502 Bad Gateway</body></html>", [("Content-Type", "text/html")]
            )
        resp = self.dialect.error(status)
        if status in (429, 503):
            resp.headers.append(("Retry-After", "1"))
        return resp

    def _control(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        hooked = webhooks.control(self.outbox, req.method, path, req.body)
        if hooked is not None:
            return Response.json(*hooked)
        activity = getattr(self.dialect, "activity", None)
        if path == "/__sandbox/activity" and req.method == "POST" and activity is not None:
            count = json.loads(req.body or b"{}").get("count", 1)
            return Response.json(200, {"tickets": activity(int(count))})
        if path == "/__sandbox/writes":
            if req.method == "GET":
                return Response.json(200, {"writes": list(self.dialect.writes.writes)})
            if req.method == "DELETE":
                self.dialect.writes.clear()
                return Response(204, b"", [("Content-Type", JSON_TYPE)])
        if path == "/__sandbox/stats":
            if req.method == "GET":
                return Response.json(200, self.stats.snapshot())
            if req.method == "DELETE":
                self.stats.clear()
                return Response(204, b"", [("Content-Type", JSON_TYPE)])
        if path == "/__sandbox/faults":
            if req.method == "GET":
                return Response.json(200, self.switches.snapshot())
            if req.method == "POST":
                try:
                    self.switches.apply(json.loads(req.body or b"null"))
                except (ValueError, SwitchError) as exc:
                    return Response.json(400, {"error": "InvalidFaults", "description": str(exc)})
                return Response.json(200, self.switches.snapshot())
            if req.method == "DELETE":
                self.switches.clear()
                return Response(204, b"", [("Content-Type", JSON_TYPE)])
        if path == "/__sandbox/info" and req.method == "GET":
            a = self.sandbox.account
            return Response.json(
                200,
                {
                    "seed": a.seed,
                    "tickets": a.n_tickets,
                    "users": a.n_users,
                    "anchor": a.anchor.isoformat(),
                    "start_time": a.start_ts,
                    "end_time": a.anchor_ts,
                    "dialect": self.dialect.name,
                    "budgets": self.limiter.budgets if self.limiter else None,
                    "window_seconds": self.limiter.window if self.limiter else None,
                    "env": self.sandbox.env(),
                },
            )
        return Response.json(404, {"error": "InvalidEndpoint", "description": "Not found"})


class SandboxServer:
    """The sandbox on loopback: one generated account, each dialect on its own port.

    Parameters mirror `deskpulse sandbox`: `seed`, `tickets` (100 .. 1,000,000 is the supported
    range), `anchor` (the account's "now"; data covers `days` before it), `port` (the first
    dialect's; the others take the next ones; 0 picks free ports), `rate_limit` (True: each
    vendor's real limits, False: none, or a BudgetSet such as sandbox.zendesk.RateLimits for
    its dialect), `forbid` (stream names answered with 403, e.g. ("talk", "chat")), `faults`
    (sandbox.limits.Faults, per host), `clock` (seconds; drives the rate-limit windows,
    injectable for tests), `dialects` (names to serve; default every registered one), `options`
    (per dialect name, keyword options for its constructor, e.g.
    `{"zendesk": {"chat_basic_auth": True}}`), `mount` (a URL: the hosts open no port, another
    server answers for them under `mount/<dialect>`, see sandbox.accounts), `time_scale` (K: every rate-limit window is K times shorter, so an hour of budget passes in
    60/K minutes; 1 to 60), `idle_timeout` (seconds a connection may stay
    quiet, also mid-request, before it is closed; 75 like nginx's keep-alive default).

    `base_url`, `stats`, `client()` are the first dialect's; `dialect(name)` and
    `host_of(name)` give any one's (a dialect's own attributes, e.g. its credentials, are read
    from `dialect(name)`, never guessed from the first).
    """

    def __init__(
        self,
        seed: int = 1,
        tickets: int = 1000,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        anchor: datetime = DEFAULT_ANCHOR,
        days: int = 365,
        rate_limit: bool | BudgetSet = True,
        forbid: Iterable[str] = (),
        faults: Faults | None = None,
        clock: Clock = time.time,
        dialects: Iterable[str] | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        idle_timeout: float = 75.0,
        time_scale: float = 1.0,
        mount: str | None = None,
    ) -> None:
        if not 1 <= time_scale <= 60:
            raise SandboxConfigError("the time scale is 1 (real time) to 60 (a minute a second)")
        names = list(DIALECTS) if dialects is None else list(dialects)
        unknown = [n for n in names if n not in DIALECTS]
        if unknown or not names:
            raise SandboxConfigError(
                f"unknown sandbox dialect {unknown} (known: {', '.join(DIALECTS)})"
            )
        self.idle_timeout = idle_timeout
        self.account = Account(seed=seed, tickets=tickets, anchor=anchor, days=days)
        self.forbid = frozenset(forbid)
        self.rate_limited = rate_limit is not False
        self.hosts: dict[str, Host] = {}
        options = options or {}
        for k, name in enumerate(names):
            budgets: dict[str, int] | None = {}
            if rate_limit is True or (rate_limit and rate_limit.dialect != name):
                budgets = None  # the dialect's defaults
            elif rate_limit:
                budgets = rate_limit.budgets()
            self.hosts[name] = Host(
                self,
                DIALECTS[name],
                f"{mount}/{name}" if mount else (host, port + k if port else 0),
                options.get(name, {}),
                budgets,
                clock,
                faults,
                60.0 / time_scale,
            )
        known = frozenset().union(*(h.dialect.streams for h in self.hosts.values()))
        if self.forbid - known:
            self.stop()
            raise SandboxConfigError(
                f"unknown stream {', '.join(sorted(self.forbid - known))} "
                f"(known: {', '.join(sorted(known))})"
            )
        first = next(iter(self.hosts.values()))
        self.host = host
        self.port = first.port
        self.base_url = first.base_url
        self.stats = first.stats

    def dialect(self, name: str | None = None) -> Dialect:
        """The named dialect (default: the first registered)."""
        return self.host_of(name).dialect

    def host_of(self, name: str | None = None) -> Host:
        return self.hosts[name] if name else next(iter(self.hosts.values()))

    # ---- lifecycle ------------------------------------------------------------------------

    def _served(self) -> list[tuple[Host, _HTTPServer]]:
        """The hosts with their own server (none when mounted under another's: accounts)."""
        return [(h, h.httpd) for h in self.hosts.values() if h.httpd is not None]

    def start(self) -> SandboxServer:
        """Serve in daemon threads; returns self."""
        for h, httpd in self._served():
            if h.thread is None:
                h.thread = threading.Thread(
                    target=httpd.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"sandbox-{h.port}",
                    daemon=True,
                )
                h.thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the other hosts in threads)."""
        (_, first), *others = self._served()
        for h, httpd in others:
            h.thread = threading.Thread(
                target=httpd.serve_forever, name=f"sandbox-{h.port}", daemon=True
            )
            h.thread.start()
        try:
            first.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        for h in self.hosts.values():
            h.outbox.stop()
        for h, httpd in self._served():
            if h.thread is not None:
                httpd.shutdown()
                h.thread.join(timeout=5)
                h.thread = None
            httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- conveniences for tests and the CLI -----------------------------------------------

    def client(self, dialect: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client pointed at a dialect's host (default the first) with valid
        credentials."""
        h = self.host_of(dialect)
        kwargs.setdefault("timeout", 10.0)
        headers = {**h.dialect.auth_headers(), **kwargs.pop("headers", {})}
        return httpx.Client(base_url=h.base_url, headers=headers, **kwargs)

    def env(self, oauth: bool = False) -> dict[str, str]:
        """The settings that point deskpulse at this sandbox: every dialect's, in order.
        `oauth=True` adds optional OAuth lines (Zendesk: ZENDESK_OAUTH_TOKEN, which the Chat API
        needs)."""
        env: dict[str, str] = {}
        for h in self.hosts.values():
            env.update(h.dialect.env(oauth=oauth, limited=self.rate_limited))
            if self.rate_limited and h.window != 60.0:
                # Under a time scale: the window every connector paces in (its `rate_window`
                # setting, `<VENDOR>_RATE_WINDOW`), so a sync spends its budget at this pace.
                env[f"{h.dialect.name.upper()}_RATE_WINDOW"] = f"{h.window:g}"
        return env
