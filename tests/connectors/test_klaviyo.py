"""The Klaviyo connector against a respx Klaviyo serving our own fixtures (klaviyo_fakes)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from deskpulse.connectors.errors import AuthError, ConfigError, FatalError
from deskpulse.connectors.klaviyo import KlaviyoConnector
from deskpulse.connectors.klaviyo.api import KlaviyoLimiter, read_limits
from deskpulse.connectors.klaviyo.config import revision_warning
from tests.connectors.klaviyo_fakes import KEY, FakeKlaviyo, parse_filter, throttled
from tests.connectors.zendesk_fakes import collect


def _filters(request: httpx.Request) -> list[tuple[str, str, str]]:
    return parse_filter(request.url.params["filter"])


def test_full_sync_maps_profiles_orders_refunds_and_engagement() -> None:
    fake = FakeKlaviyo()
    out = collect(fake.connector())

    customers = out.table("customers")
    assert sorted(customers) == ["01PADA", "01PBOB", "01PCAROL", "01PDAN"]
    ada = customers["01PADA"]
    assert ada["email"] == "Ada.Lovelace@Example.com"  # trimmed; matching lower-cases it
    assert ada["name"] == "Ada Lovelace"
    assert ada["created_at"] == datetime(2026, 1, 5, 8, tzinfo=UTC)
    assert ada["acquisition_channel"] == "referral"
    assert ada["extra"]["email_consent"] == "SUBSCRIBED"
    assert "klaviyo_predictive" not in ada["extra"]  # only with KLAVIYO_PREDICTIVE=true
    assert customers["01PBOB"]["acquisition_channel"] == "ads"
    assert customers["01PBOB"]["created_at"] == datetime(2026, 2, 10, 12, 30, 0, 250000, tzinfo=UTC)
    assert customers["01PCAROL"]["acquisition_channel"] is None
    assert customers["01PDAN"]["acquisition_channel"] == "organic"
    assert customers["01PDAN"]["email"] is None

    orders = out.table("orders")
    # Both "Placed Order" metrics (Shopify's and the API's) are read; ids are $event_id.
    assert sorted(orders) == ["1001", "1002", "1003", "1004", "1005", "api-7"]
    assert {k: v["amount"] for k, v in orders.items()} == {
        "1001": 100.0,
        "1002": 40.5,
        "1003": 60.0,
        "1004": 25.0,
        "1005": 10.0,
        "api-7": 30.0,
    }
    assert orders["1001"]["customer_id"] == "01PADA"
    assert orders["1001"]["currency"] == "USD"
    assert orders["1001"]["created_at"] == datetime(2026, 1, 10, 10, tzinfo=UTC)

    adjustments = out.table("order_adjustments")
    assert {k: (v["order_id"], v["kind"], v["amount"]) for k, v in adjustments.items()} == {
        "RF1": ("1002", "refund", 40.5),
        "RF2": ("1003", "refund", 10.0),
        "CX1": ("1004", "cancel", None),
    }
    engagement = out.table("engagement_events")
    assert {k: (v["customer_id"], v["kind"]) for k, v in engagement.items()} == {
        "OE1": ("01PADA", "email_open"),
        "OE2": ("01PBOB", "email_open"),
        "CE1": ("01PADA", "email_click"),
        "SV1": ("01PCAROL", "site_visit"),
    }
    # Bad records are quarantined with the reason; the rest goes on.
    reasons = {payload["id"]: reason for _, payload, reason in out.rejects}
    assert reasons == {
        "01PBAD": "created: not a datetime: 'last tuesday'",
        "EV6": "$value: not a number: 'a lot'",
    }


def test_ordered_product_is_never_read_so_no_order_counts_twice() -> None:
    fake = FakeKlaviyo()
    out = collect(fake.connector())
    metric_ids = {
        value.strip('"')
        for r in fake.sent("/api/events")
        for op, name, value in _filters(r)
        if name == "metric_id"
    }
    assert metric_ids == {"PLACED1", "PLACED2", "REFUND1", "CANCEL1", "OPEN1", "CLICK1", "SITE1"}
    assert sum(o["amount"] for o in out.table("orders").values()) == 265.5


def test_metrics_are_resolved_once_per_sync_across_pages_and_streams() -> None:
    fake = FakeKlaviyo()  # 9 metrics, 5 a page: two pages
    collect(fake.connector())
    metrics = fake.sent("/api/metrics")
    assert len(metrics) == 2
    assert "page[cursor]" in metrics[1].url.params


def test_every_request_carries_the_revision_and_the_key_and_json_api() -> None:
    fake = FakeKlaviyo()
    collect(fake.connector())
    assert fake.requests
    for request in fake.requests:
        assert request.headers["revision"] == "2026-07-15"
        assert request.headers["authorization"] == f"Klaviyo-API-Key {KEY}"
        assert request.headers["accept"] == "application/vnd.api+json"


def test_links_next_is_followed_verbatim() -> None:
    fake = FakeKlaviyo(page_size=2)
    collect(fake.connector(), only={"profiles"})
    profiles = fake.sent("/api/profiles")
    assert len(profiles) == 3
    first = profiles[0].url.params
    assert first["page[size]"] == "100" and first["sort"] == "updated"
    assert first["additional-fields[profile]"] == "subscriptions"
    # What the connector asked for second is exactly the link the first answer gave.
    for request in profiles[1:]:
        previous = fake.requests[fake.requests.index(request) - 1]
        assert previous.url.path == "/api/profiles"
        assert str(request.url).startswith("https://a.klaviyo.com/api/profiles?")
        assert "filter" not in request.url.params or request.url.params["filter"]


def test_filters_use_unquoted_datetimes_from_the_cursor_minus_the_overlap() -> None:
    fake = FakeKlaviyo()
    cursors = {
        "orders": {"PLACED1": {"since": "2026-03-02T12:00:00+00:00", "next": None}},
        "profiles": {"since": "2026-03-01T10:00:00+00:00", "next": None},
    }
    out = collect(fake.connector(), cursors=cursors, only={"orders", "profiles"})
    placed = [r for r in fake.sent("/api/events") if "PLACED1" in r.url.params["filter"]]
    assert placed[0].url.params["filter"] == (
        'equals(metric_id,"PLACED1"),greater-or-equal(datetime,2026-03-02T11:50:00+00:00)'
    )
    assert placed[0].url.params["sort"] == "datetime"
    # A metric without a cursor yet reads its whole history.
    other = [r for r in fake.sent("/api/events") if "PLACED2" in r.url.params["filter"]]
    assert other[0].url.params["filter"] == 'equals(metric_id,"PLACED2")'
    assert fake.sent("/api/profiles")[0].url.params["filter"] == (
        "greater-than(updated,2026-03-01T09:50:00+00:00)"
    )
    # Only what changed since (minus the overlap) comes back.
    assert sorted(out.table("orders")) == ["1003", "1004", "1005", "api-7"]
    assert sorted(out.table("customers")) == ["01PADA", "01PBOB", "01PCAROL", "01PDAN"]


def test_a_future_dated_event_cannot_move_the_cursor_past_the_sync_start() -> None:
    fake = FakeKlaviyo()
    out = collect(fake.connector(), only={"orders"})
    assert "1005" in out.table("orders")  # dated 2027-06-01: read and kept
    assert out.cursors["orders"]["PLACED1"] == {"since": "2026-12-01T00:00:00+00:00", "next": None}
    assert out.cursors["orders"]["PLACED2"] == {"since": "2026-04-01T12:00:00+00:00", "next": None}


def test_same_second_events_across_a_page_boundary_survive_a_restart() -> None:
    # Pages of 3: EV1 EV2 EV3 | EV4 ...; EV3 and EV4 share 2026-03-02T12:00:00.
    fake = FakeKlaviyo(page_size=3)
    stream = next(s for s in fake.connector(streams=["orders"]).streams())
    first_page = next(iter(stream.pages(None)))  # the run dies after this page committed
    assert [r["id"] for r in first_page.records] == ["EV1", "EV2", "EV3"]
    cursor: Any = first_page.cursor
    assert cursor["PLACED1"]["since"] == "2026-03-02T12:00:00+00:00"
    stored_next = cursor["PLACED1"]["next"]
    assert stored_next is not None

    # The next run resumes from the stored link: EV4 comes next, nothing skipped.
    fake2 = FakeKlaviyo(page_size=3)
    resumed = collect(fake2.connector(streams=["orders"]), cursors={"orders": cursor})
    assert str(fake2.sent("/api/events")[0].url) == stored_next
    assert {"1004", "1005"} <= set(resumed.table("orders"))

    # Klaviyo no longer accepts the stored page cursor (400): restart from the watermark with
    # greater-or-equal, so EV3 and its same-second neighbour EV4 are both read again.
    fake3 = FakeKlaviyo(page_size=3)
    fake3.reject_links.add(stored_next)
    again = collect(fake3.connector(streams=["orders"]), cursors={"orders": cursor})
    sent = fake3.sent("/api/events")
    assert str(sent[0].url) == stored_next  # tried, answered 400
    assert sent[1].url.params["filter"] == (
        'equals(metric_id,"PLACED1"),greater-or-equal(datetime,2026-03-02T11:50:00+00:00)'
    )
    assert {"1003", "1004", "1005"} <= set(again.table("orders"))
    assert not again.rejects or all(p["id"] == "EV6" for _, p, _ in again.rejects)


def test_a_429_saying_zero_seconds_waits_for_the_floor() -> None:
    fake = FakeKlaviyo()
    fake.script.append(throttled("0"))
    sleeps: list[float] = []
    connector = fake.connector(sleeps=sleeps)
    out = collect(connector, only={"profiles"})
    assert len(out.table("customers")) == 4
    assert connector.stats.throttled == 1 and connector.stats.retries == 1
    assert sum(sleeps) == pytest.approx(1.0)  # the floor, not retried at once


def test_limiter_paces_burst_and_steady_windows_per_operation() -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = KlaviyoLimiter(clock=lambda: clock[0], sleep=sleep)
    for _ in range(10):  # get_metrics: 10/s burst, 150/m steady
        limiter.acquire("get_metrics")
    assert clock[0] == 0.0
    limiter.acquire("get_metrics")  # the 11th in the same second waits for the next second
    assert clock[0] == pytest.approx(1.0)
    for _ in range(139):
        limiter.acquire("get_metrics")
    before = clock[0]
    limiter.acquire("get_metrics")  # the 151st within a minute waits for the minute
    assert clock[0] >= 60.0 > before
    # RateLimit-Remaining: 0 blocks that operation (not the others) until the reset.
    spent = httpx.Headers({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"})
    for seen in read_limits("get_profiles", spent):
        limiter.observe(*seen)
    start = clock[0]
    limiter.acquire("get_events")
    assert clock[0] == start
    limiter.acquire("get_profiles")
    assert clock[0] == pytest.approx(start + 7)


def test_a_retired_revision_stops_the_connector_with_one_clear_line() -> None:
    fake = FakeKlaviyo()
    connector = fake.connector(revision="2022-10-17")
    with pytest.raises(FatalError) as caught:
        collect(connector, only={"profiles"})
    message = str(caught.value)
    assert "revision 2022-10-17" in message and "KLAVIYO_REVISION" in message
    assert "\n" not in message and KEY not in message
    assert len(fake.requests) == 1  # not retried


def test_revision_age_warning() -> None:
    assert revision_warning("2026-07-15", today=date(2026, 12, 1)) is None
    text = revision_warning("2025-07-15", today=date(2026, 12, 1))
    assert text is not None and "more than a year old" in text
    text = revision_warning("2024-07-15", today=date(2026, 12, 1))
    assert text is not None and "two years" in text


def test_an_old_revision_warns_when_the_connector_is_built(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        FakeKlaviyo().connector(revision="2024-02-15").close()
    assert "KLAVIYO_REVISION 2024-02-15" in caplog.text


def test_predictive_values_only_when_asked_for() -> None:
    fake = FakeKlaviyo()
    out = collect(fake.connector(predictive=True), only={"profiles"})
    assert fake.sent("/api/profiles")[0].url.params["additional-fields[profile]"] == (
        "subscriptions,predictive_analytics"
    )
    predictive = out.table("customers")["01PADA"]["extra"]["klaviyo_predictive"]
    assert predictive["historic_clv"] == 150.0
    assert predictive["predicted_clv"] == 80.0
    assert predictive["churn_probability"] == 0.2


def test_wrong_key_is_fatal_and_the_key_never_shows() -> None:
    fake = FakeKlaviyo()
    connector = fake.connector(api_key="pk_wrong-key")
    with pytest.raises(AuthError) as caught:
        collect(connector, only={"profiles"})
    assert "KLAVIYO_API_KEY" in str(caught.value)
    assert "pk_wrong" not in str(caught.value)
    assert "pk_wrong" not in repr(connector) and "pk_wrong" not in repr(connector.settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "set KLAVIYO_API_KEY"),
        ({"api_key": KEY, "revision": "july"}, "invalid setting KLAVIYO_REVISION"),
        ({"api_key": KEY, "base_url": "a.klaviyo.com"}, "invalid setting KLAVIYO_BASE_URL"),
    ],
)
def test_bad_settings_are_one_config_line(
    values: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=message):
        KlaviyoConnector("klaviyo", **values)


def test_sync_builds_klaviyo_sources_from_their_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import os

    from deskpulse.sync.settings import load_settings
    from deskpulse.sync.sources import build_connectors

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("ZENDESK", "KLAVIYO", "DESKPULSE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KLAVIYO_API_KEY", KEY)
    monkeypatch.setenv("KLAVIYO_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("KLAVIYO_EU_PREDICTIVE", "true")  # a second account, missing its key
    monkeypatch.setenv("DESKPULSE_SOURCES", "klaviyo")
    (connector,) = build_connectors(load_settings())
    assert isinstance(connector, KlaviyoConnector)
    assert connector.source == "klaviyo"
    assert str(connector.client.base_url) == "http://127.0.0.1:9/"
    assert KEY not in repr(connector)
    connector.close()
    monkeypatch.setenv("DESKPULSE_SOURCES", "klaviyo, klaviyo_eu=klaviyo")
    with pytest.raises(ConfigError, match="set KLAVIYO_EU_API_KEY"):
        build_connectors(load_settings())
