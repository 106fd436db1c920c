"""From CLI options and settings to a `KpiQuery`, and the computed values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from deskpulse.kpi_core import KpiError, KpiQuery, KpiValue, compute
from deskpulse.kpi_core.business_hours import ScheduleSet, load_schedules, schedules_from_warehouse
from deskpulse.kpi_core.config import KpiConfig, load_config
from deskpulse.kpi_core.periods import count_periods, local_midnight, parse_when
from deskpulse.kpi_core.registry import REGISTRY
from deskpulse.sync.settings import Settings
from deskpulse.sync.warehouse import Warehouse, table
from deskpulse.sync.writeback_plan import Context

DEFAULT_DAYS = 30


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""`--from/--to` lie in [EARLIEST, LATEST): beyond, date arithmetic overflows (year 1 minus an
offset, year 9999 plus a day), and no help desk has data there."""

SERIES = frozenset({"ticket_backlog", "ticket_backlog_aged"})
"""Metrics that are a daily series when no --every is asked (kpi_core.metrics.tickets_volume)."""


def window(start: str | None, end: str | None, settings: Settings) -> tuple[datetime, datetime]:
    """[from, to) in the reporting zone; defaults to the 30 days up to tonight's midnight."""
    tz = settings.tz
    try:
        stop = (
            parse_when(end, tz)
            if end
            else local_midnight(datetime.now(tz).date(), tz) + timedelta(days=1)
        )
        begin = parse_when(start, tz) if start else stop - timedelta(days=DEFAULT_DAYS)
        for moment, given in ((begin, start), (stop, end)):
            if not EARLIEST <= moment < LATEST:
                raise ValueError(f"{given!r} is out of range ({EARLIEST:%Y-%m-%d} to 2199-12-31)")
    except (ValueError, OverflowError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "date out of range"
        raise KpiError(f"--from/--to: {reason}") from None
    if begin >= stop:
        raise KpiError(
            f"--from ({begin:%Y-%m-%d %H:%M}) must be before --to ({stop:%Y-%m-%d %H:%M})"
        )
    return begin, stop


def _schedules(settings: Settings, warehouse: Warehouse) -> ScheduleSet | None:
    if settings.schedules is not None:
        try:
            return load_schedules(settings.schedules)
        except (OSError, ValueError) as exc:
            raise KpiError(f"DESKPULSE_SCHEDULES ({settings.schedules}): {exc}") from None
    with warehouse.connect() as connection:
        return schedules_from_warehouse(connection)


def writeback_context(
    settings: Settings, warehouse: Warehouse, config: KpiConfig | None = None
) -> Context:
    """What per-ticket values are computed with: the schedules, the KPI config (`config`, else
    read from DESKPULSE_KPI_CONFIG) and the reporting time zone (digest periods)."""
    if config is None:
        config = load_config(settings.kpi_config)
    return Context(schedules=_schedules(settings, warehouse), config=config, tz=settings.tz)


def compute_kpis(
    settings: Settings,
    *,
    start: str | None = None,
    end: str | None = None,
    metrics: Sequence[str] | None = None,
    by: str | None = None,
    every: str | None = None,
    business_hours: bool = False,
    params: Mapping[str, Any] | None = None,
    sources: Sequence[str] | None = None,
    warehouse: Warehouse | None = None,
) -> tuple[list[KpiValue], KpiQuery]:
    begin, stop = window(start, end, settings)
    _check_size(settings, begin, stop, every, metrics)
    warehouse = warehouse or Warehouse(settings.database_url, reading=True)
    config = load_config(settings.kpi_config)
    # SLA policies pinned to business hours need the schedules in a calendar-time query too.
    pinned = any(policy.business_hours is True for policy in config.sla)
    query = KpiQuery(
        start=begin,
        end=stop,
        every=every,  # type: ignore[arg-type]
        by=by,
        business_hours=business_hours,
        tz=settings.tz,
        params=dict(params or {}),
        schedules=_schedules(settings, warehouse) if business_hours or pinned else None,
        config=config,
        sources=list(sources) if sources else None,
    )
    with warehouse.connect() as connection:
        values = compute(
            connection, list(metrics) if metrics else None, query, workers=settings.workers
        )
        _name_agents(connection, values)
    return values, query


def _check_size(
    settings: Settings,
    begin: datetime,
    stop: datetime,
    every: str | None,
    metrics: Sequence[str] | None,
) -> None:
    """Refuse a query whose periods or values would not fit, before any is made. Groups (--by)
    multiply the values further; they are not known before the query runs."""
    asked = list(metrics) if metrics else list(REGISTRY)
    cut = every or ("day" if SERIES & set(asked) else None)
    buckets = count_periods(begin, stop, cut, settings.tz)  # type: ignore[arg-type]
    span = f"{day_label(begin, settings.tz)} → {day_label(stop, settings.tz)} by {cut}"
    if buckets > settings.kpi_max_buckets:
        raise KpiError(
            f"{span} is {buckets:,} periods, more than DESKPULSE_KPI_MAX_BUCKETS "
            f"({settings.kpi_max_buckets:,}): use a shorter window or a longer --every"
        )
    if buckets * len(asked) > settings.kpi_max_rows:
        raise KpiError(
            f"{span} for {len(asked)} metrics is {buckets * len(asked):,} values, more than "
            f"DESKPULSE_KPI_MAX_ROWS ({settings.kpi_max_rows:,}): ask fewer metrics, use a "
            "shorter window or a longer --every"
        )


def day_label(moment: datetime, tz: ZoneInfo) -> str:
    """A window edge as people write it: the date, and the time unless it is midnight."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")


def _name_agents(connection: Connection, values: list[KpiValue]) -> None:
    """Add `agent_name` beside every `agent` id in a group, for people (scripts keep the id)."""
    ids = {str(v.group["agent"]) for v in values if v.group and v.group.get("agent") is not None}
    if not ids:
        return
    agents = table("agents")
    names: dict[str, str] = {}
    for chunk in _chunks(sorted(ids), 500):
        query = select(agents.c.id, agents.c.name).where(agents.c.id.in_(chunk))
        names.update({agent_id: name for agent_id, name in connection.execute(query) if name})
    for v in values:
        if v.group and v.group.get("agent") is not None:
            name = names.get(str(v.group["agent"]))
            if name:
                v.group = {**v.group, "agent_name": name}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
