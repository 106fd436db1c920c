"""The KPI computation framework: `compute()` for callers, a small toolkit for metric authors.

Callers (the CLI) do::

    from deskpulse.kpi_core import KpiQuery, compute
    from deskpulse.kpi_core.config import load_config
    values = compute(conn, ["first_response_time"], KpiQuery(start, end, every="week",
                     by="priority", tz=ZoneInfo("Europe/Berlin"), config=load_config(path)))

`compute(conn, metric_ids, query, *, timings=None, workers=1)` runs the asked metrics (None =
the whole catalog, in registration order) and returns flat `KpiValue` rows: per metric, per
period bucket, per group. `plan(metric_ids, query)` tells beforehand which metrics will run and
which are skipped (and why). What `compute` does around each metric's own compute function:

- Unknown metric ids, an unknown `query.by`, or `business_hours=True` with no schedules raise
  `KpiError` with a one-line message.
- Slicing: asked explicitly, a metric that cannot be sliced by `query.by` raises `KpiError`
  ("first_contact_resolution cannot be sliced by ..."). When the whole catalog is asked
  (metric_ids None), such metrics are skipped: `plan()` returns them with the reason, so a caller
  can print a note.
- Parameters: for each metric parameter the per-call value (`query.params`) wins, then the
  configured default (`query.config`, see kpi_core.config), then the metric's own default.
  Per-call values given as text (from a command line) are converted to the default's type
  (int, float, bool, list of text from "a,b,c"). A per-call parameter that no asked metric has is a
  `KpiError`. The metric sees the resolved values through `Metric.param(query, name)`.
- Targets: each row gets `target` and `met` from the most specific matching target
  (`query.targets` if given, else `query.config.targets`); `met` is None when the value is None.
- Shared loads (`shared`) live for one call; the cyclic garbage collector is paused during the
  call (a year of per-ticket facts would otherwise be re-walked by every full collection).
- `workers=N` spreads the metrics over N processes (this one included) on a SQLite file or
  PostgreSQL, keeping metrics that share a load (`Metric.shares`, e.g. the ticket facts)
  together; same rows, same order. A year of the catalog over a million tickets takes about
  half the time with 2 workers (bench/kpi.py). In-memory SQLite always runs in-process.

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
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time as _time
from collections.abc import (
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Connection, and_, case, create_engine, func, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from deskpulse.kpi_core.config import KpiConfig, Target
from deskpulse.kpi_core.periods import Periods, bucket_case, from_ms, periods
from deskpulse.kpi_core.registry import (
    DIMENSIONS,
    REGISTRY,
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

# --- running metrics -------------------------------------------------------------------------


def plan(metric_ids: Sequence[str] | None, query: KpiQuery) -> tuple[list[Metric], dict[str, str]]:
    """The metrics `compute` would run, and those it would skip (id -> reason).

    Raises KpiError for unknown ids, an unknown dimension, or an explicitly asked metric that
    cannot be sliced by `query.by`.
    """
    if query.by is not None and query.by not in DIMENSIONS:
        raise KpiError(f"unknown dimension {query.by!r} (expected one of {', '.join(DIMENSIONS)})")
    if query.every not in (None, "day", "week", "month"):
        raise KpiError(f"unknown period {query.every!r} (expected day, week or month)")
    if query.end <= query.start:
        raise KpiError(
            f"empty window: {query.start.isoformat()} is not before {query.end.isoformat()}"
        )
    if metric_ids is None:
        chosen = list(REGISTRY.values())
        explicit = False
    else:
        unknown = [m for m in metric_ids if m not in REGISTRY]
        if unknown:
            raise KpiError(f"unknown metric(s): {', '.join(unknown)}")
        chosen = [REGISTRY[m] for m in dict.fromkeys(metric_ids)]
        explicit = True
    run: list[Metric] = []
    skipped: dict[str, str] = {}
    for m in chosen:
        if query.by is not None and query.by not in m.dimensions:
            reason = (
                f"{m.id} cannot be sliced by {query.by} "
                f"(it can by: {', '.join(m.dimensions) or 'nothing'})"
            )
            if explicit:
                raise KpiError(reason)
            skipped[m.id] = reason
            continue
        run.append(m)
    return run, skipped


def compute(
    conn: Connection,
    metric_ids: Sequence[str] | None,
    query: KpiQuery,
    *,
    timings: MutableMapping[str, float] | None = None,
    workers: int = 1,
) -> list[KpiValue]:
    """Compute the asked metrics (None = all that can answer the query); see the module docstring.

    `timings`, when given, receives seconds spent per metric id (shared loads are charged to the
    first metric that needs them). `workers` > 1 spreads the metrics over that many processes
    (this one included), each on its own connection to the same database, when the database
    allows it (a SQLite file or PostgreSQL; otherwise the metrics run here, one after another).
    Metrics that share a load (`Metric.shares`) stay together. The result is the same list in
    the same order; workers read committed data only.
    """
    run, _skipped = plan(metric_ids, query)
    if query.business_hours and query.schedules is None:
        raise KpiError(
            "no business-hours schedule configured: set DESKPULSE_SCHEDULES to a schedules file "
            "or sync a help desk that provides schedules"
        )
    config: KpiConfig = query.config if query.config is not None else KpiConfig()
    _check_call_params(run, query)
    url = _shareable_url(conn) if workers > 1 and len(run) > 1 else None
    if url is None:
        return _compute_here(conn, run, query, config, timings)
    parts = _partition(run, workers)
    if len(parts) == 1:  # e.g. metrics that all share one load: nothing to spread
        return _compute_here(conn, run, query, config, timings)
    # Fork only a process with no other threads: a fork copies the locks other threads hold
    # (the daemon's scheduler, its HTTP server, logging) and the child could wait on them forever.
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    context = multiprocessing.get_context("fork" if forkable else "spawn")
    with ProcessPoolExecutor(max_workers=len(parts) - 1, mp_context=context) as pool:
        futures = [
            pool.submit(_compute_elsewhere, url, [m.id for m in part], _for_part(query, part))
            for part in parts[1:]
        ]
        here: dict[str, float] = {}
        values = _compute_here(conn, parts[0], query, config, here)
        results = [values] + [f.result()[0] for f in futures]
        spent = [here] + [f.result()[1] for f in futures]
    if timings is not None:
        for part_timings in spent:
            timings.update(part_timings)
    by_metric: dict[str, list[KpiValue]] = {}
    for part_values in results:
        for v in part_values:
            by_metric.setdefault(v.metric, []).append(v)
    return [v for m in run for v in by_metric.get(m.id, [])]


def _compute_here(
    conn: Connection,
    run: Sequence[Metric],
    query: KpiQuery,
    config: KpiConfig,
    timings: MutableMapping[str, float] | None,
) -> list[KpiValue]:
    targets: Sequence[Target] = (
        tuple(query.targets) if query.targets is not None else tuple(config.targets)
    )
    token = _SHARED.set({})
    try:
        with _gc_paused():
            out: list[KpiValue] = []
            for m in run:
                began = _time.perf_counter()
                q = replace(query, params=resolve_params(m, query, config))
                values = list(m.compute(conn, q, m))
                for v in values:
                    _attach_target(v, targets)
                out.extend(values)
                if timings is not None:
                    timings[m.id] = timings.get(m.id, 0.0) + _time.perf_counter() - began
            return out
    finally:
        _SHARED.reset(token)


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while metrics run: a year of per-ticket facts is a
    million live objects that every full collection would walk again (seconds each time), and
    the metric code makes no reference cycles for it to find; reference counting still frees
    everything as usual. The switch is process-wide, so computations in several threads (the
    daemon's jobs) share one pause: the last to finish restores what the first found."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def _shareable_url(conn: Connection) -> str | None:
    """The database URL if other processes can open the same data (file SQLite, PostgreSQL)."""
    url = conn.engine.url
    if conn.dialect.name == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or "memory" in str(url.query):
            return None
    elif conn.dialect.name != "postgresql":
        return None
    return url.render_as_string(hide_password=False)


def _partition(run: Sequence[Metric], workers: int) -> list[list[Metric]]:
    """Split metrics into at most `workers` non-empty parts, keeping `shares` groups whole.

    A shared group weighs two per metric (its load dominates), any other metric one; each unit
    goes to the lightest part, heaviest units first. Order within a part follows `run`.
    """
    units: list[list[Metric]] = []
    groups: dict[str, list[Metric]] = {}
    for m in run:
        if m.shares is None:
            units.append([m])
        elif m.shares in groups:
            groups[m.shares].append(m)
        else:
            groups[m.shares] = [m]
            units.append(groups[m.shares])

    def weight(unit: list[Metric]) -> int:
        return 2 * len(unit) if unit[0].shares is not None else 1

    parts: list[list[Metric]] = [[] for _ in range(max(1, workers))]
    loads = [0] * len(parts)
    for unit in sorted(units, key=weight, reverse=True):
        lightest = loads.index(min(loads))
        parts[lightest].extend(unit)
        loads[lightest] += weight(unit)
    order = {m.id: i for i, m in enumerate(run)}
    return [sorted(p, key=lambda m: order[m.id]) for p in parts if p]


def _for_part(query: KpiQuery, part: Sequence[Metric]) -> KpiQuery:
    """The query for a worker: only the per-call parameters its metrics take (all were checked)."""
    names = {p.name for m in part for p in m.params}
    return replace(query, params={k: v for k, v in query.params.items() if k in names})


def _compute_elsewhere(
    url: str, metric_ids: list[str], query: KpiQuery
) -> tuple[list[KpiValue], dict[str, float]]:
    """Worker process: compute `metric_ids` on a fresh connection to `url`."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        timings: dict[str, float] = {}
        with engine.connect() as conn:
            values = compute(conn, metric_ids, query, timings=timings)
        return values, timings
    finally:
        engine.dispose()


