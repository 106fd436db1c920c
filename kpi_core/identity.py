"""People across sources: one person, one customer, whichever tools they appear in.

A help desk and a marketing tool each keep their own customer records (`customers` rows of
their source). A person is the trimmed, lower-cased e-mail of a row (`person_key`); a row
without an e-mail is a person of its own (`source:id`). This is how deskpulse joins support
experience to purchases: the tickets a person opened in Zendesk, the orders their Klaviyo
profile placed.

* `people(conn)`: person -> their customer rows and the sources they come from (the match,
  visible: `deskpulse revenue` prints how many people each combination of sources holds).
* `support_values(conn, ...)`: per person, what support knows about them (tickets, open
  tickets, last CSAT, first-response experience): the values written back to marketing
  profiles as `deskpulse_*` properties.
* `customer_values(conn, ...)`: per person, all time: lifetime CSAT, last NPS score and
  historical lifetime value, written back to help-desk user fields (and profiles).
* `revenue_by_experience(conn, ...)`: customers grouped by their first-response experience
  (every first response within the target, or at least one missed), with their historical
  lifetime value, churn and, when the marketing tool reports them, its predictive values.

Matching is exact on the normalised e-mail (no fuzzy rules): two rows of one source with one
e-mail are one person too. The customer KPIs (churn, retention, lifetime value, referrals,
engagement, repeat contacts) count the same people, in SQL (kpi_core.people).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from deskpulse.kpi_core.canonical import DEFAULT_SCALES, PREDICTIVE_SUFFIX
from deskpulse.kpi_core.metrics.customers import not_refunded
from deskpulse.kpi_core.per_ticket import ticket_values
from deskpulse.kpi_core.tables import CUSTOMERS, ORDERS, SURVEY_RESPONSES, TICKETS

OPEN = frozenset({"new", "open", "pending", "hold"})
WITHIN, MISSED = "within_target", "missed_target"


def normalise_email(email: Any) -> str | None:
    """Trimmed and lower-cased; None for no e-mail."""
    if not isinstance(email, str):
        return None
    text = email.strip().lower()
    return text or None


def person_key(source: str, customer_id: str, email: Any) -> str:
    return normalise_email(email) or f"{source}:{customer_id}"


@dataclass
class Person:
    key: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # (source, customer id)
    extra: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({s for s, _ in self.rows}))


def people(conn: Connection, sources: Sequence[str] | None = None) -> dict[str, Person]:
    """Every person of the `customers` table (of `sources`, when given)."""
    stmt = select(CUSTOMERS.c.source, CUSTOMERS.c.id, CUSTOMERS.c.email, CUSTOMERS.c.extra)
    if sources:
        stmt = stmt.where(CUSTOMERS.c.source.in_(list(sources)))
    out: dict[str, Person] = {}
    for source, cid, email, extra in conn.execute(stmt):
        key = person_key(source, cid, email)
        person = out.setdefault(key, Person(key))
        person.rows.append((source, cid))
        if extra:
            person.extra[(source, cid)] = extra
    return out


def match_summary(everyone: dict[str, Person]) -> dict[str, int]:
    """People per combination of sources, e.g. {"klaviyo+zendesk": 1380, "zendesk": 120}."""
    counts: dict[str, int] = defaultdict(int)
    for person in everyone.values():
        counts["+".join(person.sources)] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _owner(everyone: dict[str, Person]) -> dict[tuple[str, str], str]:
    return {row: p.key for p in everyone.values() for row in p.rows}


@dataclass
class Support:
    """What support knows about one person."""

    tickets: int = 0
    open_tickets: int = 0
    answered: int = 0
    missed: int = 0  # first responses later than the target, or none yet after it
    last_csat: float | None = None
    last_csat_at: datetime | None = None

    @property
    def experience(self) -> str | None:
        if self.missed:
            return MISSED
        return WITHIN if self.answered else None

    def values(self) -> dict[str, Any]:
        return {
            "ticket_count": self.tickets,
            "open_tickets": self.open_tickets,
            "last_csat": self.last_csat,
            "first_response_experience": self.experience,
        }


SUPPORT_VALUES = ("ticket_count", "open_tickets", "last_csat", "first_response_experience")


def support_values(
    conn: Connection,
    *,
    everyone: dict[str, Person] | None = None,
    help_sources: Sequence[str] | None = None,
    target_minutes: float = 60.0,
    since: datetime | None = None,
    now: datetime,
) -> dict[str, Support]:
    """Per person: their tickets (created since `since`), open tickets, last CSAT score and
    first-response experience against `target_minutes` (calendar time, as first_response_time
    measures it; a ticket still waiting longer than the target counts as missed)."""
    everyone = everyone if everyone is not None else people(conn)
    owner = _owner(everyone)
    out: dict[str, Support] = defaultdict(Support)
    stmt = select(
        TICKETS.c.source,
        TICKETS.c.id,
        TICKETS.c.requester_id,
        TICKETS.c.status,
        TICKETS.c.created_at,
    ).where(TICKETS.c.status != "deleted")
    if help_sources:
        stmt = stmt.where(TICKETS.c.source.in_(list(help_sources)))
    if since is not None:
        stmt = stmt.where(TICKETS.c.created_at >= since)
    tickets = {(s, i): (r, st, c) for s, i, r, st, c in conn.execute(stmt)}
    values = ticket_values(conn, list(tickets), now=now)
    target = timedelta(minutes=target_minutes)
    for key, (requester, status, created) in tickets.items():
        person = owner.get((key[0], requester or ""))
        if person is None:
            continue
        s = out[person]
        s.tickets += 1
        s.open_tickets += status in OPEN
        tv = values.get(key)
        minutes = tv.first_response_minutes if tv is not None else None
        if minutes is not None:
            s.answered += 1
            s.missed += minutes > target_minutes
        elif status in OPEN and created is not None and now - created > target:
            s.missed += 1
    csat = select(
        SURVEY_RESPONSES.c.source,
        SURVEY_RESPONSES.c.customer_id,
        SURVEY_RESPONSES.c.score,
        SURVEY_RESPONSES.c.created_at,
    ).where(SURVEY_RESPONSES.c.survey == "csat", SURVEY_RESPONSES.c.score.is_not(None))
    if help_sources:
        csat = csat.where(SURVEY_RESPONSES.c.source.in_(list(help_sources)))
    for source, cid, score, created in conn.execute(csat):
        person = owner.get((source, cid or ""))
        if person is None:
            continue
        s = out[person]
        if s.last_csat_at is None or created > s.last_csat_at:
            s.last_csat, s.last_csat_at = float(score), created
    return dict(out)


CUSTOMER_VALUES = ("lifetime_csat", "last_nps", "clv")
"""What a person is worth and how they feel, all time: the share of their CSAT responses that
were positive (as the csat metric counts them), their last NPS score (0-10) and their historical
lifetime value (orders not refunded or cancelled, amount x margin, margin default 1)."""
PERSON_VALUES = SUPPORT_VALUES + CUSTOMER_VALUES


def customer_values(
    conn: Connection, *, everyone: dict[str, Person] | None = None, now: datetime
) -> dict[str, dict[str, Any]]:
    """Per person: lifetime_csat (0-1), last_nps and clv (see CUSTOMER_VALUES), from every
    source's survey responses and orders up to `now`; a value the person has no data for is
    None."""
    everyone = everyone if everyone is not None else people(conn)
    owner = _owner(everyone)
    out: dict[str, dict[str, Any]] = defaultdict(dict.fromkeys(CUSTOMER_VALUES).copy)
    csat: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # person -> [positive, responses]
    last_nps: dict[str, datetime] = {}
    low, high = DEFAULT_SCALES["csat"]
    surveys = select(
        SURVEY_RESPONSES.c.source,
        SURVEY_RESPONSES.c.customer_id,
        SURVEY_RESPONSES.c.survey,
        SURVEY_RESPONSES.c.score,
        SURVEY_RESPONSES.c.scale_min,
        SURVEY_RESPONSES.c.scale_max,
        SURVEY_RESPONSES.c.created_at,
    ).where(
        SURVEY_RESPONSES.c.survey.in_(("csat", "nps")),
        SURVEY_RESPONSES.c.score.is_not(None),
        SURVEY_RESPONSES.c.created_at < now,
    )
    for source, cid, survey, score, smin, smax, created in conn.execute(surveys):
        person = owner.get((source, cid or ""))
        if person is None:
            continue
        if survey == "csat":
            lo = float(low if smin is None else smin)
            hi = float(high if smax is None else smax)
            counts = csat[person]
            counts[0] += hi > lo and float(score) >= lo + 0.75 * (hi - lo)
            counts[1] += 1
        elif person not in last_nps or created > last_nps[person]:
            last_nps[person] = created
            out[person]["last_nps"] = float(score)
    for person, (positive, responses) in csat.items():
        out[person]["lifetime_csat"] = round(positive / responses, 4)
    value = ORDERS.c.amount * func.coalesce(ORDERS.c.margin, 1.0)
    orders = select(ORDERS.c.source, ORDERS.c.customer_id, value).where(
        ORDERS.c.created_at < now, not_refunded()
    )
    for source, cid, amount in conn.execute(orders):
        person = owner.get((source, cid or ""))
        if person is not None and amount is not None:
            row = out[person]
            row["clv"] = (row["clv"] or 0.0) + float(amount)
    for row in out.values():
        if row["clv"] is not None:
            row["clv"] = round(row["clv"], 2)
    return dict(out)


@dataclass
class Group:
    experience: str
    people: int = 0
    customers: int = 0  # people with at least one order
    value: float = 0.0
    lost: int = 0
    predicted: list[float] = field(default_factory=list)
    churn_probability: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        def mean(xs: Iterable[float]) -> float | None:
            xs = list(xs)
            return sum(xs) / len(xs) if xs else None

        return {
            "first_response": self.experience,
            "people": self.people,
            "customers": self.customers,
            "clv_historical": self.value / self.customers if self.customers else None,
            "churn_rate": self.lost / self.customers if self.customers else None,
            "vendor_predicted_clv": mean(self.predicted),
            "vendor_churn_probability": mean(self.churn_probability),
        }


def revenue_by_experience(
    conn: Connection,
    *,
    now: datetime,
    target_minutes: float = 60.0,
    inactivity_days: int = 90,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(one row per first-response experience: within target, missed, no tickets; the match
    summary). A customer is a person with an order; their historical value is the sum of
    their orders that were not refunded or cancelled (as customer_lifetime_value `historical`
    with margin 1); lost when their last order is more than `inactivity_days` before `now`."""
    everyone = people(conn)
    owner = _owner(everyone)
    support = support_values(conn, everyone=everyone, target_minutes=target_minutes, now=now)
    value: dict[str, float] = defaultdict(float)
    last: dict[str, datetime] = {}
    counts = case((not_refunded(), ORDERS.c.amount), else_=0.0)
    stmt = select(ORDERS.c.source, ORDERS.c.customer_id, counts, ORDERS.c.created_at).where(
        ORDERS.c.created_at < now
    )
    for source, cid, amount, created in conn.execute(stmt):
        person = owner.get((source, cid), f"{source}:{cid}")
        last[person] = max(last.get(person, created), created)
        value[person] += float(amount)
    groups = {k: Group(k) for k in (WITHIN, MISSED, "no_tickets")}
    gap = timedelta(days=inactivity_days)
    for key in set(everyone) | set(last):
        s = support.get(key)
        experience = (s.experience if s is not None else None) or "no_tickets"
        g = groups[experience]
        g.people += 1
        if key not in last:
            continue
        g.customers += 1
        g.value += value.get(key, 0.0)
        g.lost += last[key] < now - gap
        found = everyone.get(key)
        for extra in found.extra.values() if found else ():
            for predictive in _predictions(extra):
                if isinstance(predictive.get("predicted_clv"), int | float):
                    g.predicted.append(float(predictive["predicted_clv"]))
                if isinstance(predictive.get("churn_probability"), int | float):
                    g.churn_probability.append(float(predictive["churn_probability"]))
    return [g.row() for g in groups.values()], match_summary(everyone)


def _predictions(extra: Any) -> list[Mapping[str, Any]]:
    """A row's marketing-tool predictions (`<vendor>_predictive` in `extra`: PREDICTIVE_SUFFIX)."""
    if not isinstance(extra, Mapping):
        return []
    return [
        value
        for key, value in extra.items()
        if isinstance(key, str) and key.endswith(PREDICTIVE_SUFFIX) and isinstance(value, Mapping)
    ]


__all__ = [
    "CUSTOMER_VALUES",
    "MISSED",
    "PERSON_VALUES",
    "SUPPORT_VALUES",
    "WITHIN",
    "Person",
    "Support",
    "customer_values",
    "match_summary",
    "normalise_email",
    "people",
    "person_key",
    "revenue_by_experience",
    "support_values",
]
