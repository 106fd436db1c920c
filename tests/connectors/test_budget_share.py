"""A source's budget share (a sources file's `budget_share`): its limiter paces at that part of
the account's budgets, configured or stated by the vendor (connectors.ratelimit.portion,
applied once for every vendor by connectors.skeleton.VendorConnector.spend_share)."""

from __future__ import annotations

import math

import pytest

from deskpulse.connectors.klaviyo.api import ENDPOINTS, KlaviyoLimiter
from deskpulse.connectors.ratelimit import RateLimiter
from deskpulse.connectors.skeleton import Profile, VendorConnector
from tests.connectors.test_http import FakeClock


def test_a_quarter_of_100_a_minute_lets_25_go_and_the_26th_waits_a_minute() -> None:
    clock = FakeClock()
    account = RateLimiter({"default": 100}, clock=clock, sleep=clock.sleep)
    source = account.portion(0.25)
    assert source.budget("default") == 25 and source.share == 0.25
    times = []
    for _ in range(26):
        source.acquire()
        times.append(clock.now)
    assert times[24] == times[0] == 1000.0  # 25 go at once
    assert times[25] == 1060.0  # the 26th waits for the first to leave the window
    assert account.budget("default") == 100  # the account's own limiter is left as it was
    assert account.ready_in("default") == 0


def test_a_budget_the_vendor_states_is_scaled_too() -> None:
    """The headers say 40 a minute: a source at a quarter paces at 10, never at 40."""
    clock = FakeClock()
    source = RateLimiter({"default": 100}, clock=clock, sleep=clock.sleep).portion(0.25)
    source.observe("default", 39, 60.0, limit=40)
    assert source.budget("default") == 10
    assert source.portion(0.5).budget("default") == 5  # shares multiply: 40 * 0.125
    odd = RateLimiter({"default": 10, "export": 1}, clock=clock).portion(0.25)
    assert (odd.budget("default"), odd.budget("export")) == (2, 1)  # rounded down, at least 1


def test_the_whole_budget_is_the_limiter_itself_and_a_share_is_above_0_at_most_1() -> None:
    limiter = RateLimiter({"default": 100})
    assert limiter.portion(1.0) is limiter  # sources sharing a vendor's limiter stay together
    for share in (0.0, 1.5, -0.5):
        with pytest.raises(ValueError, match="budget share"):
            limiter.portion(share)


def test_the_skeleton_gives_the_source_its_own_scaled_limiter() -> None:
    shared = RateLimiter({"default": 100, "incremental": 10})
    connector = VendorConnector("acme_eu", Profile("https://acme.invalid", None, shared))
    connector.spend_share(0.5)
    assert connector.client.limiter is not shared
    assert connector.client.limiter.budget("default") == 50
    assert connector.client.limiter.budget("incremental") == 5
    assert shared.budget("default") == 100  # another source of the account keeps its own
    connector.close()


def test_klaviyos_burst_budgets_are_scaled_with_the_steady_ones() -> None:
    name, endpoint = next((n, e) for n, e in ENDPOINTS.items() if e.per_second and e.per_minute)
    assert endpoint.per_second is not None and endpoint.per_minute is not None
    part = KlaviyoLimiter().portion(0.5)
    assert isinstance(part, KlaviyoLimiter)
    assert part.budget(name) == max(1, math.floor(endpoint.per_minute * 0.5))
    assert part._burst.budget(name) == max(1, math.floor(endpoint.per_second * 0.5))
