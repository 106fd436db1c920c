"""The report's charts, drawn by matplotlib as inline SVG (text stays text; no fonts, no scripts).

No pyplot: each chart is its own `Figure`, drawn under `rc_context`, so a long-running daemon
that writes reports keeps no figure registry and no changed global settings. Labels from vendors
or users (agent and group names) are drawn literally: `$` would otherwise start math text.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType

from deskpulse.sync.render import SMALL_N, format_value, group_label
from deskpulse.sync.report.content import Distribution, Series

INK = "#1f2933"
ACCENT = "#2563eb"
TARGET = "#dc2626"
MUTED = "#9aa5b1"
MARKS = {"mean": "#d97706", "median": "#059669", "p90": "#7c3aed"}

_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.grid": True,
    "grid.color": "#e4e7eb",
    "grid.linewidth": 0.6,
}
_PREAMBLE = re.compile(r"^.*?(?=<svg)", re.S)


class Scale:
    """How a metric's unit is shown on an axis: percent for ratios, hours for long durations."""

    def __init__(self, unit: str, values: Sequence[float]) -> None:
        self.factor, self.label = 1.0, unit
        if unit == "ratio":
            self.factor, self.label = 100.0, "%"
        elif unit == "minutes" and values and max(values) >= 180:
            self.factor, self.label = 1 / 60, "hours"

    def __call__(self, value: float) -> float:
        return value * self.factor


def _literal(text: str) -> str:
    return text.replace("$", r"\$")


def _svg(fig: Figure, salt: str, title: str) -> str:
    buffer = io.StringIO()
    with rc_context({**_STYLE, "svg.hashsalt": salt}):  # fonttype none: text stays text
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _PREAMBLE.sub("", buffer.getvalue(), count=1)
    # The XML prolog cannot stand inside HTML; the chart gets an accessible name.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(title)}" ', 1)


def bucket_label(start: datetime, every: str, tz: ZoneInfo) -> str:
    local = start.astimezone(tz)
    if every == "month":
        return local.strftime("%Y-%m")
    if every == "week":
        return local.strftime("%G-W%V")
    return local.strftime("%m-%d")


