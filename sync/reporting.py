"""From CLI options and settings to a `KpiQuery`, and the computed values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from deskpulse.kpi_core import KpiError, KpiQuery, KpiValue, compute
from deskpulse.kpi_core.business_hours import ScheduleSet, load_schedules, schedules_from_warehouse
from deskpulse.kpi_core.config import load_config
from deskpulse.kpi_core.periods import local_midnight, parse_when
from deskpulse.sync.settings import Settings
from deskpulse.sync.warehouse import Warehouse, table
from deskpulse.sync.writeback import Context

DEFAULT_DAYS = 30


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
    except ValueError as exc:
        raise KpiError(f"--from/--to: {exc}") from None
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


def writeback_context(settings: Settings, warehouse: Warehouse) -> Context:
    """What per-ticket values are computed with: the schedules and the KPI config."""
    return Context(
        schedules=_schedules(settings, warehouse), config=load_config(settings.kpi_config)
    )


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
    warehouse = warehouse or Warehouse(settings.database_url)
    query = KpiQuery(
        start=begin,
        end=stop,
        every=every,  # type: ignore[arg-type]
        by=by,
        business_hours=business_hours,
        tz=settings.tz,
        params=dict(params or {}),
        schedules=_schedules(settings, warehouse) if business_hours else None,
        config=load_config(settings.kpi_config),
        sources=list(sources) if sources else None,
    )
    with warehouse.connect() as connection:
        values = compute(
            connection, list(metrics) if metrics else None, query, workers=settings.workers
        )
        _name_agents(connection, values)
    return values, query


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
