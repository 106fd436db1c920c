"""Social media mentions: volume, sentiment, response rate and time, questions.

Mentions are anchored at `created_at`, except social_response_time, which (like
first_response_time) is anchored at the reply. `--by channel` splits by network (lower-cased;
`other` when empty).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from deskpulse.kpi_core.periods import from_ms
from deskpulse.kpi_core.registry import KpiQuery, KpiValue, Metric, metric
from deskpulse.kpi_core.tables import SOCIAL_MENTIONS as MENTIONS
from deskpulse.kpi_core.toolkit import (
    Cell,
    CellKey,
    bucket_sql,
    clock,
    count_where,
    duration_cell,
    emit,
    epoch_ms,
    group_names,
    group_sql,
    in_window,
    ratio_cell,
    row_key,
    source_filter,
    window,
)

NETWORK = func.coalesce(func.lower(MENTIONS.c.network), "other")
SOCIAL_DIMENSIONS = ("channel", "source")
SLOT_MS = 15 * 60 * 1000  # every UTC offset in use is a multiple of 15 minutes


def _dims() -> dict[str, Any]:
    return {"channel": NETWORK, "source": MENTIONS.c.source}


def _aggregate(
    conn: Connection,
    query: KpiQuery,
    *columns: Any,
    natural: tuple[str, ...] = (),
    also_by: tuple[Any, ...] = (),
) -> Any:
    """Rows of bucket, g_<dimension>..., *also_by, columns over mentions created in the window,
    grouped by bucket, dimensions and `also_by`."""
    groups = group_sql(query, _dims(), natural)
    bucket = bucket_sql(MENTIONS.c.created_at, query).label("bucket")
    stmt = (
        select(bucket, *groups, *also_by, *columns)
        .where(in_window(MENTIONS.c.created_at, query), source_filter(MENTIONS.c.source, query))
        .group_by(bucket, *groups, *also_by)
    )
    return conn.execute(stmt)


@metric(
    "social_volume",
    title="Social volume",
    description=(
        "Social media mentions created in the window; `by_network` in details (or `--by "
        "channel` for one row per network)."
    ),
    unit="count",
    direction="neutral",
    anchor="social_mentions.created_at",
    dimensions=SOCIAL_DIMENSIONS,
)
def social_volume(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    natural = ("channel",)
    names = group_names(query, natural)
    outer = group_names(query)
    totals: dict[CellKey, dict[str, int]] = defaultdict(dict)
    for row in _aggregate(conn, query, func.count().label("n"), natural=natural):
        values = dict(zip(names, (getattr(row, f"g_{n}") for n in names), strict=True))
        key = (int(row.bucket), tuple(values[n] for n in outer))
        totals[key][str(values["channel"])] = int(row.n)
    cells = {
        key: Cell(float(sum(by.values())), sum(by.values()), details={"by_network": by})
        for key, by in totals.items()
    }
    return emit(m, query, cells)


@metric(
    "social_sentiment",
    title="Social sentiment",
    description=(
        "Share of positive, neutral and negative mentions (in details) among mentions with a "
        "known sentiment; value = positive share - negative share (from -1 to 1)."
    ),
    unit="ratio",
    direction="higher",
    anchor="social_mentions.created_at",
    dimensions=SOCIAL_DIMENSIONS,
)
def social_sentiment(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names = group_names(query)
    sentiment = func.lower(MENTIONS.c.sentiment)
    rows = _aggregate(
        conn,
        query,
        func.count().label("mentions"),
        *[count_where(sentiment == s).label(s) for s in ("positive", "neutral", "negative")],
    )
    cells: dict[CellKey, Cell] = {}
    for row in rows:
        pos, neu, neg = int(row.positive), int(row.neutral), int(row.negative)
        known = pos + neu + neg
        details: dict[str, Any] = {
            "positive": pos,
            "neutral": neu,
            "negative": neg,
            "unknown": int(row.mentions) - known,
        }
        if known:
            details.update(
                positive_share=pos / known, neutral_share=neu / known, negative_share=neg / known
            )
            cells[row_key(row, names)] = Cell((pos - neg) / known, known, details=details)
        else:
            cells[row_key(row, names)] = Cell(None, 0, details=details)
    return emit(m, query, cells)


@metric(
    "social_response_rate",
    title="Social response rate",
    description="Mentions that got a reply (first_reply_at set) / mentions created in the window.",
    unit="ratio",
    direction="higher",
    anchor="social_mentions.created_at",
    dimensions=SOCIAL_DIMENSIONS,
)
def social_response_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names = group_names(query)
    rows = _aggregate(
        conn,
        query,
        func.count().label("mentions"),
        func.count(MENTIONS.c.first_reply_at).label("replied"),
    )
    cells = {
        row_key(r, names): ratio_cell(
            int(r.replied),
            int(r.mentions),
            {"replied": int(r.replied), "mentions": int(r.mentions)},
        )
        for r in rows
    }
    return emit(m, query, cells)


@metric(
    "social_response_time",
    title="Social response time",
    description=(
        "first_reply_at - created_at over replied mentions; mean, median and p90 in minutes, in "
        "calendar or business time."
    ),
    unit="minutes",
    direction="lower",
    anchor="social_mentions.first_reply_at (the reply)",
    dimensions=SOCIAL_DIMENSIONS,
)
def social_response_time(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names = group_names(query)
    groups = group_sql(query, _dims())
    clk = clock(query)
    p = window(query)
    stmt = select(
        *groups,
        MENTIONS.c.source,
        MENTIONS.c.id,
        NETWORK.label("network"),
        epoch_ms(MENTIONS.c.created_at).label("from_ms"),
        epoch_ms(MENTIONS.c.first_reply_at).label("to_ms"),
    ).where(in_window(MENTIONS.c.first_reply_at, query), source_filter(MENTIONS.c.source, query))
    seconds: dict[CellKey, list[float]] = defaultdict(list)
    for row in conn.execute(stmt):
        item = {"source": row.source, "id": row.id, "channel": row.network, "group": None}
        key = (p.index_ms(row.to_ms) or 0, tuple(getattr(row, f"g_{n}") for n in names))
        seconds[key].append(clk.seconds(item, row.from_ms, row.to_ms))
    return emit(m, query, {k: duration_cell(v) for k, v in seconds.items()})


@metric(
    "social_questions",
    title="Social questions",
    description=(
        "Mentions that are questions (is_question true) / mentions. Details: `busiest_hour`, "
        "the hour of day (0-23, reporting time zone) with the most questions (earliest on a "
        "tie), and `questions_by_hour`."
    ),
    unit="ratio",
    direction="neutral",
    anchor="social_mentions.created_at",
    dimensions=SOCIAL_DIMENSIONS,
)
def social_questions(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    names = group_names(query)
    question = MENTIONS.c.is_question.is_(True)
    # Questions per 15-minute UTC slot: each slot lies in one local hour whatever the offset,
    # so the hour of day is exact in the reporting zone (DST included) without SQL time zones.
    slot = (epoch_ms(MENTIONS.c.created_at) // SLOT_MS).label("slot")
    rows = _aggregate(
        conn,
        query,
        func.count().label("mentions"),
        count_where(question).label("questions"),
        also_by=(slot,),
    )
    mentions: dict[CellKey, int] = defaultdict(int)
    by_hour: dict[CellKey, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        key = row_key(row, names)
        mentions[key] += int(row.mentions)
        if row.questions:
            hour = from_ms(int(row.slot) * SLOT_MS).astimezone(query.tz).hour
            by_hour[key][hour] += int(row.questions)
    cells: dict[CellKey, Cell] = {}
    for key, n in mentions.items():
        hours = dict(sorted(by_hour.get(key, {}).items()))
        questions = sum(hours.values())
        busiest = max(hours, key=lambda h: (hours[h], -h)) if hours else None
        details = {
            "questions": questions,
            "mentions": n,
            "busiest_hour": busiest,
            "questions_by_hour": hours,
        }
        cells[key] = ratio_cell(questions, n, details)
    return emit(m, query, cells)
