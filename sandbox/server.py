"""The sandbox as a real HTTP server on loopback.

In tests (a background thread)::

    with SandboxServer(seed=7, tickets=200) as sb:
        client = httpx.Client(base_url=sb.base_url, auth=sb.basic_auth)
        client.get("/api/v2/incremental/tickets/cursor.json", params={"start_time": 0})

In the foreground: `SandboxServer(...).serve_forever()` (see sandbox.command). As a separate
process (demo, benchmark): `sandbox.command.start_subprocess(...)`.

Request pipeline: control paths (/__sandbox/...) -> route lookup (404/405) -> auth (401) ->
forbidden streams (403) -> rate limits (429) -> fault injection -> the Zendesk dialect
(sandbox.zendesk). Every response is counted in the stats.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from deskpulse.sandbox.data import DEFAULT_ANCHOR, Account
from deskpulse.sandbox.limits import Clock, FaultInjector, Faults, RateLimiter, RateLimits
from deskpulse.sandbox.zendesk import (
    JSON_TYPE,
    Request,
    Response,
    Route,
    WriteLog,
    ZendeskAPI,
    match_route,
)

DEFAULT_EMAIL = "agent@sandbox.test"
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_OAUTH = "sandbox-oauth-token"
DEFAULT_SUBDOMAIN = "sandbox"

_ID_RE = re.compile(r"/\d+(?=/|$)")
_FORBIDDEN = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner of "
    "this help desk for further help.",
}


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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256
    sandbox: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "deskpulse-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

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

    def _dispatch(self) -> None:
        sb = self.server.sandbox
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            resp, plan_truncate = sb.respond(req)
        except Exception:  # a sandbox bug must look like a 500, not a dropped connection
            traceback.print_exc()
            resp = Response.json(500, {"error": "InternalError", "description": "sandbox bug"})
            plan_truncate = False
        self._send(resp, truncate=plan_truncate)
        if not req.path.startswith("/__sandbox/"):
            sb.stats.add(req.method, req.path, resp.status, len(resp.body))

    def _send(self, resp: Response, truncate: bool = False) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(resp.body)


class SandboxServer:
    """A Zendesk sandbox on loopback. Port 0 picks a free port; see `base_url`.

    Parameters mirror `deskpulse sandbox`: `seed`, `tickets` (100 .. 1,000,000 is the supported
    range), `anchor` (the account's "now"; data covers `days` before it), credentials,
    `rate_limit` (True: Zendesk's real limits, False: none, or a RateLimits), `forbid` (stream
    names answered with 403, e.g. ("talk", "chat")), `faults` (sandbox.limits.Faults), `clock`
    (seconds; drives the rate-limit windows, injectable for tests), `chat_basic_auth` (accept
    API-token auth on the Chat API too; real Zendesk does not: OAuth only).
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
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_TOKEN,
        oauth_token: str = DEFAULT_OAUTH,
        subdomain: str = DEFAULT_SUBDOMAIN,
        rate_limit: bool | RateLimits = True,
        forbid: Iterable[str] = (),
        faults: Faults | None = None,
        clock: Clock = time.time,
        chat_basic_auth: bool = False,
    ) -> None:
        self.account = Account(seed=seed, tickets=tickets, anchor=anchor, days=days)
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.subdomain = subdomain
        self.forbid = frozenset(forbid)
        self.chat_basic_auth = chat_basic_auth
        if rate_limit is True:
            rate_limit = RateLimits()
        self.limiter = RateLimiter(rate_limit, clock) if rate_limit else None
        self.faults = FaultInjector(faults) if faults else None
        self.stats = _Stats()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sandbox = self
        h, p = self._httpd.server_address[:2]
        self.host = str(h)
        self.port = int(p)
        self.base_url = f"http://{self.host}:{self.port}"
        self.writes = WriteLog(self.account.anchor_ts)
        self.api = ZendeskAPI(self.account, self.base_url, self.writes)
        self._basic = "Basic " + base64.b64encode(f"{email}/token:{api_token}".encode()).decode()
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

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

    @property
    def basic_auth(self) -> tuple[str, str]:
        """httpx `auth=` tuple: Zendesk API-token basic auth."""
        return (f"{self.email}/token", self.api_token)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client already pointed at the sandbox with valid credentials."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=self.base_url, auth=self.basic_auth, **kwargs)

    def env(self, oauth: bool = False) -> dict[str, str]:
        """The settings that point deskpulse at this sandbox.

        `oauth=True` adds ZENDESK_OAUTH_TOKEN: the Chat API accepts OAuth only, so a sync that
        should include chats needs it (deskpulse then uses the token for every request).
        """
        env = {
            "ZENDESK_BASE_URL": self.base_url,
            "ZENDESK_SUBDOMAIN": self.subdomain,
            "ZENDESK_EMAIL": self.email,
            "ZENDESK_API_TOKEN": self.api_token,
        }
        if oauth:
            env["ZENDESK_OAUTH_TOKEN"] = self.oauth_token
        return env

    # ---- the pipeline ---------------------------------------------------------------------

    def _bearer(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() == self.oauth_token

    def _authorised(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth == self._basic:
            return True
        if auth.startswith("Bearer ") and auth[7:].strip() == self.oauth_token:
            return True
        if auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode()
            except ValueError:
                return False
            return raw == f"{self.email}/token:{self.api_token}"
        return False

    def respond(self, req: Request) -> tuple[Response, bool]:
        """(response, truncate the body). Runs in a handler thread."""
        if req.path.startswith("/__sandbox/"):
            return self._control(req), False
        route, params, known = match_route(req.method, req.path)
        early = self._early_answer(req, route, known)
        if early is not None:
            # Rejected before any work: reported budgets, nothing spent.
            if self.limiter is not None:
                early.headers += self.limiter.check(route.bucket if route else None, False).headers
            return early, False
        assert route is not None
        rate_headers: list[tuple[str, str]] = []
        if self.limiter is not None:
            verdict = self.limiter.check(route.bucket)
            rate_headers = verdict.headers
            if not verdict.allowed:
                resp = Response.json(
                    429, {"error": "APIRateLimitExceeded", "description": verdict.message}
                )
                resp.headers += [*rate_headers, ("Retry-After", str(verdict.retry_after))]
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
                resp = self.api.handle(req, route, params)
                resp.body = resp.body[: max(1, len(resp.body) // 3)] + b"<html>oops"
                resp.headers += rate_headers
                return resp, False
        resp = self.api.handle(req, route, params)
        resp.headers += rate_headers
        return resp, truncate

    def _early_answer(self, req: Request, route: Route | None, known: bool) -> Response | None:
        """404/405 for unknown paths and methods, 401 for bad credentials, 403 for forbidden
        streams; None when the request may proceed."""
        if route is None:
            if known:
                return Response.json(
                    405, {"error": "MethodNotAllowed", "description": "Method not allowed"}
                )
            return Response.json(404, {"error": "InvalidEndpoint", "description": "Not found"})
        if not self._authorised(req.headers):
            resp = Response.json(401, {"error": "Couldn't authenticate you"})
            resp.headers.append(("WWW-Authenticate", 'Basic realm="Web Password"'))
            return resp
        if route.stream in self.forbid:
            return Response.json(403, _FORBIDDEN)
        if route.stream == "chat" and not self.chat_basic_auth and not self._bearer(req.headers):
            # The Chat API takes OAuth access tokens only; Zendesk API tokens get a 401.
            return Response.json(
                401, {"error": "invalid_token", "error_description": "The access token is invalid"}
            )
        return None

    @staticmethod
    def _fault_response(status: int) -> Response:
        if status == 429:
            resp = Response.json(
                429, {"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"}
            )
            resp.headers.append(("Retry-After", "1"))
            return resp
        if status == 503:
            resp = Response.json(
                503, {"error": "ServiceUnavailable", "description": "Please try again later"}
            )
            resp.headers.append(("Retry-After", "1"))
            return resp
        if status == 502:
            return Response(
                502, b"<html><body>502 Bad Gateway</body></html>", [("Content-Type", "text/html")]
            )
        return Response.json(500, {"error": "InternalError", "description": "Something broke"})

    def _control(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path == "/__sandbox/writes":
            if req.method == "GET":
                return Response.json(200, {"writes": list(self.writes.writes)})
            if req.method == "DELETE":
                self.writes.clear()
                return Response(204, b"", [("Content-Type", JSON_TYPE)])
        if path == "/__sandbox/stats":
            if req.method == "GET":
                return Response.json(200, self.stats.snapshot())
            if req.method == "DELETE":
                self.stats.clear()
                return Response(204, b"", [("Content-Type", JSON_TYPE)])
        if path == "/__sandbox/info" and req.method == "GET":
            a = self.account
            return Response.json(
                200,
                {
                    "seed": a.seed,
                    "tickets": a.n_tickets,
                    "users": a.n_users,
                    "anchor": a.anchor.isoformat(),
                    "start_time": a.start_ts,
                    "end_time": a.anchor_ts,
                    "env": self.env(),
                },
            )
        return Response.json(404, {"error": "InvalidEndpoint", "description": "Not found"})
