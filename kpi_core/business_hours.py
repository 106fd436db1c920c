"""Business hours: weekly windows in an IANA time zone, holidays as whole local days.

`business_seconds(schedule, start, end)` is the real (UTC) time between two instants during which
the schedule's local wall clock reads inside an open window on a date that is not a holiday. That
one reading settles every edge case exactly, with no day-granular shortcut:

- DST: the interval is cut at the zone's offset transitions (found through zoneinfo, never a fixed
  offset); within each piece the wall clock is a plain shift of UTC. A window that spans the
  spring-forward gap is an hour shorter that day; one that spans the fall-back fold is an hour
  longer (the wall clock reads 02:00-03:00 twice in Europe/Berlin and both passes count).
- Non-existent local times (02:30 on a spring-forward day in Berlin) are never read by the wall
  clock, so a window bound that falls in the gap behaves as if it were at the transition instant.
  Ambiguous local times (the fold) are read twice; a window bound inside the fold is passed twice.
- Windows may cross midnight ("22:00-06:00" on Monday runs until Tuesday 06:00). Holidays are
  whole local dates: the wall clock's date decides, so a night window running into a holiday stops
  at midnight.
- `start >= end` gives 0.0 (never negative, never an error): a reply before its question, from
  clock skew between sources, must not poison a mean.

Schedules are stored the way Zendesk (and our `schedules` table) store them: intervals in minutes
from Sunday 00:00 local time. `Schedule.from_hours` builds one from "HH:MM-HH:MM" strings.

Which schedule applies to a ticket (`ScheduleSet.schedule_history`), first match wins:

1. `tickets.extra["schedule_changes"]`: a list of `{"at": ISO-8601, "schedule": NAME}`. Before
   the first change the ticket runs on the schedule of the steps below; from each `at` on, on the
   named one. Time is summed piecewise across changes. (The row's `extra` may be a dict or the
   JSON text of one; an `at` without an offset is UTC, as everywhere in the warehouse. The
   import takes the list from JSONL, or from a CSV cell as `AT=NAME;AT=NAME` or JSON text, and
   stores it in this form: `canonical.schedule_changes`.)
2. `tickets.extra["schedule"]`: the ticket's schedule name (or warehouse schedule id).
3. The `[[assign]]` rules, in file order: every key a rule gives (`source`, `group`,
   `priority`, `channel`, `type`) must equal the ticket's value.
4. The default schedule.

A name that matches no schedule in steps 1-2 is skipped (the next step decides), so a schedule
deleted in the help desk never makes a metric fail.

Where schedules come from (wired in sync/reporting.py): the TOML file named by the environment
variable DESKPULSE_SCHEDULES when it is set, else the help desk's schedules synced into the
warehouse (`schedules_from_warehouse`).

Configuration file (`DESKPULSE_SCHEDULES`, TOML), read by `load_schedules`:

```toml
default = "eu"                       # optional when only one schedule is defined

[schedules.eu]
time_zone = "Europe/Berlin"          # IANA name
hours = { mon-fri = ["09:00-17:00"], sat = ["10:00-14:00"] }
holidays = ["2026-12-25", "2026-12-26"]

[schedules.us]
time_zone = "America/New_York"
[schedules.us.hours]                 # the same, as a table (TOML inline tables fit on one line)
mon = ["09:00-12:00", "13:00-17:00"]
tue-thu = ["09:00-17:00"]
fri = ["09:00-15:00"]

[schedules.night]
time_zone = "UTC"
hours = { mon-fri = ["22:00-06:00"] } # crosses midnight: Friday's window ends Saturday 06:00

[schedules.always]
time_zone = "UTC"
hours = { mon-sun = ["00:00-24:00"] }

[[assign]]                           # first matching rule wins; all keys given must match
group = "US Support"
schedule = "us"

[[assign]]
source = "zendesk"
priority = "urgent"
schedule = "always"
```

Day keys: `mon tue wed thu fri sat sun` and ranges such as `mon-fri` or `sat-sun`. A day without a
key is closed. Times are "HH:MM-HH:MM" local wall-clock; "24:00" is the end of the day; an end at
or before the start means the window crosses midnight. Overlapping windows (also across days, from
a night window) are an error. Holidays are ISO dates (strings or TOML dates).

From the warehouse (`schedules_from_warehouse`): each `schedules` row is one schedule, named by
its `name` (its `id` works too, for tickets that carry the help desk's schedule id); intervals as
`start_minute`/`end_minute` minutes from Sunday 00:00 local (a connector renames its vendor's keys);
holidays with `start_date` and `end_date` both inclusive, as Zendesk reports a one-day holiday with
start_date == end_date. The default is the row with `extra["default"]` true, else the lowest id
(Zendesk's first schedule).
"""

