"""The shared HTTP helper: retries, error mapping, rate limiting, loop detection."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
import respx

from deskpulse.connectors.errors import (
    AuthError,
    BadResponse,
    NotTheApi,
    PaginationLoopError,
    RateLimited,
    RetriesExhausted,
    StreamUnavailable,
    UnreachableError,
    WriteInDoubt,
)
from deskpulse.connectors.http import (
    MAX_WAIT,
    USER_AGENT,
    HttpClient,
    LimitReader,
    Observed,
    Paginator,
    RateLimiter,
    ietf_limits,
    parse_retry_after,
)

BASE = "https://acme.zendesk.com"
SECRET = "s3cr3t-token-value"
WALL = datetime(2026, 12, 5, 9, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(
    router: respx.Router,
    *,
    clock: FakeClock | None = None,
    max_retries: int = 3,
    per_minute: dict[str, int] | None = None,
    read_limits: LimitReader | None = None,
) -> tuple[HttpClient, FakeClock]:
    clock = clock or FakeClock()
    limiter = RateLimiter(per_minute, clock=clock, sleep=clock.sleep)
    client = HttpClient(
        BASE,
        vendor="zendesk",
        auth=httpx.BasicAuth("agent@example.com/token", SECRET),
        transport=httpx.MockTransport(router.handler),
        max_retries=max_retries,
        rate_limiter=limiter,
        read_limits=read_limits,
        sleep=clock.sleep,
        auth_hint="check ZENDESK_EMAIL and ZENDESK_API_TOKEN",
        reach_hint="check ZENDESK_BASE_URL / network",
        rng=random.Random(7),
    )
    return client, clock


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE, assert_all_called=False)


def test_429_then_200_honours_retry_after(router: respx.Router) -> None:
    route = router.get("/api/v2/groups").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "17"}),
            httpx.Response(200, json={"groups": []}),
        ]
    )
    client, clock = make_client(router)
    assert client.get_json("/api/v2/groups") == {"groups": []}
    assert route.call_count == 2
    assert 17.0 in clock.sleeps
    assert client.stats.requests == 2
    assert client.stats.retries == 1
    assert client.stats.throttled == 1
    assert client.stats.errors == 0


def test_retry_after_as_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    # Past a day is a day (a garbled or hostile header must not park a source for years).
    assert parse_retry_after("1e12") == parse_retry_after("inf") == 86400.0
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now=1445412480.0) == 86400.0
    assert parse_retry_after("nan") is None


def test_503_retried_then_success(router: respx.Router) -> None:
    router.get("/api/v2/users").mock(
        side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": 1})]
    )
    client, clock = make_client(router)
    assert client.get_json("api/v2/users") == {"ok": 1}
    assert client.stats.retries == 2
    # exponential backoff with jitter: second wait drawn from a larger range than the first
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0


def test_retries_exhausted(router: respx.Router) -> None:
    route = router.get("/api/v2/users").mock(return_value=httpx.Response(500))
    client, _ = make_client(router, max_retries=2)
    with pytest.raises(RetriesExhausted) as info:
        client.get_json("/api/v2/users", params={"access_token": SECRET})
    assert route.call_count == 3
    message = str(info.value)
    assert "acme.zendesk.com/api/v2/users" in message
    assert SECRET not in message
    assert "\n" not in message
    assert client.stats.errors == 1


def test_401_is_auth_error_without_secrets(router: respx.Router) -> None:
    route = router.get("/api/v2/users").mock(return_value=httpx.Response(401))
    client, _ = make_client(router)
    with pytest.raises(AuthError) as info:
        client.get_json("/api/v2/users", params={"token": SECRET})
    assert route.call_count == 1  # never retried
    message = str(info.value)
    assert message == (
        "zendesk: authentication failed (401) at https://acme.zendesk.com/api/v2/users: "
        "check ZENDESK_EMAIL and ZENDESK_API_TOKEN"
    )
    assert SECRET not in message and "Basic" not in message


@pytest.mark.parametrize("status", [403, 404])
def test_403_404_stream_unavailable(router: respx.Router, status: int) -> None:
    router.get("/api/v2/channels/voice/calls").mock(return_value=httpx.Response(status))
    client, _ = make_client(router)
    with pytest.raises(StreamUnavailable, match=str(status)):
        client.get_json("/api/v2/channels/voice/calls")


def test_timeout_retried(router: respx.Router) -> None:
    router.get("/api/v2/groups").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=[1])]
    )
    client, _ = make_client(router)
    assert client.get_json("/api/v2/groups") == [1]
    assert client.stats.retries == 1


def test_timeouts_exhausted_are_retries_exhausted(router: respx.Router) -> None:
    router.get("/api/v2/groups").mock(side_effect=httpx.ReadTimeout("slow"))
    client, _ = make_client(router, max_retries=1)
    with pytest.raises(RetriesExhausted, match="ReadTimeout"):
        client.get_json("/api/v2/groups")


def test_connect_error_after_retries_is_unreachable(router: respx.Router) -> None:
    router.get("/api/v2/groups").mock(side_effect=httpx.ConnectError("refused"))
    client, _ = make_client(router, max_retries=2)
    with pytest.raises(UnreachableError) as info:
        client.get_json("/api/v2/groups")
    assert str(info.value).startswith("zendesk: cannot reach host acme.zendesk.com")
    assert str(info.value).endswith("check ZENDESK_BASE_URL / network")


def test_an_unknown_host_fails_after_a_few_seconds_not_the_whole_budget(
    router: respx.Router,
) -> None:
    route = router.get("/api/v2/groups").mock(
        side_effect=httpx.ConnectError("[Errno -2] Name or service not known")
    )
    client, clock = make_client(router, max_retries=6)
    with pytest.raises(UnreachableError) as info:
        client.get_json("/api/v2/groups")
    assert route.call_count == 3
    assert sum(clock.sleeps) <= 3.0  # backoff 1 s then 2 s at most (jitter below that)
    assert str(info.value) == (
        "zendesk: cannot reach host acme.zendesk.com (https://acme.zendesk.com/api/v2/groups) "
        "after 3 attempts: check ZENDESK_BASE_URL / network"
    )


def test_a_refused_port_fails_fast() -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        clock = FakeClock()
        client = HttpClient(
            f"http://127.0.0.1:{port}", vendor="acme", max_retries=6, sleep=clock.sleep
        )
        with pytest.raises(UnreachableError, match="after 3 attempts"):
            client.get_json("/export")
    assert client.stats.requests == 3
    assert sum(clock.sleeps) <= 3.0


def test_a_connect_timeout_may_heal_and_keeps_the_whole_budget(router: respx.Router) -> None:
    route = router.get("/api/v2/groups").mock(side_effect=httpx.ConnectTimeout("slow"))
    client, _ = make_client(router, max_retries=5)
    with pytest.raises(UnreachableError, match="after 6 attempts"):
        client.get_json("/api/v2/groups")
    assert route.call_count == 6


def test_malformed_json_retried_then_bad_response(router: respx.Router) -> None:
    route = router.get("/api/v2/groups").mock(
        side_effect=[
            httpx.Response(200, content=b'{"groups": [{"id": 1'),
            httpx.Response(200, content=b'{"groups": []}'),
        ]
    )
    client, _ = make_client(router)
    assert client.get_json("/api/v2/groups") == {"groups": []}
    assert route.call_count == 2

    router.get("/api/v2/users").mock(return_value=httpx.Response(200, content=b"<html>oops"))
    with pytest.raises(BadResponse, match="malformed"):
        client.get_json("/api/v2/users")


def test_the_vendors_reader_says_when_a_budget_is_spent(router: respx.Router) -> None:
    """The helper knows no vendor's headers: the connector's reader turns them into
    observations, and a spent budget holds the next request in that bucket only."""
    router.get("/export").mock(
        side_effect=[
            httpx.Response(200, json={"n": 1}, headers={"x-acme-left": "0"}),
            httpx.Response(200, json={"n": 2}),
        ]
    )
    router.get("/other").mock(return_value=httpx.Response(200, json={}))

    def read(bucket: str, headers: httpx.Headers) -> list[Observed]:
        left = headers.get("x-acme-left")
        return [Observed(bucket, int(left), 12.0)] if left is not None else []

    client, clock = make_client(router, read_limits=read)
    client.get_json("/export", bucket="export")
    client.get_json("/other")  # another bucket is not held back
    assert clock.sleeps == []
    client.get_json("/export", bucket="export")
    assert clock.sleeps == [12.0]


def test_without_a_reader_headers_are_not_read(router: respx.Router) -> None:
    router.get("/export").mock(
        return_value=httpx.Response(200, json={}, headers={"ratelimit-remaining": "0"})
    )
    client, clock = make_client(router)
    client.get_json("/export")
    client.get_json("/export")
    assert clock.sleeps == []


def test_ietf_reader() -> None:
    headers = httpx.Headers({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"})
    assert ietf_limits("export", headers) == [Observed("export", 0, 7.0)]
    assert ietf_limits("export", httpx.Headers({"RateLimit-Reset": "7"})) == []


def test_steady_pacing_never_exceeds_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"incremental": 10, "default": 700}, clock=clock, sleep=clock.sleep)
    times: list[float] = []
    for _ in range(25):
        limiter.acquire("incremental")
        times.append(clock.now)
    # at most 10 requests in any 60 s window
    for i in range(len(times)):
        in_window = [t for t in times if times[i] <= t < times[i] + 60]
        assert len(in_window) <= 10
    assert times[9] == times[0]  # the first ten go at once: the budget is used, not wasted
    assert times[10] == times[0] + 60
    margin = RateLimiter({"incremental": 10}, clock=clock, sleep=clock.sleep, margin=0.01)
    first = clock.now
    for _ in range(11):
        margin.acquire("incremental")
    assert clock.now == pytest.approx(first + 60.6)  # 1% later: for a request that arrives late


def test_ready_in_says_when_a_bucket_has_room_and_reserves_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"incremental": 2, "default": 700}, clock=clock, sleep=clock.sleep)
    assert limiter.ready_in("incremental") == 0
    limiter.acquire("incremental")
    clock.now += 10
    limiter.acquire("incremental")
    assert limiter.ready_in("incremental") == pytest.approx(50)  # the first leaves the window
    assert limiter.ready_in("incremental") == pytest.approx(50)  # asking spent nothing
    assert limiter.ready_in("default") == 0  # the account budget has room
    limiter.block("default", 70)
    assert limiter.ready_in("default") == pytest.approx(70)
    assert limiter.ready_in("incremental") == pytest.approx(50)  # its own budget alone
    assert RateLimiter(clock=clock).ready_in("incremental") == 0  # not paced


def test_a_budget_the_vendor_states_replaces_the_configured_one() -> None:
    """Settings assume 700 a minute; the headers say the plan has 400: the limiter paces at
    400 (and a limiter without pacing stays without)."""
    clock = FakeClock()
    limiter = RateLimiter({"default": 700}, clock=clock, sleep=clock.sleep)
    limiter.observe("default", 399, 60.0, limit=400)
    assert limiter.budget("default") == 400
    times = []
    for _ in range(401):
        limiter.acquire()
        times.append(clock.now)
    assert times[399] == times[0] and times[400] == pytest.approx(times[0] + 60)
    unpaced = RateLimiter(clock=clock, sleep=clock.sleep)
    unpaced.observe("default", 399, 60.0, limit=400)
    assert unpaced.budget("default") is None


def test_a_shorter_window_paces_a_time_scaled_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"incremental": 10}, clock=clock, sleep=clock.sleep, window=5.0)
    times = []
    for _ in range(21):
        limiter.acquire("incremental")
        times.append(clock.now - 1000)
    assert times[10] == pytest.approx(5.0) and times[20] == pytest.approx(10.0)


def test_user_agent_and_auth_sent(router: respx.Router) -> None:
    route = router.get("/api/v2/groups").mock(return_value=httpx.Response(200, json={}))
    client, _ = make_client(router)
    client.get_json("/api/v2/groups")
    request = route.calls.last.request
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("deskpulse/")
    assert request.headers["Authorization"].startswith("Basic ")


def test_refuses_to_follow_next_page_to_another_host(router: respx.Router) -> None:
    client, _ = make_client(router)
    with pytest.raises(BadResponse, match="refusing"):
        client.get_json("https://evil.example.com/api/v2/tickets?token=x")


def test_put_json_sends_body(router: respx.Router) -> None:
    route = router.put("/api/v2/tickets/1").mock(
        return_value=httpx.Response(200, json={"ticket": {"id": 1}})
    )
    client, _ = make_client(router)
    assert client.put_json("/api/v2/tickets/1", {"ticket": {"status": "solved"}}) == {
        "ticket": {"id": 1}
    }
    assert route.calls.last.request.content == b'{"ticket":{"status":"solved"}}'


def test_post_not_retried_on_5xx(router: respx.Router) -> None:
    route = router.post("/api/v2/tickets").mock(return_value=httpx.Response(500))
    client, _ = make_client(router)
    with pytest.raises(WriteInDoubt, match="may have been applied"):
        client.post_json("/api/v2/tickets", {"ticket": {}})
    assert route.call_count == 1


def applied_then_timed_out(applied: list[bytes]) -> Callable[[httpx.Request], httpx.Response]:
    """A server that applies the write and answers after the client's timeout."""

    def handler(request: httpx.Request) -> httpx.Response:
        applied.append(request.content)
        raise httpx.ReadTimeout("timed out", request=request)

    return handler


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
def test_a_write_whose_answer_timed_out_is_sent_once_and_in_doubt(
    router: respx.Router, method: str
) -> None:
    applied: list[bytes] = []
    router.route(method=method, path="/api/v2/tickets/update_many").mock(
        side_effect=applied_then_timed_out(applied)
    )
    client, clock = make_client(router, max_retries=5)
    with pytest.raises(WriteInDoubt, match=f"ReadTimeout on {method} .*update_many"):
        client.request_json(method, "/api/v2/tickets/update_many", json={"tickets": []})
    assert len(applied) == 1 and clock.sleeps == []  # never sent again, no wait


