"""Acme's API in deskpulse's sandbox, and Acme's conformance profile: what a plugin brings
besides its connector, through entry points (pyproject.toml) as the connector comes.

* `AcmeDialect` (group `deskpulse.sandbox`): the sandbox's generated help desk served the way
  Acme's ticket API answers (see the package docstring), on a loopback port of its own, next to
  the built-in vendors. `deskpulse sandbox` then prints the ACME_* lines too.
* `conformance` (group `deskpulse.conformance`): starts that dialect and yields the environment
  pointing deskpulse at it; deskpulse's conformance suite syncs the plugin with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deskpulse.sandbox.data import Account, ts_iso
from deskpulse.sandbox.dialect import Match, Route, match_route, route
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.wire import Request, Response

PAGE = 50
KEY = "acme-sandbox-key"
STATES = {"new": "open", "open": "open", "pending": "waiting", "hold": "waiting"}
"""The generated tickets' statuses in Acme's words (solved and closed are `done`)."""
CHANNELS = {"voice": "phone", "instagram_dm": "instagram"}
ROUTES = (route("GET", "/api/tickets", "tickets", "tickets"),)


class _Writes:
    """Acme's API is read-only: nothing is ever written."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.writes.clear()


class AcmeDialect:
    """Acme's ticket API over the shared account (deskpulse.sandbox.dialect.Dialect)."""

    name = "acme"
    streams = frozenset({"tickets"})
    base_buckets = ("key",)

    def __init__(self, account: Account, base_url: str, *, api_key: str = KEY) -> None:
        self.account = account
        self.base_url = base_url
        self.api_key = api_key
        self.writes = _Writes()

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path)

    def authenticate(self, req: Request) -> Response | None:
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error(401)
        return None

    def authorise(self, req: Request, route: Route) -> Response | None:
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        return Response.json(status, {"error": description or f"status {status}"})

    def budgets(self) -> dict[str, int]:
        return {"key": 600}

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        return []

    def too_many(self, usage: Usage) -> Response:
        return self.error(429, "slow down")

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        raw = req.arg("after") or "0"
        if not raw.isdigit():
            return self.error(400, "after: not a token")
        start = int(raw)
        end = min(start + PAGE, self.account.n_tickets)
        tickets = [self._ticket(i) for i in range(start, end)]
        body = {"tickets": tickets, "after": str(end), "end": end >= self.account.n_tickets}
        return Response(200, json.dumps(body).encode(), [("Content-Type", "application/json")])

    def _ticket(self, i: int) -> dict[str, Any]:
        t = self.account.ticket(i, custom_fields=False, story=False)
        done = t.status in ("solved", "closed")
        return {
            "id": t.id,
            "created": ts_iso(t.created_ts),
            "state": "done" if done else STATES.get(t.status, "open"),
            "channel": CHANNELS.get(t.channel, t.channel),
            "subject": t.subject,
            "done_at": ts_iso(t.solved_ts) if done and t.solved_ts else None,
        }

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        return {"ACME_BASE_URL": self.base_url, "ACME_API_KEY": self.api_key}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@contextmanager
def conformance(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Acme's conformance profile: its dialect alone, without limits."""
    from deskpulse.sandbox.server import SandboxServer

    with SandboxServer(seed=3, tickets=120, rate_limit=False, dialects=["acme"]) as sandbox:
        yield sandbox.dialect("acme").env(limited=False)
