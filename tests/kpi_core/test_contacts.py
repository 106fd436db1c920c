"""Live-contact metrics: rows in, numbers out, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import deskpulse.kpi_core.metrics.contacts  # noqa: F401 - registers the metrics
from deskpulse.kpi_core.business_hours import schedules_from_dict
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 2, tzinfo=UTC)  # Monday
END = datetime(2026, 3, 9, tzinfo=UTC)
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def call(i: int, wait: float | None, **fields: Any) -> dict[str, Any]:
    """An inbound call queued at T0 + i minutes, answered `wait` seconds later (None: not)."""
    queued = T0 + timedelta(minutes=i)
    row: dict[str, Any] = {"id": f"c{i}", "queued_at": queued.isoformat(), "direction": "inbound"}
    if wait is not None:
        row["answered_at"] = (queued + timedelta(seconds=wait)).isoformat()
        row["outcome"] = "answered"
    row.update(fields)
    return row


def chat(i: int, wait: float | None, **fields: Any) -> dict[str, Any]:
    requested = T0 + timedelta(minutes=i)
    row: dict[str, Any] = {"id": f"h{i}", "requested_at": requested.isoformat()}
    if wait is not None:
        row["answered_at"] = (requested + timedelta(seconds=wait)).isoformat()
    row.update(fields)
    return row


def one(wh: Wh, metric: str, **fields: Any) -> Any:
    values = wh.kpi(metric, START, END, **fields)
    assert len(values) == 1
    return values[0]


def test_average_wait_worked_example(wh: Wh) -> None:
    # KPI_CATALOG 4: 200 answered calls, 500 minutes total wait -> 2.5 minutes.
    # 100 calls wait 60 s and 100 wait 240 s: 100 x 1 + 100 x 4 = 500 min; 500 / 200 = 2.5.
    wh.add("calls", *[call(i, 60 if i < 100 else 240) for i in range(200)])
    v = one(wh, "average_speed_of_answer")
    assert v.value == pytest.approx(2.5)
    assert v.n == 200
    # Median of 100 x 1 and 100 x 4: (1 + 4) / 2; p90 = 180th smallest = 4.
    assert (v.median, v.p90) == (pytest.approx(2.5), pytest.approx(4.0))


def test_asa_calls_and_chats_by_channel(wh: Wh) -> None:
    wh.add(
        "calls",
        call(0, 30),
        call(1, 90),
        call(2, None, outcome="abandoned"),  # not answered: not measured
        call(3, 600, direction="outbound"),  # outbound never queued: left out
    )
    wh.add("chats", chat(0, 120), chat(1, None, outcome="missed"))
    # All: (30 + 90 + 120) / 3 = 80 s = 1.333 min.
    assert one(wh, "average_speed_of_answer").value == pytest.approx(80 / 60)
    by = {
        (v.group or {})["channel"]: v
        for v in wh.kpi("average_speed_of_answer", START, END, by="channel")
    }
    # phone (30 + 90) / 2 = 60 s = 1 min; chat 120 s = 2 min.
    assert by["phone"].value == pytest.approx(1.0) and by["phone"].n == 2
    assert by["chat"].value == pytest.approx(2.0) and by["chat"].n == 1


def test_asa_in_business_hours(wh: Wh) -> None:
    # Office 09:00-17:00 UTC. A call queued Mon 16:50, answered Tue 09:10: 10 + 10 min = 20 min.
    schedules = schedules_from_dict(
        {"schedules": {"office": {"time_zone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}}}}
    )
    queued = datetime(2026, 3, 2, 16, 50, tzinfo=UTC)
    wh.add(
        "calls",
        {
            "id": "n1",
            "queued_at": queued.isoformat(),
            "answered_at": (queued + timedelta(hours=16, minutes=20)).isoformat(),
        },
    )
    v = one(wh, "average_speed_of_answer", business_hours=True, schedules=schedules)
    assert v.value == pytest.approx(20.0)
    # Calendar time: 16 h 20 min = 980 min.
    assert one(wh, "average_speed_of_answer").value == pytest.approx(980.0)


def test_average_handle_time(wh: Wh) -> None:
    wh.add(
        "calls",
        # 240 talk + 60 hold + 60 wrap = 360 s.
        call(0, 30, talk_seconds=240, hold_seconds=60, wrap_seconds=60),
        # Outbound calls are handled too: 120 talk, no hold/wrap = 120 s.
        call(1, 0, direction="outbound", talk_seconds=120),
        # No seconds reported: ended_at - answered_at = (2:30 + 180 s) - 2:30 = 180 s.
        call(2, 30, ended_at=at(2 * 60 + 30 + 180)),
        # Answered, but neither seconds nor ended_at: left out.
        call(3, 30),
    )
    # Chat answered T0 + 5:30, ended 10 minutes later: 600 s. A chat without ended_at: out.
    wh.add(
        "chats",
        chat(5, 30, ended_at=(T0 + timedelta(minutes=15, seconds=30)).isoformat()),
        chat(6, 30),
    )
    # (360 + 120 + 180 + 600) / 4 = 315 s = 5.25 min.
    v = one(wh, "average_handle_time")
    assert v.n == 4
    assert v.value == pytest.approx(5.25)
    assert v.median == pytest.approx((180 + 360) / 2 / 60)


def queue(wh: Wh) -> None:
    wh.add(
        "calls",
        call(0, 10),  # answered within 20 s
        call(1, 20),  # answered exactly at T: within
        call(2, 45),  # answered late
        call(3, None, outcome="abandoned", ended_at=at(3 * 60 + 30)),  # waited 30 s: abandoned
        call(4, None, outcome="abandoned", ended_at=at(4 * 60 + 3)),  # 3 s < S: short abandon
        call(5, None, outcome="blocked", ended_at=at(5 * 60 + 60)),  # blocked: never queued
        call(6, None, outcome="missed"),  # no ended_at: counts as waited -> abandoned
        call(7, 5, direction="outbound"),  # outbound: not in the queue
    )
    wh.add("chats", chat(10, 15), chat(11, None, outcome="missed", ended_at=at(11 * 60 + 5)))


def test_service_level(wh: Wh) -> None:
    queue(wh)
    # Answered: calls 0, 1, 2 + chat 10 = 4; within 20 s: calls 0, 1 + chat 10 = 3.
    # Abandoned: call 3 (30 s), call 6 (no end), chat 11 (5 s = S, counts) = 3.
    # Call 4 (3 s) is a short abandon, call 5 blocked, call 7 outbound: none counted.
    # 3 / (4 + 3) = 0.428571...
    v = one(wh, "service_level")
    assert v.value == pytest.approx(3 / 7)
    assert v.n == 7
    assert v.details["answered"] == 4 and v.details["abandoned"] == 3
    # T = 60 s: all 4 answered are within -> 4 / 7; S = 10 s drops chat 11 -> 4 / 6.
    v = one(wh, "service_level", params={"threshold_seconds": 60, "short_abandon_seconds": 10})
    assert v.value == pytest.approx(4 / 6)


def test_abandonment_rate(wh: Wh) -> None:
    queue(wh)
    # Abandoned 3 / (answered 4 + abandoned 3) = 3 / 7.
    v = one(wh, "abandonment_rate")
    assert v.value == pytest.approx(3 / 7)
    by = {
        (v.group or {})["channel"]: v.value
        for v in wh.kpi("abandonment_rate", START, END, by="channel")
    }
    # phone: 2 abandoned / (3 + 2); chat: 1 / (1 + 1).
    assert by == {"phone": pytest.approx(2 / 5), "chat": pytest.approx(0.5)}


def test_blocked_calls(wh: Wh) -> None:
    queue(wh)
    # Inbound calls 0-6 = 7 (call 7 is outbound); blocked 5 + missed 6 = 2 -> 2 / 7.
    v = one(wh, "blocked_calls")
    assert v.value == pytest.approx(2 / 7)
    assert v.details == {"blocked": 1, "missed": 1, "calls": 7}


def test_live_contacts_by_agent_group(wh: Wh) -> None:
    wh.add("agents", {"id": "a1", "group": "Tier 1"}, {"id": "a2", "group": "Tier 2"})
    wh.add("calls", call(0, 60, agent_id="a1"), call(1, 180, agent_id="a2"))
    wh.add("chats", chat(2, 120, agent_id="a1"))
    rows = wh.kpi("average_speed_of_answer", START, END, by="group")
    # Tier 1: (60 + 120) / 2 = 90 s = 1.5 min; Tier 2: 180 s = 3 min.
    assert {(r.group or {})["group"]: r.value for r in rows} == {
        "Tier 1": pytest.approx(1.5),
        "Tier 2": pytest.approx(3.0),
    }


@pytest.mark.parametrize(
    "metric",
    [
        "average_speed_of_answer",
        "average_handle_time",
        "service_level",
        "abandonment_rate",
        "blocked_calls",
    ],
)
def test_empty_window_is_null(wh: Wh, metric: str) -> None:
    # A call outside the window does not count: the window has no data -> None, n = 0.
    wh.add("calls", call(0, 10) | {"queued_at": "2026-02-01T10:00:00Z"})
    v = one(wh, metric)
    assert (v.value, v.n) == (None, 0)


def test_daily_buckets(wh: Wh) -> None:
    # Two calls Monday (waits 60 s and 120 s), one on Wednesday (30 s).
    wed = (T0 + timedelta(days=2)).isoformat()
    wh.add("calls", call(0, 60), call(1, 120), {"id": "w", "queued_at": wed, "answered_at": wed})
    rows = wh.kpi("average_speed_of_answer", START, END, every="day")
    assert len(rows) == 7
    assert [r.value for r in rows[:3]] == [pytest.approx(1.5), None, pytest.approx(0.0)]
