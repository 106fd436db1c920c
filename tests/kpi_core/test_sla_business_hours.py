"""SLA policies pinned to business hours (`business_hours = true` in `[[sla]]`) are measured in
business time whatever the query asks, on each ticket's own schedule, mid-way changes included.

Schedules: `eu` (UTC, Mon-Fri 09:00-17:00, the default) and `always` (every minute). Policies:
`urgent` pinned to business hours, everything else following the query; both a 60-minute first
response target. March 2026: Monday is the 2nd.

- T1 urgent: created Fri 03-06 16:30, answered Mon 03-09 09:20. Business: 30 + 20 = 50 min, met
  (calendar: 2 days 16 h 50 min, which is why a calendar clock must not measure it).
- T2 urgent, `schedule_changes`: `always` from Tue 03-03 17:00. Created Tue 16:30, answered
  18:00: 30 min on `eu` until 17:00, then 60 on `always` = 90 min, breached (at 17:30). Read
  without its change, `eu` alone would give 30 min: met.
- T3 normal (follows the query): created Fri 03-06 16:30, answered Mon 03-09 09:20, like T1:
  met in business time, breached in calendar time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deskpulse.kpi_core import KpiError, KpiQuery, compute
from deskpulse.kpi_core.business_hours import Schedule, ScheduleSet
from deskpulse.kpi_core.canonical import InvalidRow, coerce_row
from deskpulse.kpi_core.config import KpiConfig, SlaPolicy
from deskpulse.kpi_core.per_ticket import ticket_values

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
SCHEDULES = ScheduleSet(
    {
        "eu": Schedule.from_hours("eu", "UTC", {"mon-fri": ["09:00-17:00"]}),
        "always": Schedule.from_hours("always", "UTC", {"mon-sun": ["00:00-24:00"]}),
    },
    "eu",
)
CONFIG = KpiConfig(
    sla=(
        SlaPolicy("urgent", first_response_minutes=60, business_hours=True),
        SlaPolicy(None, first_response_minutes=60),
    )
)


def message(n: int, ticket: str, at: str, author: str) -> dict[str, Any]:
    return {"id": str(n), "ticket_id": ticket, "created_at": at, "kind": "message",
            "author_kind": author, "public": True}  # fmt: skip


@pytest.fixture
def desk(wh: Any) -> Any:
    change = [{"at": "2026-03-03T17:00:00Z", "schedule": "always"}]
    wh.add(
        "tickets",
        {"id": "T1", "created_at": "2026-03-06T16:30:00Z", "priority": "urgent", "status": "open"},
        {"id": "T2", "created_at": "2026-03-03T16:30:00Z", "priority": "urgent", "status": "open",
         "schedule_changes": change},
        {"id": "T3", "created_at": "2026-03-06T16:30:00Z", "priority": "normal", "status": "open"},
    )  # fmt: skip
    wh.add(
        "ticket_events",
        message(1, "T1", "2026-03-06T16:30:00Z", "customer"),
        message(2, "T1", "2026-03-09T09:20:00Z", "agent"),
        message(3, "T2", "2026-03-03T16:30:00Z", "customer"),
        message(4, "T2", "2026-03-03T18:00:00Z", "agent"),
        message(5, "T3", "2026-03-06T16:30:00Z", "customer"),
        message(6, "T3", "2026-03-09T09:20:00Z", "agent"),
    )
    return wh


@pytest.mark.parametrize(
    ("business_hours", "met", "measured"),
    [
        (False, {"T1"}, 3),  # T1 met on its pinned business clock; T2, T3 (calendar) breached
        (True, {"T1", "T3"}, 3),  # T3 follows the query: met in business time
    ],
)
def test_a_pinned_policy_is_measured_in_business_time_whatever_the_query(
    desk: Any, business_hours: bool, met: set[str], measured: int
) -> None:
    query = KpiQuery(*MARCH, business_hours=business_hours, schedules=SCHEDULES, config=CONFIG)
    (v,) = compute(desk.conn, ["sla_attainment"], query)
    assert (v.value, v.n) == (len(met) / measured, measured)
    assert v.details is not None
    assert v.details["first_response"] == {"met": len(met), "measured": measured}
    per_ticket = ticket_values(
        desk.conn, schedules=SCHEDULES, business_hours=business_hours, config=CONFIG
    )
    assert {key[1] for key, t in per_ticket.items() if t.sla_first_response_met} == met


def test_the_breach_counts_when_the_business_target_ran_out(desk: Any) -> None:
    # T2's 60 business minutes ran out at Tue 03-03 17:30 (30 on eu, 30 on always).
    query = KpiQuery(*MARCH, every="day", schedules=SCHEDULES, config=CONFIG)
    days = {v.start.day: (v.value, v.n) for v in compute(desk.conn, ["sla_attainment"], query)}
    assert days[3] == (0.0, 1)  # T2
    assert days[6] == (0.0, 1)  # T3, on the query's calendar clock: ran out Fri 17:30
    assert days[9] == (1.0, 1)  # T1, met at Mon 09:20


def test_a_pinned_policy_without_any_schedule_is_one_clear_error(desk: Any) -> None:
    query = KpiQuery(*MARCH, config=CONFIG)
    with pytest.raises(KpiError, match=r"pinned to business hours.*no business-hours schedule"):
        compute(desk.conn, ["sla_attainment"], query)
    # Metrics that do not measure SLA targets are not held up by it.
    (v,) = compute(desk.conn, ["first_response_time"], query)
    assert v.n == 3


@pytest.mark.parametrize(
    ("cell", "changes"),
    [
        (
            "2026-03-03T17:00:00Z=always",
            [{"at": "2026-03-03T17:00:00+00:00", "schedule": "always"}],
        ),
        (
            "2026-03-03T18:00:00+01:00 = always; 2026-03-10 = eu",
            [
                {"at": "2026-03-03T17:00:00+00:00", "schedule": "always"},
                {"at": "2026-03-10T00:00:00+00:00", "schedule": "eu"},
            ],
        ),
        (
            '[{"at": "2026-03-03T17:00:00Z", "schedule": "always"}]',
            [{"at": "2026-03-03T17:00:00+00:00", "schedule": "always"}],
        ),
    ],
)
def test_schedule_changes_from_a_csv_cell(cell: str, changes: list[dict[str, str]]) -> None:
    row = {"id": "T2", "created_at": "2026-03-03T16:30:00Z", "schedule_changes": cell}
    assert coerce_row("tickets", row, source="files")["extra"] == {"schedule_changes": changes}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-03-03T17:00:00Z", "schedule_changes: expected AT=SCHEDULE"),
        ("yesterday=eu", "schedule_changes: not an ISO-8601 date/time: 'yesterday'"),
        ("2026-03-03=", "schedule_changes: expected AT=SCHEDULE"),
        ("[1, 2]", "schedule_changes: expected"),
        ([{"at": "2026-03-03"}], "schedule_changes: expected"),
        ('[{"at": "0001-01-01T00:00:00+01:00", "schedule": "eu"}]', "out of range"),
    ],
)
def test_bad_schedule_changes_are_a_bad_row(value: object, reason: str) -> None:
    row = {"id": "T2", "created_at": "2026-03-03T16:30:00Z", "schedule_changes": value}
    with pytest.raises(InvalidRow, match=reason.replace("(", r"\(").replace(")", r"\)")):
        coerce_row("tickets", row, source="files")
