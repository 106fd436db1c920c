"""The dialect seam: a vendor dialect is one class and one line in DIALECTS; the server gives
it its own port on the shared account and runs the shared pipeline (auth, 403, 429, faults,
stats, writes) in the dialect's shapes."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from deskpulse.sandbox import Faults, SandboxServer, command, dialects
from deskpulse.sandbox.data import Account
from deskpulse.sandbox.dialect import Match, Route, match_route, route
from deskpulse.sandbox.limits import Usage
from deskpulse.sandbox.wire import Request, Response
from tests.sandbox.conftest import FakeClock

ROUTES = (
    route("GET", "/v9/tickets/{id}", "tickets", "ticket", "tickets"),
    route("POST", "/v9/notes", "notes", "note"),
)


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.writes.clear()


class EchoDialect:
    """A made-up vendor: `X-Key` auth, `{"errors": [...]}` bodies, a 2-per-window tickets
    budget reported in `X-Left`."""

    name = "echo"
    streams = frozenset(r.stream for r in ROUTES)
    base_buckets = ("all",)

    def __init__(self, account: Account, base_url: str, *, key: str = "k1") -> None:
        self.account, self.base_url, self.key = account, base_url, key
        self.writes = _Recorder()

    def match(self, method: str, path: str) -> Match:
        return match_route(ROUTES, method, path)

    def authenticate(self, req: Request) -> Response | None:
        if req.headers.get("x-key") != self.key:
            return self.error(401, "bad key")
        return None

    def authorise(self, req: Request, route: Route) -> Response | None:
        return None

    def error(self, status: int, description: str | None = None) -> Response:
        return Response.json(status, {"errors": [{"status": status, "detail": description}]})

    def budgets(self) -> dict[str, int]:
        return {"all": 100, "tickets": 2}

    def rate_headers(self, usage: Usage, route: Route | None) -> list[tuple[str, str]]:
        bucket = route.bucket if route and route.bucket else "all"
        return [("X-Left", str(usage.remaining.get(bucket, "")))]

    def too_many(self, usage: Usage) -> Response:
        return self.error(429, f"slow down: {','.join(usage.over)}")

    def handle(self, req: Request, route: Route, params: dict[str, str]) -> Response:
        if route.handler_name == "note":
            self.writes.writes.append({"body": req.body.decode()})
            return Response.json(201, {"ok": True})
        t = self.account.ticket(int(params["id"]) - 1, story=False)
        return Response.json(200, {"ticket": {"id": t.id, "subject": t.subject}})

    def env(self, *, oauth: bool = False, limited: bool = True) -> dict[str, str]:
        return {"ECHO_URL": self.base_url, "ECHO_KEY": self.key}

    def auth_headers(self) -> dict[str, str]:
        return {"X-Key": self.key}


@pytest.fixture
def with_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dialects.DIALECTS, "echo", EchoDialect)


def test_each_dialect_has_its_own_host_on_one_account(with_echo: None) -> None:
    with SandboxServer(seed=4, tickets=60, rate_limit=False) as sb:
        zendesk, echo = sb.host_of("zendesk"), sb.host_of("echo")
        assert zendesk.port != echo.port and sb.base_url == zendesk.base_url
        with sb.client() as zc, sb.client("echo") as ec:
            z = zc.get("/api/v2/tickets/7.json").json()["ticket"]
            e = ec.get("/v9/tickets/7").json()["ticket"]
            assert e == {"id": 7, "subject": z["subject"]}  # one account, two shapes
            assert ec.get("/api/v2/tickets/7.json").status_code == 404  # not Zendesk's host
            assert ec.post("/v9/notes", content=b"hi").status_code == 201
            assert ec.get("/__sandbox/writes").json() == {"writes": [{"body": "hi"}]}
            assert zc.get("/__sandbox/writes").json() == {"writes": []}
            assert ec.get("/__sandbox/stats").json()["total"] == 3
        env = sb.env()
        assert list(env)[:1] == ["ZENDESK_BASE_URL"] and env["ECHO_URL"] == echo.base_url


def test_pipeline_answers_in_the_dialects_shapes(with_echo: None) -> None:
    clock = FakeClock()
    with (
        SandboxServer(seed=4, tickets=60, clock=clock, forbid=("notes",)) as sb,
        httpx.Client(base_url=sb.host_of("echo").base_url) as anon,
        sb.client("echo") as ec,
    ):
        r = anon.get("/v9/tickets/1")
        assert r.status_code == 401 and r.json() == {
            "errors": [{"status": 401, "detail": "bad key"}]
        }
        assert ec.get("/v9/nothing").json()["errors"][0]["status"] == 404
        assert ec.delete("/v9/notes").status_code == 405
        assert ec.post("/v9/notes").json()["errors"][0]["status"] == 403
        assert [ec.get("/v9/tickets/1").headers["X-Left"] for _ in range(2)] == ["1", "0"]
        r = ec.get("/v9/tickets/1")
        assert r.status_code == 429 and r.json()["errors"][0]["detail"] == "slow down: tickets"
        assert r.headers["Retry-After"] == str(60 - int(clock.now) % 60)


def test_faults_take_the_dialects_error_shape(with_echo: None) -> None:
    faults = Faults(error_rate=1.0, seed=1)
    with (
        SandboxServer(seed=4, tickets=60, rate_limit=False, faults=faults) as sb,
        sb.client("echo") as ec,
    ):
        seen = {ec.get("/v9/tickets/1").status_code for _ in range(30)}
        assert seen == {429, 500, 502, 503}
        r = next(r for r in (ec.get("/v9/tickets/1") for _ in range(30)) if r.status_code == 500)
        assert r.json() == {"errors": [{"status": 500, "detail": None}]}


def test_run_sandbox_prints_every_dialects_lines(with_echo: None) -> None:
    out = io.StringIO()
    server = SandboxServer(seed=4, tickets=60, rate_limit=False)
    try:
        command.print_env(server, oauth=False, out=out)
    finally:
        server.stop()
    lines = out.getvalue().split("\n")
    assert lines[0].startswith("ZENDESK_BASE_URL=http://127.0.0.1:")
    assert "ECHO_KEY=k1" in lines and lines[-2:] == ["", ""]  # ends with an empty line


def test_unknown_dialect_or_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sandbox dialect"):
        SandboxServer(tickets=50, dialects=("nope",))
    with pytest.raises(ValueError, match="unknown stream tickts"):
        SandboxServer(tickets=50, forbid=("tickts",))