from __future__ import annotations

import json
import re
import tomllib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, select

from deskpulse.kpi_core.models import Schedule as ScheduleRow

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # Zendesk's week starts on Sunday
ASSIGN_KEYS = ("source", "group", "priority", "channel", "type")
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class ScheduleError(ValueError):
    """A schedule definition that cannot be used; the message is one line naming the culprit."""


@dataclass(frozen=True)
class Schedule:
    """Weekly business hours in one IANA zone.

    `windows` are (start_minute, end_minute) pairs counted from Sunday 00:00 local time, as in
    Zendesk's intervals; an end beyond 10080 wraps into the next week (Saturday night to Sunday).
    `holidays` are local dates with no business time at all.
    """

    name: str
    tz: ZoneInfo
    windows: tuple[tuple[int, int], ...]
    holidays: frozenset[date] = frozenset()
    # Per weekday (date.weekday(): Monday = 0) the open (start, end) minutes of that local day.
    _day_windows: tuple[tuple[tuple[int, int], ...], ...] = field(
        init=False, repr=False, compare=False
    )
    _day_totals: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _holidays_sorted: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        week: list[tuple[int, int]] = []
        for start, end in self.windows:
            if not (0 <= start < MINUTES_PER_WEEK) or not (start < end <= start + MINUTES_PER_WEEK):
                raise ScheduleError(f"schedule {self.name!r}: bad window {start}-{end} (minutes)")
            if end <= MINUTES_PER_WEEK:
                week.append((start, end))
            else:
                week.extend([(start, MINUTES_PER_WEEK), (0, end - MINUTES_PER_WEEK)])
        week.sort()
        for (s1, e1), (s2, e2) in pairwise(week):
            if s2 < e1:
                raise ScheduleError(
                    f"schedule {self.name!r}: overlapping windows "
                    f"{_fmt_week_minute(s1)}-{_fmt_week_minute(e1)} and "
                    f"{_fmt_week_minute(s2)}-{_fmt_week_minute(e2)}"
                )
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for start, end in week:
            minute = start
            while minute < end:
                day_index = minute // MINUTES_PER_DAY
                day_end = min(end, (day_index + 1) * MINUTES_PER_DAY)
                # Sunday-based day index -> date.weekday() (Monday = 0).
                per_day[(day_index + 6) % 7].append(
                    (minute - day_index * MINUTES_PER_DAY, day_end - day_index * MINUTES_PER_DAY)
                )
                minute = day_end
        day_windows = tuple(tuple(_merge(d)) for d in per_day)
        object.__setattr__(self, "_day_windows", day_windows)
        object.__setattr__(
            self, "_day_totals", tuple(sum(e - s for s, e in d) for d in day_windows)
        )
        object.__setattr__(self, "_holidays_sorted", tuple(sorted(self.holidays)))

    @classmethod
    def from_hours(
        cls,
        name: str,
        time_zone: str | ZoneInfo,
        hours: Mapping[str, Sequence[str]],
        holidays: Iterable[date | str] = (),
    ) -> Schedule:
        """Build a schedule from `{"mon": ["09:00-17:00"], "sat-sun": [...]}` local windows."""
        tz = time_zone if isinstance(time_zone, ZoneInfo) else _zone(name, time_zone)
        windows: list[tuple[int, int]] = []
        for key, spans in hours.items():
            days = _day_keys(name, key)
            if isinstance(spans, str):
                spans = [spans]
            for span in spans:
                start, end = _parse_span(name, key, span)
                for day in days:
                    offset = DAYS.index(day) * MINUTES_PER_DAY
                    windows.append((offset + start, offset + end))
        return cls(
            name, tz, tuple(sorted(windows)), frozenset(_parse_date(name, h) for h in holidays)
        )

    def open_minutes(self, day: date) -> tuple[tuple[int, int], ...]:
        """The open (start, end) minutes after local midnight on `day` (empty on holidays)."""
        return () if day in self.holidays else self._day_windows[day.weekday()]

    def _local_seconds(self, start: datetime, end: datetime) -> float:
        """Open seconds of the naive local wall-clock interval [start, end)."""
        if start >= end:
            return 0.0
        first, last = start.date(), end.date()
        if first == last:
            return self._day_part(first, start, end)
        total = self._day_part(first, start, datetime.combine(first + timedelta(days=1), _MIDNIGHT))
        total += self._day_part(last, datetime.combine(last, _MIDNIGHT), end)
        # Whole days strictly between: full weeks in bulk, the rest one by one, then holidays.
        inner_first, inner_days = first + timedelta(days=1), (last - first).days - 1
        if inner_days > 0:
            weeks, rest = divmod(inner_days, 7)
            minutes = weeks * sum(self._day_totals)
            for i in range(rest):
                minutes += self._day_totals[(inner_first + timedelta(days=i)).weekday()]
            lo = bisect_left(self._holidays_sorted, inner_first)
            hi = bisect_left(self._holidays_sorted, last)
            for holiday in self._holidays_sorted[lo:hi]:
                minutes -= self._day_totals[holiday.weekday()]
            total += minutes * 60.0
        return total

    def _day_part(self, day: date, start: datetime, end: datetime) -> float:
        """Open seconds of [start, end), both on local `day` (end may be the next midnight)."""
        midnight = datetime.combine(day, _MIDNIGHT)
        lo = (start - midnight).total_seconds()
        hi = (end - midnight).total_seconds()
        total = 0.0
        for s, e in self.open_minutes(day):
            overlap = min(hi, e * 60.0) - max(lo, s * 60.0)
            if overlap > 0:
                total += overlap
        return total