@pytest.mark.parametrize(
    "error", [httpx.RemoteProtocolError("server disconnected"), httpx.WriteTimeout("slow")]
)
def test_a_write_whose_connection_dropped_is_in_doubt(
    router: respx.Router, error: httpx.TransportError
) -> None:
    route = router.put("/api/v2/tickets/update_many").mock(side_effect=error)
    client, _ = make_client(router)
    with pytest.raises(WriteInDoubt):
        client.put_json("/api/v2/tickets/update_many", {"tickets": []})
    assert route.call_count == 1


def test_a_write_is_retried_where_the_server_cannot_have_acted(router: respx.Router) -> None:
    route = router.put("/api/v2/tickets/update_many").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.ConnectTimeout("no connection"),
            httpx.Response(200, json={"job_status": {"id": "j"}}),
        ]
    )
    client, clock = make_client(router)
    assert client.put_json("/api/v2/tickets/update_many", {"tickets": []}) == {
        "job_status": {"id": "j"}
    }
    assert route.call_count == 3 and clock.sleeps[0] == 3.0


def test_an_idempotent_write_and_a_get_are_sent_again_after_a_timeout(
    router: respx.Router,
) -> None:
    put = router.put("/api/v2/tickets/1").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(503), httpx.Response(200, json={})]
    )
    get = router.get("/api/v2/tickets/1").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json={"ticket": {}})]
    )
    client, _ = make_client(router)
    assert client.put_json("/api/v2/tickets/1", {"ticket": {}}, idempotent=True) == {}
    assert client.get_json("/api/v2/tickets/1") == {"ticket": {}}
    assert (put.call_count, get.call_count) == (3, 2)


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_retry_after_past_the_cap_gives_up_at_once_with_the_vendors_time(
    router: respx.Router, method: str
) -> None:
    route = router.route(method=method, path="/api/v2/tickets/update_many").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "86400"})
    )
    clock = FakeClock()
    client, _ = make_client(router, clock=clock, max_retries=5)
    client._wall = lambda: WALL  # 2026-12-05 09:00 UTC
    with pytest.raises(RateLimited) as caught:
        client.request_json(method, "/api/v2/tickets/update_many", json={})
    assert route.call_count == 1 and clock.sleeps == []
    error = caught.value
    assert error.retry_after == 86400
    assert error.until == datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert error.headline == "zendesk asked to wait 24 h (until 2026-12-06 09:00 UTC)"
    assert str(error).startswith(error.headline) and "\n" not in str(error)
    # The next request in the blocked bucket gives up too, without a request or a wait.
    with pytest.raises(RateLimited, match="asked to wait 24 h"):
        client.request_json(method, "/api/v2/tickets/update_many", json={})
    assert route.call_count == 1 and clock.sleeps == []


