"""The daemon's webhook receivers: verified hints in, nothing else.

Off by default. A source's receiver is on when its `<PREFIX>WEBHOOK_SECRET` is set (e.g.
ACME_WEBHOOK_SECRET for a source `acme`, ACME_EU_WEBHOOK_SECRET for `acme_eu`); it listens on
`<PREFIX>WEBHOOK_LISTEN` (default 127.0.0.1:8787: loopback, for a reverse proxy on the same
machine to forward to; sources on one address share one server) at `<PREFIX>WEBHOOK_PATH`
(default `/webhooks/<source>`). Its safety-net poll runs every `<PREFIX>WEBHOOK_POLL` seconds
(default 900) unless DESKPULSE_SYNC_INTERVALS names the source.

What every request goes through, in this order, before anything is done:

1. `POST` on a configured path (else 405 / 404), a body of at most MAX_BODY bytes (else 413,
   unread: waitress refuses a longer body before the app sees it, and a Content-Length over the
   cap is answered without reading).
2. The vendor's verifier (connectors.webhooks.Verifier, from the connector class's
   `webhook_verifier`): signature or token compared in constant time. Unsigned, wrongly signed
   or wrong token: 401. Signed but unreadable (no ticket id): 400.
3. The replay window: a signed time more than REPLAY_WINDOW seconds from now: 401.
4. Duplicates: a delivery id (the vendor's, else the body's digest) seen within the window is
   answered 200 and dropped (a vendor's retry after a lost answer, or a replay).
5. The hint goes to `sink(source, ticket_ids)` (sync.hints debounces it): 202.

Refusals are logged as one WARNING line with the source, the reason and the peer address;
never a header, the body, a signature or the secret.

Slow clients: the server is waitress, which reads requests asynchronously and hands a worker
thread only a complete request, so a slowloris holds sockets, not threads; an idle connection
is closed after CHANNEL_TIMEOUT seconds, and at most CONNECTION_LIMIT are open at once. The
metrics endpoint is a different server, and the syncs never wait on the receiver.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from waitress.server import create_server

from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.webhooks import Malformed, Request, Unverified, Verifier
from deskpulse.sync.sources import load_source_settings

log = logging.getLogger("deskpulse.webhooks")

MAX_BODY = 64 * 1024
"""Bytes a delivery may have: a hint is a few hundred; a vendor that batches events, tens of KB."""
REPLAY_WINDOW = 300.0
"""Seconds a signed time may be from now (either way: clocks drift); older is a replay."""
CHANNEL_TIMEOUT = 10
"""Seconds a connection may be idle (mid-request too) before it is closed."""
CONNECTION_LIMIT = 100
DEFAULT_LISTEN = "127.0.0.1:8787"
DEFAULT_POLL = 900.0

Sink = Callable[[str, Sequence[str]], None]
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class WebhookSettings(BaseSettings):
    """One source's receiver, under its prefix + `WEBHOOK_` (e.g. ACME_WEBHOOK_SECRET)."""

    model_config = SettingsConfigDict(extra="ignore")

    secret: SecretStr | None = None
    listen: str = DEFAULT_LISTEN
    path: str | None = None
    poll: float = Field(DEFAULT_POLL, ge=1)


@dataclass(frozen=True)
class Route:
    source: str
    path: str
    host: str
    port: int
    verifier: Verifier
    poll: float

    def __repr__(self) -> str:  # the verifier holds the secret; its repr does not show it
        return f"Route({self.source!r}, {self.host}:{self.port}{self.path})"


def parse_listen(text: str, var: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"invalid setting {var}: {text!r} (expected host:port, e.g. 127.0.0.1:8787)"
        )
    return host, int(port)


def route_for(source: str, prefix: str, factory: Any, env_file: Any = None) -> Route | None:
    """The source's receiver from its settings, or None when it has no webhook secret."""
    settings = load_source_settings(WebhookSettings, f"{prefix}WEBHOOK_", env_file)
    assert isinstance(settings, WebhookSettings)
    if settings.secret is None or not settings.secret.get_secret_value():
        return None
    make = getattr(factory, "webhook_verifier", None)
    if make is None:
        raise ConfigError(f"{prefix}WEBHOOK_SECRET is set, but {source} cannot receive webhooks")
    host, port = parse_listen(settings.listen, f"{prefix}WEBHOOK_LISTEN")
    path = settings.path or f"/webhooks/{source}"
    if not path.startswith("/"):
        raise ConfigError(f"invalid setting {prefix}WEBHOOK_PATH: {path!r} (must start with /)")
    verifier: Verifier = make(settings.secret.get_secret_value())
    return Route(source, path, host, port, verifier, settings.poll)


