"""Reporting periods: the [start, end) window, its day / week / month buckets, and date arguments.

Buckets are cut at local midnight in the reporting time zone (`KpiQuery.tz`): a day is one local
calendar day (23 or 25 hours long across a DST change), a week starts on Monday (ISO), a month on
the 1st. The first and last buckets are clipped to the window, so a window starting at 15:00 has a
first day bucket [15:00, next local midnight). Edges are aware datetimes in the reporting zone,
computed through zoneinfo, so DST transitions are exact.

Timestamps are assigned to buckets either in SQL (`bucket_case`, a binary search over the edges) or in
Python from epoch milliseconds (`Periods.index_ms`, a bisect). Both treat buckets as half-open:
an item exactly at an edge belongs to the later bucket.

`parse_when` reads `--from/--to` values: a bare date (`2026-03-01`) or a datetime without an
offset means that local wall time in the reporting zone; a value with an offset is taken as given.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal, literal_column, null
from sqlalchemy.sql.elements import ColumnElement

Every = Literal["day", "week", "month"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: float) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of local `day` in `tz`, as an aware datetime in `tz`.

    Where midnight does not exist (a DST gap at 00:00), the instant the gap ends: zoneinfo reads
    a wall time in a gap with the offset before it (fold=0), which lands just past the gap.
    """
    return datetime.combine(day, time()).replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def floor_date(day: date, every: Every) -> date:
    """First local date of the bucket holding `day`."""
    if every == "day":
        return day
    if every == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_date(day: date, every: Every) -> date:
    """First local date of the bucket after the one starting on `day`."""
    if every == "day":
        return day + timedelta(days=1)
    if every == "week":
        return day + timedelta(days=7)
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Periods:
    """The buckets of one window. `edges` has len(buckets) + 1 items."""

    edges: tuple[datetime, ...]
    edges_ms: tuple[int, ...]

    @property
    def buckets(self) -> list[tuple[datetime, datetime]]:
        return list(zip(self.edges[:-1], self.edges[1:], strict=True))

    def __len__(self) -> int:
        return len(self.edges) - 1

    @property
    def start_ms(self) -> int:
        return self.edges_ms[0]

    @property
    def end_ms(self) -> int:
        return self.edges_ms[-1]

    def index_ms(self, ms: float | None) -> int | None:
        """Bucket index holding epoch-ms `ms`, or None outside [start, end)."""
        edges = self.edges_ms
        if ms is None or ms < edges[0] or ms >= edges[-1]:
            return None
        return 0 if len(edges) == 2 else bisect_right(edges, ms) - 1

    def index(self, when: datetime | None) -> int | None:
        """Bucket index holding `when`, or None outside the window."""
        return None if when is None else self.index_ms(to_ms(when))


@lru_cache(maxsize=64)
def periods(start: datetime, end: datetime, every: Every | None, tz: ZoneInfo) -> Periods:
    """Split [start, end) into buckets of `every` (None: one bucket) cut in time zone `tz`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("period bounds must be aware datetimes")
    if end <= start:
        raise ValueError(f"empty window: {start.isoformat()} is not before {end.isoformat()}")
    first = start.astimezone(tz)
    last = end.astimezone(tz)
    edges = [first]
    if every is not None:
        day = next_date(floor_date(first.date(), every), every)
        while True:
            edge = local_midnight(day, tz)
            # Compare instants, not wall times (aware datetimes sharing a tzinfo compare naively).
            if to_ms(edge) >= to_ms(last):
                break
            if to_ms(edge) > to_ms(edges[-1]):
                edges.append(edge)
            day = next_date(day, every)
    edges.append(last)
    return Periods(tuple(edges), tuple(to_ms(e) for e in edges))


def edge_index(column: Any, edges: Sequence[datetime]) -> ColumnElement[Any]:
    """SQL: how many of the ascending `edges` are <= column, minus one; NULL stays NULL.

    -1 before edges[0], i within [edges[i], edges[i + 1]), len(edges) - 1 at or after the last
    edge. A binary search written as nested CASEs: log2(len(edges)) comparisons per row, where a
    flat CASE would need one per edge (a year of days: 9 instead of 365).
    """

    def search(lo: int, hi: int) -> ColumnElement[Any]:  # the answer lies in [lo, hi]
        if lo == hi:
            return literal_column(str(lo - 1))
        mid = (lo + hi) // 2
        return case((column < edges[mid], search(lo, mid)), else_=search(mid + 1, hi))

    return case((column.is_(None), null()), else_=search(0, len(edges)))


def bucket_case(column: Any, p: Periods) -> ColumnElement[Any]:
    """SQL expression: index of the bucket holding `column` (callers filter to the window).

    A binary search over the inner edges (see `edge_index`), so a year of days costs 9
    comparisons per row, not 365.
    """
    if len(p) == 1:
        return literal(0)
    edges = p.edges

    def search(lo: int, hi: int) -> ColumnElement[Any]:  # in the window: [1, len(edges) - 1]
        if lo == hi:
            return literal_column(str(lo - 1))
        mid = (lo + hi) // 2
        return case((column < edges[mid], search(lo, mid)), else_=search(mid + 1, hi))

    return search(1, len(edges) - 1)


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    """Parse a `--from/--to` value: a date or datetime; without an offset it is local to `tz`."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        if len(value) == 10:
            return local_midnight(date.fromisoformat(value), tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date or ISO-8601 date/time: {text!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=tz)
    return parsed


def count_periods(start: datetime, end: datetime, every: Every | None, tz: ZoneInfo) -> int:
    """How many buckets `periods(start, end, every, tz)` makes (weeks: at most one more), by
    arithmetic, so a caller can refuse an absurd window before the edges are built."""
    if every is None:
        return 1
    local_end = end.astimezone(tz)
    first, last = start.astimezone(tz).date(), local_end.date()
    cut = local_end.time() != time(0)  # the window ends inside its last day
    if every == "month":
        count = (last.year - first.year) * 12 + last.month - first.month + (cut or last.day > 1)
    elif every == "day":
        count = (last - first).days + cut
    else:
        count = (last - first).days // 7 + 2
    return max(count, 1)


def month_window(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[first local midnight of the month, first of the next) in `tz`."""
    first = date(year, month, 1)
    return local_midnight(first, tz), local_midnight(next_date(first, "month"), tz)


__all__ = [
    "Every",
    "Periods",
    "bucket_case",
    "count_periods",
    "edge_index",
    "floor_date",
    "from_ms",
    "local_midnight",
    "month_window",
    "next_date",
    "parse_when",
    "periods",
    "to_ms",
]