def trend(series: Series, every: str, tz: ZoneInfo) -> str:
    """The metric per bucket as a line, the target dashed. Counts are drawn for every bucket
    (content fills 0 where nothing happened); a rate or time shows its n as grey bars behind,
    and buckets with n < SMALL_N hollow, outside the line."""
    points = series.values
    present = [v.value for v in points if v.value is not None]
    scale = Scale(series.metric.unit, [*present, *([series.target] if series.target else [])])
    with rc_context(_STYLE):
        fig = Figure(figsize=(6.4, 2.4))
        ax = fig.subplots()
        xs = list(range(len(points)))
        ys = [scale(v.value) if v.value is not None else float("nan") for v in points]
        line = f"{series.metric.id}-line"
        if series.metric.unit == "count":
            ax.plot(xs, ys, color=ACCENT, marker="o", markersize=3, linewidth=1.6, gid=line)
        else:
            counts = ax.twinx()
            counts.bar(xs, [v.n for v in points], color="#e4e7eb", width=0.8)
            counts.set_ylabel("n", color=MUTED)
            counts.tick_params(axis="y", colors=MUTED)
            counts.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            counts.grid(visible=False)
            ax.set_zorder(counts.get_zorder() + 1)  # the line over the bars
            ax.patch.set_visible(False)
            full = [i for i, v in enumerate(points) if v.value is not None and v.n >= SMALL_N]
            small = [i for i, v in enumerate(points) if v.value is not None and v.n < SMALL_N]
            ax.plot(
                full, [ys[i] for i in full], color=ACCENT, marker="o", markersize=3,
                linewidth=1.6, label="value", gid=line,
            )  # fmt: skip
            if small:
                ax.plot(
                    small, [ys[i] for i in small], linestyle="none", marker="o", markersize=4,
                    markerfacecolor="white", markeredgecolor=MUTED, label=f"n < {SMALL_N}",
                    gid=f"{series.metric.id}-small",
                )  # fmt: skip
        if series.target is not None:
            ax.axhline(
                scale(series.target), color=TARGET, linestyle="--", linewidth=1.2, label="target"
            )
        if ax.get_legend_handles_labels()[0]:  # above the plot, clear of the points
            ax.legend(
                loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, frameon=False, fontsize=7.5
            )
        labels = [bucket_label(v.start, every, tz) for v in points]
        step = max(1, len(labels) // 10)
        ax.set_xticks(xs[::step], labels[::step])
        ax.set_ylabel(scale.label)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_ylim(bottom=min(0.0, *(scale(v) for v in present)))
        ax.grid(axis="x", visible=False)
    return _svg(fig, f"trend-{series.metric.id}", f"{series.metric.title} per {every}")


def breakdown(series: Series, limit: int) -> str:
    """Groups as horizontal bars, best first (at the top), each labelled with its n and value
    (a real 0 says "0.0%"); a group without data says "no data" instead of a bar, and a group
    with n < SMALL_N is drawn grey. The target is drawn when it holds for each group (content
    leaves out a team total's)."""
    rows = series.values[:limit]
    unit = series.metric.unit
    known = [v.value for v in rows if v.value is not None]
    scale = Scale(unit, [*known, *([series.target] if series.target else [])])
    with rc_context(_STYLE):
        fig = Figure(figsize=(6.4, 0.6 + 0.28 * len(rows)))
        ax = fig.subplots()
        ys = list(range(len(rows)))
        small = [unit != "count" and v.n < SMALL_N for v in rows]
        ax.barh(
            ys,
            [scale(v.value) if v.value is not None else 0.0 for v in rows],
            color=[MUTED if few else ACCENT for few in small],
            height=0.65,
        )
        for y, v in zip(ys, rows, strict=True):
            text = " no data" if v.value is None else f" {format_value(v.value, unit)}"
            ax.text(
                scale(v.value) if v.value is not None else 0.0, y, text, va="center",
                ha="left", fontsize=7.5, color=MUTED if v.value is None else INK,
                style="italic" if v.value is None else "normal", gid=f"{series.metric.id}-value",
            )  # fmt: skip
        ax.set_yticks(ys, [f"{_literal(group_label(v.group))}  (n={v.n:,})" for v in rows])
        ax.invert_yaxis()
        if series.target is not None:
            ax.axvline(scale(series.target), color=TARGET, linestyle="--", linewidth=1.2)
        right = max([scale(v) for v in known] + [scale(series.target or 0.0), 0.0])
        ax.set_xlim(left=min(0.0, *(scale(v) for v in known)), right=(right or 1.0) * 1.18)
        ax.set_xlabel(scale.label)
        ax.grid(axis="y", visible=False)
    return _svg(fig, f"breakdown-{series.metric.id}", f"{series.metric.title} by group")


def histogram(dist: Distribution) -> str:
    """Per-ticket durations in bins, with the metric's mean, median and p90 marked."""
    summary = dist.summary
    marks = {"mean": summary.mean, "median": summary.median, "p90": summary.p90}
    scale = Scale("minutes", dist.minutes)
    with rc_context(_STYLE):
        fig = Figure(figsize=(6.4, 2.4))
        ax = fig.subplots()
        # Durations are long-tailed: bins up to the 99th percentile, the rest in the last bin.
        ordered = sorted(dist.minutes)
        cap = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        clipped = [scale(min(m, cap)) for m in ordered]
        ax.hist(clipped, bins=30, color=ACCENT, alpha=0.85)
        for name, value in marks.items():
            if value is not None:
                ax.axvline(
                    scale(value),
                    color=MARKS[name],
                    linewidth=1.4,
                    label=f"{name} {scale(value):,.1f} {scale.label}",
                )
        ax.legend(loc="upper right", frameon=False, fontsize=8)
        ax.set_xlabel(scale.label)
        ax.set_ylabel("tickets")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
        ax.grid(axis="x", visible=False)
    return _svg(fig, f"histogram-{dist.metric.id}", f"{dist.metric.title}: distribution")
