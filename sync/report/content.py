"""What a KPI report holds: the numbers, gathered through the same `compute_kpis` as `deskpulse kpi`.

A report is a handful of KPI queries over one window: the whole catalog for the window (headline
values and the list of metrics without data), the headline metrics over the previous window of the
same length (the change), the trend metrics per bucket, the headline metrics sliced by one
dimension, and the per-ticket durations behind first response and resolution (their histograms).
Nothing here draws or formats; `charts` and `page` do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from deskpulse.connectors import registry
from deskpulse.connectors.base import fills
from deskpulse.kpi_core import KpiQuery, KpiValue
from deskpulse.kpi_core.metrics.tickets_speed import ticket_durations
from deskpulse.kpi_core.registry import REGISTRY, Metric
from deskpulse.sync.report.missing import explain
from deskpulse.sync.reporting import compute_kpis, window
from deskpulse.sync.settings import Settings
from deskpulse.sync.warehouse import Warehouse

CORE = (
    "first_response_time",
    "resolution_time",
    "csat",
    "first_contact_resolution",
    "sla_attainment",
    "request_volume",
    "ticket_backlog",
)
"""Headline metrics when no target is configured, and always trended."""

SHOWN = ("social_sentiment",)
"""Trended too, when the window has data for them."""

DISTRIBUTIONS = ("first_response_time", "resolution_time")
"""Duration metrics shown as histograms of their per-ticket values."""

MAX_GROUPS = 15
"""Rows of a breakdown chart; the table below it lists every group."""

TABLES = (
    "tickets",
    "ticket_events",
    "sla_events",
    "calls",
    "chats",
    "social_mentions",
    "survey_responses",
    "customers",
    "orders",
    "engagement_events",
    "reviews",
    "agent_sessions",
    "costs",
    "kb_articles",
)
"""The canonical tables a metric's anchor and description may name (what `tables_of` finds)."""


def suppliers(table: str) -> str:
    """Who fills `table`: what each registered connector declares it fills it from
    (connectors.base.fills), the most specific connector first; any table can also come
    from `deskpulse import`."""
    declared = [fills(factory) for factory in registry.load().values()]
    found = [f[table] for f in sorted(declared, key=len) if table in f]
    return " or ".join(found) or "no installed connector (an import with `deskpulse import`)"


_NEEDS: dict[str, tuple[str, ...]] = {
    "kb_helpfulness": ("kb_articles",),
    "repeat_contacts": ("tickets", "chats", "calls"),
}
"""Metrics whose anchor and description do not name the tables they read."""

_TABLE_RE = re.compile(r"\b(" + "|".join(sorted(TABLES, key=len, reverse=True)) + r")\b")


@dataclass(frozen=True)
class Headline:
    metric: Metric
    value: KpiValue
    previous: KpiValue | None

    @property
    def change(self) -> float | None:
        if self.previous is None or self.previous.value is None or self.value.value is None:
            return None
        return self.value.value - self.previous.value

    @property
    def better(self) -> bool | None:
        """Whether the change is an improvement (None: no change or no direction)."""
        change = self.change
        if not change or self.metric.direction == "neutral":
            return None
        return (change > 0) == (self.metric.direction == "higher")


@dataclass(frozen=True)
class Series:
    """One metric over the buckets of the window (a trend), or over groups (a breakdown)."""

    metric: Metric
    values: list[KpiValue]
    target: float | None = None


@dataclass(frozen=True)
class Distribution:
    metric: Metric
    minutes: list[float]
    summary: KpiValue


@dataclass(frozen=True)
class Missing:
    metric: Metric
    tables: tuple[str, ...]
    reason: str
    """What is actually missing (sync.report.missing.explain)."""


@dataclass
class Report:
    start: datetime
    end: datetime
    tz: str
    every: str
    by: str
    business_hours: bool
    sources: list[str]
    headlines: list[Headline] = field(default_factory=list)
    trends: list[Series] = field(default_factory=list)
    breakdowns: list[Series] = field(default_factory=list)
    distributions: list[Distribution] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    values: list[KpiValue] = field(default_factory=list)
    """The whole catalog over the window, as `deskpulse kpi --format json` gives it."""


def default_every(start: datetime, end: datetime) -> str:
    """Buckets that give a readable trend: days up to two months, weeks up to a year, else months."""
    days = (end - start) / timedelta(days=1)
    return "day" if days <= 62 else "week" if days <= 366 else "month"


def is_flow(m: Metric) -> bool:
    """A count of things that happen in a period (tickets created): a period without any is 0.
    A level at a moment (the backlog at each period's end) is a stock: without data, unknown."""
    return m.unit == "count" and "end of each period" not in m.anchor


def team_total(m: Metric) -> bool:
    """A count whose target is the team's (a backlog of 250): no single group is held to it."""
    return m.unit == "count"


def tables_of(m: Metric) -> tuple[str, ...]:
    """The canonical tables a metric reads, as its anchor and description name them."""
    if m.id in _NEEDS:
        return _NEEDS[m.id]
    found = dict.fromkeys(_TABLE_RE.findall(f"{m.anchor} {m.description}"))
    return tuple(found) or ("tickets",)


