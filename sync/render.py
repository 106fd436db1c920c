"""Turning results into what people and scripts read: rich tables, JSON, CSV, sparklines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from kpi_core import KpiValue
from kpi_core.registry import REGISTRY

SPARKS = "▁▂▃▄▅▆▇█"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "minutes":
        return _duration(value * 60)
    if unit == "seconds":
        return _duration(value)
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if unit == "currency":
        return f"{value:,.2f}"
    return f"{value:,.2f}"


def _duration(seconds: float) -> str:
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    if abs(seconds) < 3600:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def sparkline(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else SPARKS[min(int((v - low) / span * (len(SPARKS) - 1)), 7)]
        for v in values
    )


def group_label(group: dict[str, Any] | None) -> str:
    if not group:
        return "all"
    return ", ".join(f"{v}" if v is not None else "(none)" for v in group.values())


def _period_label(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    days = (local_end.date() - local_start.date()).days
    if days == 1:
        return local_start.strftime("%Y-%m-%d")
    if local_start.day == 1 and local_end.day == 1 and days >= 28:
        return local_start.strftime("%Y-%m")
    if days == 7 and local_start.weekday() == 0:
        return local_start.strftime("%G-W%V")
    return f"{local_start:%Y-%m-%d}…{local_end:%Y-%m-%d}"


def _mark(value: KpiValue) -> Text:
    if value.met is None:
        return Text("")
    return Text("✓", style="green") if value.met else Text("✗", style="bold red")


def kpi_table(values: Sequence[KpiValue], tz: ZoneInfo, *, title: str | None = None) -> Table:
    """One row per metric and group; with several periods, one column per period + a trend."""
    periods = sorted({(v.start, v.end) for v in values})
    table = Table(title=title, header_style="bold", show_lines=False)
    table.add_column("metric", style="cyan", no_wrap=True)
    table.add_column("group")
    if len(periods) <= 1:
        for name in ("value", "n", "median", "p90", "target", ""):
            table.add_column(name, justify="right")
        for v in values:
            median = format_value(v.median, v.unit) if v.median is not None else ""
            p90 = format_value(v.p90, v.unit) if v.p90 is not None else ""
            target = format_value(v.target, v.unit) if v.target is not None else ""
            table.add_row(
                v.metric, group_label(v.group), format_value(v.value, v.unit), f"{v.n:,}",
                median, p90, target, _mark(v),
            )  # fmt: skip
        return table
    shown = periods[-12:]
    for start, end in shown:
        table.add_column(_period_label(start, end, tz), justify="right")
    table.add_column("trend")
    rows: dict[tuple[str, str], dict[tuple[datetime, datetime], KpiValue]] = {}
    for v in values:
        rows.setdefault((v.metric, group_label(v.group)), {})[(v.start, v.end)] = v
    for (metric_id, group), cells in rows.items():
        series = [cells[p].value if p in cells else None for p in periods]
        texts: list[str | Text] = []
        for p in shown:
            cell = cells.get(p)
            texts.append(format_value(cell.value, cell.unit) if cell else "–")
        table.add_row(metric_id, group, *texts, sparkline(series))
    if len(periods) > len(shown):
        table.caption = f"last {len(shown)} of {len(periods)} periods shown; use --format csv for all"
    return table


def kpi_json(values: Sequence[KpiValue]) -> str:
    return json.dumps([v.to_dict() for v in values], indent=2, default=str)


CSV_COLUMNS = ("metric", "from", "to", "group", "value", "unit", "n", "mean", "median", "p90",
               "target", "met")  # fmt: skip


def kpi_csv(values: Sequence[KpiValue]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for v in values:
        data = v.to_dict()
        group = data["group"]
        data["group"] = ";".join(f"{k}={val}" for k, val in group.items()) if group else ""
        writer.writerow(["" if data.get(c) is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue()


def metric_list_table() -> Table:
    table = Table(header_style="bold", show_lines=True)
    for name in ("id", "title", "unit", "better", "anchor", "parameters"):
        table.add_column(name, style="cyan" if name == "id" else None)
    for m in sorted(REGISTRY.values(), key=lambda m: m.id):
        params = ", ".join(f"{p.name}={p.default}" for p in m.params)
        table.add_row(m.id, f"{m.title}\n[dim]{m.description}[/dim]", m.unit, m.direction,
                      m.anchor, params)  # fmt: skip
    return table