_MIDNIGHT = datetime.min.time()


def business_seconds(schedule: Schedule, start: datetime, end: datetime) -> float:
    """Seconds of business time between two aware instants under `schedule` (0.0 if start >= end).

    Exact across DST: the interval is cut at the zone's UTC-offset transitions, and in each piece
    the local wall clock is UTC plus that piece's offset.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("business_seconds needs timezone-aware datetimes")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        return 0.0
    total = 0.0
    piece_start = start
    for transition in _transitions_between(schedule.tz, start, end):
        total += _piece(schedule, piece_start, transition)
        piece_start = transition
    return total + _piece(schedule, piece_start, end)


def _piece(schedule: Schedule, start: datetime, end: datetime) -> float:
    """Business seconds of a UTC interval within which the zone's offset is constant."""
    offset = start.astimezone(schedule.tz).utcoffset() or timedelta(0)
    naive_start = start.replace(tzinfo=None) + offset
    return schedule._local_seconds(naive_start, naive_start + (end - start))


def _transitions_between(tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in (start, end) at which `tz` changes its UTC offset, in order."""
    found: list[datetime] = []
    for year in range(start.year, end.year + 1):
        found.extend(t for t in _transitions_in_year(tz, year) if start < t < end)
    return found


@lru_cache(maxsize=1024)
def _transitions_in_year(tz: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """Offset changes of `tz` during UTC calendar year `year`, to the second.

    Sampled every 6 hours, then bisected: real zones never change offset twice within 6 hours.
    """
    step = timedelta(hours=6)
    t = datetime(year, 1, 1, tzinfo=UTC)
    stop = datetime(year + 1, 1, 1, tzinfo=UTC)
    found: list[datetime] = []
    previous = t.astimezone(tz).utcoffset()
    while t < stop:
        nxt = min(t + step, stop)
        offset = nxt.astimezone(tz).utcoffset()
        if offset != previous:
            lo, hi = t, nxt  # offset(lo) == previous, offset(hi) differs
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    mid = lo + timedelta(seconds=1)
                if mid.astimezone(tz).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            previous = offset
        t = nxt
    return tuple(found)


# --- which schedule a ticket runs on ---------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """`[[assign]]` rule: every key given (not None) must equal the ticket's value."""

    schedule: str
    match: tuple[tuple[str, str], ...]

    def matches(self, ticket: Any) -> bool:
        return all(_str(_get(ticket, key)) == value for key, value in self.match)


@dataclass(frozen=True, eq=False)
class ScheduleSet:
    """Named schedules, the default, and the rules that pick a ticket's schedule.

    `schedules` may hold one schedule under several keys (name and warehouse id). Compared and
    hashed by identity, so a `KpiQuery` holding one stays hashable.
    """

    schedules: Mapping[str, Schedule]
    default: str
    rules: tuple[Assignment, ...] = ()

    def __post_init__(self) -> None:
        if self.default not in self.schedules:
            raise ScheduleError(f"default schedule {self.default!r} is not defined")
        for rule in self.rules:
            if rule.schedule not in self.schedules:
                raise ScheduleError(f"assignment names unknown schedule {rule.schedule!r}")

    @property
    def default_schedule(self) -> Schedule:
        return self.schedules[self.default]

    def schedule_for(self, ticket: Any) -> Schedule:
        """The ticket's schedule ignoring mid-way changes (extra["schedule"], rules, default)."""
        if ticket is not None:
            named = _extra(ticket).get("schedule")
            if named is not None and str(named) in self.schedules:
                return self.schedules[str(named)]
            for rule in self.rules:
                if rule.matches(ticket):
                    return self.schedules[rule.schedule]
        return self.default_schedule

    def schedule_history(self, ticket: Any) -> list[tuple[datetime | None, Schedule]]:
        """(effective_from, schedule) segments in time order; the first has effective_from None."""
        segments: list[tuple[datetime | None, Schedule]] = [(None, self.schedule_for(ticket))]
        changes = _extra(ticket).get("schedule_changes") if ticket is not None else None
        if not isinstance(changes, list):
            return segments
        parsed: list[tuple[datetime, Schedule]] = []
        for change in changes:
            if not isinstance(change, Mapping):
                continue
            name, at = change.get("schedule"), change.get("at")
            if name is None or at is None or str(name) not in self.schedules:
                continue
            try:
                when = _aware(at)
            except ValueError:
                continue
            parsed.append((when, self.schedules[str(name)]))
        parsed.sort(key=lambda item: item[0])
        segments.extend(parsed)
        return segments

    def seconds_between(self, ticket: Any, start: datetime, end: datetime) -> float:
        """Business seconds from `start` to `end` for `ticket`, piecewise over schedule changes.

        `ticket` is a mapping, SQLAlchemy row or object with `source`, `id`, `group`,
        `priority` and optionally `extra` (see the module docstring); None means the default.
        """
        history = self.schedule_history(ticket)
        if len(history) == 1:
            return business_seconds(history[0][1], start, end)
        total = 0.0
        for i, (effective, schedule) in enumerate(history):
            lo = start if effective is None else max(start, effective)
            following = history[i + 1][0] if i + 1 < len(history) else None
            hi = end if following is None else min(end, following)
            if lo < hi:
                total += business_seconds(schedule, lo, hi)
        return total


def _get(ticket: Any, key: str) -> Any:
    if isinstance(ticket, Mapping):
        return ticket.get(key)
    mapping = getattr(ticket, "_mapping", None)  # SQLAlchemy Row
    if isinstance(mapping, Mapping):
        return mapping.get(key)
    return getattr(ticket, key, None)


def _extra(ticket: Any) -> Mapping[str, Any]:
    extra = _get(ticket, "extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return {}
    return extra if isinstance(extra, Mapping) else {}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- loaders ---------------------------------------------------------------------------------


def load_schedules(path: str | Path) -> ScheduleSet:
    """Read a schedules TOML file (format in the module docstring).

    Raises `ScheduleError` (a `ValueError`) with a one-line message for any bad definition.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{path}: not valid TOML: {exc}") from None
    try:
        return schedules_from_dict(data)
    except ScheduleError as exc:
        raise ScheduleError(f"{path}: {exc}") from None


def schedules_from_dict(data: Mapping[str, Any]) -> ScheduleSet:
    """Build a `ScheduleSet` from the parsed TOML document (see the module docstring)."""
    unknown = set(data) - {"default", "schedules", "assign"}
    if unknown:
        raise ScheduleError(f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    raw_schedules = data.get("schedules")
    if not isinstance(raw_schedules, Mapping) or not raw_schedules:
        raise ScheduleError("no [schedules.NAME] table defined")
    schedules: dict[str, Schedule] = {}
    for name, spec in raw_schedules.items():
        if not isinstance(spec, Mapping):
            raise ScheduleError(f"schedules.{name}: expected a table")
        extra_keys = set(spec) - {"time_zone", "hours", "holidays"}
        if extra_keys:
            raise ScheduleError(
                f"schedules.{name}: unknown key(s): {', '.join(sorted(extra_keys))}"
            )
        if "time_zone" not in spec:
            raise ScheduleError(f"schedules.{name}: missing time_zone")
        hours = spec.get("hours", {})
        if not isinstance(hours, Mapping):
            raise ScheduleError(f"schedules.{name}: hours must be a table of day = [windows]")
        holidays = spec.get("holidays", [])
        if not isinstance(holidays, list):
            raise ScheduleError(f"schedules.{name}: holidays must be a list of dates")
        schedules[name] = Schedule.from_hours(name, str(spec["time_zone"]), hours, holidays)
    default = data.get("default")
    if default is None:
        if len(schedules) != 1:
            raise ScheduleError('several schedules defined: set default = "NAME"')
        default = next(iter(schedules))
    if str(default) not in schedules:
        raise ScheduleError(f"default names unknown schedule {default!r}")
    rules: list[Assignment] = []
    raw_rules = data.get("assign", [])
    if not isinstance(raw_rules, list):
        raise ScheduleError("assign must be an array of tables ([[assign]])")
    for i, rule in enumerate(raw_rules, start=1):
        if not isinstance(rule, Mapping) or "schedule" not in rule:
            raise ScheduleError(f"assign #{i}: missing schedule")
        target = str(rule["schedule"])
        if target not in schedules:
            raise ScheduleError(f"assign #{i}: unknown schedule {target!r}")
        bad = set(rule) - {"schedule", *ASSIGN_KEYS}
        if bad:
            raise ScheduleError(
                f"assign #{i}: unknown key(s) {', '.join(sorted(bad))} "
                f"(expected {', '.join(ASSIGN_KEYS)})"
            )
        match = tuple((k, str(rule[k])) for k in ASSIGN_KEYS if k in rule)
        rules.append(Assignment(target, match))
    return ScheduleSet(schedules, str(default), tuple(rules))


def schedules_from_warehouse(conn: Connection, source: str | None = None) -> ScheduleSet | None:
    """The help desk's schedules from the `schedules` table (None when there are none)."""
    table = ScheduleRow.__table__  # type: ignore[attr-defined]
    query = select(table)
    if source is not None:
        query = query.where(table.c.source == source)
    rows = list(conn.execute(query).mappings())
    if not rows:
        return None
    rows.sort(key=lambda r: (r["source"], _id_order(r["id"])))
    schedules: dict[str, Schedule] = {}
    default: str | None = None
    for row in rows:
        name = str(row["name"] or row["id"])
        intervals = row["intervals"]
        if isinstance(intervals, str):
            intervals = json.loads(intervals)
        windows: list[tuple[int, int]] = []
        for interval in intervals or []:
            start, end = interval.get("start_minute"), interval.get("end_minute")
            if start is None or end is None:
                raise ScheduleError(
                    f"schedule {name!r}: interval without start_minute/end_minute: {interval}"
                )
            windows.append((int(start), int(end)))
        holidays: set[date] = set()
        raw_holidays = row["holidays"]
        if isinstance(raw_holidays, str):
            raw_holidays = json.loads(raw_holidays)
        for holiday in raw_holidays or []:
            first = _parse_date(name, holiday.get("start_date"))
            last = _parse_date(name, holiday.get("end_date") or holiday.get("start_date"))
            while first <= last:
                holidays.add(first)
                first += timedelta(days=1)
        schedule = Schedule(
            name, _zone(name, row["time_zone"]), tuple(sorted(windows)), frozenset(holidays)
        )
        schedules.setdefault(name, schedule)
        schedules.setdefault(str(row["id"]), schedule)
        extra = row["extra"]
        if isinstance(extra, str):
            extra = json.loads(extra)
        if default is None and isinstance(extra, Mapping) and extra.get("default"):
            default = name
    return ScheduleSet(schedules, default or str(rows[0]["name"] or rows[0]["id"]))


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


# --- parsing helpers -------------------------------------------------------------------------


def _zone(name: str, key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"schedule {name!r}: unknown time zone {key!r}") from None


def _day_keys(name: str, key: str) -> list[str]:
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    parts = key.strip().lower().split("-")
    if len(parts) == 1 and parts[0] in order:
        return parts
    if len(parts) == 2 and parts[0] in order and parts[1] in order:
        i, j = order.index(parts[0]), order.index(parts[1])
        if i <= j:
            return list(order[i : j + 1])
    raise ScheduleError(
        f"schedule {name!r}: bad day {key!r} (expected mon..sun or a range like mon-fri)"
    )


def _parse_span(name: str, day: str, span: Any) -> tuple[int, int]:
    """Parse "HH:MM-HH:MM" into (start, end) minutes after the day's midnight; end > 1440 crosses it."""
    match = _HHMM.match(str(span)) if isinstance(span, str) else None
    if match is None:
        raise ScheduleError(f"schedule {name!r}: {day}: bad window {span!r} (expected HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ScheduleError(f"schedule {name!r}: {day}: bad time in window {span!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        end += MINUTES_PER_DAY  # crosses midnight into the next day
    return start, end


def _parse_date(name: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ScheduleError(f"schedule {name!r}: bad holiday date {value!r}") from None


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and join touching windows (a night window meeting a day window at midnight)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _fmt_week_minute(minute: int) -> str:
    day, rest = divmod(minute, MINUTES_PER_DAY)
    if day == 7:
        return "sun 00:00"
    return f"{DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"


__all__ = [
    "Assignment",
    "Schedule",
    "ScheduleError",
    "ScheduleSet",
    "business_seconds",
    "load_schedules",
    "schedules_from_dict",
    "schedules_from_warehouse",
]