def test_a_request_never_waits_longer_than_the_cap_in_all(router: respx.Router) -> None:
    route = router.get("/api/v2/tickets").mock(
        return_value=httpx.Response(429, headers={"Retry-After": str(MAX_WAIT * 0.6)})
    )
    client, clock = make_client(router, max_retries=5)
    with pytest.raises(RateLimited):
        client.get_json("/api/v2/tickets")
    assert route.call_count == 2  # the second 429's wait would have passed the cap
    assert max(clock.sleeps) <= MAX_WAIT
    assert clock.sleeps == [MAX_WAIT * 0.6]


def test_a_budget_blocked_past_the_cap_gives_up_without_a_request(router: respx.Router) -> None:
    route = router.get("/api/v2/tickets").mock(return_value=httpx.Response(200, json={}))
    client, clock = make_client(router)
    client.limiter.observe("default", 0, reset=7200.0)  # the vendor's headers: 2 h to go
    with pytest.raises(RateLimited, match="zendesk asked to wait 2 h"):
        client.get_json("/api/v2/tickets")
    assert route.call_count == 0 and clock.sleeps == []


def test_paginator_detects_loops() -> None:
    pages = Paginator("zendesk tickets")
    assert pages.advance("a")
    assert pages.advance("b")
    assert not pages.advance(None)
    with pytest.raises(PaginationLoopError, match="repeated"):
        pages.advance("a")
    fresh = Paginator("zendesk tickets")  # fresh per run: old tokens are forgotten
    assert fresh.advance("a")


