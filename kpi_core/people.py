"""People in SQL: the person key the customer KPIs count, so one person is one customer across
sources.

A person is a customer row's e-mail, trimmed of spaces and lower-cased; a row without an e-mail
is a person of its own (`source:id`), as in kpi_core.identity (which `deskpulse revenue` and the
write-back use). A customer synced from Zendesk and from Klaviyo is one person: churn, retention,
lifetime value, referrals, engagement and repeat contacts count people, not rows. Rows that
reference a customer (`orders`, `engagement_events`, contacts) take the person of the
`customers` row they point at within their source, else `source:customer_id`.

With one source whose customers have distinct e-mails (every help desk's and marketing tool's),
a person is a row and nothing changes; with `--by source`, people are counted within each source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, literal
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Join

from deskpulse.kpi_core.tables import CUSTOMERS


def person_sql(email: Any, source: Any, customer_id: Any) -> ColumnElement[str]:
    """The person key: the normalised e-mail, else `source:customer_id`."""
    normalised = func.nullif(func.lower(func.trim(email)), literal(""))
    key: ColumnElement[str] = func.coalesce(normalised, source + literal(":") + customer_id)
    return key


def customer_person() -> ColumnElement[str]:
    """The person of a `customers` row."""
    return person_sql(CUSTOMERS.c.email, CUSTOMERS.c.source, CUSTOMERS.c.id)


def with_person(table: Any, source: Any, customer_id: Any) -> tuple[Join, ColumnElement[str]]:
    """`table` joined to the customers its rows point at, and the person of each row."""
    people = CUSTOMERS.alias("person_rows")
    joined = table.outerjoin(people, and_(people.c.source == source, people.c.id == customer_id))
    return joined, person_sql(people.c.email, source, customer_id)


__all__ = ["customer_person", "person_sql", "with_person"]
