"""LiveAgent's and Klaviyo's writes (issue 22, items 1 and 4): a write whose answer never came is
sent once and answered `doubt` (the caller reads back before writing again); a 429 asking for a
day is `throttled` at once, with the vendor's time, and nobody sleeps for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from deskpulse.connectors.base import DOUBT, OK, THROTTLED, FieldValues, Post, WriteResult
from deskpulse.connectors.http import MAX_WAIT
from deskpulse.connectors.klaviyo import KlaviyoConnector
from tests.connectors.liveagent_fakes import API
from tests.connectors.liveagent_fakes import make_connector as liveagent

KLAVIYO = "https://a.klaviyo.test"


def applied_then_timeout(applied: list[bytes]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        applied.append(request.content)  # the vendor acted; its answer comes too late
        raise httpx.ReadTimeout("timed out", request=request)

    return handler


DAY = httpx.Response(429, headers={"Retry-After": "86400"})


def klaviyo(router: respx.Router, sleeps: list[float]) -> KlaviyoConnector:
    return KlaviyoConnector(
        "klaviyo",
        api_key="pk_test",
        base_url=KLAVIYO,
        rate_limits="off",
        transport=httpx.MockTransport(router.handler),
        max_retries=5,
        sleep=sleeps.append,
    )


def test_liveagent_ticket_field_and_post_timed_out_after_arriving_are_in_doubt() -> None:
    router = respx.Router(assert_all_called=False)
    applied: list[bytes] = []
    put = router.put(f"{API}/tickets/t1").mock(side_effect=applied_then_timeout(applied))
    post = router.post(f"{API}/tickets").mock(side_effect=applied_then_timeout(applied))
    sleeps: list[float] = []
    connector = liveagent(
        router, max_retries=5, sleep=sleeps.append, post_recipient="support@acme.test"
    )
    (field,) = connector.writer.write_ticket_fields([FieldValues("t1", {"frt": 12})])
    digest = connector.writer.post(Post("digest:day:2026-12-04", "Digest", "FRT 12 min"))
    assert (field.status, digest.status) == (DOUBT, DOUBT)
    assert "may have been applied" in (field.reason or "")
    assert (put.call_count, post.call_count, len(applied)) == (1, 1, 2) and sleeps == []


def test_liveagent_told_to_wait_a_day_gives_up_on_every_ticket_at_once() -> None:
    router = respx.Router(assert_all_called=False)
    first = router.put(f"{API}/tickets/t1").mock(return_value=DAY)
    second = router.put(f"{API}/tickets/t2").mock(return_value=httpx.Response(200, json={}))
    sleeps: list[float] = []
    connector = liveagent(router, max_retries=5, sleep=sleeps.append)
    results = connector.writer.write_ticket_fields(
        [FieldValues("t1", {"frt": 12}), FieldValues("t2", {"frt": 3})]
    )
    assert [r.status for r in results] == [THROTTLED, THROTTLED]
    assert all(r.retry_after == pytest.approx(86400, abs=1) for r in results)
    assert (first.call_count, second.call_count) == (1, 0)  # the budget is blocked: no request
    assert all(s <= MAX_WAIT for s in sleeps)


def test_klaviyo_profile_patch_timed_out_is_in_doubt_and_sent_once() -> None:
    router = respx.Router(base_url=KLAVIYO, assert_all_called=False)
    applied: list[bytes] = []
    patch = router.patch("/api/profiles/p1").mock(side_effect=applied_then_timeout(applied))
    router.patch("/api/profiles/p2").mock(return_value=httpx.Response(200, json={"data": {}}))
    sleeps: list[float] = []
    results = klaviyo(router, sleeps).writer.write_user_fields(
        [FieldValues("p1", {"deskpulse_clv": 10}), FieldValues("p2", {"deskpulse_clv": 1})]
    )
    assert [r.status for r in results] == [DOUBT, OK]
    assert patch.call_count == 1 and len(applied) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("answer", "status"),
    [(DAY, THROTTLED), (httpx.Response(502), DOUBT), (httpx.ReadTimeout("late"), DOUBT)],
)
def test_klaviyo_subscription_job_is_never_sent_twice_on_a_guess(answer: Any, status: str) -> None:
    router = respx.Router(base_url=KLAVIYO, assert_all_called=False)
    job = router.post("/api/profile-subscription-bulk-create-jobs").mock(side_effect=[answer])
    sleeps: list[float] = []
    results: list[WriteResult] = klaviyo(router, sleeps).writer.subscribe("L1", ["a@b.test"])
    assert [r.status for r in results] == [status] and job.call_count == 1
    assert all(s <= MAX_WAIT for s in sleeps)