class Seen:
    """Delivery ids seen within the replay window (bounded: only verified ids get in)."""

    def __init__(self, window: float = REPLAY_WINDOW, size: int = 100_000) -> None:
        self.window, self.size = window, size
        self._ids: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, source: str, delivery: str, now: float) -> bool:
        """True the first time (source, delivery) comes within the window."""
        with self._lock:
            while self._ids and (
                len(self._ids) >= self.size or next(iter(self._ids.values())) < now - self.window
            ):
                self._ids.popitem(last=False)
            key = (source, delivery)
            if key in self._ids:
                return False
            self._ids[key] = now
            return True


class Receiver:
    """The WSGI app: routes by path to a source's verifier, then the sink (see the module)."""

    def __init__(
        self,
        routes: Iterable[Route],
        sink: Sink,
        *,
        clock: Callable[[], float] = time.time,
        window: float = REPLAY_WINDOW,
    ) -> None:
        self.routes = {r.path: r for r in routes}
        self.sink = sink
        self.clock = clock
        self.window = window
        self.seen = Seen(window)
        self.counts: dict[tuple[str, str], int] = {}
        self._count_lock = threading.Lock()
        self.on_count: Callable[[str, str], None] | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        status, answer = self._answer(environ)
        body = json.dumps(answer).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _count(self, source: str, outcome: str) -> None:
        with self._count_lock:
            self.counts[(source, outcome)] = self.counts.get((source, outcome), 0) + 1
        if self.on_count is not None:
            self.on_count(source, outcome)

    def _answer(self, environ: Environ) -> tuple[str, dict[str, Any]]:
        route = self.routes.get(environ.get("PATH_INFO") or "")
        if route is None:
            return "404 Not Found", {"error": "not found"}
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed", {"error": "POST only"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._refused(route, environ, "body too large or unreadable length", "too_large")
            return "413 Content Too Large", {"error": "body too large"}
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        query = dict(parse_qsl(environ.get("QUERY_STRING") or ""))
        try:
            hint = route.verifier.verify(Request(headers, query, body))
        except Unverified as exc:
            self._refused(route, environ, str(exc), "unauthorized")
            return "401 Unauthorized", {"error": "unauthorized"}
        except Malformed as exc:
            self._refused(route, environ, str(exc), "malformed")
            return "400 Bad Request", {"error": str(exc)}
        now = self.clock()
        if hint.sent_at is not None:
            age = now - hint.sent_at.timestamp()
            if abs(age) > self.window:
                self._refused(route, environ, f"signed {age:.0f} s ago (stale)", "stale")
                return "401 Unauthorized", {"error": "unauthorized"}
        if hint.delivery is not None and not self.seen.first(route.source, hint.delivery, now):
            self._count(route.source, "duplicate")
            return "200 OK", {"status": "already received"}
        self._count(route.source, "accepted")
        self.sink(route.source, hint.ticket_ids)
        return "202 Accepted", {"status": "accepted"}

    def _refused(self, route: Route, environ: Environ, reason: str, outcome: str) -> None:
        self._count(route.source, outcome)
        log.warning(
            "%s: webhook refused from %s: %s",
            route.source, environ.get("REMOTE_ADDR", "?"), reason,
        )  # fmt: skip


class ReceiverServers:
    """One waitress server per distinct listen address, each in its own thread."""

    def __init__(
        self, receiver: Receiver, routes: Sequence[Route], *, idle: int = CHANNEL_TIMEOUT
    ) -> None:
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []
        addresses = sorted({(r.host, r.port) for r in routes})
        try:
            for host, port in addresses:
                server = create_server(
                    receiver, host=host, port=port, threads=2,
                    channel_timeout=idle, cleanup_interval=1,
                    connection_limit=CONNECTION_LIMIT, max_request_body_size=MAX_BODY,
                    max_request_header_size=16 * 1024, ident="deskpulse",
                    expose_tracebacks=False, asyncore_loop_timeout=0.2,
                )  # fmt: skip
                self._servers.append(server)
        except OSError as exc:
            self.stop()
            raise ConfigError(
                f"cannot receive webhooks on {host}:{port}: {exc.strerror or exc}: set the "
                "source's <PREFIX>WEBHOOK_LISTEN to a free address of this machine"
            ) from None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(str(s.effective_host), int(s.effective_port)) for s in self._servers]

    def start(self) -> ReceiverServers:
        for server in self._servers:
            thread = threading.Thread(
                target=server.run, daemon=True, name=f"deskpulse-webhooks-{server.effective_port}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            channels = server._map  # closed in the server's own loop (its trigger)
            server.trigger.pull_trigger(lambda m=channels: [c.close() for c in list(m.values())])
            server.task_dispatcher.shutdown(timeout=2)
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []


__all__ = [
    "MAX_BODY",
    "REPLAY_WINDOW",
    "Receiver",
    "ReceiverServers",
    "Route",
    "WebhookSettings",
    "route_for",
]