def test_limiter_with_an_injected_sleep_does_not_spin_on_the_real_clock():
    slept: list[float] = []
    limiter = RateLimiter(sleep=slept.append)  # real monotonic clock, sleep that does nothing
    limiter.block("default", 30.0)
    assert limiter.acquire() == pytest.approx(30.0, abs=1.0)
    assert len(slept) == 1


def test_a_web_page_is_not_retried_and_json_labelled_html_is_still_read(
    router: respx.Router,
) -> None:
    page = router.get("/api/v2/users").mock(
        return_value=httpx.Response(
            200,
            content=b"\n<!DOCTYPE html><title>Sign in</title>",
            headers={"Content-Type": "text/html"},
        )
    )
    client, _ = make_client(router)
    with pytest.raises(NotTheApi, match=r"/api/v2/users answered a web page \(text/html\)"):
        client.get_json("/api/v2/users")
    assert page.call_count == 1
    router.get("/api/v2/groups").mock(
        return_value=httpx.Response(
            200, content=b'{"groups": []}', headers={"Content-Type": "text/html; charset=utf-8"}
        )
    )
    assert client.get_json("/api/v2/groups") == {"groups": []}


def test_a_429_on_every_attempt_says_so_rather_than_blaming_the_cap(router: respx.Router) -> None:
    router.get("/api/v2/tickets").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "2"})
    )
    client, _ = make_client(router, max_retries=3)
    with pytest.raises(RateLimited, match="still throttled after 4 attempts") as caught:
        client.get_json("/api/v2/tickets")
    assert caught.value.retry_after == 2.0 and client.stats.blocked_until is None
