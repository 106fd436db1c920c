"""Auth, errors, rate limits, faults, writes and stats over real HTTP."""

from __future__ import annotations

import base64
import socket
import struct
import time

import httpx
import pytest

from deskpulse.sandbox import Faults, SandboxConfigError, SandboxServer
from deskpulse.sandbox.zendesk import RateLimits
from tests.sandbox.conftest import FakeClock

EVENTS = "/api/v2/incremental/ticket_events.json"
TICKETS = "/api/v2/incremental/tickets/cursor.json"


def test_auth_required(sb: SandboxServer) -> None:
    with httpx.Client(base_url=sb.base_url) as anon:
        r = anon.get("/api/v2/groups.json")
        assert r.status_code == 401
        assert r.json() == {"error": "Couldn't authenticate you"}
        wrong = anon.get("/api/v2/groups.json", auth=(f"{sb.env()['ZENDESK_EMAIL']}/token", "nope"))
        assert wrong.status_code == 401
        bearer = anon.get(
            "/api/v2/groups.json",
            headers={"Authorization": f"Bearer {sb.env(oauth=True)['ZENDESK_OAUTH_TOKEN']}"},
        )
        assert bearer.status_code == 200
        raw = base64.b64encode(
            f"{sb.env()['ZENDESK_EMAIL']}/token:{sb.env()['ZENDESK_API_TOKEN']}".encode()
        ).decode()
        basic = anon.get("/api/v2/groups.json", headers={"Authorization": f"Basic {raw}"})
        assert basic.status_code == 200


def test_unknown_path_and_record(client: httpx.Client) -> None:
    r = client.get("/api/v2/nothing_here.json")
    assert r.status_code == 404 and r.json()["error"] == "InvalidEndpoint"
    r = client.get("/api/v2/tickets/999999.json")
    assert r.status_code == 404 and r.json()["error"] == "RecordNotFound"
    assert client.delete("/api/v2/groups.json").status_code == 405
    assert client.get("/api/v2/tickets/3.json").json()["ticket"]["id"] == 3
    assert client.get("/api/v2/users/me.json").json()["user"]["role"] == "admin"


def test_forbidden_streams() -> None:
    with (
        SandboxServer(seed=1, tickets=100, rate_limit=False, forbid=("talk", "chat")) as sb,
        sb.client() as c,
    ):
        calls = c.get("/api/v2/channels/voice/stats/incremental/calls.json?start_time=0")
        assert calls.status_code == 403 and calls.json()["error"] == "Forbidden"
        assert c.get("/api/v2/chat/incremental/chats?start_time=0").status_code == 403
        assert c.get(TICKETS, params={"start_time": 0}).status_code == 200


def test_rate_limit_headers_and_429() -> None:
    clock = FakeClock(1_800_000_000.0)  # a minute boundary
    limits = RateLimits(account=12, incremental_exports=3)
    with SandboxServer(seed=1, tickets=100, rate_limit=limits, clock=clock) as sb, sb.client() as c:
        clock.now += 15
        r = c.get("/api/v2/groups.json")
        assert r.headers["X-Rate-Limit"] == "12"
        assert r.headers["X-Rate-Limit-Remaining"] == "11"
        assert r.headers["ratelimit-limit"] == "12"
        assert r.headers["ratelimit-remaining"] == "11"
        assert r.headers["ratelimit-reset"] == "45"
        assert "Zendesk-RateLimit-incremental-exports" not in r.headers
        for n in range(3):
            r = c.get(EVENTS, params={"start_time": 0})
            assert r.status_code == 200
            assert r.headers["Zendesk-RateLimit-incremental-exports"] == (
                f"total=3; remaining={2 - n}; resets=45"
            )
        r = c.get(EVENTS, params={"start_time": 0})
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "45"
        assert r.json()["error"] == "APIRateLimitExceeded"
        assert "incremental export" in r.json()["description"]
        # Other endpoints still have account budget left.
        assert c.get("/api/v2/groups.json").status_code == 200
        # The next window resets the budget.
        clock.now += 45
        assert c.get(EVENTS, params={"start_time": 0}).status_code == 200
        for _ in range(11):
            c.get("/api/v2/groups.json")
        r = c.get("/api/v2/groups.json")
        assert r.status_code == 429 and r.headers["X-Rate-Limit-Remaining"] == "0"
        stats = c.get("/__sandbox/stats").json()
        assert stats["by_status"]["429"] == 2
        # Every answer carries the headers, even a 404 or a 401 (which spend nothing).
        missing = c.get("/api/v2/nope.json")
        assert missing.status_code == 404 and missing.headers["X-Rate-Limit-Remaining"] == "0"