def headline_metrics(values: Sequence[KpiValue]) -> list[str]:
    """Metrics with a configured target (on the ungrouped value), else the core set."""
    targeted = list(dict.fromkeys(v.metric for v in values if v.target is not None))
    return targeted or [m for m in CORE if m in REGISTRY]


def _last(values: Sequence[KpiValue], metric_id: str) -> KpiValue | None:
    """A metric's value for the window: the last one of a metric that is a series (the backlog)."""
    mine = [v for v in values if v.metric == metric_id and not v.group]
    return max(mine, key=lambda v: v.end) if mine else None


def build_report(
    settings: Settings,
    *,
    start: str | None = None,
    end: str | None = None,
    every: str | None = None,
    by: str = "agent",
    business_hours: bool = False,
    sources: Sequence[str] | None = None,
    warehouse: Warehouse | None = None,
) -> Report:
    """Gather a report's numbers (the options mean what they mean for `deskpulse kpi`)."""
    warehouse = warehouse or Warehouse(settings.database_url)
    begin, stop = window(start, end, settings)
    common: dict[str, Any] = {
        "business_hours": business_hours,
        "sources": sources,
        "warehouse": warehouse,
    }
    iso = (begin.isoformat(), stop.isoformat())
    values, query = compute_kpis(settings, start=iso[0], end=iso[1], **common)
    every = every or default_every(begin, stop)
    report = Report(
        start=begin,
        end=stop,
        tz=settings.timezone,
        every=every,
        by=by,
        business_hours=business_hours,
        sources=list(sources or []),
        values=values,
    )

    heads = headline_metrics(values)
    length = stop - begin
    previous, _ = compute_kpis(
        settings,
        start=(begin - length).isoformat(),
        end=iso[0],
        metrics=heads,
        **common,
    )
    for metric_id in heads:
        current = _last(values, metric_id)
        if current is not None:
            report.headlines.append(
                Headline(REGISTRY[metric_id], current, _last(previous, metric_id))
            )

    having = {v.metric for v in values if v.n}
    trended = list(
        dict.fromkeys(
            [*heads, *(m for m in CORE if m in REGISTRY), *(m for m in SHOWN if m in having)]
        )
    )
    bucketed, _ = compute_kpis(
        settings, start=iso[0], end=iso[1], metrics=trended, every=every, **common
    )
    for metric_id in trended:
        points = sorted((v for v in bucketed if v.metric == metric_id), key=lambda v: v.start)
        if any(p.value is not None for p in points):
            if is_flow(REGISTRY[metric_id]):  # a day without tickets had 0 of them
                points = [p if p.value is not None else replace(p, value=0.0) for p in points]
            report.trends.append(Series(REGISTRY[metric_id], points, _target(values, metric_id)))

    sliceable = [m for m in heads if by in REGISTRY[m].dimensions]
    if sliceable:
        sliced, _ = compute_kpis(
            settings, start=iso[0], end=iso[1], metrics=sliceable, by=by, **common
        )
        for metric_id in sliceable:
            rows = _latest_per_group([v for v in sliced if v.metric == metric_id])
            # Best first; groups without data (an agent with no measured ticket) last, as such.
            rows.sort(
                key=lambda v: v.value or 0.0, reverse=REGISTRY[metric_id].direction != "lower"
            )
            rows.sort(key=lambda v: v.value is None)
            if any(v.value is not None for v in rows):
                metric = REGISTRY[metric_id]
                target = None if team_total(metric) else _target(values, metric_id)
                report.breakdowns.append(Series(metric, rows, target))

    for metric_id in DISTRIBUTIONS:
        summary = _last(values, metric_id)
        if summary is None or not summary.n:
            continue
        minutes = per_ticket_minutes(metric_id, warehouse, query)
        if minutes:
            report.distributions.append(Distribution(REGISTRY[metric_id], minutes, summary))

    seen = {v.metric for v in values if v.n}
    who = {t: suppliers(t) for t in TABLES}
    with warehouse.connect() as connection:
        report.missing = [
            Missing(m, tables_of(m), explain(connection, m, tables_of(m), who, sources or ()))
            for m in sorted(REGISTRY.values(), key=lambda m: m.id)
            if m.id not in seen
        ]
    return report


def _target(values: Sequence[KpiValue], metric_id: str) -> float | None:
    current = _last(values, metric_id)
    return current.target if current is not None else None


def _latest_per_group(rows: list[KpiValue]) -> list[KpiValue]:
    """One row per group: the last bucket of a series metric (the backlog at the window's end)."""
    latest: dict[str, KpiValue] = {}
    for v in rows:
        key = repr(sorted((v.group or {}).items()))
        if key not in latest or v.end > latest[key].end:
            latest[key] = v
    return list(latest.values())


def per_ticket_minutes(metric_id: str, warehouse: Warehouse, query: KpiQuery) -> list[float]:
    """The per-ticket minutes behind a duration metric over the report's window."""
    with warehouse.connect() as connection:
        return [seconds / 60 for seconds in ticket_durations(connection, query, metric_id)]
