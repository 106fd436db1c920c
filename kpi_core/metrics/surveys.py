"""Surveys, reviews and knowledge-base votes: csat, nps, ces, iqs, engagement, reviews, kb.

Shared readings:

- A survey row's scale is its own `scale_min`/`scale_max`, else the catalog default for its
  survey (`canonical.DEFAULT_SCALES`: csat 1-5, nps 0-10, ces 1-7, iqs 0-100, employee 1-10).
  Rows whose scale is empty (max <= min) are left out. Metrics that average across scales first
  map each score onto the metric's own scale linearly (min -> min, max -> max).
- A `survey_responses` row with a null score is an offer that was not answered: it counts only in
  survey_response_rate. Rows are anchored at `created_at`.
- Responses about a ticket inherit the ticket's group, channel, type and priority; the agent is the
  row's `agent_id`, else the ticket's assignee. Responses about deleted tickets are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, false, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from deskpulse.kpi_core.canonical import DEFAULT_SCALES
from deskpulse.kpi_core.registry import DIMENSIONS, KpiQuery, KpiValue, Metric, Param, metric
from deskpulse.kpi_core.tables import KB_ARTICLES as KB
from deskpulse.kpi_core.tables import REVIEWS, TICKETS
from deskpulse.kpi_core.tables import SURVEY_RESPONSES as SURVEYS
from deskpulse.kpi_core.tables import TICKET_EVENTS as EVENTS
from deskpulse.kpi_core.toolkit import (
    TICKET_DIMENSIONS,
    Cell,
    CellKey,
    bucket_sql,
    count_where,
    dimension_columns,
    emit,
    group_names,
    group_sql,
    in_window,
    matching_per_bucket,
    ratio_cell,
    row_key,
    source_filter,
    window,
)


def _scale(survey: str) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    low, high = DEFAULT_SCALES[survey]
    return (
        func.coalesce(SURVEYS.c.scale_min, float(low)),
        func.coalesce(SURVEYS.c.scale_max, float(high)),
    )


def _rescaled(survey: str, low: float, high: float) -> ColumnElement[Any]:
    """The score mapped linearly onto [low, high]."""
    smin, smax = _scale(survey)
    mapped: ColumnElement[Any] = literal(float(low)) + (SURVEYS.c.score - smin) * float(
        high - low
    ) / (smax - smin)
    return mapped


def _survey_rows(
    query: KpiQuery, survey: str, columns: Sequence[Any], *, answered: bool = True
) -> tuple[Any, list[Any], tuple[str, ...]]:
    """SELECT bucket, groups, *columns over `survey` rows in the window, grouped by both."""
    smin, smax = _scale(survey)
    joined = SURVEYS.outerjoin(
        TICKETS, and_(TICKETS.c.source == SURVEYS.c.source, TICKETS.c.id == SURVEYS.c.ticket_id)
    )
    dims = dimension_columns(TICKETS, TICKET_DIMENSIONS)
    dims["agent"] = func.coalesce(SURVEYS.c.agent_id, TICKETS.c.assignee_id)
    dims["source"] = SURVEYS.c.source
    groups = group_sql(query, dims)
    bucket = bucket_sql(SURVEYS.c.created_at, query).label("bucket")
    stmt = (
        select(bucket, *groups, *columns)
        .select_from(joined)
        .where(
            SURVEYS.c.survey == survey,
            in_window(SURVEYS.c.created_at, query),
            source_filter(SURVEYS.c.source, query),
            or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
            smax > smin,
        )
        .group_by(bucket, *groups)
    )
    if answered:
        stmt = stmt.where(SURVEYS.c.score.is_not(None))
    return stmt, groups, group_names(query)


def _one_scale(row: Any) -> list[float] | None:
    """[min, max] when every response in the cell shares one scale, else None."""
    if row.min_low == row.max_low and row.min_high == row.max_high:
        return [float(row.min_low), float(row.min_high)]
    return None


SURVEY_DIMENSIONS = DIMENSIONS


@metric(
    "csat",
    title="Customer satisfaction (CSAT)",
    description=(
        "Positive responses / csat responses. Positive: a score at or above 75% of the way from "
        "the scale's min to its max, i.e. score >= min + 0.75 x (max - min): the top two points "
        "(4 and 5) of a 1-5 scale, 8-10 on 0-10, 6-7 on 1-7. `mean` is the mean score on the "
        "survey's scale when all responses share one scale (else null; `mean_normalized` in "
        "details is the mean position 0-1 between min and max either way)."
    ),
    unit="ratio",
    direction="higher",
    anchor="survey_responses.created_at",
    dimensions=SURVEY_DIMENSIONS,
)
def csat(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    smin, smax = _scale("csat")
    positive = SURVEYS.c.score >= smin + 0.75 * (smax - smin)
    stmt, _, names = _survey_rows(
        query,
        "csat",
        [
            func.count().label("n"),
            count_where(positive).label("positive"),
            func.avg(SURVEYS.c.score).label("mean"),
            func.avg((SURVEYS.c.score - smin) / (smax - smin)).label("normalized"),
            func.min(smin).label("min_low"),
            func.max(smin).label("max_low"),
            func.min(smax).label("min_high"),
            func.max(smax).label("max_high"),
        ],
    )
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        scale = _one_scale(row)
        details = {
            "positive": int(row.positive),
            "responses": int(row.n),
            "scale": scale,
            "mean_normalized": float(row.normalized),
        }
        cell = ratio_cell(int(row.positive), int(row.n), details)
        cell.mean = float(row.mean) if scale is not None else None
        cells[row_key(row, names)] = cell
    return emit(m, query, cells)


@metric(
    "nps",
    title="Net promoter score (NPS)",
    description=(
        "100 x (promoters - detractors) / responses on the 0-10 scale: promoters score 9-10, "
        "passives 7-8, detractors 0-6. Scores on another scale are first mapped linearly onto "
        "0-10."
    ),
    unit="points",
    direction="higher",
    anchor="survey_responses.created_at",
    dimensions=SURVEY_DIMENSIONS,
)
def nps(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    score = _rescaled("nps", 0, 10)
    # A hair of tolerance: 9 on 0-10 mapped from another scale may land at 8.999999.
    promoter, detractor = score >= 9 - 1e-9, score <= 6 + 1e-9
    stmt, _, names = _survey_rows(
        query,
        "nps",
        [
            func.count().label("n"),
            count_where(promoter).label("promoters"),
            count_where(detractor).label("detractors"),
        ],
    )
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        n, p, d = int(row.n), int(row.promoters), int(row.detractors)
        details = {
            "promoters": p,
            "passives": n - p - d,
            "detractors": d,
            "promoter_share": p / n,
            "detractor_share": d / n,
        }
        cells[row_key(row, names)] = Cell(100.0 * (p - d) / n, n, details=details)
    return emit(m, query, cells)


def _mean_metric(
    conn: Connection, query: KpiQuery, m: Metric, survey: str, low: float, high: float
) -> list[KpiValue]:
    score = _rescaled(survey, low, high)
    stmt, _, names = _survey_rows(
        query, survey, [func.count().label("n"), func.avg(score).label("mean")]
    )
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        value = float(row.mean)
        cells[row_key(row, names)] = Cell(
            value, int(row.n), mean=value, details={"scale": [low, high]}
        )
    return emit(m, query, cells)


@metric(
    "ces",
    title="Customer effort score (CES)",
    description=(
        "Mean ces score on the CES 2.0 scale 1-7 (higher = easier); scores on another scale are "
        "mapped linearly onto 1-7. The ticket-interaction variant is the separate metric "
        "ces_interactions."
    ),
    unit="score",
    direction="higher",
    anchor="survey_responses.created_at",
    dimensions=SURVEY_DIMENSIONS,
)
def ces(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return _mean_metric(conn, query, m, "ces", 1.0, 7.0)


@metric(
    "ces_interactions",
    title="Customer effort (interactions)",
    description=(
        "Variant of ces without surveys: over tickets solved in the window (solved_at), easy "
        "tickets (at most N public customer + agent messages, N default 2) minus hard tickets "
        "(more than N), as 100 x (easy - hard) / solved tickets. Counts in details."
    ),
    unit="points",
    direction="higher",
    anchor="tickets.solved_at",
    params=(Param("easy_max_messages", 2, "a ticket with at most this many messages is easy"),),
)
def ces_interactions(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    limit = int(m.param(query, "easy_max_messages"))
    messages = (
        select(EVENTS.c.source, EVENTS.c.ticket_id, func.count().label("messages"))
        .where(
            EVENTS.c.kind == "message",
            or_(EVENTS.c.public.is_(None), EVENTS.c.public.is_(True)),
            EVENTS.c.author_kind.in_(["agent", "customer"]),
        )
        .group_by(EVENTS.c.source, EVENTS.c.ticket_id)
        .subquery("messages")
    )
    joined = TICKETS.outerjoin(
        messages,
        and_(messages.c.source == TICKETS.c.source, messages.c.ticket_id == TICKETS.c.id),
    )
    groups = group_sql(query, dimension_columns(TICKETS, TICKET_DIMENSIONS))
    bucket = bucket_sql(TICKETS.c.solved_at, query).label("bucket")
    easy = func.coalesce(messages.c.messages, 0) <= limit
    stmt = (
        select(
            bucket,
            *groups,
            func.count().label("n"),
            count_where(easy).label("easy"),
        )
        .select_from(joined)
        .where(
            in_window(TICKETS.c.solved_at, query),
            source_filter(TICKETS.c.source, query),
            or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
        )
        .group_by(bucket, *groups)
    )
    names = group_names(query)
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        n, easy_n = int(row.n), int(row.easy)
        details = {"easy": easy_n, "hard": n - easy_n, "solved": n}
        cells[row_key(row, names)] = Cell(100.0 * (2 * easy_n - n) / n, n, details=details)
    return emit(m, query, cells)


@metric(
    "iqs",
    title="Internal quality score (IQS)",
    description=(
        "Mean of iqs review scores (survey `iqs`, default scale 0-100), each mapped linearly "
        "onto 0-100: 100 x (score - min) / (max - min)."
    ),
    unit="score",
    direction="higher",
    anchor="survey_responses.created_at",
    dimensions=SURVEY_DIMENSIONS,
)
def iqs(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return _mean_metric(conn, query, m, "iqs", 0.0, 100.0)


@metric(
    "employee_engagement",
    title="Employee engagement",
    description=(
        "Mean employee survey score (survey `employee`, default scale 1-10), each mapped "
        "linearly onto 0-10: 10 x (score - min) / (max - min)."
    ),
    unit="score",
    direction="higher",
    anchor="survey_responses.created_at",
    dimensions=("agent", "source"),
)
def employee_engagement(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    return _mean_metric(conn, query, m, "employee", 0.0, 10.0)


@metric(
    "survey_response_rate",
    title="Survey response rate",
    description=(
        "Answered surveys / surveys offered. A survey_responses row with a score is an answered "
        "offer, one with a null score an unanswered offer. Only (source, survey) pairs that "
        "report offers (have at least one unanswered row) count: elsewhere only answers are "
        "known. Parameter survey: one survey kind (csat, nps, ces, ...) or all."
    ),
    unit="ratio",
    direction="higher",
    anchor="survey_responses.created_at (the offer)",
    params=(Param("survey", "all", "the survey kind to count, or all"),),
    dimensions=SURVEY_DIMENSIONS,
)
def survey_response_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    kind = str(m.param(query, "survey"))
    pairs_stmt = (
        select(SURVEYS.c.source, SURVEYS.c.survey)
        .where(SURVEYS.c.score.is_(None), source_filter(SURVEYS.c.source, query))
        .distinct()
    )
    if kind != "all":
        pairs_stmt = pairs_stmt.where(SURVEYS.c.survey == kind)
    pairs = [(r.source, r.survey) for r in conn.execute(pairs_stmt)]
    reporting = (
        or_(*[and_(SURVEYS.c.source == s, SURVEYS.c.survey == k) for s, k in pairs])
        if pairs
        else false()
    )
    joined = SURVEYS.outerjoin(
        TICKETS, and_(TICKETS.c.source == SURVEYS.c.source, TICKETS.c.id == SURVEYS.c.ticket_id)
    )
    dims = dimension_columns(TICKETS, TICKET_DIMENSIONS)
    dims["agent"] = func.coalesce(SURVEYS.c.agent_id, TICKETS.c.assignee_id)
    dims["source"] = SURVEYS.c.source
    groups = group_sql(query, dims)
    bucket = bucket_sql(SURVEYS.c.created_at, query).label("bucket")
    stmt = (
        select(
            bucket,
            *groups,
            func.count().label("offered"),
            func.count(SURVEYS.c.score).label("answered"),
        )
        .select_from(joined)
        .where(
            reporting,
            in_window(SURVEYS.c.created_at, query),
            or_(TICKETS.c.status.is_(None), TICKETS.c.status != "deleted"),
        )
        .group_by(bucket, *groups)
    )
    names = group_names(query)
    cells: dict[CellKey, Cell] = {}
    for row in conn.execute(stmt):
        details = {"answered": int(row.answered), "offered": int(row.offered)}
        cells[row_key(row, names)] = ratio_cell(int(row.answered), int(row.offered), details)
    return emit(m, query, cells)


def _review_counts(
    conn: Connection, query: KpiQuery, column: Any
) -> dict[CellKey, tuple[int, int]]:
    """(reviews, reviews matching `column`) per bucket and group."""
    return matching_per_bucket(conn, query, REVIEWS, REVIEWS.c.created_at, column)


@metric(
    "positive_reviews",
    title="Positive reviews",
    description=(
        "Number of 5-star reviews (rating >= 5) received in the window; `share` in details is "
        "their share of all reviews. n = reviews received."
    ),
    unit="count",
    direction="higher",
    anchor="reviews.created_at",
    dimensions=("source",),
)
def positive_reviews(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    cells = {
        key: Cell(float(five), n, details={"five_star": five, "reviews": n, "share": five / n})
        for key, (n, five) in _review_counts(conn, query, REVIEWS.c.rating >= 5).items()
    }
    return emit(m, query, cells)


@metric(
    "feedback_response_rate",
    title="Feedback response rate",
    description="Reviews we responded to (responded_at set) / reviews received in the window.",
    unit="ratio",
    direction="higher",
    anchor="reviews.created_at",
    dimensions=("source",),
)
def feedback_response_rate(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    counts = _review_counts(conn, query, REVIEWS.c.responded_at.is_not(None))
    cells = {
        key: ratio_cell(hits, n, {"responded": hits, "reviews": n})
        for key, (n, hits) in counts.items()
    }
    return emit(m, query, cells)


@metric(
    "kb_helpfulness",
    title="Knowledge-base helpfulness",
    description=(
        "Helpful votes / (helpful + unhelpful votes) over all knowledge-base articles. Votes "
        "carry no timestamps: this is the current total, the same in every period."
    ),
    unit="ratio",
    direction="higher",
    anchor="none (current vote totals)",
    dimensions=("source",),
)
def kb_helpfulness(conn: Connection, query: KpiQuery, m: Metric) -> list[KpiValue]:
    groups = group_sql(query, {"source": KB.c.source})
    helpful = func.sum(func.coalesce(KB.c.helpful_votes, 0))
    unhelpful = func.sum(func.coalesce(KB.c.unhelpful_votes, 0))
    stmt = (
        select(
            *groups,
            helpful.label("helpful"),
            unhelpful.label("unhelpful"),
            func.count().label("articles"),
        )
        .where(source_filter(KB.c.source, query))
        .group_by(*groups)
    )
    names = group_names(query)
    cells: dict[CellKey, Cell] = {}
    buckets = range(len(window(query)))
    for row in conn.execute(stmt):
        h, u = int(row.helpful or 0), int(row.unhelpful or 0)
        details = {"helpful": h, "unhelpful": u, "articles": int(row.articles)}
        for i in buckets:
            cells[(i, tuple(getattr(row, f"g_{n}") for n in names))] = ratio_cell(h, h + u, details)
    return emit(m, query, cells)
