"""Customer and business metrics: rows in, numbers out, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import deskpulse.kpi_core.metrics.customers  # noqa: F401 - registers the metrics
from deskpulse.kpi_core.metrics.customers import calendar_months, cost_span
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
BEFORE = "2025-06-01T00:00:00Z"
DURING = "2026-03-15T00:00:00Z"


def one(wh: Wh, metric: str, start: datetime = START, end: datetime = END, **fields: Any) -> Any:
    values = wh.kpi(metric, start, end, **fields)
    assert len(values) == 1
    return values[0]


def customers(prefix: str, n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", **fields} for i in range(n)]


def test_churn_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: 250 customers at start, 20 lost -> 20 / 250 = 0.08.
    wh.add(
        "customers",
        *customers("stay", 230, created_at=BEFORE),
        *customers("lost", 20, created_at=BEFORE, churned_at=DURING),
        # Acquired during the window and lost in it: not among the 250 at start.
        *customers("new", 5, created_at="2026-03-02T00:00:00Z", churned_at=DURING),
        # Lost before the window: not at start either.
        *customers("gone", 7, created_at=BEFORE, churned_at="2026-02-01T00:00:00Z"),
    )
    v = one(wh, "churn_rate")
    assert v.value == pytest.approx(0.08)
    assert v.details == {"lost": 20, "at_start": 250}


def test_churn_by_inactivity(wh: Wh) -> None:
    # No churned_at: lost at last order + 90 days.
    wh.add(
        "customers",
        {"id": "a", "created_at": BEFORE},  # last order 2025-12-10 + 90 d = 2026-03-10: lost
        {"id": "b", "created_at": BEFORE},  # last order 2026-01-15 + 90 d = 2026-04-15: not yet
        {"id": "c", "created_at": BEFORE},  # no orders: never counted as lost
        {"id": "d", "created_at": BEFORE},  # 2025-11-01 + 90 d = 2026-01-30: lost before start
    )
    wh.add(
        "orders",
        {"id": "o1", "customer_id": "a", "amount": 10, "created_at": "2025-11-01T00:00:00Z"},
        {"id": "o2", "customer_id": "a", "amount": 10, "created_at": "2025-12-10T00:00:00Z"},
        {"id": "o3", "customer_id": "b", "amount": 10, "created_at": "2026-01-15T00:00:00Z"},
        {"id": "o4", "customer_id": "d", "amount": 10, "created_at": "2025-11-01T00:00:00Z"},
    )
    # At start: a, b, c (d was lost on 2026-01-30). Lost in March: a -> 1 / 3.
    v = one(wh, "churn_rate")
    assert v.value == pytest.approx(1 / 3)
    # With 120 days: a is lost 2026-04-09 (after March); d at 2026-03-01 00:00, which is not
    # before the start, so d is at start and lost in March. At start a, b, c, d -> 1 / 4.
    v = one(wh, "churn_rate", params={"inactivity_days": 120})
    assert v.value == pytest.approx(1 / 4)


def test_retention_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: S = 200, E = 200, N = 20 -> (200 - 20) / 200 = 0.90.
    # 200 at start, 20 of them lost in March; 20 new in March, all still here: E = 180 + 20.
    wh.add(
        "customers",
        *customers("stay", 180, created_at=BEFORE),
        *customers("lost", 20, created_at=BEFORE, churned_at=DURING),
        *customers("new", 20, created_at=DURING),
        *customers("later", 3, created_at="2026-04-02T00:00:00Z"),  # after the window
    )
    v = one(wh, "retention_rate")
    assert v.value == pytest.approx(0.90)
    assert v.details == {"start": 200, "end": 200, "new": 20}


def test_retention_monthly_buckets(wh: Wh) -> None:
    # Jan: 10 at start, 2 lost in Jan, 1 new -> E = 9 -> (9 - 1) / 10 = 0.8.
    # Feb: S = 9, nobody lost, no new -> (9 - 0) / 9 = 1.0.
    wh.add(
        "customers",
        *customers("stay", 8, created_at=BEFORE),
        *customers("lost", 2, created_at=BEFORE, churned_at="2026-01-20T00:00:00Z"),
        {"id": "new", "created_at": "2026-01-05T00:00:00Z"},
    )
    rows = wh.kpi(
        "retention_rate", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC),
        every="month",
    )  # fmt: skip
    assert [r.value for r in rows] == [pytest.approx(0.8), pytest.approx(1.0)]


def orders_for(customer: str, n: int, amount: float, **fields: Any) -> list[dict[str, Any]]:
    # n orders in 2025, one a month counting back from December (so none is inactive by 2026).
    return [
        {
            "id": f"{customer}-{i}",
            "customer_id": customer,
            "amount": amount,
            "created_at": f"2025-{12 - i:02d}-10T00:00:00Z",
            **fields,
        }
        for i in range(n)
    ]


YEAR = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def test_clv_simple_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: order value 50, 5 orders a year, 3 years -> 50 x 5 x 3 = 750.
    # Two customers, 5 orders of 50 each in the year 2025 (exactly 12 calendar months).
    wh.add("orders", *orders_for("a", 5, 50), *orders_for("b", 5, 50))
    v = one(wh, "customer_lifetime_value", *YEAR, params={"lifetime_years": 3})
    assert v.value == pytest.approx(750.0)
    assert v.details["orders_per_year"] == pytest.approx(5.0)
    # No churn known (no customers rows): the default lifetime of 3 years gives 750 as well.
    assert one(wh, "customer_lifetime_value", *YEAR).value == pytest.approx(750.0)


def test_clv_lifetime_from_churn_and_variants(wh: Wh) -> None:
    # 4 customers at the start of 2025, 1 lost during it (c3; c0 and c1 ordered in December,
    # c2 never ordered: none inactive): annual churn 1/4 -> lifetime 4 years.
    wh.add(
        "customers",
        *customers("c", 3, created_at="2024-01-01T00:00:00Z"),
        {"id": "c3", "created_at": "2024-01-01T00:00:00Z", "churned_at": "2025-06-01T00:00:00Z"},
    )
    # c0: 4 orders of 100 (margin 0.5 given); c1: 2 orders of 100; a refunded order is ignored.
    wh.add(
        "orders",
        *orders_for("c0", 4, 100, margin=0.5),
        *orders_for("c1", 2, 100),
        {"id": "r", "customer_id": "c1", "amount": 999, "created_at": "2025-03-03T00:00:00Z",
         "refunded": True},
    )  # fmt: skip
    # simple: AOV 600 / 6 = 100; orders per customer per year 6 / 2 = 3; x 4 years = 1200.
    v = one(wh, "customer_lifetime_value", *YEAR)
    assert v.details["annual_churn"] == pytest.approx(0.25)
    assert v.value == pytest.approx(1200.0)
    # historical: c0 4 x 100 x 0.5 = 200, c1 2 x 100 x 1 (default margin) = 200 -> 200 each.
    v = one(wh, "customer_lifetime_value", *YEAR, params={"variant": "historical"})
    assert v.value == pytest.approx(200.0)
    # predictive: monthly orders 6 / 2 / 12 = 0.25; value per order with margin 400 / 6;
    # lifetime 48 months: 0.25 x 400/6 x 48 = 800.
    v = one(wh, "customer_lifetime_value", *YEAR, params={"variant": "predictive"})
    assert v.value == pytest.approx(800.0)


def test_clv_historical_is_cumulative(wh: Wh) -> None:
    wh.add(
        "orders",
        {"id": "1", "customer_id": "a", "amount": 100, "created_at": "2025-12-05T00:00:00Z"},
        {"id": "2", "customer_id": "b", "amount": 50, "created_at": "2026-01-05T00:00:00Z"},
        {"id": "3", "customer_id": "a", "amount": 30, "created_at": "2026-02-05T00:00:00Z"},
        {"id": "4", "customer_id": "c", "amount": 70, "created_at": "2026-04-05T00:00:00Z"},
    )
    rows = wh.kpi(
        "customer_lifetime_value",
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
        every="month",
        params={"variant": "historical"},
    )
    # End of January: a 100 (December counts: history), b 50 -> 150 / 2 = 75.
    # End of February: a 130, b 50 -> 90; March adds nothing -> 90. April's order is later.
    assert [r.value for r in rows] == [75.0, 90.0, 90.0]
    assert [r.n for r in rows] == [2, 2, 2]


def test_calendar_months() -> None:
    assert calendar_months(*YEAR, UTC) == 12.0
    leap = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert calendar_months(*leap, UTC) == 12.0
    # Jan 1 .. Feb 15: 1 month + 14 of February's 28 days = 1.5.
    assert (
        calendar_months(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC), UTC)
        == 1.5
    )


def test_referral_rate(wh: Wh) -> None:
    wh.add(
        "customers",
        {"id": "a", "created_at": DURING, "acquisition_channel": "referral"},
        {"id": "b", "created_at": DURING, "acquisition_channel": "Referral"},
        {"id": "c", "created_at": DURING, "acquisition_channel": "ads"},
        {"id": "d", "created_at": DURING},
        {"id": "e", "created_at": BEFORE, "acquisition_channel": "referral"},  # not new
    )
    # 2 referred of 4 new = 0.5.
    assert one(wh, "referral_rate").value == pytest.approx(0.5)


def test_customer_engagement(wh: Wh) -> None:
    wh.add(
        "engagement_events",
        *[
            {"id": f"e{i}", "customer_id": c, "kind": "email_open", "created_at": DURING}
            for i, c in enumerate(["a", "a", "a", "b", "b", "c"])
        ],
    )
    wh.add("orders", {"id": "o", "customer_id": "d", "amount": 5, "created_at": DURING})
    wh.add("tickets", {"id": "t", "created_at": DURING, "requester_id": "a"})
    wh.add("chats", {"id": "h", "requested_at": DURING, "customer_id": "e"})
    # 6 events / active customers a, b, c, d, e = 5 -> 1.2.
    v = one(wh, "customer_engagement")
    assert v.value == pytest.approx(1.2)
    assert v.details == {"events": 6, "active_customers": 5}


def test_cost_per_ticket_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: monthly costs 20,000 / 1,000 tickets -> 20.
    wh.add(
        "costs",
        {"period_start": "2026-03-01", "period_end": "2026-03-31", "amount": 15000,
         "category": "salaries", "currency": "EUR"},
        {"period_start": "2026-03-01", "period_end": "2026-04-01", "amount": 5000,
         "category": "rent", "currency": "EUR"},
    )  # fmt: skip
    wh.add(
        "tickets",
        *[{"id": f"t{i}", "created_at": "2026-03-10T08:00:00Z"} for i in range(1000)],
    )
    v = one(wh, "cost_per_ticket")
    assert v.value == pytest.approx(20.0)
    assert v.details["currency"] == "EUR"


def test_cost_per_ticket_prorated_and_variants(wh: Wh) -> None:
    # A quarterly cost of 9,000 for Jan-Mar 2026 (90 days): March holds 31/90 of it = 3,100.
    wh.add("costs", {"period_start": "2026-01-01", "period_end": "2026-03-31", "amount": 9000})
    wh.add(
        "tickets",
        *[{"id": f"t{i}", "created_at": DURING} for i in range(10)],
        *[{"id": f"s{i}", "created_at": BEFORE, "solved_at": DURING} for i in range(5)],
        {"id": "x", "created_at": DURING, "status": "deleted"},
    )
    wh.add("chats", *[{"id": f"h{i}", "requested_at": DURING} for i in range(21)])
    # per ticket: 3100 / 10 created in March.
    assert one(wh, "cost_per_ticket").value == pytest.approx(310.0)
    # per resolved: 3100 / 5 solved in March.
    assert one(wh, "cost_per_ticket", params={"per": "resolved"}).value == pytest.approx(620.0)
    # per contact: 3100 / (10 tickets + 21 chats).
    assert one(wh, "cost_per_ticket", params={"per": "contact"}).value == pytest.approx(100.0)


def test_cost_span() -> None:
    day = datetime(2026, 3, 31, tzinfo=UTC)
    # Inclusive end date: through the end of March 31.
    assert cost_span(datetime(2026, 3, 1, tzinfo=UTC), day)[1] == datetime(2026, 4, 1, tzinfo=UTC)
    # 1st to 1st: an exclusive whole month.
    first = datetime(2026, 4, 1, tzinfo=UTC)
    assert cost_span(datetime(2026, 3, 1, tzinfo=UTC), first)[1] == first


@pytest.mark.parametrize(
    "metric",
    [
        "churn_rate",
        "retention_rate",
        "customer_lifetime_value",
        "referral_rate",
        "customer_engagement",
        "cost_per_ticket",
    ],
)
def test_empty_window_is_null(wh: Wh, metric: str) -> None:
    v = one(wh, metric)
    assert (v.value, v.n) == (None, 0)


def test_refunds_and_cancellations_reported_apart_leave_their_orders_out(wh: Wh) -> None:
    # Klaviyo-style: refunds and cancellations are their own events, matched by order id.
    wh.add(
        "orders",
        {"id": "1001", "customer_id": "a", "amount": 100, "created_at": "2025-02-01T00:00:00Z"},
        {"id": "1002", "customer_id": "b", "amount": 40.5, "created_at": "2025-03-01T00:00:00Z"},
        {"id": "1003", "customer_id": "a", "amount": 60, "created_at": "2025-04-01T00:00:00Z"},
        {"id": "1004", "customer_id": "c", "amount": 25, "created_at": "2025-05-01T00:00:00Z"},
        {"id": "1005", "customer_id": "c", "amount": 80, "created_at": "2025-06-01T00:00:00Z"},
        source="kl",
    )
    wh.add(
        "order_adjustments",
        # a full refund (the same amount): 1002 is out
        {"id": "RF1", "order_id": "1002", "kind": "refund", "amount": 40.5,
         "created_at": "2025-03-05T00:00:00Z"},
        # a partial refund: 1003 stays
        {"id": "RF2", "order_id": "1003", "kind": "refund", "amount": 10,
         "created_at": "2025-04-05T00:00:00Z"},
        # a cancellation (no amount): 1004 is out
        {"id": "CX1", "order_id": "1004", "kind": "cancel", "created_at": "2025-05-02T00:00:00Z"},
        source="kl",
    )  # fmt: skip
    # Another source's adjustment of an order with the same id changes nothing here.
    wh.add(
        "order_adjustments",
        {"id": "X", "order_id": "1005", "kind": "cancel", "created_at": "2025-06-02T00:00:00Z"},
        source="other",
    )
    # historical: a 100 + 60 = 160, c 80 (b has nothing left: not a customer who ordered)
    # -> (160 + 80) / 2 = 120.
    v = one(wh, "customer_lifetime_value", *YEAR, params={"variant": "historical"})
    assert v.value == pytest.approx(120.0)
    assert v.n == 2
