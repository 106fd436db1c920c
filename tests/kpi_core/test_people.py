"""Customer KPIs count people, not rows: one e-mail (trimmed, any case) is one customer across
sources (kpi_core.people). Worked by hand on a help desk (`zd`), a shop (`kl`) and a second help
desk (`la`) that share customers, window March 2026, inactivity 90 days.

    person  rows (source:id, e-mail as written, created)                       orders (kl unless said)
    ann     zd:z1 "Ann@Shop.com" 2025-06-01, kl:k1 " ann@shop.com " 2025-09-01, 100 on 2025-10-01,
            la:l1 "ANN@shop.com" 2025-06-01                                     50 on 2025-12-10
    bob     zd:z2 "bob@shop.com" 2025-06-01, kl:k2 "BOB@shop.com" 2025-06-01    80 on 2026-02-20,
                                                                                30 on 2026-03-25,
                                                                                zd: 20 on 2026-03-08
    dan     zd:z3 (no e-mail) 2025-06-01                                        -
    eve     zd:z4 "eve@shop.com" 2026-03-10, kl:k4 "Eve@Shop.com " 2026-03-12   60 on 2026-03-20
            (k4 acquired by referral)
    cara    kl:k3 "cara@shop.com" 2026-03-05 (referral)                         40 on 2026-03-06

March contacts: tickets by z1, z4, z2; a chat by l1 (Ann again, through the other help desk).
March engagement events: k1 one, k2 two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import deskpulse.kpi_core.metrics.customers
import deskpulse.kpi_core.metrics.volume  # noqa: F401
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
OLD = "2025-06-01T00:00:00Z"


@pytest.fixture
def shared(wh: Wh) -> Wh:
    wh.add(
        "customers",
        {"id": "z1", "email": "Ann@Shop.com", "created_at": OLD},
        {"id": "z2", "email": "bob@shop.com", "created_at": OLD},
        {"id": "z3", "created_at": OLD},
        {"id": "z4", "email": "eve@shop.com", "created_at": "2026-03-10T00:00:00Z"},
        source="zd",
    )
    wh.add(
        "customers",
        {"id": "k1", "email": " ann@shop.com ", "created_at": "2025-09-01T00:00:00Z"},
        {"id": "k2", "email": "BOB@shop.com", "created_at": OLD},
        {
            "id": "k3",
            "email": "cara@shop.com",
            "created_at": "2026-03-05T00:00:00Z",
            "acquisition_channel": "referral",
        },
        {
            "id": "k4",
            "email": "Eve@Shop.com ",
            "created_at": "2026-03-12T00:00:00Z",
            "acquisition_channel": "referral",
        },
        source="kl",
    )
    wh.add("customers", {"id": "l1", "email": "ANN@shop.com", "created_at": OLD}, source="la")

    def order(oid: str, customer: str, amount: float, day: str) -> dict[str, Any]:
        return {"id": oid, "customer_id": customer, "amount": amount, "created_at": day}

    wh.add(
        "orders",
        order("o1", "k1", 100, "2025-10-01T00:00:00Z"),
        order("o2", "k1", 50, "2025-12-10T00:00:00Z"),
        order("o3", "k2", 80, "2026-02-20T00:00:00Z"),
        order("o4", "k3", 40, "2026-03-06T00:00:00Z"),
        order("o5", "k4", 60, "2026-03-20T00:00:00Z"),
        order("o6", "k2", 30, "2026-03-25T00:00:00Z"),
        source="kl",
    )
    wh.add("orders", order("o7", "z2", 20, "2026-03-08T00:00:00Z"), source="zd")
    wh.add(
        "tickets",
        {"id": "t1", "created_at": "2026-03-03T09:00:00Z", "requester_id": "z1"},
        {"id": "t2", "created_at": "2026-03-11T09:00:00Z", "requester_id": "z4"},
        {"id": "t3", "created_at": "2026-03-15T09:00:00Z", "requester_id": "z2"},
        source="zd",
    )
    wh.add(
        "chats",
        {"id": "c1", "requested_at": "2026-03-04T09:00:00Z", "customer_id": "l1"},
        source="la",
    )
    wh.add(
        "engagement_events",
        {
            "id": "e1",
            "customer_id": "k1",
            "kind": "email_open",
            "created_at": "2026-03-02T00:00:00Z",
        },
        {
            "id": "e2",
            "customer_id": "k2",
            "kind": "email_click",
            "created_at": "2026-03-16T00:00:00Z",
        },
        {
            "id": "e3",
            "customer_id": "k2",
            "kind": "email_open",
            "created_at": "2026-03-17T00:00:00Z",
        },
        source="kl",
    )
    return wh


def one(wh: Wh, metric: str, **fields: Any) -> Any:
    values = wh.kpi(metric, START, END, **fields)
    assert len(values) == 1, values
    return values[0]


def test_churn_counts_people(shared: Wh) -> None:
    # At start: ann, bob, dan (eve and cara arrive in March). Ann's last order, in the shop,
    # 2025-12-10 + 90 days = 2026-03-10: lost in March, although her help-desk rows have no
    # orders. Bob's last order (2026-03-25, either source) keeps him. 1 / 3 (rows: 1 / 6).
    v = one(shared, "churn_rate")
    assert v.value == pytest.approx(1 / 3)
    assert (v.n, v.details) == (3, {"lost": 1, "at_start": 3})


def test_retention_counts_people(shared: Wh) -> None:
    # S = 3 (ann, bob, dan); E = 4 (bob, dan, eve, cara); N = 2 (eve on 03-10, her earliest
    # row; cara) -> (4 - 2) / 3.
    v = one(shared, "retention_rate")
    assert v.value == pytest.approx(2 / 3)
    assert v.details == {"start": 3, "end": 4, "new": 2}


def test_lifetime_value_counts_people(shared: Wh) -> None:
    # Historical: ann 150, bob 80 + 30 + 20 (two sources) = 130, eve 60, cara 40 -> 380 over
    # 4 people = 95 (rows: 5 customers, 76).
    v = one(shared, "customer_lifetime_value", params={"variant": "historical"})
    assert v.value == pytest.approx(95.0)
    assert (v.details["customers"], v.details["orders"]) == (4, 7)
    # Simple, March's orders: 40 + 60 + 30 + 20 = 150 in 4 orders by 3 people (cara, eve,
    # bob): 37.5 a order x 4/3 orders a month x 12 x 3 years (no one was a customer a year
    # before the window end, so annual churn is unknown: the default lifetime) = 1,800.
    v = one(shared, "customer_lifetime_value")
    assert v.value == pytest.approx(1800.0)
    assert v.details["customers"] == 3 and v.details["lifetime_years"] == 3.0


def test_referral_rate_counts_people(shared: Wh) -> None:
    # New in March: eve (earliest row 03-10; her shop profile came by referral) and cara
    # (referral) -> 2 / 2 (rows: z4, k3, k4 -> 2 / 3).
    v = one(shared, "referral_rate")
    assert v.value == pytest.approx(1.0)
    assert v.details == {"referred": 2, "new": 2}


def test_engagement_counts_people(shared: Wh) -> None:
    # 3 events; active people: ann (event, ticket, chat), bob (events, orders, ticket), cara
    # (order), eve (order, ticket) -> 3 / 4 (rows: 8 active, 3 / 8).
    v = one(shared, "customer_engagement")
    assert v.value == pytest.approx(0.75)
    assert v.details == {"events": 3, "active_customers": 4}


def test_repeat_contacts_counts_people(shared: Wh) -> None:
    # Ann wrote a ticket to one help desk and chatted on the other: one person, two contacts.
    # Eve and Bob one each -> 1 / 3 (rows: 0 / 4).
    v = one(shared, "repeat_contacts")
    assert v.value == pytest.approx(1 / 3)
    assert v.details == {"repeat": 1, "customers": 3}


def test_by_source_counts_each_source_s_people(shared: Wh) -> None:
    # Within a source its rows are its people: kl has k1, k2 at start and loses k1 (1 / 2); zd
    # has z1, z2, z3 and no loss (z2's order keeps bob until June); la has l1, no orders.
    values = shared.kpi("churn_rate", START, END, by="source")
    got = {(v.group or {}).get("source"): (v.value, v.n) for v in values}
    assert got == {"kl": (0.5, 2), "la": (0.0, 1), "zd": (0.0, 3)}


def test_a_source_filter_matches_people_within_it(shared: Wh) -> None:
    # Help desks only (zd, la): ann is z1 + l1, no orders there -> never lost; bob's zd order
    # (2026-03-08) keeps him; at start ann, bob, dan; none lost.
    v = one(shared, "churn_rate", sources=("zd", "la"))
    assert (v.value, v.n) == (0.0, 3)
