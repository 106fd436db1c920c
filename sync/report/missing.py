"""Why a metric has no data in a report's window, said as what is actually missing.

A metric can lack data because a table it reads is empty (nothing supplies it yet: the report
names what would), or because the table is there but holds none of the rows the metric counts:
NPS with only CSAT surveys synced, social sentiment over mentions nobody scored, hold time
without status events, or rows that all fall outside the window. Naming the source of a table
that is already synced would send a manager after something they have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from deskpulse.kpi_core.registry import Metric
from deskpulse.sync.warehouse import table

SURVEYS = {
    "csat": "csat",
    "nps": "nps",
    "ces": "ces",
    "iqs": "iqs",
    "employee_engagement": "employee",
}
"""Survey metrics and the `survey_responses.survey` kind each reads."""


@dataclass(frozen=True)
class Needs:
    """Rows a metric reads beyond "the table has rows": a condition and how to say it."""

    table: str
    words: str
    where: Any


def _needs(metric_id: str) -> Needs | None:
    if metric_id in SURVEYS:
        kind = SURVEYS[metric_id]
        survey = table("survey_responses").c.survey
        return Needs("survey_responses", f"survey responses of survey `{kind}`", survey == kind)
    mentions = table("social_mentions")
    events = table("ticket_events")
    known: dict[str, Needs] = {
        "social_sentiment": Needs(
            "social_mentions",
            "social mentions with a sentiment (the sync scores English text; other languages "
            "stay unscored)",
            mentions.c.sentiment.is_not(None),
        ),
        "social_response_time": Needs(
            "social_mentions",
            "social mentions with a reply",
            mentions.c.first_reply_at.is_not(None),
        ),
        "survey_response_rate": Needs(
            "survey_responses",
            "unanswered survey offers (survey_responses rows without a score): without them "
            "only answers are known",
            table("survey_responses").c.score.is_(None),
        ),
        "on_hold_time": Needs("ticket_events", "ticket status events", events.c.kind == "status"),
        "agent_work_time": Needs(
            "ticket_events", "ticket status events", events.c.kind == "status"
        ),
    }
    return known.get(metric_id)


def _count(connection: Connection, name: str, sources: Sequence[str], where: Any = None) -> int:
    t = table(name)
    query = select(func.count()).select_from(t)
    if where is not None:
        query = query.where(where)
    if sources and "source" in t.c:
        query = query.where(t.c.source.in_(list(sources)))
    return int(connection.execute(query).scalar_one())


def _surveys(connection: Connection, sources: Sequence[str]) -> list[str]:
    t = table("survey_responses")
    query = select(t.c.survey).distinct().order_by(t.c.survey)
    if sources:
        query = query.where(t.c.source.in_(list(sources)))
    return [str(s) for (s,) in connection.execute(query)]


def explain(
    connection: Connection,
    metric: Metric,
    tables: Sequence[str],
    suppliers: dict[str, str],
    sources: Sequence[str] = (),
) -> str:
    """What is missing for `metric`, in a sentence."""
    empty = [t for t in tables if not _count(connection, t, sources)]
    if empty:
        return "; ".join(f"no {t} rows yet: {suppliers.get(t, 'deskpulse import')}" for t in empty)
    needs = _needs(metric.id)
    if needs is not None and not _count(connection, needs.table, sources, needs.where):
        text = f"{needs.table} is synced, but holds no {needs.words}"
        if needs.table == "survey_responses" and metric.id in SURVEYS:
            text += f" (surveys there: {', '.join(_surveys(connection, sources)) or 'none'})"
        return text
    return (
        f"{', '.join(tables)} synced, but none of the rows it counts falls in this window "
        f"(anchored at {metric.anchor})"
    )