def test_rate_limit_off_has_no_limit_headers(client: httpx.Client) -> None:
    r = client.get("/api/v2/groups.json")
    assert r.status_code == 200 and "X-Rate-Limit" not in r.headers


def _statuses(faults: Faults, n: int = 40) -> list[int]:
    with (
        SandboxServer(seed=1, tickets=100, rate_limit=False, faults=faults) as sb,
        sb.client() as c,
    ):
        return [c.get("/api/v2/groups.json").status_code for _ in range(n)]


def test_error_injection_is_deterministic() -> None:
    faults = Faults(error_rate=0.5, seed=42)
    first = _statuses(faults)
    assert first == _statuses(faults)
    assert {500, 502, 503, 429} & set(first) and 200 in first
    assert first != _statuses(Faults(error_rate=0.5, seed=43))


def test_error_responses_carry_retry_after() -> None:
    with (
        SandboxServer(seed=1, tickets=50, rate_limit=False, faults=Faults(error_rate=1.0)) as sb,
        sb.client() as c,
    ):
        seen = {}
        for _ in range(30):
            r = c.get("/api/v2/groups.json")
            seen[r.status_code] = r
        assert set(seen) <= {500, 502, 503, 429}
        for status in (429, 503):
            if status in seen:
                assert seen[status].headers["Retry-After"] == "1"
        # Control endpoints are never faulted.
        assert c.get("/__sandbox/stats").status_code == 200


def test_faults_can_target_a_path_prefix() -> None:
    faults = Faults(error_rate=1.0, paths=("/api/v2/incremental/",))
    with SandboxServer(seed=1, tickets=50, rate_limit=False, faults=faults) as sb, sb.client() as c:
        assert c.get("/api/v2/groups.json").status_code == 200
        assert c.get(EVENTS, params={"start_time": 0}).status_code >= 429


