"""Per-ticket values: hand-worked numbers on the ticket metrics' help desk, and the aggregate
metrics equal to aggregates of the per-ticket values (see test_ticket_metrics for the desk)."""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import mean
from typing import Any

import pytest

from deskpulse.kpi_core import KpiQuery, compute
from deskpulse.kpi_core.business_hours import Schedule, ScheduleSet
from deskpulse.kpi_core.config import KpiConfig, SlaPolicy
from deskpulse.kpi_core.per_ticket import ticket_values

OFFICE = ScheduleSet(
    {"office": Schedule.from_hours("office", "UTC", {"mon-fri": ["09:00-17:00"]})}, "office"
)
SLA = KpiConfig(
    sla=(
        SlaPolicy("urgent", first_response_minutes=60, resolution_minutes=480),
        SlaPolicy(None, first_response_minutes=120, resolution_minutes=1440),
    )
)
WIDE = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def values(wh: Any, **kw: Any) -> dict[str, Any]:
    return {tid: v for (source, tid), v in ticket_values(wh.conn, **kw).items()}


def test_hand_worked_values(desk: Any) -> None:
    got = values(desk, schedules=OFFICE, config=SLA)
    assert "T4" not in got  # deleted
    table = {
        tid: (
            v.first_response_minutes,
            v.first_response_business_minutes,
            v.first_resolution_minutes,
            v.first_resolution_business_minutes,
            v.resolution_minutes,
            v.resolution_business_minutes,
        )
        for tid, v in got.items()
    }
    # Business hours Mon-Fri 09-17 UTC; 03-02 is a Monday. T2: Tue 09:00 -> Wed 09:00 is 8 h;
    # -> Thu 11:00 is 8 + 8 + 2 = 18 h. T3 opens Tue 08:00, before opening: 09-12 is 3 h.
    # T6 (Fri 02-20 10:00 -> Mon 03-02 10:00): 7 + 5 x 8 + 1 = 48 h.
    assert table == {
        "T1": (30.0, 30.0, 120.0, 120.0, 120.0, 120.0),
        "T2": (140.0, 140.0, 1440.0, 480.0, 3000.0, 1080.0),
        "T3": (60.0, 0.0, 240.0, 180.0, 240.0, 180.0),
        "T5": (None, None, None, None, None, None),
        "T6": (14400.0, 2880.0, None, None, None, None),
        "T7": (45.0, 45.0, None, None, None, None),
    }
    # Urgent T2: FR 60 / resolution 480; the others FR 120 / resolution 1440 (calendar).
    sla = {
        tid: (v.sla_first_response_met, v.sla_resolution_met, v.sla_met) for tid, v in got.items()
    }
    assert sla == {
        "T1": (True, True, True),
        "T2": (False, False, False),
        "T3": (True, True, True),
        "T5": (False, False, False),  # never answered nor solved, long past both targets
        "T6": (False, False, False),
        "T7": (True, False, False),  # answered in 45; pending long past 1440
    }


def test_without_schedules_or_policies_those_values_are_none(desk: Any) -> None:
    v = values(desk)["T1"]
    assert v.first_response_minutes == 30.0
    assert v.first_response_business_minutes is None and v.resolution_business_minutes is None
    assert (v.sla_first_response_met, v.sla_resolution_met, v.sla_met) == (None, None, None)


def test_selecting_tickets(desk: Any) -> None:
    assert set(
        values(desk, tickets=[("zd", "T1"), ("zd", "T7"), ("zd", "T4"), ("other", "T2")])
    ) == {
        "T1",
        "T7",
    }
    # No updated_at in this desk: `since` falls back to created_at.
    assert set(values(desk, since=datetime(2026, 3, 20, tzinfo=UTC))) == {"T5", "T7"}
    assert values(desk, sources=["nope"]) == {}


def test_requester_tickets_in_the_30_days_up_to_creation(wh: Any) -> None:
    def t(tid: str, created: str, requester: str, **kw: Any) -> dict[str, Any]:
        return {"id": tid, "created_at": created, "requester_id": requester, "status": "open", **kw}

    wh.add(
        "tickets",
        t("a", "2026-01-01T10:00:00Z", "R1"),
        t("b", "2026-01-20T10:00:00Z", "R1"),
        t("c", "2026-02-05T10:00:00Z", "R1"),
        t("d", "2026-02-08T10:00:00Z", "R1"),  # exactly 30 days before e: outside e's window
        t("x", "2026-02-10T10:00:00Z", "R1", status="deleted"),
        t("e", "2026-03-10T10:00:00Z", "R1"),
        t("f", "2026-03-01T10:00:00Z", "R2"),
    )
    wh.add("tickets", t("g", "2026-03-09T10:00:00Z", "R1"), source="other")
    got = {k: v.requester_tickets_30d for k, v in ticket_values(wh.conn).items()}
    # a: itself; b: a (19 days) + b; c: b + c (a is 35 days back); d: b, c, d; e: only itself
    # (d is exactly 30 days back, x is deleted, g is another source's).
    assert got == {
        ("zd", "a"): 1,
        ("zd", "b"): 2,
        ("zd", "c"): 2,
        ("zd", "d"): 3,
        ("zd", "e"): 1,
        ("zd", "f"): 1,
        ("other", "g"): 1,
    }


@pytest.mark.parametrize("business", [False, True])
def test_aggregates_equal_aggregates_of_the_per_ticket_values(desk: Any, business: bool) -> None:
    schedules = OFFICE if business else None
    per = list(
        ticket_values(desk.conn, schedules=OFFICE, business_hours=business, config=SLA).values()
    )
    suffix = "_business_minutes" if business else "_minutes"
    query = KpiQuery(*WIDE, business_hours=business, schedules=schedules, config=SLA)
    got = {v.metric: v for v in compute(desk.conn, None, query) if v.group is None}
    for metric_id, name in [
        ("first_response_time", "first_response"),
        ("first_resolution_time", "first_resolution"),
        ("resolution_time", "resolution"),
    ]:
        items = [getattr(v, name + suffix) for v in per if getattr(v, name + suffix) is not None]
        assert got[metric_id].n == len(items)
        assert got[metric_id].value == pytest.approx(mean(items))
    decided = [
        x for v in per for x in (v.sla_first_response_met, v.sla_resolution_met) if x is not None
    ]
    sla = got["sla_attainment"]
    assert sla.n == len(decided)
    assert sla.value == pytest.approx(sum(decided) / len(decided))
