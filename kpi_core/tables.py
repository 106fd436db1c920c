"""The warehouse tables as SQLAlchemy `Table` objects, typed, for code that builds SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from deskpulse.kpi_core import models


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


AGENTS = _table(models.Agent)
CUSTOMERS = _table(models.Customer)
TICKETS = _table(models.Ticket)
TICKET_EVENTS = _table(models.TicketEvent)
CALLS = _table(models.Call)
CHATS = _table(models.Chat)
SOCIAL_MENTIONS = _table(models.SocialMention)
SURVEY_RESPONSES = _table(models.SurveyResponse)
REVIEWS = _table(models.Review)
ORDERS = _table(models.Order)
ENGAGEMENT_EVENTS = _table(models.EngagementEvent)
AGENT_SESSIONS = _table(models.AgentSession)
COSTS = _table(models.Cost)
KB_ARTICLES = _table(models.KbArticle)
SLA_EVENTS = _table(models.SlaEvent)
SCHEDULES = _table(models.Schedule)
ORDER_ADJUSTMENTS = _table(models.OrderAdjustment)
