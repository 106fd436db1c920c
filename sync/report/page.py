"""A report as one self-contained HTML page (inline SVG charts, inline CSS, no script to run).
Its headline speaks as the digest posted in the help desk does (sync.render.change_text).

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
from deskpulse.sync.render import SMALL_N, change_text, format_value, group_label, kpi_json
from deskpulse.sync.report import charts
from deskpulse.sync.report.content import MAX_GROUPS, Headline, Report, Series, team_total

_ENV = Environment(autoescape=select_autoescape(default=True), keep_trailing_newline=True)


def _template() -> Any:
    text = files("deskpulse.sync.report").joinpath("report.html.j2").read_text(encoding="utf-8")
    return _ENV.from_string(text)


def _day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M").removesuffix(" 00:00")


def _span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    return f"{_day(start, tz)} → {_day(end, tz)}"


def _change(h: Headline) -> str:
    previous = h.previous.value if h.previous is not None else None
    text = change_text(h.metric.unit, h.metric.direction, h.value.value, previous)
    return text or ("no previous value" if previous is None else "–")


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
        "change": _change(h),
        "trend": "same" if better is None else "better" if better else "worse",
    }


def _row(v: KpiValue, *, marked: bool = True) -> dict[str, Any]:
    met = v.met if marked and v.value is not None else None
    return {
        "group": group_label(v.group),
        "value": "no data" if v.value is None else format_value(v.value, v.unit),
        "n": f"{v.n:,}",
        "mark": "" if met is None else "✓" if met else "✗",
        "mark_class": "" if met is None else "met" if met else "missed",
    }


def _trend(s: Series, every: str, tz: ZoneInfo) -> dict[str, Any]:
    """A trend chart, and its numbers per bucket with their n (a rate over 2 tickets is not a
    rate over 200), and how many buckets are too small to read."""
    counted = s.metric.unit == "count"
    points: list[dict[str, Any]] = [
        {
            "period": charts.bucket_label(v.start, every, tz),
            "value": format_value(v.value, v.unit),
            "n": f"{v.n:,}",
            "small": not counted and v.value is not None and v.n < SMALL_N,
        }
        for v in s.values
    ]
    note = ""
    if not counted:
        ns = [v.n for v in s.values]
        small = sum(1 for p in points if p["small"])
        note = f"n per {every}: {min(ns):,} to {max(ns):,} (grey bars)"
        if small:
            note += (
                f"; {small} of {len(points)} {every}s with fewer than {SMALL_N}: "
                "hollow, left out of the line"
            )
    return {
        "id": s.metric.id,
        "title": s.metric.title,
        "svg": charts.trend(s, every, tz),
        "note": note,
        "points": points,
    }


def _has_target(report: Report, metric_id: str) -> bool:
    return any(
        v.metric == metric_id and not v.group and v.target is not None for v in report.values
    )


def render_html(report: Report, *, now: datetime | None = None) -> str:
    tz = ZoneInfo(report.tz)
    length = report.end - report.start
    generated = (now or datetime.now(UTC)).astimezone(tz)
    context = {
        "report": report,
        "period": _span(report.start, report.end, tz),
        "previous": _span(report.start - length, report.start, tz),
        "headlines": [_headline(h) for h in report.headlines],
        "trends": [_trend(s, report.every, tz) for s in report.trends],
        "breakdowns": [
            {
                "id": s.metric.id,
                "title": s.metric.title,
                "svg": charts.breakdown(s, MAX_GROUPS),
                "rows": [_row(v, marked=s.target is not None) for v in s.values],
                "team_target": team_total(s.metric) and _has_target(report, s.metric.id),
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
                "reason": m.reason,
            }
            for m in report.missing
        ],
        "total": len(REGISTRY),
        "values_json": kpi_json(report.values).replace("<", "\\u003c"),
        "version": deskpulse.__version__,
        "generated": generated.strftime("%Y-%m-%d %H:%M %Z"),
    }
    return str(_template().render(context))
