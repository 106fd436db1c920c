"""The toolkit of metric authors: what a metric's compute function builds its rows with.

Metric authors register a function `(conn, query, metric) -> Iterable[KpiValue]` with
`kpi_core.registry.metric` and build rows with the helpers below:

- `window(query)` -> `Periods` (buckets of the query, edges in the reporting zone);
  `in_window(col, query)`, `bucket_sql(col, query)`: SQL filter and bucket index for a column.
- `group_names(query, natural)`: the group keys of a row (the metric's natural grouping, e.g.
  `("type",)` for tickets_by_type, plus `query.by`). `group_sql(query, columns, natural)` picks
  the matching SQL columns from a dimension -> column mapping, e.g.
  `dimension_columns(tickets_table, TICKET_DIMENSIONS)`; each is labelled `g_<name>`.
- `source_filter(col, query)`: restricts to `query.sources` when given.
- `epoch_ms(col)`: SQL epoch milliseconds of a timestamp column, on SQLite and PostgreSQL
  (cheaper to fetch in bulk than datetimes; use `periods.from_ms` to get a datetime back).
- `Cell` holds one computed number; `duration_cell`, `ratio_cell`, `count_cell` build them with
  the catalog rules (no data -> value None, n = 0; durations in minutes with mean/median/p90).
- `emit(metric, query, cells, natural=...)` turns `{(bucket_index, group_values): Cell}` into
  KpiValues: every bucket gets a row for every group seen anywhere in the window (missing ones
  value None, n = 0); with no data at all, one row per bucket with group None.
- `clock(query)` -> `Clock`: `clock.seconds(item, start_ms, end_ms)` is calendar or business
  seconds (via `query.schedules.seconds_between(item, start, end)`).
- `shared(key, loader)`: memoises an expensive load (e.g. per-ticket facts) for the duration of
  one `compute()` call, so metrics that need the same rows load them once.

`compute()` (kpi_core.engine) runs the metrics; `shared` loads live for one of its calls.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Connection, and_, case, func, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from deskpulse.kpi_core.periods import Periods, bucket_case, from_ms, periods
from deskpulse.kpi_core.registry import (
    KpiError,
    KpiQuery,
    KpiValue,
    Metric,
    Unit,
)
from deskpulse.kpi_core.stats import summarize

T = TypeVar("T")
GroupKey = tuple[Any, ...]
CellKey = tuple[int, GroupKey]

# --- shared loads ----------------------------------------------------------------------------

_SHARED: ContextVar[dict[Hashable, Any] | None] = ContextVar("kpi_shared", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    """One `compute()` call's scope of shared loads (the runner enters it)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def shared(key: Hashable, loader: Callable[[], T]) -> T:
    """`loader()`, memoised under `key` for the current `compute()` call (not memoised outside)."""
    memo = _SHARED.get()
    if memo is None:
        return loader()
    if key not in memo:
        memo[key] = loader()
    return memo[key]  # type: ignore[no-any-return]


# --- SQL helpers -----------------------------------------------------------------------------


class epoch_ms(FunctionElement[int]):
    """Epoch milliseconds (integer) of a timestamp column, on SQLite and PostgreSQL."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_ms"


@compiles(epoch_ms, "sqlite")
def _epoch_ms_sqlite(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() keeps SQLite's internal integer milliseconds exactly enough to round back.
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(round((julianday({arg}) - 2440587.5) * 86400000.0) AS INTEGER)"


@compiles(epoch_ms, "postgresql")
def _epoch_ms_pg(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(round(extract(epoch from {arg}) * 1000) AS BIGINT)"


@compiles(epoch_ms)
def _epoch_ms_other(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    raise KpiError(f"epoch_ms is not implemented for dialect {compiler.dialect.name}")


def window(query: KpiQuery) -> Periods:
    """The query's buckets (cached)."""
    return periods(query.start, query.end, query.every, query.tz)


def in_window(column: Any, query: KpiQuery) -> ColumnElement[bool]:
    """`start <= column < end`."""
    return and_(column >= query.start, column < query.end)


def bucket_sql(column: Any, query: KpiQuery) -> ColumnElement[Any]:
    """SQL bucket index of `column` (rows must already be filtered to the window)."""
    return bucket_case(column, window(query))


def count_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """SQL aggregate: how many rows of the group meet `condition`."""
    return func.sum(case((condition, 1), else_=0))


def row_key(row: Any, names: Sequence[str]) -> CellKey:
    """The cell of a result row that selected `bucket` and the `g_<name>` group columns."""
    return (int(row.bucket), tuple(getattr(row, f"g_{n}") for n in names))


def matching_per_bucket(
    conn: Connection, query: KpiQuery, table: Any, when: Any, condition: ColumnElement[bool]
) -> dict[CellKey, tuple[int, int]]:
    """(rows, rows meeting `condition`) of `table` per bucket of `when` and per source group,
    for single-table metrics sliceable by source only."""
    groups = group_sql(query, {"source": table.c.source})
    bucket = bucket_sql(when, query).label("bucket")
    stmt = (
        select(bucket, *groups, func.count().label("n"), count_where(condition).label("hits"))
        .where(in_window(when, query), source_filter(table.c.source, query))
        .group_by(bucket, *groups)
    )
    names = group_names(query)
    return {row_key(r, names): (int(r.n), int(r.hits)) for r in conn.execute(stmt)}


def source_filter(column: Any, query: KpiQuery) -> ColumnElement[bool]:
    """`column IN query.sources`, or TRUE when no source filter is set."""
    if not query.sources:
        return true()
    clause: ColumnElement[bool] = column.in_(list(query.sources))
    return clause


