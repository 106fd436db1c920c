"""Turning results into what people and scripts read: rich tables, JSON, CSV, sparklines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from deskpulse.kpi_core import KpiValue
from deskpulse.kpi_core.registry import REGISTRY

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
    shown = {k: v for k, v in group.items() if k != "agent_name"}
    if "agent_name" in group:
        shown["agent"] = group["agent_name"]
    return ", ".join(f"{v}" if v is not None else "(none)" for v in shown.values())


def change_text(unit: str, direction: str, current: float | None, previous: float | None) -> str:
    """The change since the previous period in the metric's unit (ratios in percentage points),
    and whether it is better: "-16.7 min vs previous, better". Empty without both values."""
    if current is None or previous is None:
        return ""
    delta = current - previous
    sign = "+" if delta >= 0 else "-"
    size = f"{abs(delta) * 100:.1f} pts" if unit == "ratio" else format_value(abs(delta), unit)
    if delta == 0 or direction == "neutral":
        verdict = ""
    else:
        verdict = ", better" if (delta < 0) == (direction == "lower") else ", worse"
    return f"{sign}{size} vs previous{verdict}"


def kpi_line(metric_id: str, current: KpiValue | None, previous: KpiValue | None) -> str:
    """One KPI as a line of a summary post: value, target met or MISSED, change since before."""
    m = REGISTRY[metric_id]
    if current is None or current.value is None:
        return f"- {m.title}: no data"
    text = f"- {m.title}: {format_value(current.value, m.unit)}"
    if current.target is not None:
        verdict = "met" if current.met else "MISSED"
        text += f" (target {format_value(current.target, m.unit)}: {verdict})"
    before = previous.value if previous is not None else None
    change = change_text(m.unit, m.direction, current.value, before)
    return f"{text}, {change}" if change else text


def worst_slices(metric_id: str, values: Sequence[KpiValue], count: int = 3) -> list[str]:
    """The `count` groups with the worst value in the metric's direction ("billing 1.0 h"), when
    there are at least two groups with data to compare."""
    m = REGISTRY[metric_id]
    have = [v for v in values if v.value is not None and v.group and v.n > 0]
    have.sort(key=lambda v: v.value or 0, reverse=m.direction == "lower")
    shown = [f"{group_label(v.group)} {format_value(v.value, m.unit)}" for v in have[:count]]
    return shown if len(have) > 1 else []


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


def kpi_table(
    values: Sequence[KpiValue], tz: ZoneInfo, *, every: str | None = None, title: str | None = None
) -> Table:
    """One row per metric and group.

    Without `every`: the window's value; a metric that is itself a series (the daily backlog)
    shows its last value and a trend. With `every`: one column per period and a trend.
    """
    rows: dict[tuple[str, str], dict[tuple[datetime, datetime], KpiValue]] = {}
    for v in values:
        rows.setdefault((v.metric, group_label(v.group)), {})[(v.start, v.end)] = v
    # Group names come from the help desk (agent names): text, never markup.
    table = Table(title=Text(title) if title else None, header_style="bold")
    table.add_column("metric", style="cyan", no_wrap=True)
    table.add_column("group")
    if every is None:
        with_trend = any(len(cells) > 1 for cells in rows.values())
        with_target = any(v.target is not None for v in values)
        columns = ["value", "n", "median", "p90"] + (["target", ""] if with_target else [])
        for name in columns + (["trend"] if with_trend else []):
            table.add_column(name, justify="right")
        for (metric_id, group), cells in rows.items():
            series = [cells[p] for p in sorted(cells)]
            v = series[-1]
            cells_out: list[str | Text] = [
                format_value(v.value, v.unit),
                f"{v.n:,}",
                _optional(v.median, v.unit),
                _optional(v.p90, v.unit),
            ]
            if with_target:
                cells_out += [_optional(v.target, v.unit), _mark(v)]
            if with_trend:
                cells_out.append(sparkline([c.value for c in series]) if len(series) > 1 else "")
            table.add_row(metric_id, Text(group), *cells_out)
        return table
    periods = sorted({(v.start, v.end) for v in values})
    shown = periods[-12:]
    for start, end in shown:
        table.add_column(_period_label(start, end, tz), justify="right")
    table.add_column("trend")
    for (metric_id, group), cells in rows.items():
        texts = [format_value(cells[p].value, cells[p].unit) if p in cells else "–" for p in shown]
        trend = sparkline([cells[p].value if p in cells else None for p in periods])
        table.add_row(metric_id, Text(group), *texts, trend)
    if len(periods) > len(shown):
        table.caption = f"last {len(shown)} of {len(periods)} periods shown; --format csv has all"
    return table


def _optional(value: float | None, unit: str) -> str:
    return "" if value is None else format_value(value, unit)


def kpi_json(values: Sequence[KpiValue]) -> str:
    return json.dumps([v.to_dict() for v in values], indent=2, default=str)


CSV_COLUMNS = (
    "metric",
    "from",
    "to",
    "group",
    "value",
    "unit",
    "n",
    "mean",
    "median",
    "p90",
    "target",
    "met",
)


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


def metric_list() -> Group:
    """`kpi --list` for people: one entry per metric, its head on one line (id, unit, which way
    is better), then its definition wrapped to the terminal, so it reads at 80 columns."""
    entries: list[RenderableType] = []
    for m in sorted(REGISTRY.values(), key=lambda m: m.id):
        better = "neither way is better" if m.direction == "neutral" else f"{m.direction} is better"
        entries.append(Text.assemble((m.id, "bold cyan"), f"  {m.unit}, {better}"))
        lines = [f"{m.title}: {m.description}", f"anchor: {m.anchor}"]
        if m.params:
            lines.append(
                "parameters: "
                + "; ".join(f"{p.name}={p.default} ({p.description})" for p in m.params)
            )
        if m.dimensions:
            lines.append(f"--by: {', '.join(m.dimensions)}")
        for line in lines:
            entries.append(
                Padding(Text(line, style="" if line is lines[0] else "dim"), (0, 0, 0, 2))
            )
        entries.append(Text(""))
    return Group(*entries[:-1])


def metric_list_json() -> str:
    """`kpi --list --format json`: every metric as the registry declares it."""
    return json.dumps(
        [
            {
                "id": m.id,
                "title": m.title,
                "description": m.description,
                "unit": m.unit,
                "direction": m.direction,
                "anchor": m.anchor,
                "parameters": [
                    {"name": p.name, "default": p.default, "description": p.description}
                    for p in m.params
                ],
                "dimensions": list(m.dimensions),
            }
            for m in sorted(REGISTRY.values(), key=lambda m: m.id)
        ],
        indent=2,
        default=str,
    )
