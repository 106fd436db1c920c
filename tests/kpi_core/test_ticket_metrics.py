"""Ticket metrics, table-driven: one small help desk in, hand-worked numbers out.

The help desk (source zd, March 2026 window, UTC; all times 2026 unless said):

T1  03-02 10:00 customer; 10:01 bot; 10:05 internal note; 10:30 agent reply (status open);
    12:00 solved.  a1, high, question, email, "Order 123 late".
    FRT 30; gap 30; first/full resolution 120; new 30 + open 90: wait 120, work 120, hold 0.
T2  03-03 09:00 agent opens (outbound, status open); 11:00 customer; 11:20 agent; 12:00
    customer; 14:00 agent (pending); 03-04 09:00 solved; 03-05 09:00 customer reopens (open);
    10:00 agent; 11:00 solved.  a2, urgent, complaint, tag vip, "Refund please".
    FRT 140 (agent-opened: clock stops at 11:20, starts at 09:00); gaps 20, 120, 60;
    first resolution 1440; full 3000; open 300 + 120: wait 420, work 420, hold 0;
    3 customer messages, 4 agent messages, reopened once.
T3  03-10 08:00 customer; 09:00 agent (open); 09:30 hold; 11:30 open; 12:00 solved;
    03-14 12:00 closed.  a1, normal, incident, tags escalated;billing, "order #456 late!".
    FRT 60; gap 60; resolution 240 (closing is not a new solve); new 60 + open 30 + hold 120
    + open 30: wait 240, work 120, hold 120.
T4  03-11 deleted (with a 5-minute reply): excluded everywhere.
T5  03-20 10:00 customer; 10:01 bot; 10:30 internal note; never answered, open.
    a2, low, question, "Re: Order 789 late".
T6  02-20 10:00 customer (created in February); 03-02 10:00 agent reply; still open.
    a1, normal, question. FRT 14400 (10 days), anchored in March at the reply.
T7  03-25 12:00 customer; 12:45 agent; pending.  a2, high, incident, "Cannot log in".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from deskpulse.kpi_core import REGISTRY, KpiQuery, KpiValue, compute
from deskpulse.kpi_core.business_hours import Schedule, ScheduleSet
from deskpulse.kpi_core.canonical import SLA_EVENT_TYPES, InvalidRow, coerce_row
from deskpulse.kpi_core.config import KpiConfig, SlaPolicy, Target, from_dict
from deskpulse.kpi_core.registry import KpiError

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
TICKET_METRICS = [
    m.id
    for m in REGISTRY.values()
    if m.compute.__module__.startswith("deskpulse.kpi_core.metrics.tickets_")
]


def ev(i: int, ticket: str, when: str, kind: str, **kw: Any) -> dict[str, Any]:
    return {"id": f"{ticket}-{i}", "ticket_id": ticket, "created_at": when, "kind": kind, **kw}


def m(i: int, ticket: str, when: str, author: str, public: bool = True) -> dict[str, Any]:
    return ev(i, ticket, when, "message", author_kind=author, public=public)


def s(i: int, ticket: str, when: str, status: str) -> dict[str, Any]:
    return ev(i, ticket, when, "status", author_kind="system", status=status)


@pytest.fixture
def desk(wh: Any) -> Any:
    wh.add(
        "tickets",
        {"id": "T1", "created_at": "2026-03-02T10:00:00Z", "status": "solved",
         "solved_at": "2026-03-02T12:00:00Z", "assignee_id": "a1", "priority": "high",
         "type": "question", "channel": "email", "group": "G1", "subject": "Order 123 late"},
        {"id": "T2", "created_at": "2026-03-03T09:00:00Z", "status": "solved",
         "solved_at": "2026-03-05T11:00:00Z", "assignee_id": "a2", "priority": "urgent",
         "type": "complaint", "channel": "phone", "group": "G2", "tags": "vip",
         "subject": "Refund please"},
        {"id": "T3", "created_at": "2026-03-10T08:00:00Z", "status": "closed",
         "solved_at": "2026-03-10T12:00:00Z", "closed_at": "2026-03-14T12:00:00Z",
         "assignee_id": "a1", "priority": "normal", "type": "incident", "channel": "email",
         "group": "G1", "tags": "escalated;billing", "subject": "order #456 late!"},
        {"id": "T4", "created_at": "2026-03-11T08:00:00Z", "status": "deleted",
         "assignee_id": "a1", "priority": "normal", "type": "question", "subject": "Order 1 late"},
        {"id": "T5", "created_at": "2026-03-20T10:00:00Z", "status": "open", "assignee_id": "a2",
         "priority": "low", "type": "question", "channel": "web", "group": "G2",
         "subject": "Re: Order 789 late"},
        {"id": "T6", "created_at": "2026-02-20T10:00:00Z", "status": "open", "assignee_id": "a1",
         "priority": "normal", "type": "question", "channel": "email", "group": "G1"},
        {"id": "T7", "created_at": "2026-03-25T12:00:00Z", "status": "pending",
         "assignee_id": "a2", "priority": "high", "type": "incident", "channel": "chat",
         "group": "G2", "subject": "Cannot log in"},
    )  # fmt: skip
    wh.add(
        "ticket_events",
        s(0, "T1", "2026-03-02T10:00:00Z", "new"),
        m(1, "T1", "2026-03-02T10:00:00Z", "customer"),
        m(2, "T1", "2026-03-02T10:01:00Z", "bot"),
        m(3, "T1", "2026-03-02T10:05:00Z", "agent", public=False),
        m(4, "T1", "2026-03-02T10:30:00Z", "agent"),
        s(5, "T1", "2026-03-02T10:30:00Z", "open"),
        s(6, "T1", "2026-03-02T12:00:00Z", "solved"),
        m(1, "T2", "2026-03-03T09:00:00Z", "agent"),
        s(2, "T2", "2026-03-03T09:00:00Z", "open"),
        m(3, "T2", "2026-03-03T11:00:00Z", "customer"),
        m(4, "T2", "2026-03-03T11:20:00Z", "agent"),
        m(5, "T2", "2026-03-03T12:00:00Z", "customer"),
        m(6, "T2", "2026-03-03T14:00:00Z", "agent"),
        s(7, "T2", "2026-03-03T14:00:00Z", "pending"),
        s(8, "T2", "2026-03-04T09:00:00Z", "solved"),
        m(9, "T2", "2026-03-05T09:00:00Z", "customer"),
        s(10, "T2", "2026-03-05T09:00:00Z", "open"),
        m(11, "T2", "2026-03-05T10:00:00Z", "agent"),
        s(12, "T2", "2026-03-05T11:00:00Z", "solved"),
        m(1, "T3", "2026-03-10T08:00:00Z", "customer"),
        m(2, "T3", "2026-03-10T09:00:00Z", "agent"),
        s(3, "T3", "2026-03-10T09:00:00Z", "open"),
        s(4, "T3", "2026-03-10T09:30:00Z", "hold"),
        s(5, "T3", "2026-03-10T11:30:00Z", "open"),
        s(6, "T3", "2026-03-10T12:00:00Z", "solved"),
        s(7, "T3", "2026-03-14T12:00:00Z", "closed"),
        m(1, "T4", "2026-03-11T08:00:00Z", "customer"),
        m(2, "T4", "2026-03-11T08:05:00Z", "agent"),
        s(3, "T4", "2026-03-11T08:06:00Z", "deleted"),
        m(1, "T5", "2026-03-20T10:00:00Z", "customer"),
        m(2, "T5", "2026-03-20T10:01:00Z", "bot"),
        m(3, "T5", "2026-03-20T10:30:00Z", "agent", public=False),
        s(4, "T5", "2026-03-20T10:31:00Z", "open"),
        m(1, "T6", "2026-02-20T10:00:00Z", "customer"),
        m(2, "T6", "2026-03-02T10:00:00Z", "agent"),
        m(1, "T7", "2026-03-25T12:00:00Z", "customer"),
        m(2, "T7", "2026-03-25T12:45:00Z", "agent"),
        s(3, "T7", "2026-03-25T12:45:00Z", "pending"),
    )
    wh.add(
        "survey_responses",
        {"id": "c1", "survey": "csat", "score": 5, "created_at": "2026-03-02T13:00:00Z",
         "ticket_id": "T1"},
        {"id": "c2", "survey": "csat", "score": 2, "created_at": "2026-03-11T13:00:00Z",
         "ticket_id": "T3", "agent_id": "a1"},
    )  # fmt: skip
    return wh


def g(v: KpiValue, name: str) -> Any:
    assert v.group is not None
    return v.group[name]


def one(values: list[KpiValue]) -> KpiValue:
    assert len(values) == 1, values
    return values[0]


def run(wh: Any, metric_id: str, **fields: Any) -> list[KpiValue]:
    start, end = fields.pop("window", MARCH)
    return compute(wh.conn, [metric_id], KpiQuery(start=start, end=end, **fields))


# (metric, n, value, median) -- durations in minutes.
DURATIONS = [
    # FRT: T1 30, T2 140, T3 60, T6 14400, T7 45 -> mean 14675 / 5 = 2935, median 60.
    ("first_response_time", 5, 2935.0, 60.0),
    # Gaps: T1 30; T2 20, 120, 60; T3 60; T6 14400; T7 45 -> 14735 / 7 = 2105, median 60.
    ("response_time", 7, 2105.0, 60.0),
    # T1 120, T2 1440 (first solve 03-04 09:00), T3 240 -> 1800 / 3 = 600.
    ("first_resolution_time", 3, 600.0, 240.0),
    # T1 120, T2 3000 (final solve 03-05 11:00), T3 240 -> 3360 / 3 = 1120.
    ("resolution_time", 3, 1120.0, 240.0),
    # T2 (type complaint) 3000 and T3 (tag escalated) 240 -> 1620.
    ("complaint_resolution_time", 2, 1620.0, 1620.0),
    # T1 120, T2 420, T3 240 -> 260.
    ("requester_wait_time", 3, 260.0, 240.0),
    # T1 120, T2 420, T3 120 -> 220.
    ("agent_work_time", 3, 220.0, 120.0),
    # T1 0, T2 0, T3 120 -> 40.
    ("on_hold_time", 3, 40.0, 0.0),
]


@pytest.mark.parametrize(("metric_id", "n", "value", "median"), DURATIONS)
def test_duration_metrics(desk: Any, metric_id: str, n: int, value: float, median: float) -> None:
    v = one(run(desk, metric_id))
    assert (v.n, v.median, v.unit) == (n, median, "minutes")
    assert v.value == pytest.approx(value)
    assert v.mean == v.value


def test_first_response_time_p90_and_by_priority(desk: Any) -> None:
    assert one(run(desk, "first_response_time")).p90 == 14400.0  # rank ceil(4.5) = 5th of 5
    rows = {g(v, "priority"): v for v in run(desk, "first_response_time", by="priority")}
    # high: T1 30, T7 45; urgent: T2 140; normal: T3 60, T6 14400.
    assert {k: (v.n, v.value) for k, v in rows.items()} == {
        "high": (2, 37.5),
        "normal": (2, 7230.0),
        "urgent": (1, 140.0),
    }


def test_complaint_tags_parameter(desk: Any) -> None:
    # Only type complaint (T2) and tag vip (T2 again): 3000.
    v = one(run(desk, "complaint_resolution_time", params={"complaint_tags": ["vip"]}))
    assert (v.n, v.value) == (1, 3000.0)


# (metric, value, n, details subset)
RATIOS = [
    # Met within 60: T1 (30), T3 (60), T7 (45); missed: T2 (140, ran out 03-03 10:00) and T5
    # (never answered, ran out 03-20 11:00). T6 ran out in February. 3 / 5.
    ("ticket_service_level", 0.6, 5, {"met": 3, "missed": 2}),
    # Solved in March: T1, T2, T3. Customer wrote once: T1, T3.
    ("first_contact_resolution", 2 / 3, 3, {"tickets": 2}),
    # Exactly one public agent message: T1, T3 (T2 has 4).
    ("one_touch_resolution", 2 / 3, 3, {"tickets": 2}),
    # Reopened: T2.
    ("reopen_rate", 1 / 3, 3, {"tickets": 1}),
    # Solved in March 3 (T1, T2, T3) / created in March 5 (T1, T2, T3, T5, T7).
    ("resolution_rate", 0.6, 5, {"solved": 3, "created": 5}),
]


@pytest.mark.parametrize(("metric_id", "value", "n", "details"), RATIOS)
def test_ratio_metrics(
    desk: Any, metric_id: str, value: float, n: int, details: dict[str, Any]
) -> None:
    v = one(run(desk, metric_id))
    assert (v.n, v.unit) == (n, "ratio")
    assert v.value == pytest.approx(value)
    assert details.items() <= (v.details or {}).items()


def test_ticket_service_level_threshold_from_params_and_config(desk: Any) -> None:
    # T = 150: T2 (140) is now met too; T5 still missed -> 4 / 5.
    assert one(run(desk, "ticket_service_level", params={"threshold_minutes": 150})).value == 0.8
    config = from_dict({"params": {"ticket_service_level": {"threshold_minutes": 150}}})
    assert one(run(desk, "ticket_service_level", config=config)).value == 0.8
    flat = KpiConfig(params={"ticket_service_level_threshold_minutes": "150"})
    assert one(run(desk, "ticket_service_level", config=flat)).value == 0.8
    # A per-call value beats the configuration.
    v = one(run(desk, "ticket_service_level", config=flat, params={"threshold_minutes": "60"}))
    assert v.value == 0.6


def test_sla_attainment(desk: Any) -> None:
    config = KpiConfig(
        sla=(
            SlaPolicy("urgent", first_response_minutes=60, resolution_minutes=480),
            SlaPolicy(None, first_response_minutes=120, resolution_minutes=1440),
        )
    )
    v = one(run(desk, "sla_attainment", config=config))
    # Met: T1 FR 30 and resolution 120, T3 FR 60 and resolution 240, T7 FR 45 (5).
    # Breached in March: T2 FR (140 > 60) and resolution (3000 > 480), T5 FR and resolution
    # (never answered or solved), T7 resolution (pending past 1440) (5). T6 breached in Feb.
    assert (v.value, v.n) == (0.5, 10)
    assert v.details == {
        "first_response": {"met": 3, "measured": 5},
        "resolution": {"met": 2, "measured": 5},
    }
    # No policy configured: null with a note, never an error.
    v = one(run(desk, "sla_attainment"))
    assert (v.value, v.n) == (None, 0)
    assert "no SLA policy" in (v.details or {})["note"]


def test_counts_per_type_and_agent(desk: Any) -> None:
    by_type = {g(v, "type"): v.value for v in run(desk, "tickets_by_type")}
    # Created in March, deleted T4 left out: question T1 T5, complaint T2, incident T3 T7.
    assert by_type == {"complaint": 1.0, "incident": 2.0, "question": 2.0}
    per_agent = [(g(v, "agent"), v.value) for v in run(desk, "tickets_per_agent")]
    assert per_agent == [("a2", 3.0), ("a1", 2.0)]  # most active first


def test_resolution_rate_by_agent(desk: Any) -> None:
    rows = {g(v, "agent"): v.value for v in run(desk, "resolution_rate", by="agent")}
    # a1 solved T1, T3 / assigned (created in March) T1, T3; a2 solved T2 / T2, T5, T7.
    assert rows == {"a1": 1.0, "a2": pytest.approx(1 / 3)}


def test_top_agents(desk: Any) -> None:
    rows = run(desk, "top_agents")
    assert [(g(v, "agent"), v.value) for v in rows] == [("a1", 2.0), ("a2", 1.0)]
    # a1: FRT of T1 30, T3 60, T6 14400 -> median 60; csat 5 (T1) and 2 (T3) -> 1 / 2.
    assert rows[0].details == {
        "first_response_time_median": 60.0,
        "csat": 0.5,
        "csat_responses": 2,
    }
    # a2: FRT T2 140, T7 45 -> median 92.5; no csat.
    assert rows[1].details == {
        "first_response_time_median": 92.5,
        "csat": None,
        "csat_responses": 0,
    }


def test_recurring_incidents(desk: Any) -> None:
    # "question: order late" is T1 and T5 (T4 is deleted); T3 is an incident.
    v = one(run(desk, "recurring_incidents", params={"min_occurrences": 2}))
    assert (v.value, v.n) == (1.0, 5)
    assert v.details == {"top": [{"issue": "question: order late", "count": 2}]}
    assert one(run(desk, "recurring_incidents")).value == 0.0  # default 3: none recurs


def test_open_cases(desk: Any) -> None:
    # Unsolved at the end of March: T5 (last public message: customer), T6 and T7 (agent).
    assert one(run(desk, "open_cases")).value == 1.0
    # At the end of 03-20 (NY time) T5 waits too; at the end of 03-19 nothing does.
    ny = ZoneInfo("America/New_York")
    rows = run(
        desk,
        "open_cases",
        window=(datetime(2026, 3, 19, tzinfo=ny), datetime(2026, 3, 21, tzinfo=ny)),
        every="day",
        tz=ny,
    )
    assert [v.value for v in rows] == [0.0, 1.0]


def test_backlog_daily_series(desk: Any) -> None:
    window = (datetime(2026, 3, 19, tzinfo=UTC), datetime(2026, 3, 22, tzinfo=UTC))
    # End of 03-19: T6; from 03-20 also T5 (T7 is created later).
    rows = run(desk, "ticket_backlog", window=window)
    assert [(v.start.day, v.value) for v in rows] == [(19, 1.0), (20, 2.0), (21, 2.0)]
    aged = run(desk, "ticket_backlog_aged", window=window)
    assert [v.value for v in aged] == [1.0, 1.0, 1.0]  # only T6 is older than 7 days
    # 1 day: T5 (created 03-20 10:00) is older than a day at the end of 03-21.
    aged = run(desk, "ticket_backlog_aged", window=window, params={"days": 1})
    assert [v.value for v in aged] == [1.0, 1.0, 2.0]


def test_bucketing_in_new_york_around_midnight(wh: Any) -> None:
    ny = ZoneInfo("America/New_York")
    wh.add(
        "tickets",
        # 03-03 03:30 UTC is 03-02 22:30 in New York.
        {"id": "late", "created_at": "2026-03-03T03:30:00Z", "type": "task"},
        {"id": "next", "created_at": "2026-03-03T05:30:00Z", "type": "task"},
        # 04-01 02:00 UTC is still March 31 in New York (EDT, UTC-4).
        {"id": "edge", "created_at": "2026-04-01T02:00:00Z", "type": "task"},
    )
    days = run(
        wh, "tickets_by_type",
        window=(datetime(2026, 3, 2, tzinfo=ny), datetime(2026, 3, 4, tzinfo=ny)),
        every="day", tz=ny,
    )  # fmt: skip
    assert [(v.start.isoformat(), v.value) for v in days] == [
        ("2026-03-02T00:00:00-05:00", 1.0),
        ("2026-03-03T00:00:00-05:00", 1.0),
    ]
    months = run(
        wh, "tickets_by_type",
        window=(datetime(2026, 3, 1, tzinfo=ny), datetime(2026, 5, 1, tzinfo=ny)),
        every="month", tz=ny,
    )  # fmt: skip
    assert [(v.start.month, v.value, v.n) for v in months] == [(3, 3.0, 3), (4, None, 0)]
    weeks = run(
        wh, "tickets_by_type",
        window=(datetime(2026, 3, 1, tzinfo=ny), datetime(2026, 3, 15, tzinfo=ny)),
        every="week", tz=ny,
    )  # fmt: skip
    # Sunday 03-01 alone, then the ISO week from Monday 03-02 (both tickets), then 03-09.
    assert [(v.start.day, v.value) for v in weeks] == [(1, None), (2, 2.0), (9, None)]


def test_business_hours_first_response_time(desk: Any) -> None:
    nine_to_five = Schedule.from_hours("office", "UTC", {"mon-fri": ["09:00-17:00"]})
    schedules = ScheduleSet({"office": nine_to_five}, "office")
    v = one(run(desk, "first_response_time", business_hours=True, schedules=schedules))
    # T1 30, T2 140, T3 0 (08:00 -> 09:00 is before opening), T7 45, T6: Fri 02-20 10-17 (7 h)
    # + 5 weekdays x 8 h + Mon 03-02 09-10 (1 h) = 48 h = 2880. Mean 3095 / 5 = 619, median 45.
    assert (v.n, v.value, v.median) == (5, 619.0, 45.0)


def test_business_hours_without_schedule_is_an_error(desk: Any) -> None:
    with pytest.raises(KpiError, match="no business-hours schedule configured"):
        run(desk, "first_response_time", business_hours=True)


def test_targets_attach_to_rows(desk: Any) -> None:
    targets = (
        Target("first_response_time", max=60),
        Target("first_response_time", max=120, where={"priority": "urgent"}),
    )
    rows = {g(v, "priority"): v for v in run(desk, "first_response_time", by="priority",
                                                 targets=targets)}  # fmt: skip
    assert (rows["urgent"].target, rows["urgent"].met) == (120, False)  # 140 > 120
    assert (rows["high"].target, rows["high"].met) == (60, True)  # 37.5 <= 60
    overall = one(run(desk, "first_response_time", config=KpiConfig(targets=targets)))
    assert (overall.target, overall.met) == (60, False)


def test_deleted_tickets_never_count(wh: Any) -> None:
    wh.add("tickets", {"id": "d", "created_at": "2026-03-05T10:00:00Z", "status": "deleted"})
    wh.add(
        "ticket_events",
        m(1, "d", "2026-03-05T10:00:00Z", "customer"),
        m(2, "d", "2026-03-05T10:10:00Z", "agent"),
    )
    values = compute(wh.conn, TICKET_METRICS, KpiQuery(*MARCH))
    assert all(v.value in (None, 0.0) for v in values), [v for v in values if v.value]


@pytest.mark.parametrize("metric_id", TICKET_METRICS)
def test_empty_warehouse_is_null_with_n_zero(wh: Any, metric_id: str) -> None:
    for v in run(wh, metric_id, by="agent"):
        assert (v.value, v.n) == (None, 0)
        assert v.to_dict()["metric"] == metric_id


@pytest.mark.parametrize(
    "metric_id",
    [m for m in TICKET_METRICS if REGISTRY[m].unit == "minutes"]
    + ["first_contact_resolution", "ticket_service_level", "resolution_rate"],
)
def test_a_quiet_window_is_null(desk: Any, metric_id: str) -> None:
    quiet = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    v = one(run(desk, metric_id, window=quiet))
    assert (v.value, v.n) == (None, 0)


def test_ticket_service_level_deadline_in_business_time(wh: Any) -> None:
    # Created Friday 03-20 16:30, never answered. With T = 60 business minutes (Mon-Fri 9-17)
    # T runs out on Monday 03-23 09:30; in calendar time on Friday at 17:30.
    wh.add("tickets", {"id": "late", "created_at": "2026-03-20T16:30:00Z", "status": "open"})
    wh.add("ticket_events", m(1, "late", "2026-03-20T16:30:00Z", "customer"))
    office = Schedule.from_hours("office", "UTC", {"mon-fri": ["09:00-17:00"]})
    schedules = ScheduleSet({"office": office}, "office")
    monday = (datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 3, 24, tzinfo=UTC))
    friday = (datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    business = {"business_hours": True, "schedules": schedules}
    assert one(run(wh, "ticket_service_level", window=monday, **business)).n == 1
    assert one(run(wh, "ticket_service_level", window=friday, **business)).n == 0
    v = one(run(wh, "ticket_service_level", window=friday))
    assert (v.value, v.n) == (0.0, 1)


def test_sla_attainment_from_the_help_desks_own_sla_events(wh: Any) -> None:
    """No [[sla]] policy configured: the SLA verdicts the help desk reported are used."""
    march = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    wh.add(
        "tickets",
        {"id": "1", "created_at": "2026-03-02T09:00:00Z", "priority": "high", "status": "solved"},
        {"id": "2", "created_at": "2026-03-02T09:00:00Z", "priority": "high", "status": "open"},
        {"id": "3", "created_at": "2026-03-03T09:00:00Z", "priority": "low", "status": "open"},
        {"id": "4", "created_at": "2026-03-03T09:00:00Z", "priority": "low", "status": "deleted"},
    )

    def event(n: int, ticket: str, metric: str, kind: str, at: str, **extra: Any) -> dict:
        return {"id": str(n), "ticket_id": ticket, "metric": metric, "type": kind,
                "time": at, "extra": {"instance_id": 1, **extra}}  # fmt: skip

    wh.add(
        "sla_events",
        # T1 reply: applied, fulfilled before its target (a stale breach marked deleted) -> met.
        event(1, "1", "reply_time", "applied", "2026-03-02T09:00:00Z"),
        event(2, "1", "reply_time", "breached", "2026-03-02T10:00:00Z", deleted=True),
        event(3, "1", "reply_time", "fulfilled", "2026-03-02T09:30:00Z"),
        # T1 resolution: breached at 17:00, fulfilled later at 18:00 -> missed.
        event(4, "1", "resolution_time", "applied", "2026-03-02T09:00:00Z"),
        event(5, "1", "resolution_time", "breached", "2026-03-02T17:00:00Z"),
        event(6, "1", "resolution_time", "fulfilled", "2026-03-02T18:00:00Z"),
        # T2 reply: fulfilled -> met. T2 resolution: applied, still running -> left out.
        event(7, "2", "reply_time", "applied", "2026-03-02T09:00:00Z"),
        event(8, "2", "reply_time", "fulfilled", "2026-03-02T09:10:00Z"),
        event(9, "2", "resolution_time", "applied", "2026-03-02T09:00:00Z"),
        # T3 reply: breached -> missed. T3 agent_work_time: fulfilled, no SLA applied -> ignored.
        event(10, "3", "reply_time", "applied", "2026-03-03T09:00:00Z"),
        event(11, "3", "reply_time", "breached", "2026-03-03T17:00:00Z"),
        event(12, "3", "agent_work_time", "fulfilled", "2026-03-03T12:00:00Z"),
        # T4 is deleted: left out.
        event(13, "4", "reply_time", "applied", "2026-03-03T09:00:00Z"),
        event(14, "4", "reply_time", "fulfilled", "2026-03-03T09:05:00Z"),
    )
    (total,) = wh.kpi("sla_attainment", *march)
    # Met: T1 reply, T2 reply. Missed: T1 resolution, T3 reply. 2 of 4.
    assert (total.value, total.n) == (0.5, 4)
    assert total.details == {"basis": "SLA events reported by the help desk"}
    by_priority = {
        v.group["priority"]: (v.value, v.n) for v in wh.kpi("sla_attainment", *march, by="priority")
    }
    assert by_priority == {"high": (2 / 3, 3), "low": (0.0, 1)}


def test_sla_events_take_only_the_neutral_vocabulary() -> None:
    """A vendor's own event names (Zendesk's `apply_sla`, `fulfill`, ...) are mapped by its
    connector; kpi_core never sees them, so the canonical contract refuses them."""
    base = {"id": "1", "ticket_id": "1", "metric": "reply_time", "time": "2026-03-02T09:00:00Z"}
    for vendor_word in ("apply_sla", "fulfill", "breach", "activate", "pause", "measure"):
        with pytest.raises(InvalidRow, match="type: unknown value"):
            coerce_row("sla_events", {**base, "type": vendor_word}, source="zd")
    row = coerce_row(
        "sla_events", {**base, "type": "applied", "raw_type": "apply_sla"}, source="zd"
    )
    assert (row["type"], row["raw_type"]) == ("applied", "apply_sla")
    assert {
        "applied", "started", "paused", "fulfilled", "breached", "measured", "updated",
    } == SLA_EVENT_TYPES  # fmt: skip
