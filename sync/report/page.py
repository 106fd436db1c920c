"""A report as one self-contained HTML page (inline SVG charts, inline CSS, no script to run),
and as a short Markdown summary for help-desk posts (the digest).

Every text from vendors or users (agent, group and tag names) goes through Jinja's HTML escaping;
the embedded values are JSON with `<` escaped, so no value can end the script element early.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape

import deskpulse
from deskpulse.kpi_core import KpiValue
from deskpulse.kpi_core.registry import REGISTRY
from deskpulse.sync.render import format_value, group_label, kpi_json
from deskpulse.sync.report import charts
from deskpulse.sync.report.content import MAX_GROUPS, Headline, Report

_ENV = Environment(autoescape=select_autoescape(default=True), keep_trailing_newline=True)


def _template() -> Any:
    text = files("deskpulse.sync.report").joinpath("report.html.j2").read_text(encoding="utf-8")
    return _ENV.from_string(text)


def _day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")


def _span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return f"{_day(start, tz)} → {_day(end, tz)}"


def change_text(h: Headline) -> str:
    """The change since the previous window in the metric's unit (ratios in percentage points)."""
    change = h.change
    if change is None:
        return "no previous value" if h.previous is None or h.previous.value is None else "–"
    if change == 0:
        return "unchanged"
    unit = h.metric.unit
    sign = "+" if change > 0 else "−"
    size = f"{abs(change) * 100:.1f} pts" if unit == "ratio" else format_value(abs(change), unit)
    return f"{sign}{size} vs previous period"


def _headline(h: Headline) -> dict[str, Any]:
    v = h.value
    better = h.better
    return {
        "id": h.metric.id,
        "title": h.metric.title,
        "raw": "" if v.value is None else repr(v.value),
        "n": v.n,
        "value": format_value(v.value, v.unit),
        "target": None if v.target is None else format_value(v.target, v.unit),
        "met": v.met,
        "change": change_text(h),
        "trend": "same" if better is None else "better" if better else "worse",
    }


def _row(v: KpiValue) -> dict[str, Any]:
    mark = "" if v.met is None else "✓" if v.met else "✗"
    mark_class = "" if v.met is None else "met" if v.met else "missed"
    return {
        "group": group_label(v.group),
        "value": format_value(v.value, v.unit),
        "n": f"{v.n:,}",
        "mark": mark,
        "mark_class": mark_class,
    }


def render_html(report: Report, *, now: datetime | None = None) -> str:
    tz = ZoneInfo(report.tz)
    length = report.end - report.start
    generated = (now or datetime.now(UTC)).astimezone(tz)
    context = {
        "report": report,
        "period": _span(report.start, report.end, tz),
        "previous": _span(report.start - length, report.start, tz),
        "headlines": [_headline(h) for h in report.headlines],
        "trends": [
            {"id": s.metric.id, "title": s.metric.title, "svg": charts.trend(s, report.every, tz)}
            for s in report.trends
        ],
        "breakdowns": [
            {
                "id": s.metric.id,
                "title": s.metric.title,
                "svg": charts.breakdown(s, MAX_GROUPS),
                "rows": [_row(v) for v in s.values],
            }
            for s in report.breakdowns
        ],
        "distributions": [
            {
                "id": d.metric.id,
                "title": d.metric.title,
                "svg": charts.histogram(d),
                "n": f"{d.summary.n:,}",
                "mean": format_value(d.summary.mean, "minutes"),
                "median": format_value(d.summary.median, "minutes"),
                "p90": format_value(d.summary.p90, "minutes"),
            }
            for d in report.distributions
        ],
        "missing": [
            {
                "id": m.metric.id,
                "title": m.metric.title,
                "tables": ", ".join(m.tables),
                "suppliers": m.suppliers,
            }
            for m in report.missing
        ],
        "total": len(REGISTRY),
        "values_json": kpi_json(report.values).replace("<", "\\u003c"),
        "version": deskpulse.__version__,
        "generated": generated.strftime("%Y-%m-%d %H:%M %Z"),
    }
    return str(_template().render(context))


def summary_markdown(report: Report, *, worst: int = 3) -> str:
    """The headline as Markdown: each KPI against its target and its change, then the
    worst-performing groups of each sliced KPI. For help-desk posts (the digest)."""
    tz = ZoneInfo(report.tz)
    lines = [f"**KPIs {_span(report.start, report.end, tz)} ({report.tz})**", ""]
    for h in report.headlines:
        v = h.value
        target = ""
        if v.target is not None:
            target = f" (target {format_value(v.target, v.unit)}: {'met' if v.met else 'missed'})"
        lines.append(
            f"- {h.metric.title}: {format_value(v.value, v.unit)}{target}, {change_text(h)}"
        )
    for s in report.breakdowns:
        # Breakdown rows are sorted best first: the worst are at the end.
        tail = [v for v in s.values if v.value is not None][-worst:][::-1]
        if tail and len(s.values) > 1:
            names = ", ".join(
                f"{group_label(v.group)} {format_value(v.value, v.unit)}" for v in tail
            )
            lines.append(f"- Worst by {report.by} for {s.metric.title}: {names}")
    return "\n".join(lines) + "\n"
