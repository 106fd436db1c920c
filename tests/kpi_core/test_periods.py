"""Buckets in the reporting time zone, DST-exact; --from/--to parsing; duration statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from deskpulse.kpi_core.periods import local_midnight, month_window, parse_when, periods, to_ms
from deskpulse.kpi_core.stats import percentile, ratio, summarize

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def hours(edges: tuple[datetime, ...]) -> list[float]:
    # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall times.
    utc = [e.astimezone(UTC) for e in edges]
    return [(b - a).total_seconds() / 3600 for a, b in pairwise(utc)]


def test_days_across_spring_forward_in_new_york() -> None:
    # 2026-03-08 is 23 hours long in New York (02:00 EST -> 03:00 EDT).
    p = periods(datetime(2026, 3, 7, tzinfo=NY), datetime(2026, 3, 10, tzinfo=NY), "day", NY)
    assert [e.isoformat() for e in p.edges] == [
        "2026-03-07T00:00:00-05:00",
        "2026-03-08T00:00:00-05:00",
        "2026-03-09T00:00:00-04:00",
        "2026-03-10T00:00:00-04:00",
    ]
    assert hours(p.edges) == [24, 23, 24]


def test_days_across_fall_back_in_new_york() -> None:
    p = periods(datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 3, tzinfo=NY), "day", NY)
    assert hours(p.edges) == [25, 24]


def test_weeks_start_on_monday_and_first_bucket_is_clipped() -> None:
    # Window from Wednesday 2026-03-04 15:00 UTC: first week bucket runs to Monday 03-09.
    start = datetime(2026, 3, 4, 15, tzinfo=UTC)
    p = periods(start, datetime(2026, 3, 23, tzinfo=UTC), "week", ZoneInfo("UTC"))
    assert [e.date().isoformat() for e in p.edges] == [
        "2026-03-04",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
    ]
    assert p.edges[0] == start
    assert all(e.weekday() == 0 for e in p.edges[1:])


def test_months_in_berlin() -> None:
    start, end = month_window(2026, 1, BERLIN)
    p = periods(start, datetime(2026, 4, 1, tzinfo=BERLIN), "month", BERLIN)
    assert [e.isoformat() for e in p.edges] == [
        "2026-01-01T00:00:00+01:00",
        "2026-02-01T00:00:00+01:00",
        "2026-03-01T00:00:00+01:00",
        "2026-04-01T00:00:00+02:00",  # after the spring DST change
    ]
    assert end == p.edges[1]


def test_assigning_timestamps_is_half_open_and_local() -> None:
    p = periods(datetime(2026, 3, 1, tzinfo=NY), datetime(2026, 3, 4, tzinfo=NY), "day", NY)
    # 2026-03-02 04:59 UTC is 23:59 on 03-01 in New York: first bucket; 05:00 UTC is 03-02.
    assert p.index(datetime(2026, 3, 2, 4, 59, tzinfo=UTC)) == 0
    assert p.index(datetime(2026, 3, 2, 5, 0, tzinfo=UTC)) == 1
    assert p.index(datetime(2026, 3, 1, 4, 59, tzinfo=UTC)) is None  # before the window
    assert p.index_ms(to_ms(datetime(2026, 3, 4, tzinfo=NY))) is None  # end is excluded
    assert p.index_ms(to_ms(datetime(2026, 3, 4, tzinfo=NY)) - 1) == 2


def test_one_bucket_without_every() -> None:
    p = periods(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), None, BERLIN)
    assert len(p) == 1


def test_midnight_inside_a_dst_gap() -> None:
    # Sao Paulo started DST at 00:00 on 2018-11-04: that local midnight never happened.
    sp = ZoneInfo("America/Sao_Paulo")
    midnight = local_midnight(datetime(2018, 11, 4).date(), sp)
    assert midnight.isoformat() == "2018-11-04T01:00:00-02:00"
    p = periods(datetime(2018, 11, 3, tzinfo=sp), datetime(2018, 11, 6, tzinfo=sp), "day", sp)
    assert hours(p.edges) == [24, 23, 24]  # the 4th starts at 01:00 and is 23 h long


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-08", "2026-03-08T00:00:00-05:00"),  # bare date: local midnight
        ("2026-03-08T12:30", "2026-03-08T12:30:00-04:00"),  # naive: local wall time
        ("2026-03-08T12:30:00Z", "2026-03-08T12:30:00+00:00"),
        ("2026-03-08T12:30:00+01:00", "2026-03-08T12:30:00+01:00"),
    ],
)
def test_parse_when(text: str, expected: str) -> None:
    assert parse_when(text, NY).isoformat() == expected


def test_parse_when_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_when("March 8", NY)


def test_summary_statistics() -> None:
    # 10 values 1..10: mean 5.5, median (5 + 6) / 2, nearest-rank p90 = 9th value = 9.
    s = summarize([float(v) for v in range(10, 0, -1)])
    assert (s.n, s.mean, s.median, s.p90) == (10, 5.5, 5.5, 9.0)
    # 5 values: p90 rank ceil(4.5) = 5 -> the largest; odd count median is the middle one.
    s = summarize([60.0, 120.0, 180.0, 240.0, 6000.0], scale=60)
    assert (s.n, s.mean, s.median, s.p90) == (5, 22.0, 3.0, 100.0)
    assert summarize([]).mean is None
    assert percentile([1.0, 2.0], 50) == 1.0
    assert ratio(1, 0) is None
    assert ratio(1, 4) == 0.25


def test_periods_reject_bad_windows() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="empty window"):
        periods(start, start, None, NY)
    with pytest.raises(ValueError, match="aware"):
        periods(datetime(2026, 3, 1), start + timedelta(days=1), None, NY)


def test_sql_bucketing_agrees_with_python_at_every_edge(wh) -> None:
    """`bucket_case` (a binary search in SQL) puts each time where `Periods.index` does:
    edges belong to the later bucket, across the October DST change in Berlin."""
    from sqlalchemy import select

    from deskpulse.kpi_core.periods import bucket_case
    from deskpulse.kpi_core.tables import TICKETS

    tz = ZoneInfo("Europe/Berlin")
    p = periods(datetime(2026, 10, 1, tzinfo=tz), datetime(2026, 11, 1, tzinfo=tz), "day", tz)
    probes = [edge for edge in p.edges[:-1]]
    probes += [edge - timedelta(microseconds=1) for edge in p.edges[1:]]
    probes += [start + (end - start) / 2 for start, end in p.buckets]
    wh.add("tickets", *({"id": str(i), "created_at": at} for i, at in enumerate(probes)))
    rows = wh.conn.execute(
        select(TICKETS.c.created_at, bucket_case(TICKETS.c.created_at, p).label("b"))
    ).all()
    assert len(rows) == len(probes) == 31 * 3
    assert all(int(b) == p.index(at) for at, b in rows)


@pytest.mark.parametrize(
    ("start", "end", "every"),
    [
        ("2026-01-01", "2026-02-01", "day"),
        ("2026-01-01 15:00", "2026-02-01 09:00", "day"),
        ("2026-01-15", "2026-03-01", "month"),
        ("2026-01-01", "2027-02-10 12:00", "month"),
        ("2026-03-28", "2026-04-02", "day"),  # over the DST change
    ],
)
def test_count_periods_is_the_number_of_buckets(start: str, end: str, every: str) -> None:
    from deskpulse.kpi_core.periods import count_periods, parse_when, periods

    tz = ZoneInfo("Europe/Berlin")
    begin, stop = parse_when(start, tz), parse_when(end, tz)
    assert count_periods(begin, stop, every, tz) == len(periods(begin, stop, every, tz))  # type: ignore[arg-type]
