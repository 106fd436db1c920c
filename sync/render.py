"""Turning results into what people and scripts read: rich tables, JSON, CSV, sparklines.

`status_view` lays out `deskpulse status` for an 80-column terminal: narrow tables without
vertical rules, times to the minute (the JSON has them whole), and the free texts (a run's
message, a write-back error) under their table, wrapped beside the name they belong to rather
than squeezed into a column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from deskpulse.kpi_core import KpiValue
from deskpulse.kpi_core.registry import REGISTRY

SPARKS = "▁▂▃▄▅▆▇█"


SMALL_N = 5
"""A rate or time over fewer items than this is too few to judge (one ticket makes a rate 0% or
100%): the digest says so beside the number, the report draws it hollow."""


def format_value(value: float | None, unit: str, currency: str | None = None) -> str:
    """A value in its unit: "53.0 min", "82.7%", "-47.7 points", "1,204.50 EUR"."""
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
        return f"{value:,.2f} {currency}" if currency else f"{value:,.2f}"
    if unit == "points":
        return f"{value:,.1f} points"
    return f"{value:,.2f}"


def value_text(v: KpiValue) -> str:
    """A computed value in its unit, with the currency its details name (one currency)."""
    currency = (v.details or {}).get("currency")
    return format_value(v.value, v.unit, str(currency) if currency else None)


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
    """One KPI as a line of a summary post: value and its n, target met or MISSED, change since
    before: "- CSAT: 82.0% (n=50; target 85.0%: MISSED), +3.0 pts vs previous, better". A rate
    or time over fewer than SMALL_N items says it is too few to judge."""
    m = REGISTRY[metric_id]
    if current is None or current.value is None:
        return f"- {m.title}: no data"
    facts = []
    if m.unit != "count":  # a count's n is the count
        few = ", too few to judge" if current.n < SMALL_N else ""
        facts.append(f"n={current.n:,}{few}")
    if current.target is not None:
        verdict = "met" if current.met else "MISSED"
        facts.append(f"target {format_value(current.target, m.unit)}: {verdict}")
    text = f"- {m.title}: {value_text(current)}" + (f" ({'; '.join(facts)})" if facts else "")
    before = previous.value if previous is not None else None
    change = change_text(m.unit, m.direction, current.value, before)
    return f"{text}, {change}" if change else text


def worst_slices(
    metric_id: str, values: Sequence[KpiValue], overall: KpiValue | None, count: int = 3
) -> list[str] | None:
    """The groups that are worst in a sense a manager can act on, worst first, at most `count`
    ("billing 1.0 h (n=2)"): with a target, the groups that miss it; without one, the groups
    worse than the whole team's value (`overall`). [] when no group is: the digest says "none".
    None when there is nothing to compare (a neutral metric, fewer than two groups with data)."""
    m = REGISTRY[metric_id]
    have = [v for v in values if v.value is not None and v.group and v.n > 0]
    if m.direction == "neutral" or len(have) < 2:
        return None
    lower = m.direction == "lower"
    if any(v.target is not None for v in have):
        bad = [v for v in have if v.met is False]
    elif overall is not None and overall.value is not None:
        team = overall.value
        bad = [v for v in have if (v.value > team if lower else v.value < team)]  # type: ignore[operator]
    else:
        return None
    bad.sort(key=lambda v: v.value or 0, reverse=lower)
    return [f"{group_label(v.group)} {value_text(v)} (n={v.n:,})" for v in bad[:count]]


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
                value_text(v),
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


MINUTE = "%Y-%m-%d %H:%M"


def ago(seconds: float | None) -> str:
    """A lag for people: `<1 min`, `12 min`, `3.5 h`, `4 d`."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "<1 min"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def _narrow(title: str) -> Table:
    return Table(
        title=title, header_style="bold", box=box.SIMPLE_HEAD, show_edge=False,
        collapse_padding=True,
    )  # fmt: skip