def resolve_params(m: Metric, query: KpiQuery, config: KpiConfig) -> dict[str, Any]:
    """Parameter values for metric `m`: per-call, else configured, else default."""
    resolved: dict[str, Any] = {}
    for p in m.params:
        if p.name in query.params:
            resolved[p.name] = _coerce_param(m, p.name, p.default, query.params[p.name])
            continue
        found, value = config.param(m.id, p.name)
        resolved[p.name] = _coerce_param(m, p.name, p.default, value) if found else p.default
    return resolved


def _check_call_params(run: Sequence[Metric], query: KpiQuery) -> None:
    known = {p.name for m in run for p in m.params}
    unknown = sorted(set(query.params) - known)
    if unknown:
        raise KpiError(f"unknown parameter(s) for the asked metrics: {', '.join(unknown)}")


def _coerce_param(m: Metric, name: str, default: Any, value: Any) -> Any:
    where = f"metric {m.id}: parameter {name}"
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("true", "yes", "1", "on"):
                    return True
                if text in ("false", "no", "0", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int) and not isinstance(value, bool):
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if isinstance(default, float) and not isinstance(value, bool):
            return float(value)
        if isinstance(default, list | tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(i).strip() for i in items if str(i).strip()]
    except (TypeError, ValueError):
        raise KpiError(f"{where}: expected {type(default).__name__}, got {value!r}") from None
    return value


def _attach_target(v: KpiValue, targets: Sequence[Target]) -> None:
    best: Target | None = None
    for t in targets:
        if t.matches(v.metric, v.group) and (best is None or len(t.where) > len(best.where)):
            best = t
    if best is None:
        return
    v.target = best.value
    v.met = None if v.value is None else best.met(v.value)


# --- shared loads ----------------------------------------------------------------------------

_SHARED: ContextVar[dict[Hashable, Any] | None] = ContextVar("kpi_shared", default=None)


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
    "compute",
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
    "plan",
    "ratio_cell",
    "resolve_params",
    "row_key",
    "shared",
    "source_filter",
    "window",
]