def test_truncated_and_malformed_bodies() -> None:
    with (
        SandboxServer(seed=1, tickets=50, rate_limit=False, faults=Faults(truncate_rate=1.0)) as sb,
        sb.client() as c,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        c.get(TICKETS, params={"start_time": 0})
    with (
        SandboxServer(
            seed=1, tickets=50, rate_limit=False, faults=Faults(malformed_rate=1.0)
        ) as sb,
        sb.client() as c,
    ):
        r = c.get(TICKETS, params={"start_time": 0})
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()


def test_latency_and_timeouts() -> None:
    faults = Faults(timeout_rate=1.0, timeout_seconds=0.6)
    with (
        SandboxServer(seed=1, tickets=50, rate_limit=False, faults=faults) as sb,
        sb.client(timeout=0.2) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        c.get("/api/v2/groups.json")
    with (
        SandboxServer(seed=1, tickets=50, rate_limit=False, faults=Faults(latency=0.15)) as sb,
        sb.client() as c,
    ):
        r = c.get("/api/v2/groups.json")
        assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.15


def test_writes_are_recorded_applied_and_cleared() -> None:
    with SandboxServer(seed=2, tickets=120, rate_limit=False) as sb, sb.client() as c:
        body = {
            "ticket": {
                "custom_fields": [{"id": 360011000001, "value": "ORD-1"}],
                "status": "solved",
                "comment": {"body": "Scored by deskpulse", "public": False},
            }
        }
        r = c.put("/api/v2/tickets/5.json", json=body)
        assert r.status_code == 200
        ticket = r.json()["ticket"]
        assert ticket["status"] == "solved"
        assert {"id": 360011000001, "value": "ORD-1"} in ticket["custom_fields"]
        audit = r.json()["audit"]
        assert audit["ticket_id"] == 5
        assert any(e["type"] == "Comment" and e["public"] is False for e in audit["events"])
        # Two tickets that are not closed (a closed ticket's update fails, as on Zendesk).
        a, b = [i for i in range(6, 120) if c.get(f"/api/v2/tickets/{i}.json").json()["ticket"]["status"] != "closed"][:2]  # fmt: skip
        many = c.put(
            "/api/v2/tickets/update_many.json",
            params={"ids": f"{a},{b}"},
            json={"ticket": {"tags": ["scored"]}},
        )
        job = many.json()["job_status"]
        assert job["status"] == "queued" and job["total"] == 2
        done = c.get(job["url"]).json()["job_status"]
        assert done["status"] == "completed" and [x["id"] for x in done["results"]] == [a, b]
        assert all(x["success"] for x in done["results"])
        writes = c.get("/__sandbox/writes").json()["writes"]
        assert [w["ticket_ids"] for w in writes] == [[5], [a, b]]
        assert writes[0]["body"] == body and writes[0]["method"] == "PUT"
        # Applied: the ticket shows the change and moves to the end of the incremental stream.
        assert c.get("/api/v2/tickets/5.json").json()["ticket"]["status"] == "solved"
        export = c.get(TICKETS, params={"start_time": 0}).json()["tickets"]
        assert [t["id"] for t in export[-3:]] == [5, a, b]
        assert [t["id"] for t in export].count(5) == 1
        assert export[-1]["tags"] == ["scored"]
        assert export[-1]["generated_timestamp"] > sb.account.anchor_ts
        # ...and the ticket events export serves the write's audit after every generated event.
        tail = c.get(EVENTS, params={"start_time": sb.account.anchor_ts}).json()
        written = [e for e in tail["ticket_events"] if e["ticket_id"] == 5]
        assert written and written[0]["id"] == audit["id"]
        kinds = {(ch["event_type"], ch.get("field_name")) for ch in written[0]["child_events"]}
        assert ("Change", "status") in kinds and ("Change", "360011000001") in kinds
        assert c.delete("/__sandbox/writes").status_code == 204
        assert c.get("/__sandbox/writes").json()["writes"] == []
        assert c.get("/api/v2/tickets/5.json").json()["ticket"]["status"] != "solved" or (
            sb.account.ticket(4).status == "solved"
        )
        bad = c.put("/api/v2/tickets/5.json", content=b"{not json")
        assert bad.status_code == 400


def test_stats_count_requests_per_path_and_status() -> None:
    with SandboxServer(seed=2, tickets=60, rate_limit=False) as sb, sb.client() as c:
        c.get("/api/v2/tickets/1.json")
        c.get("/api/v2/tickets/2")
        c.get("/api/v2/nope")
        stats = c.get("/__sandbox/stats").json()
        assert stats["requests"]["GET /api/v2/tickets/{id}"] == {"200": 2}
        assert stats["requests"]["GET /api/v2/nope"] == {"404": 1}
        assert stats["total"] == 3
        c.delete("/__sandbox/stats")
        assert c.get("/__sandbox/stats").json()["total"] == 0


def test_same_seed_same_bytes() -> None:
    bodies = []
    for _ in range(2):
        with SandboxServer(seed=9, tickets=80, rate_limit=False, port=0) as sb, sb.client() as c:
            r = c.get(EVENTS, params={"start_time": 0, "include": "comment_events"})
            bodies.append(r.content.replace(sb.base_url.encode(), b"BASE"))
    assert bodies[0] == bodies[1]


def _raw(sb: SandboxServer, request: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; everything the server answers until it closes."""
    import socket

    with socket.create_connection((sb.host, sb.port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("length", "status"),
    [("-5", 400), ("abc", 400), ("99999999999999999999", 413), (str(64 * 1024 * 1024), 413)],
)
def test_bad_content_length_is_a_client_error(sb: SandboxServer, length: str, status: int) -> None:
    head = (
        f"PUT /api/v2/tickets/1.json HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        "Content-Type: application/json\r\n\r\n"
    )
    answer = _raw(sb, head.encode() + b"{}")
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == str(status).encode()
    assert b"Connection: close" in rest  # the body was not read: the connection cannot go on
    body = rest.partition(b"\r\n\r\n")[2]
    assert httpx.Response(status, content=body).json()["error"]
    # The server is still fine.
    with sb.client() as c:
        assert c.get("/api/v2/groups.json").status_code == 200


def test_idle_connections_time_out() -> None:
    with SandboxServer(seed=1, tickets=50, rate_limit=False, idle_timeout=0.3) as sb:
        import time

        started = time.monotonic()
        assert _raw(sb, b"") == b""  # never sent a request: closed by the server
        # Half a body, then silence: closed too, without an answer.
        partial = b"PUT /api/v2/tickets/1.json HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"
        assert _raw(sb, partial) == b""
        assert time.monotonic() - started < 4


def test_plan_budgets_and_the_update_ticket_limit() -> None:
    clock = FakeClock()
    limits = RateLimits.for_plan("professional")
    with SandboxServer(seed=1, tickets=100, rate_limit=limits, clock=clock) as sb, sb.client() as c:
        assert c.get("/api/v2/groups.json").headers["X-Rate-Limit"] == "400"
        r = c.get(EVENTS, params={"start_time": 0})
        assert r.headers["Zendesk-RateLimit-incremental-exports"].startswith("total=10;")
        update = {"ticket": {"tags": ["checked"]}}
        statuses = [c.put("/api/v2/tickets/3.json", json=update).status_code for _ in range(101)]
        assert statuses[:100] == [200] * 100 and statuses[100] == 429  # 100 a minute
        assert c.get("/api/v2/groups.json").status_code == 200  # other endpoints go on
    with pytest.raises(SandboxConfigError, match="unknown plan"):
        RateLimits.for_plan("gold")


def test_time_scale_makes_every_window_shorter() -> None:
    clock = FakeClock()
    limits = RateLimits(incremental_exports=2)
    with (
        SandboxServer(seed=1, tickets=100, rate_limit=limits, clock=clock, time_scale=60) as sb,
        sb.client() as c,
    ):
        statuses = [c.get(EVENTS, params={"start_time": 0}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        r = c.get(EVENTS, params={"start_time": 0})
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        clock.now += 1  # a "minute" of budget is a second at 60x
        assert c.get(EVENTS, params={"start_time": 0}).status_code == 200
        info = c.get("/__sandbox/info").json()
        assert info["window_seconds"] == 1.0 and info["budgets"]["incremental-exports"] == 2
    with pytest.raises(SandboxConfigError, match="time scale"):
        SandboxServer(tickets=50, time_scale=0)


def test_resets_keep_a_vendor_seconds_precision_under_a_time_scale() -> None:
    """At 10x a vendor second is a tenth of a wall second: `ratelimit-reset` and `Retry-After`
    say 5.8 (58 vendor seconds, rounded up), not 6, or a client would wait a whole tenth of
    the window too long after every full window."""
    clock = FakeClock()
    clock.now = 6_000.25  # a quarter of a second into a 6-second window
    limits = RateLimits(incremental_exports=1)
    with (
        SandboxServer(seed=1, tickets=100, rate_limit=limits, clock=clock, time_scale=10) as sb,
        sb.client() as c,
    ):
        first = c.get(EVENTS, params={"start_time": 0})
        assert first.headers["ratelimit-reset"] == "5.8"
        assert first.headers["Zendesk-RateLimit-incremental-exports"].endswith("resets=5.8")
        over = c.get(EVENTS, params={"start_time": 0})
        assert over.status_code == 429 and over.headers["Retry-After"] == "5.8"


def test_a_client_that_hangs_up_leaves_no_traceback(
    sb: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A benchmark or a killed sync closing its connection mid-request is the client's
    # business: the sandbox's stderr stays clean (it printed a traceback per connection).
    url = httpx.URL(sb.base_url)
    with socket.create_connection((url.host, url.port)) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        conn.sendall(b"GET /api/v2/groups.json HTTP/1.1\r\nHost: sandbox\r\n")
    time.sleep(0.3)
    with httpx.Client(base_url=sb.base_url) as anon:  # still serving
        assert anon.get("/api/v2/groups.json").status_code == 401
    assert "Traceback" not in capsys.readouterr().err
