"""The KPI digest: a summary post per period (day or ISO week) in the reporting time zone.

For the last complete period before `now` (yesterday; last Monday-to-Monday week), each metric of
the action against its target (KPI config) and its change since the period before, then the
worst slices by the action's dimension (`by`, e.g. group): those that miss the target (or, without
one, are worse than the team as a whole), at most three, worst first, each with its n; "none"
when no group is (the best of three groups that all met the target is not "worst"). Each value
carries its n ("too few to judge" under sync.render.SMALL_N) and its unit or currency. Plain text, one line per fact, so it reads the same
in an internal note, a help-center post or a terminal.

The daemon posts each action's digest at its `at` time; `missed` tells a daemon that was down
then which one to post on its return (the last period only).

The digest's ledger key is `<action>|<period>` (e.g. `zendesk:digest:week|2026-W48`), whatever
its content: once posted (or found posted after a crash) it is never posted again, even when
later syncs change the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from deskpulse.kpi_core import KpiQuery, KpiValue, compute
from deskpulse.kpi_core.periods import local_midnight
from deskpulse.kpi_core.registry import REGISTRY, KpiError
from deskpulse.sync.actions import DigestAction
from deskpulse.sync.render import kpi_line, worst_slices
from deskpulse.sync.writeback_plan import FAILED, POST, SENT, Context, Item, due, latest_rows

FIELD = "digest"
WORST = 3


def last_period(every: str, now: datetime, tz: ZoneInfo) -> tuple[str, datetime, datetime]:
    """(id, start, end) of the last complete day or ISO week before `now`, local to `tz`."""
    today = now.astimezone(tz).date()
    if every == "day":
        day = today - timedelta(days=1)
        return day.isoformat(), local_midnight(day, tz), local_midnight(today, tz)
    monday = today - timedelta(days=today.weekday())
    start = monday - timedelta(days=7)
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}", local_midnight(start, tz), local_midnight(monday, tz)


def last_due(action: DigestAction, now: datetime, tz: ZoneInfo) -> datetime:
    """The last time at or before `now` the action was due: its `at` in `tz`, every day or on
    Mondays (the daemon's cron job)."""
    at = time.fromisoformat(action.at)
    day = now.astimezone(tz).date()
    step = timedelta(days=1 if action.every == "day" else 7)
    if action.every == "week":
        day -= timedelta(days=day.weekday())
    when = datetime.combine(day, at, tzinfo=tz)
    return when if when <= now else datetime.combine(day - step, at, tzinfo=tz)


def missed(conn: Connection, action: DigestAction, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When the action was last due, if the digest of that time's period is not sent (a daemon
    down at its `at`: a deploy, a reboot); None when nothing is missing. Only the last period
    is ever caught up, however long the daemon was down."""
    when = last_due(action, now, tz)
    period, _, _ = last_period(action.every, when, tz)
    row = latest_rows(conn, action.name).get((period, FIELD))
    return when if row is None or row.status != SENT else None


def _previous(every: str, start: datetime, tz: ZoneInfo) -> datetime:
    day: date = start.astimezone(tz).date() - timedelta(days=1 if every == "day" else 7)
    return local_midnight(day, tz)


def render_digest(
    conn: Connection, action: DigestAction, ctx: Context, now: datetime
) -> tuple[str, dict[str, str]]:
    """(period id, {"title", "body"}) of the action's digest for the last complete period."""
    tz = ctx.tz
    period, start, end = last_period(action.every, now, tz)
    before = _previous(action.every, start, tz)
    metrics = [m for m in action.metrics if m in REGISTRY]
    base = KpiQuery(
        start=before, end=end, every=action.every, tz=tz,  # type: ignore[arg-type]
        schedules=ctx.schedules, config=ctx.config,
    )  # fmt: skip
    rows = compute(conn, metrics, base) if metrics else []
    by_metric: dict[str, list[KpiValue]] = {}
    for v in rows:
        if v.group is None:
            by_metric.setdefault(v.metric, []).append(v)
    slices: dict[str, list[KpiValue]] = {}
    if action.by:
        sliceable = [m for m in metrics if action.by in REGISTRY[m].dimensions]
        query = KpiQuery(
            start=start, end=end, by=action.by, tz=tz, schedules=ctx.schedules, config=ctx.config
        )
        try:
            for v in compute(conn, sliceable, query) if sliceable else []:
                slices.setdefault(v.metric, []).append(v)
        except KpiError:
            slices = {}
    label = "Day" if action.every == "day" else "Week"
    shown = start.astimezone(tz).date().isoformat()
    title = f"deskpulse KPI digest: {label} {period}" + (
        f" (from {shown})" if label == "Week" else ""
    )
    lines = [
        f"{label} {period}, {tz.key}: each KPI against its target and the {action.every} before."
    ]
    for m in metrics:
        values = by_metric.get(m, [])
        current = next((v for v in values if v.start >= start), None)
        previous = next((v for v in values if v.start < start), None)
        lines.append(kpi_line(m, current, previous))
        worst = worst_slices(m, slices.get(m, []), current, WORST)
        if worst is not None:
            lines.append(f"    worst by {action.by}: " + ("; ".join(worst) or _none(m, current)))
    unknown = [m for m in action.metrics if m not in REGISTRY]
    if unknown:
        lines.append(f"(unknown metrics skipped: {', '.join(unknown)})")
    return period, {"title": title, "body": "\n".join(lines) + "\n"}


def _none(metric_id: str, current: KpiValue | None) -> str:
    if current is not None and current.target is not None:
        return "none, every group met the target"
    return "none, no group is worse than the team as a whole"


def plan_digests(
    conn: Connection, actions: Sequence[DigestAction], ctx: Context, now: datetime
) -> list[Item]:
    """A post per action for its last complete period, unless the ledger already has it."""
    items: list[Item] = []
    for action in actions:
        period, _, _ = last_period(action.every, now, ctx.tz)
        row = latest_rows(conn, action.name).get((period, FIELD))
        if row is not None:
            if row.status != SENT and due(row, now):
                reason = (
                    "in doubt: look for it, then post if missing"
                    if row.status == "sending"
                    else (f"retry (failed: {row.error})" if row.status == FAILED else "pending")
                )
                items.append(
                    Item(row.target, row.source, POST, period, FIELD, row.value, reason,
                         row.version, row.id, row.status, row.attempts)
                )  # fmt: skip
            continue
        _, content = render_digest(conn, action, ctx, now)
        items.append(
            Item(action.name, action.source, POST, period, FIELD, content,
                 f"new: {action.every} digest for {period}")
        )  # fmt: skip
    return items


__all__ = ["last_due", "last_period", "missed", "plan_digests", "render_digest"]
