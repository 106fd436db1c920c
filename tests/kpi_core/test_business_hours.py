"""Business hours: hand-worked intervals across DST, holidays, weekends and schedule changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from deskpulse.kpi_core.business_hours import (
    Schedule,
    ScheduleError,
    business_seconds,
    load_schedules,
    schedules_from_dict,
    schedules_from_warehouse,
)
from deskpulse.kpi_core.models import Schedule as ScheduleRow

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = 3600.0

OFFICE = Schedule.from_hours(
    "eu", BERLIN, {"mon-fri": ["09:00-17:00"]}, holidays=["2026-12-25", date(2026, 12, 31)]
)
ALWAYS_BERLIN = Schedule.from_hours("always", BERLIN, {"mon-sun": ["00:00-24:00"]})
NIGHT_BERLIN = Schedule.from_hours("night", BERLIN, {"sat": ["22:00-06:00"]})
NIGHT_NY = Schedule.from_hours("night-ny", NEW_YORK, {"sat": ["22:00-06:00"]})
US = Schedule.from_hours("us", NEW_YORK, {"mon-fri": ["09:00-17:00"]})


def b(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


def u(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


CASES = [
    # Berlin springs forward on Sun 2026-03-29 at 02:00 CET -> 03:00 CEST: a 24h window that
    # local day is 23 h (00:00 CET = 28th 23:00 UTC .. 24:00 CEST = 29th 22:00 UTC).
    ("24h window, spring-forward day", ALWAYS_BERLIN, b(2026, 3, 29), b(2026, 3, 30), 23 * H),
    # ... and falls back on Sun 2026-10-25 at 03:00 CEST -> 02:00 CET: 25 h.
    ("24h window, fall-back day", ALWAYS_BERLIN, b(2026, 10, 25), b(2026, 10, 26), 25 * H),
    # Night window Sat 22:00 -> Sun 06:00 across the spring gap: Sat 22:00 CET = 21:00 UTC,
    # Sun 06:00 CEST = 04:00 UTC -> 7 h, not 8.
    ("night window over spring gap", NIGHT_BERLIN, b(2026, 3, 28, 12), b(2026, 3, 29, 12), 7 * H),
    # New York falls back Sun 2026-11-01 02:00 EDT -> 01:00 EST: Sat 22:00 EDT = 02:00 UTC,
    # Sun 06:00 EST = 11:00 UTC -> 9 h.
    ("night window over NY fall-back", NIGHT_NY, u(2026, 10, 31, 12), u(2026, 11, 1, 18), 9 * H),
    # A reply asked Fri 2026-10-23 16:00 CEST, answered Mon 2026-10-26 10:00 CET: Fri 16-17 (1 h)
    # + weekend (0, the DST change happens in it) + Mon 09-10 (1 h) = 2 h.
    ("weekend with DST inside", OFFICE, b(2026, 10, 23, 16), b(2026, 10, 26, 10), 2 * H),
    # Thu 2026-12-24 16:00 -> Mon 12-28 10:00: Thu 1 h + Fri 25th holiday 0 + weekend 0
    # + Mon 1 h = 2 h.
    ("holiday", OFFICE, b(2026, 12, 24, 16), b(2026, 12, 28, 10), 2 * H),
    # Tue 18:00 -> Wed 08:00 lies wholly outside 09-17: 0.
    ("entirely outside hours", OFFICE, b(2026, 6, 2, 18), b(2026, 6, 3, 8), 0.0),
    # Inside one window: Wed 10:15 -> 11:45 = 1.5 h.
    ("within a window", OFFICE, b(2026, 6, 3, 10, 15), b(2026, 6, 3, 11, 45), 1.5 * H),
    # Mon 2026-12-21 00:00 -> Mon 2027-01-04 00:00: 2 weeks x 5 days x 8 h = 80 h, minus the two
    # weekday holidays (Fri 25th, Thu 31st: 8 h each) = 64 h.
    ("two weeks with holidays", OFFICE, b(2026, 12, 21), b(2027, 1, 4), 64 * H),
    # start > end and start == end: 0, never negative.
    ("start after end", OFFICE, b(2026, 6, 3, 12), b(2026, 6, 3, 10), 0.0),
    ("empty interval", OFFICE, b(2026, 6, 3, 12), b(2026, 6, 3, 12), 0.0),
]


@pytest.mark.parametrize(
    ("schedule", "start", "end", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_business_seconds(
    schedule: Schedule, start: datetime, end: datetime, expected: float
) -> None:
    assert business_seconds(schedule, start, end) == pytest.approx(expected)


def test_window_bounds_in_gap_and_fold() -> None:
    """A wall-clock window counts the real time the local clock reads inside it."""
    early = Schedule.from_hours("x", BERLIN, {"sun": ["01:00-04:00"]})
    # Spring: the clock reads 01:00-02:00 CET, then jumps to 03:00, reads 03:00-04:00: 2 h.
    assert business_seconds(early, b(2026, 3, 29), b(2026, 3, 30)) == 2 * H
    # Fall: 01:00-03:00 CEST, back to 02:00, 02:00-04:00 CET: 4 h.
    assert business_seconds(early, b(2026, 10, 25), b(2026, 10, 26)) == 4 * H
    # A start inside the gap (02:30 does not exist) acts as 03:00 CEST: 03:00-04:00 = 1 h.
    gap = Schedule.from_hours("x", BERLIN, {"sun": ["02:30-04:00"]})
    assert business_seconds(gap, b(2026, 3, 29), b(2026, 3, 30)) == 1 * H
    # Fall: 02:30-03:00 CEST (0.5 h), then 02:30-04:00 CET (1.5 h) = 2 h.
    assert business_seconds(gap, b(2026, 10, 25), b(2026, 10, 26)) == 2 * H


def test_aware_inputs_in_any_zone() -> None:
    # 07:00 UTC = 09:00 CEST, 11:00 New York (EDT) = 15:00 UTC = 17:00 CEST: a full 8 h day.
    start = u(2026, 6, 3, 7)
    end = datetime(2026, 6, 3, 11, tzinfo=NEW_YORK)
    assert business_seconds(OFFICE, start, end) == 8 * H
    with pytest.raises(ValueError):
        business_seconds(OFFICE, datetime(2026, 6, 3), end)


def test_matches_minute_by_minute_count_over_dst_weeks() -> None:
    """Cross-check against a brute-force walk over every UTC minute (wall clock sampled)."""
    schedule = Schedule.from_hours(
        "mix",
        BERLIN,
        {"mon-fri": ["08:30-12:00", "13:00-17:45"], "sat": ["22:00-02:30"], "sun": ["02:30-03:30"]},
        holidays=["2026-10-27"],
    )
    start, end = u(2026, 10, 19, 5, 7), u(2026, 11, 2, 9, 41)

    def open_at(t: datetime) -> bool:
        local = t.astimezone(BERLIN)
        minute = local.hour * 60 + local.minute
        return local.date() not in schedule.holidays and any(
            s <= minute < e for s, e in schedule.open_minutes(local.date())
        )

    brute, t = 0, start
    while t < end:
        brute += open_at(t)
        t += timedelta(minutes=1)
    assert business_seconds(schedule, start, end) == brute * 60.0


def test_schedule_change_mid_way_and_group_rules() -> None:
    schedules = schedules_from_dict(
        {
            "default": "eu",
            "schedules": {
                "eu": {"time_zone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}},
                "us": {"time_zone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}},
            },
            "assign": [{"group": "US Support", "schedule": "us"}],
        }
    )
    start, end = u(2026, 6, 1, 8), u(2026, 6, 2, 12)  # Mon 08:00 UTC -> Tue 12:00 UTC
    eu_ticket = {"source": "zendesk", "id": "1", "group": "EU", "priority": "normal"}
    # Berlin (UTC+2): Mon 10:00-17:00 = 7 h + Tue 09:00-14:00 = 5 h -> 12 h.
    assert schedules.seconds_between(eu_ticket, start, end) == 12 * H
    us_ticket = {**eu_ticket, "group": "US Support"}
    # New York (UTC-4): Mon 04:00 -> Tue 08:00 local: Mon 09-17 = 8 h, Tue before 09:00 = 0.
    assert schedules.seconds_between(us_ticket, start, end) == 8 * H
    # Changes to "us" at Mon 12:00 UTC: Berlin 08:00-12:00 UTC = 10:00-14:00 CEST = 4 h, then
    # New York 12:00 UTC Mon -> 12:00 UTC Tue = Mon 08:00 -> Tue 08:00 EDT: 8 h. Total 12 h.
    moved = {
        **eu_ticket,
        "extra": {"schedule_changes": [{"at": "2026-06-01T12:00:00Z", "schedule": "us"}]},
    }
    assert schedules.seconds_between(moved, start, end) == 12 * H
    # Same change given as JSON text (raw SQL rows); unknown names in the history are ignored.
    moved_text = {
        **eu_ticket,
        "extra": '{"schedule_changes": [{"at": "2026-06-01T12:00:00", "schedule": "us"},'
        ' {"at": "2026-06-01T13:00:00Z", "schedule": "gone"}]}',
    }
    assert schedules.seconds_between(moved_text, start, end) == 12 * H
    # A change back at Mon 18:00 UTC: eu 4 h + us 12:00-18:00 UTC = 08:00-14:00 EDT = 5 h
    # + eu from Mon 18:00 UTC (20:00 CEST) -> Tue 12:00 UTC (14:00 CEST) = Tue 09-14 = 5 h -> 14 h.
    there_and_back = {
        **eu_ticket,
        "extra": {
            "schedule_changes": [
                {"at": "2026-06-01T18:00:00Z", "schedule": "eu"},
                {"at": "2026-06-01T12:00:00Z", "schedule": "us"},
            ]
        },
    }
    assert schedules.seconds_between(there_and_back, start, end) == 14 * H
    # extra["schedule"] names the ticket's schedule outright; None ticket = default.
    assert (
        schedules.seconds_between({**eu_ticket, "extra": {"schedule": "us"}}, start, end) == 8 * H
    )
    assert schedules.seconds_between(None, start, end) == 12 * H


def test_load_schedules_file(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(
        """
