"""People across sources: matching by normalised e-mail, support values per person, and
customers' value and churn by first-response experience, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deskpulse.kpi_core.identity import (
    MISSED,
    WITHIN,
    customer_values,
    match_summary,
    people,
    revenue_by_experience,
    support_values,
)
from tests.kpi_core.test_ticket_metrics import m

NOW = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def shop(wh: Any) -> Any:
    wh.add(
        "customers",
        {"id": "z1", "email": "Ann@x.com"},
        {"id": "z2", "email": "bob@x.com"},
        {"id": "z3"},  # no e-mail: a person of their own
        source="zd",
    )
    wh.add(
        "customers",
        {"id": "k1", "email": " ann@X.com "},  # Ann, as the shop wrote her address
        {"id": "k2", "email": "carol@x.com"},
        {"id": "k3", "email": "bob@x.com", "extra": {"klaviyo_predictive": {
            "predicted_clv": 40.0, "churn_probability": 0.9}}},
        source="kl",
    )  # fmt: skip
    wh.add(
        "tickets",
        # Ann: answered in 30 min (within 60); Bob: in 120 min (missed).
        {"id": "t1", "created_at": "2026-03-02T10:00:00Z", "requester_id": "z1", "status": "solved"},
        {"id": "t2", "created_at": "2026-03-03T10:00:00Z", "requester_id": "z2", "status": "open"},
        source="zd",
    )  # fmt: skip
    wh.add(
        "ticket_events",
        m(1, "t1", "2026-03-02T10:00:00Z", "customer"),
        m(2, "t1", "2026-03-02T10:30:00Z", "agent"),
        m(3, "t2", "2026-03-03T10:00:00Z", "customer"),
        m(4, "t2", "2026-03-03T12:00:00Z", "agent"),
        source="zd",
    )
    wh.add(
        "survey_responses",
        {"id": "r1", "survey": "csat", "score": 5, "created_at": "2026-03-02T11:00:00Z",
         "customer_id": "z1"},
        {"id": "r2", "survey": "csat", "score": 3, "created_at": "2026-03-06T11:00:00Z",
         "customer_id": "z1"},
        source="zd",
    )  # fmt: skip
    wh.add(
        "orders",
        {"id": "o1", "customer_id": "k1", "amount": 100, "created_at": "2026-01-10T00:00:00Z"},
        {"id": "o2", "customer_id": "k1", "amount": 60, "created_at": "2026-03-10T00:00:00Z"},
        {"id": "o3", "customer_id": "k3", "amount": 50, "created_at": "2025-10-01T00:00:00Z"},
        {"id": "o4", "customer_id": "k2", "amount": 80, "created_at": "2026-03-20T00:00:00Z"},
        source="kl",
    )
    wh.add(
        "order_adjustments",
        {"id": "a1", "order_id": "o2", "kind": "refund", "amount": 60,
         "created_at": "2026-03-12T00:00:00Z"},
        source="kl",
    )  # fmt: skip
    return wh


def test_people_are_matched_on_the_normalised_email(shop: Any) -> None:
    everyone = people(shop.conn)
    assert sorted(everyone["ann@x.com"].rows) == [("kl", "k1"), ("zd", "z1")]
    assert everyone["zd:z3"].sources == ("zd",)
    assert match_summary(everyone) == {"kl+zd": 2, "kl": 1, "zd": 1}


def test_support_values_per_person(shop: Any) -> None:
    support = support_values(shop.conn, target_minutes=60, now=NOW)
    assert support["ann@x.com"].values() == {
        "ticket_count": 1,
        "open_tickets": 0,
        "last_csat": 3.0,  # the latest of 5 then 3
        "first_response_experience": WITHIN,
    }
    assert support["bob@x.com"].values() == {
        "ticket_count": 1,
        "open_tickets": 1,
        "last_csat": None,
        "first_response_experience": MISSED,
    }
    assert "carol@x.com" not in support
    # With a target of 150 minutes Bob's 120 is within it.
    wide = support_values(shop.conn, target_minutes=150, now=NOW)
    assert wide["bob@x.com"].experience == WITHIN


def test_revenue_by_experience(shop: Any) -> None:
    rows, matched = revenue_by_experience(shop.conn, now=NOW, target_minutes=60)
    by = {r["first_response"]: r for r in rows}
    # Ann: 100 (o2 refunded in full), last order 03-10: not lost.
    assert by[WITHIN] == {
        "first_response": WITHIN, "people": 1, "customers": 1, "clv_historical": 100.0,
        "churn_rate": 0.0, "vendor_predicted_clv": None, "vendor_churn_probability": None,
    }  # fmt: skip
    # Bob: 50, last order 2025-10-01, more than 90 days before 04-01: lost.
    assert by[MISSED] == {
        "first_response": MISSED, "people": 1, "customers": 1, "clv_historical": 50.0,
        "churn_rate": 1.0, "vendor_predicted_clv": 40.0, "vendor_churn_probability": 0.9,
    }  # fmt: skip
    # Carol (orders, no tickets) and z3 (neither): 2 people, 1 customer worth 80.
    assert by["no_tickets"]["people"] == 2
    assert by["no_tickets"]["customers"] == 1
    assert by["no_tickets"]["clv_historical"] == 80.0
    assert matched == {"kl+zd": 2, "kl": 1, "zd": 1}


def test_customer_values_per_person(shop: Any) -> None:
    shop.add(
        "survey_responses",
        # Ann: a 0-10 CSAT 8 (>= 0 + 0.75 x 10: positive), two NPS answers, the last one 6.
        {"id": "r3", "survey": "csat", "score": 8, "scale_min": 0, "scale_max": 10,
         "created_at": "2026-03-07T11:00:00Z", "customer_id": "k1"},
        {"id": "n1", "survey": "nps", "score": 9, "created_at": "2026-02-01T00:00:00Z",
         "customer_id": "z1", "source": "zd"},
        {"id": "n2", "survey": "nps", "score": 6, "created_at": "2026-03-01T00:00:00Z",
         "customer_id": "k1"},
        {"id": "n3", "survey": "nps", "score": 0, "created_at": "2026-05-01T00:00:00Z",
         "customer_id": "z1", "source": "zd"},  # after `now`: not yet
        source="kl",
    )  # fmt: skip
    shop.add(
        "orders",
        {"id": "o5", "customer_id": "k2", "amount": 40, "margin": 0.5,
         "created_at": "2026-03-21T00:00:00Z"},
        source="kl",
    )  # fmt: skip
    values = customer_values(shop.conn, now=NOW)
    # Ann: CSAT 5 (positive), 3 (not), 8 of 10 (positive) -> 2/3; NPS 9 then 6 -> 6; orders
    # 100 + 60 refunded in full -> 100.
    assert values["ann@x.com"] == {"lifetime_csat": 0.6667, "last_nps": 6.0, "clv": 100.0}
    # Bob: no survey; one order of 50.
    assert values["bob@x.com"] == {"lifetime_csat": None, "last_nps": None, "clv": 50.0}
    # Carol: 80 + 40 x margin 0.5 = 100.
    assert values["carol@x.com"]["clv"] == 100.0
    assert "zd:z3" not in values  # no survey, no order: nothing to say