def group_names(query: KpiQuery, natural: Sequence[str] = ()) -> tuple[str, ...]:
    """Group keys of the rows: the metric's natural grouping, then `query.by` (no duplicates)."""
    names = list(natural)
    if query.by is not None and query.by not in names:
        names.append(query.by)
    return tuple(names)


def group_sql(
    query: KpiQuery, columns: Mapping[str, Any], natural: Sequence[str] = ()
) -> list[Any]:
    """SQL columns for `group_names(query, natural)`, taken from a dimension -> column mapping."""
    out = []
    for name in group_names(query, natural):
        if name not in columns:
            raise KpiError(f"cannot group by {name} here")
        out.append(columns[name].label(f"g_{name}"))
    return out


TICKET_DIMENSIONS: dict[str, str] = {
    "agent": "assignee_id",
    "group": "group",
    "channel": "channel",
    "type": "type",
    "priority": "priority",
    "source": "source",
}
"""Dimension -> column of the `tickets` table."""


def dimension_columns(table: Any, mapping: Mapping[str, str]) -> dict[str, Any]:
    """`{dimension: table.c[column]}` for a dimension -> column-name mapping."""
    return {dim: table.c[col] for dim, col in mapping.items()}


# --- cells and rows --------------------------------------------------------------------------


@dataclass
class Cell:
    """One computed number before it becomes a KpiValue."""

    value: float | None
    n: int
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    details: dict[str, Any] | None = None


EMPTY = Cell(None, 0)


def duration_cell(
    seconds: Sequence[float], *, unit: Unit = "minutes", details: dict[str, Any] | None = None
) -> Cell:
    """Duration stats: value = mean, plus median and p90, in `unit` (minutes or seconds)."""
    s = summarize(seconds, 60.0 if unit == "minutes" else 1.0)
    return Cell(s.mean, s.n, s.mean, s.median, s.p90, details)


def ratio_cell(numerator: float, denominator: float, details: dict[str, Any] | None = None) -> Cell:
    """numerator / denominator with n = denominator; None (n = 0) when the denominator is 0."""
    if not denominator:
        return Cell(None, 0, details=details)
    return Cell(numerator / denominator, int(denominator), details=details)


def count_cell(count: int, details: dict[str, Any] | None = None) -> Cell:
    """A count; zero items is no data (None, n = 0), as the catalog asks."""
    if not count:
        return Cell(None, 0, details=details)
    return Cell(float(count), count, details=details)


def _group_order(key: GroupKey) -> tuple[Any, ...]:
    return tuple((v is None, str(v) if v is not None else "") for v in key)


def emit(
    m: Metric,
    query: KpiQuery,
    cells: Mapping[CellKey, Cell],
    *,
    natural: Sequence[str] = (),
    fill: Cell = EMPTY,
    order: Callable[[GroupKey, Cell], Any] | None = None,
    all_groups: bool = True,
) -> list[KpiValue]:
    """KpiValues from `{(bucket_index, group_values): Cell}`.

    Group values follow `group_names(query, natural)`. With `all_groups`, every bucket lists
    every group seen in the window (absent ones get `fill`); rows within a bucket are sorted by
    group value, or by `order(group, cell)` when given.
    """
    p = window(query)
    names = group_names(query, natural)
    groups: list[GroupKey] = sorted({g for _, g in cells}, key=_group_order)
    out: list[KpiValue] = []
    for i, (start, end) in enumerate(p.buckets):
        if names:
            keys = groups if all_groups else [g for g in groups if (i, g) in cells]
            rows = [(g, cells.get((i, g), fill)) for g in keys]
            if order is not None:
                rows.sort(key=lambda item: order(item[0], item[1]))
            if not rows:
                rows = [((), fill)]
        else:
            rows = [((), cells.get((i, ()), fill))]
        for g, c in rows:
            out.append(
                KpiValue(
                    metric=m.id,
                    start=start,
                    end=end,
                    group=dict(zip(names, g, strict=True)) if g else None,
                    value=c.value,
                    unit=m.unit,
                    n=c.n,
                    mean=c.mean,
                    median=c.median,
                    p90=c.p90,
                    details=c.details,
                )
            )
    return out


# --- clocks ----------------------------------------------------------------------------------


class Clock:
    """Seconds between two epoch-ms instants, in calendar time or the item's business hours."""

    def __init__(self, schedules: Any = None) -> None:
        self.schedules = schedules
        self.business = schedules is not None

    def seconds(self, item: Any, start_ms: float, end_ms: float) -> float:
        if end_ms <= start_ms:
            return 0.0
        if self.schedules is None:
            return (end_ms - start_ms) / 1000.0
        return float(self.schedules.seconds_between(item, from_ms(start_ms), from_ms(end_ms)))


def clock(query: KpiQuery) -> Clock:
    """The query's clock: business time when `query.business_hours`, else calendar time."""
    return Clock(query.schedules if query.business_hours else None)


def measured(values: Iterable[float | None]) -> list[float]:
    """The non-None values (a small helper for building duration lists)."""
    return [v for v in values if v is not None]


__all__ = [
    "EMPTY",
    "TICKET_DIMENSIONS",
    "Cell",
    "CellKey",
    "Clock",
    "GroupKey",
    "bucket_sql",
    "clock",
    "count_cell",
    "count_where",
    "dimension_columns",
    "duration_cell",
    "emit",
    "epoch_ms",
    "group_names",
    "group_sql",
    "in_window",
    "matching_per_bucket",
    "measured",
    "row_key",
    "shared",
    "sharing",
    "source_filter",
    "window",
]
