"""Social metrics: rows in, numbers out, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import deskpulse.kpi_core.metrics.social  # noqa: F401 - registers the metrics
from deskpulse.kpi_core.business_hours import schedules_from_dict
from tests.kpi_core.conftest import Wh

START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 9, tzinfo=UTC)


def mention(i: int, network: str, created: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"m{i}", "network": network, "created_at": created, **fields}


def one(wh: Wh, metric: str, **fields: Any) -> Any:
    values = wh.kpi(metric, START, END, **fields)
    assert len(values) == 1
    return values[0]


def sample(wh: Wh) -> None:
    wh.add(
        "social_mentions",
        mention(1, "twitter", "2026-03-02T09:10:00Z", sentiment="positive", is_question=True,
                first_reply_at="2026-03-02T09:40:00Z"),
        mention(2, "twitter", "2026-03-02T09:50:00Z", sentiment="positive", is_question=True,
                first_reply_at="2026-03-02T10:50:00Z"),
        mention(3, "Twitter", "2026-03-03T14:05:00Z", sentiment="negative", is_question=True),
        mention(4, "facebook", "2026-03-04T09:30:00Z", sentiment="neutral", is_question=False,
                first_reply_at="2026-03-04T12:30:00Z"),
        mention(5, "instagram", "2026-03-05T20:00:00Z", sentiment="positive"),
        mention(6, "instagram", "2026-03-05T21:00:00Z"),  # no sentiment, no question flag
        # Outside the window.
        mention(7, "twitter", "2026-03-10T09:00:00Z", sentiment="negative"),
    )  # fmt: skip


def test_social_volume(wh: Wh) -> None:
    sample(wh)
    # 6 mentions in the window: twitter 3 (network lower-cased), facebook 1, instagram 2.
    v = one(wh, "social_volume")
    assert (v.value, v.n) == (6.0, 6)
    assert v.details["by_network"] == {"facebook": 1, "instagram": 2, "twitter": 3}
    by = {
        (r.group or {})["channel"]: r.value
        for r in wh.kpi("social_volume", START, END, by="channel")
    }
    assert by == {"facebook": 1.0, "instagram": 2.0, "twitter": 3.0}


def test_social_sentiment(wh: Wh) -> None:
    sample(wh)
    # Known sentiment: 5 (m6 has none): positive 3, neutral 1, negative 1.
    # value = 3/5 - 1/5 = 0.4.
    v = one(wh, "social_sentiment")
    assert v.value == pytest.approx(0.4)
    assert v.n == 5
    assert v.details["positive_share"] == pytest.approx(0.6)
    assert v.details["unknown"] == 1


def test_social_response_rate(wh: Wh) -> None:
    sample(wh)
    # Replied: m1, m2, m4 = 3 of 6 mentions.
    assert one(wh, "social_response_rate").value == pytest.approx(0.5)


def test_social_response_time(wh: Wh) -> None:
    sample(wh)
    # m1 30 min, m2 60 min, m4 180 min: mean 90, median 60, p90 (rank 3 of 3) 180.
    v = one(wh, "social_response_time")
    assert (v.value, v.median, v.p90, v.n) == (
        pytest.approx(90.0),
        pytest.approx(60.0),
        pytest.approx(180.0),
        3,
    )
    # Business hours 10:00-18:00 UTC weekdays: m1 09:10->09:40 = 0; m2 09:50->10:50 = 50 min;
    # m4 09:30->12:30 = 10:00-12:30 = 150 min. Mean (0 + 50 + 150) / 3 = 66.67.
    schedules = schedules_from_dict(
        {"schedules": {"s": {"time_zone": "UTC", "hours": {"mon-fri": ["10:00-18:00"]}}}}
    )
    v = one(wh, "social_response_time", business_hours=True, schedules=schedules)
    assert v.value == pytest.approx(200 / 3)


def test_social_questions_and_busiest_hour(wh: Wh) -> None:
    sample(wh)
    # Questions: m1, m2, m3 = 3 of 6 = 0.5.
    v = one(wh, "social_questions")
    assert v.value == pytest.approx(0.5)
    # UTC hours: m1 09:10, m2 09:50 -> hour 9 twice; m3 14:05 -> hour 14.
    assert v.details["busiest_hour"] == 9
    assert v.details["questions_by_hour"] == {9: 2, 14: 1}
    # In Asia/Kathmandu (UTC+5:45): 09:10 -> 14:55, 09:50 -> 15:35, 14:05 -> 19:50.
    # Hours 14, 15, 19 one each: the earliest wins the tie.
    v = one(wh, "social_questions", tz=ZoneInfo("Asia/Kathmandu"))
    assert v.details["questions_by_hour"] == {14: 1, 15: 1, 19: 1}
    assert v.details["busiest_hour"] == 14


@pytest.mark.parametrize(
    "metric",
    [
        "social_volume",
        "social_sentiment",
        "social_response_rate",
        "social_response_time",
        "social_questions",
    ],
)
def test_empty_window_is_null(wh: Wh, metric: str) -> None:
    wh.add("social_mentions", mention(1, "twitter", "2026-01-01T00:00:00Z"))
    v = one(wh, metric)
    assert (v.value, v.n) == (None, 0)
