"""Warehouse tables: the canonical data model of KPI_CATALOG.md section 1, plus two extensions.

Every row carries `source` (the connector instance) and `id` (the vendor's id as text); the pair is
the primary key, so re-syncing a row updates it and never duplicates it. References
(`ticket_id`, `customer_id`, `agent_id`, ...) hold vendor ids within the same source. Columns a
file or vendor gives beyond these land in `extra` (JSON), never dropped.

Extensions beyond the catalog: `sla_events` (the help desk's own SLA activity, in the
vocabulary of `SlaEvent`) and `schedules` (business hours), fed by help desks that report them,
and `order_adjustments` (refunds and cancellations reported apart from their order, e.g.
Klaviyo's "Refunded Order" events: an order is left out of value metrics when a cancellation or
a refund covering its amount points at it, whichever arrives first).
A `survey_responses` row whose `score` is null records a survey that was offered and not answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from deskpulse.kpi_core.types import JSONValue, UTCDateTime


def _when(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _required_when(*, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=False)


def _extra() -> Any:
    return Field(default=None, sa_column=Column(JSONValue, nullable=True))


class Keyed(SQLModel):
    """Natural key shared by every canonical table."""

    source: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=128)


class Agent(Keyed, table=True):
    __tablename__ = "agents"
    name: str | None = None
    email: str | None = None
    role: str | None = None
    group: str | None = None
    active: bool | None = None
    created_at: datetime | None = _when()
    extra: dict[str, Any] | None = _extra()


class Customer(Keyed, table=True):
    __tablename__ = "customers"
    name: str | None = None
    email: str | None = None
    organization: str | None = None
    created_at: datetime | None = _when(index=True)
    churned_at: datetime | None = _when()
    acquisition_channel: str | None = None
    extra: dict[str, Any] | None = _extra()


class Ticket(Keyed, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_source_created", "source", "created_at"),
        Index("ix_tickets_solved_at", "solved_at"),
        Index("ix_tickets_assignee", "source", "assignee_id"),
    )
    created_at: datetime = _required_when(index=True)
    subject: str | None = None
    type: str | None = None
    priority: str | None = None
    channel: str | None = None
    status: str | None = None
    requester_id: str | None = None
    assignee_id: str | None = None
    group: str | None = None
    tags: str | None = None
    updated_at: datetime | None = _when()
    solved_at: datetime | None = _when()
    closed_at: datetime | None = _when()
    extra: dict[str, Any] | None = _extra()


class TicketEvent(Keyed, table=True):
    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "source", "ticket_id", "created_at"),)
    ticket_id: str
    created_at: datetime = _required_when(index=True)
    kind: str
    author_id: str | None = None
    author_kind: str | None = None
    public: bool | None = True
    status: str | None = None
    assignee_id: str | None = None
    extra: dict[str, Any] | None = _extra()


class Call(Keyed, table=True):
    __tablename__ = "calls"
    queued_at: datetime = _required_when(index=True)
    direction: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    answered_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    talk_seconds: float | None = None
    hold_seconds: float | None = None
    wrap_seconds: float | None = None
    outcome: str | None = None
    ticket_id: str | None = None
    extra: dict[str, Any] | None = _extra()


class Chat(Keyed, table=True):
    __tablename__ = "chats"
    requested_at: datetime = _required_when(index=True)
    customer_id: str | None = None
    agent_id: str | None = None
    answered_at: datetime | None = _when()
    ended_at: datetime | None = _when()
    outcome: str | None = None
    messages: int | None = None
    ticket_id: str | None = None
    extra: dict[str, Any] | None = _extra()


class SocialMention(Keyed, table=True):
    __tablename__ = "social_mentions"
    created_at: datetime = _required_when(index=True)
    network: str | None = None
    author: str | None = None
    text: str | None = None
    first_reply_at: datetime | None = _when()
    sentiment: str | None = None
    is_question: bool | None = None
    ticket_id: str | None = None
    extra: dict[str, Any] | None = _extra()


class SurveyResponse(Keyed, table=True):
    __tablename__ = "survey_responses"
    survey: str
    score: float | None = None
    created_at: datetime = _required_when(index=True)
    scale_min: float | None = None
    scale_max: float | None = None
    ticket_id: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    comment: str | None = None
    extra: dict[str, Any] | None = _extra()


class Review(Keyed, table=True):
    __tablename__ = "reviews"
    rating: float
    created_at: datetime = _required_when(index=True)
    customer_id: str | None = None
    responded_at: datetime | None = _when()
    text: str | None = None
    extra: dict[str, Any] | None = _extra()


class Order(Keyed, table=True):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer", "source", "customer_id"),)
    customer_id: str
    amount: float
    created_at: datetime = _required_when(index=True)
    currency: str | None = None
    margin: float | None = None
    refunded: bool | None = None
    extra: dict[str, Any] | None = _extra()


class EngagementEvent(Keyed, table=True):
    __tablename__ = "engagement_events"
    customer_id: str
    kind: str
    created_at: datetime = _required_when(index=True)
    extra: dict[str, Any] | None = _extra()


class AgentSession(Keyed, table=True):
    __tablename__ = "agent_sessions"
    agent_id: str
    started_at: datetime = _required_when(index=True)
    ended_at: datetime = _required_when()
    state: str | None = None
    extra: dict[str, Any] | None = _extra()


class Cost(Keyed, table=True):
    """Operating costs. Files give no id: the importer derives one from period and category."""

    __tablename__ = "costs"
    period_start: datetime = _required_when(index=True)
    period_end: datetime = _required_when()
    amount: float
    currency: str | None = None
    category: str | None = None
    extra: dict[str, Any] | None = _extra()


class KbArticle(Keyed, table=True):
    __tablename__ = "kb_articles"
    title: str | None = None
    views: int | None = None
    helpful_votes: int | None = None
    unhelpful_votes: int | None = None
    updated_at: datetime | None = _when()
    extra: dict[str, Any] | None = _extra()


class SlaEvent(Keyed, table=True):
    """One SLA activity record reported by a help desk, in a vendor-neutral vocabulary.

    Each connector maps its vendor's words onto these; `raw_type` keeps the vendor's own word
    (for people, never read by a metric). `type` is one of `canonical.SLA_EVENT_TYPES`:

    - `applied`: a policy set a target on this ticket's clock: `target_minutes` and
      `business_hours` give it, `extra.policy` / `extra.policy_id` name the policy.
    - `started`: the clock started, or resumed after a pause.
    - `paused`: the clock stopped without a verdict (e.g. the ticket went pending).
    - `fulfilled`: the target was met (or the clock ended) at `time`.
    - `breached`: the target ran out at `time`.
    - `measured`: the help desk reported the clock's value, no verdict (`extra.status`).
    - `updated`: the clock's state was recomputed (e.g. the policy changed), no verdict.

    `metric` names the clock: `reply_time` (until an agent's public reply, first or next),
    `resolution_time`, `requester_wait_time`, `agent_work_time`, `periodic_update_time`,
    `pausable_update_time`, `group_ownership_time`; another vendor's clock that means none of
    these keeps its own name. `extra.instance_id` tells repeated cycles of one clock apart (a
    ticket's second reply target); `extra.deleted` true marks an event the help desk withdrew.
    """

    __tablename__ = "sla_events"
    __table_args__ = (Index("ix_sla_events_ticket", "source", "ticket_id"),)
    ticket_id: str
    metric: str
    type: str
    raw_type: str | None = None
    time: datetime = _required_when(index=True)
    target_minutes: float | None = None
    business_hours: bool | None = None
    extra: dict[str, Any] | None = _extra()


class Schedule(Keyed, table=True):
    """Business hours pulled from a help desk: weekly windows and holidays in an IANA zone."""

    __tablename__ = "schedules"
    name: str | None = None
    time_zone: str
    # [{"start_minute": 1980, "end_minute": 2460}, ...] minutes from Sunday 00:00 local time.
    intervals: list[dict[str, int]] = Field(sa_column=Column(JSONValue, nullable=False))
    # [{"name": ..., "start_date": "2026-12-25", "end_date": "2026-12-26"}, ...]
    holidays: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSONValue))
    extra: dict[str, Any] | None = _extra()


class OrderAdjustment(Keyed, table=True):
    """A refund or cancellation of an order (`order_id`, same source), reported as its own event.

    `kind` is `refund` or `cancel`; `amount` is what was refunded (null: not said, taken as
    all of it). Kept apart from `orders` so that either may arrive first and a re-read of the
    order never undoes its refund.
    """

    __tablename__ = "order_adjustments"
    __table_args__ = (Index("ix_order_adjustments_order", "source", "order_id"),)
    order_id: str
    kind: str
    amount: float | None = None
    created_at: datetime = _required_when()
    customer_id: str | None = None
    extra: dict[str, Any] | None = _extra()


CANONICAL_MODELS: dict[str, type[Keyed]] = {
    model.__tablename__: model
    for model in (
        Agent,
        Customer,
        Ticket,
        TicketEvent,
        Call,
        Chat,
        SocialMention,
        SurveyResponse,
        Review,
        Order,
        EngagementEvent,
        AgentSession,
        Cost,
        KbArticle,
    )
}
"""The import-format tables, in the order of KPI_CATALOG.md section 1."""

EXTENSION_MODELS: dict[str, type[Keyed]] = {
    SlaEvent.__tablename__: SlaEvent,
    Schedule.__tablename__: Schedule,
    OrderAdjustment.__tablename__: OrderAdjustment,
}

WAREHOUSE_MODELS: dict[str, type[Keyed]] = {**CANONICAL_MODELS, **EXTENSION_MODELS}
