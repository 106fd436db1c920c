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
  together; same rows, same order (what it saves: docs/benchmarks.md). In-memory SQLite always
  runs in-process.

The helpers metric authors build rows with (`window`, `emit`, `Cell`, `shared`, ...) are in
kpi_core.toolkit; this module runs the metrics and imports nothing a metric needs.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time as _time
from collections.abc import (
    Iterator,
    MutableMapping,
    Sequence,
)
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from deskpulse.kpi_core.config import KpiConfig, Target
from deskpulse.kpi_core.registry import (
    DIMENSIONS,
    REGISTRY,
    KpiError,
    KpiQuery,
    KpiValue,
    Metric,
)
from deskpulse.kpi_core.toolkit import sharing

T = TypeVar("T")

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
    with sharing(), _gc_paused():
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


__all__ = ["compute", "plan", "resolve_params"]