def _notes(pairs: Sequence[tuple[str, str]]) -> Table:
    """`name  text` lines, the text wrapped beside its name (indented, never under it)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for name, text in pairs:
        grid.add_row(Text(name), Text(text))
    return grid


def status_view(data: dict[str, Any]) -> list[RenderableType]:
    """`deskpulse status` (the data of sync.status.collect_status), readable at 80 columns."""
    where = Text.assemble("warehouse: ", (data["database"], "bold"), f"  schema {data['schema']}")
    where.no_wrap = True  # a path to copy: printed whole, even past the width
    shown: list[RenderableType] = [where]
    runs = _narrow("sources: last run (UTC)")
    for name in ("source", "vendor", "started", "status", "rows", "requests"):
        runs.add_column(
            name,
            justify="right" if name in ("rows", "requests") else "left",
            no_wrap=name not in ("source", "vendor"),
            overflow="fold",  # a long name breaks over lines, never cut to an ellipsis
        )
    messages: list[tuple[str, str]] = []
    for s in data["sources"]:
        last = s["last_run"] or {}
        when = last.get("started_at")
        runs.add_row(
            Text(s["source"]),
            Text(s["vendor"]),
            f"{when:{MINUTE}}" if when else "never",
            Text(str(last.get("status", ""))),
            f"{last.get('rows', 0):,}",
            f"{last.get('requests', 0):,}",
        )
        if last.get("message"):
            messages.append((s["source"], str(last["message"])))
    shown += [runs, Text("rows: rows read by the last run (new, changed or already there)")]
    if messages:
        shown.append(_notes(messages))
    shown += _health(data["sources"])
    for s in data["sources"]:
        # Named counts the last run's streams kept (e.g. Zendesk's metric sets): a stream
        # that silently lost a sideload shows here as a missing or small number.
        for stream, report in ((s["last_run"] or {}).get("streams") or {}).items():
            for name, n in (report.get("counts") or {}).items():
                shown.append(
                    Text(
                        f"{s['source']} last run, {stream}: {name.replace('_', ' ')}: {n:,} stored"
                    )
                )
    for b in data.get("backfills", ()):
        eta = b["eta"]
        shown.append(
            Text(
                f"{b['source']} {b['stream']}: backfill {b['share']:.0%} read"
                + (f", started {b['started']:{MINUTE}} UTC" if b["started"] else "")
                + (f", estimated end {eta:{MINUTE}} UTC" if eta else "")
            )
        )
    if data.get("fleet"):
        shown += _fleet(data["fleet"])
    counts = _narrow("rows in the warehouse")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, n in data["tables"].items():
        counts.add_row(name, f"{n:,}")
    shown.append(counts)
    q = data["quarantine"]
    shown.append(
        Text.assemble(
            "quarantined records: ",
            (f"{q['total']:,}", "bold"),
            " (see `deskpulse quarantine`)" if q["total"] else "",
        )
    )
    if data["write_back"]:
        shown += _write_back(data["write_back"])
    return shown


def _fleet(fleet: dict[str, Any]) -> list[RenderableType]:
    """`daemon --fleet`: who holds which account and for how long, its lag and how long it has
    waited for a daemon; then each daemon's holdings and worst lag."""
    accounts = _narrow("fleet: accounts")
    for name in ("account", "holder", "lease\nage", "lag", "overdue", "failures", "cycles"):
        accounts.add_column(
            name, justify="left" if name in ("account", "holder") else "right", overflow="fold"
        )
    for a in fleet["accounts"]:
        accounts.add_row(
            Text(a["account"]), Text(a["holder"] or "-"),
            f"{a['lease_age']:.0f} s" if a["lease_age"] is not None else "",
            ago(a["lag"]) or "never", ago(a["overdue"]) if a["overdue"] else "",
            str(a["failures"] or ""), f"{a['cycles']:,}",
        )  # fmt: skip
    daemons = _narrow("fleet: daemons")
    for name in ("daemon", "state", "holding", "oldest\nlease", "worst\nlag"):
        daemons.add_column(name, justify="left" if name == "daemon" else "right", overflow="fold")
    for d in fleet["daemons"]:
        daemons.add_row(
            Text(d["daemon"]), "beating" if d["alive"] else "silent",
            f"{len(d['holding'])} of {d['concurrency']}", f"{d['oldest_lease']:.0f} s",
            ago(d["max_lag"]),
        )  # fmt: skip
    behind = [a["account"] for a in fleet["accounts"] if a["behind"]]
    verdict = (
        f"the fleet is behind: {', '.join(behind)} waited past their interval for a daemon"
        if behind
        else "the fleet keeps up: no account waits past its interval"
    )
    return [accounts, daemons, Text(verdict)]


def _health(sources: Sequence[dict[str, Any]]) -> list[RenderableType]:
    """Per source: last success and lag, failed runs since, the daemon's next run, and the
    write-back rows waiting; then whether the daemon runs."""
    table = _narrow("freshness and schedule (UTC)")
    for name in ("source", "last success", "lag", "failed\nruns", "next run",
                 "writes\npending", "writes\nfailed"):  # fmt: skip
        table.add_column(
            name,
            justify="left" if name in ("source", "next run") else "right",
            no_wrap=name in ("last success", "next run"),
            overflow="fold",
        )
    daemons: set[str] = set()
    for s in sources:
        success, nxt = s.get("last_success"), s.get("next_run")
        writes = s.get("writes") or {}
        if s.get("daemon"):
            daemons.add(str(s["daemon"]))
        table.add_row(
            Text(s["source"]),
            f"{success:{MINUTE}}" if success else "never",
            ago(s.get("lag_seconds")),
            f"{s.get('failed_runs', 0):,}",
            f"{nxt:{MINUTE}}" if nxt is not None else "no daemon",
            f"{writes.get('pending', 0) + writes.get('sending', 0):,}",
            f"{writes.get('failed', 0):,}",
        )
    shown: list[RenderableType] = [
        table,
        Text("lag: since the last successful sync; next run: when the daemon syncs it"),
    ]
    for state in sorted(daemons):
        note = ": the next runs above are the ones it had planned"
        shown.append(Text(f"daemon {state}" + (note if state == "not running" else "")))
    return shown


def _write_back(rows: Sequence[dict[str, Any]]) -> list[RenderableType]:
    table = _narrow("write-back (DESKPULSE_WRITEBACK)")
    for name in ("target", "sent", "pending", "in doubt", "failed"):
        table.add_column(name, justify="left" if name == "target" else "right", overflow="fold")
    errors: list[tuple[str, str]] = []
    for r in rows:
        table.add_row(
            Text(r["target"]), f"{r['sent']:,}", f"{r['pending']:,}", f"{r['sending']:,}",
            f"{r['failed']:,}",
        )  # fmt: skip
        if r["last_error"]:
            retry = r.get("next_attempt_at") or "when the value changes"
            errors.append((r["target"], f"last error: {r['last_error']} (next retry {retry})"))
    return [table, _notes(errors)] if errors else [table]


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