default = "eu"
[schedules.eu]
time_zone = "Europe/Berlin"
hours = { mon = ["09:00-17:00"], tue = ["09:00-12:00", "13:00-17:00"] }
holidays = ["2026-12-25", 2026-12-26]
[schedules.night]
time_zone = "UTC"
hours = { fri = ["22:00-06:00"] }
[[assign]]
group = "Night"
priority = "urgent"
schedule = "night"
"""
    )
    schedules = load_schedules(path)
    assert schedules.default == "eu"
    eu = schedules.schedules["eu"]
    assert eu.holidays == {date(2026, 12, 25), date(2026, 12, 26)}
    # Tue 2026-06-02 08:00 -> 18:00 CEST: 09-12 + 13-17 = 7 h.
    assert business_seconds(eu, b(2026, 6, 2, 8), b(2026, 6, 2, 18)) == 7 * H
    # The night rule needs both keys: group Night + urgent -> Fri 22:00 -> Sat 06:00 UTC = 8 h.
    fri, sat = u(2026, 6, 5, 20), u(2026, 6, 6, 20)
    urgent = {"source": "files", "id": "7", "group": "Night", "priority": "urgent"}
    assert schedules.seconds_between(urgent, fri, sat) == 8 * H
    # Same group, normal priority: the default (eu has no Friday/Saturday hours) -> 0.
    assert schedules.seconds_between({**urgent, "priority": "normal"}, fri, sat) == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[schedules.a]\ntime_zone = "Europe/Berln"\n', "unknown time zone 'Europe/Berln'"),
        ('[schedules.a]\ntime_zone = "UTC"\nhours = { mon = ["9-17"] }\n', "bad window '9-17'"),
        ('[schedules.a]\ntime_zone = "UTC"\nhours = { mon = ["09:00-25:00"] }\n', "bad time"),
        ('[schedules.a]\ntime_zone = "UTC"\nhours = { moon = ["09:00-17:00"] }\n', "bad day"),
        (
            '[schedules.a]\ntime_zone = "UTC"\nhours = { mon = ["09:00-12:00", "11:00-13:00"] }\n',
            "overlapping windows mon 09:00-mon 12:00 and mon 11:00-mon 13:00",
        ),
        (
            # Monday's night window runs into Tuesday's morning window.
            '[schedules.a]\ntime_zone = "UTC"\n'
            'hours = { mon = ["22:00-06:00"], tue = ["05:00-09:00"] }\n',
            "overlapping windows",
        ),
        (
            '[schedules.a]\ntime_zone = "UTC"\n[[assign]]\ngroup = "x"\nschedule = "b"\n',
            "assign #1: unknown schedule 'b'",
        ),
        (
            '[schedules.a]\ntime_zone = "UTC"\n[[assign]]\nteam = "x"\nschedule = "a"\n',
            "unknown key(s) team",
        ),
        ('[schedules.a]\ntime_zone = "UTC"\nholidays = ["2026-13-01"]\n', "bad holiday date"),
        (
            '[schedules.a]\ntime_zone = "UTC"\n[schedules.b]\ntime_zone = "UTC"\n',
            "set default",
        ),
        ('default = "c"\n[schedules.a]\ntime_zone = "UTC"\n', "default names unknown schedule"),
        ("schedules = [\n", "not valid TOML"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ScheduleError) as info:
        load_schedules(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_schedules_from_warehouse() -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[ScheduleRow.__table__])  # type: ignore[attr-defined]
    with engine.begin() as conn:
        assert schedules_from_warehouse(conn) is None
        conn.execute(
            ScheduleRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "source": "zendesk",
                    "id": "20",
                    "name": "Americas",
                    "time_zone": "America/New_York",
                    # Mon 09:00-17:00: 1440 + 540 = 1980 .. 1440 + 1020 = 2460 (from Sunday 0:00).
                    "intervals": [{"start_minute": 1980, "end_minute": 2460}],
                    "holidays": None,
                },
                {
                    "source": "zendesk",
                    "id": "3",
                    "name": "Europe",
                    "time_zone": "Europe/Berlin",
                    # Mon and Tue 09:00-17:00.
                    "intervals": [
                        {"start_minute": 1980, "end_minute": 2460},
                        {"start_minute": 3420, "end_minute": 3900},
                    ],
                    # Both dates inclusive: Mon 12-28 and Tue 12-29 are holidays.
                    "holidays": [
                        {"name": "x", "start_date": "2026-12-28", "end_date": "2026-12-29"}
                    ],
                },
            ],
        )
        schedules = schedules_from_warehouse(conn, source="zendesk")
        assert schedules_from_warehouse(conn, source="other") is None
    assert schedules is not None
    assert schedules.default == "Europe"  # lowest id: 3 < 20 numerically
    assert schedules.schedules["3"] is schedules.schedules["Europe"]
    europe = schedules.schedules["Europe"]
    assert europe.holidays == {date(2026, 12, 28), date(2026, 12, 29)}
    # Mon 2026-12-21 .. Mon 2027-01-04 (exclusive): Mondays and Tuesdays are open; 28 and 29 are
    # holidays -> Mon 21 + Tue 22 = 16 h.
    assert business_seconds(europe, b(2026, 12, 21), b(2027, 1, 4)) == 16 * H
    # Ticket carrying Zendesk's schedule id in extra["schedule"].
    ticket = {"source": "zendesk", "id": "1", "extra": {"schedule": "20"}}
    ny = datetime(2026, 6, 1, tzinfo=NEW_YORK)
    assert schedules.seconds_between(ticket, ny, ny + timedelta(days=7)) == 8 * H


def test_a_schedule_row_in_a_vendors_own_keys_is_refused_in_one_line() -> None:
    """The warehouse's intervals are `start_minute`/`end_minute`; a vendor's own names (a
    connector's job to rename) are not guessed at."""
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[ScheduleRow.__table__])  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            ScheduleRow.__table__.insert(),  # type: ignore[attr-defined]
            [{"source": "s", "id": "1", "name": "Raw", "time_zone": "UTC",
              "intervals": [{"start_time": 1980, "end_time": 2460}]}],
        )  # fmt: skip
        with pytest.raises(ScheduleError, match="'Raw': interval without start_minute/end_minute"):
            schedules_from_warehouse(conn)


def test_docstring_example_loads(tmp_path: Path) -> None:
    """The TOML example in the module docstring (copied to the README) is valid as written."""
    import deskpulse.kpi_core.business_hours as module

    doc = module.__doc__ or ""
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "schedules.toml"
    path.write_text(example)
    schedules = load_schedules(path)
    assert schedules.default == "eu"
    assert set(schedules.schedules) == {"eu", "us", "night", "always"}
    us = schedules.schedules["us"]
    # Mon 2026-06-01 in New York: 09-12 + 13-17 = 7 h; Fri 06-05: 09-15 = 6 h.
    ny = ZoneInfo("America/New_York")
    assert (
        business_seconds(us, datetime(2026, 6, 1, tzinfo=ny), datetime(2026, 6, 2, tzinfo=ny))
        == 7 * H
    )
    assert (
        business_seconds(us, datetime(2026, 6, 5, tzinfo=ny), datetime(2026, 6, 6, tzinfo=ny))
        == 6 * H
    )
    ticket = {"source": "zendesk", "id": "1", "group": "EU", "priority": "urgent"}
    assert schedules.schedule_for(ticket).name == "always"
    assert schedules.schedule_for({**ticket, "group": "US Support"}).name == "us"
