"""A warehouse for KPI tests: in-memory SQLite, and PostgreSQL when DESKPULSE_TEST_POSTGRES_URL is set.

`wh` is a `Wh`: `wh.conn` (a Connection inside a transaction rolled back after the test) and
`wh.add(table, *rows, source="zd")`, which takes rows in the import format (text dates such as
"2026-03-02T10:00:00Z" are fine; `coerce_row` converts and validates them).
`wh.kpi(metric_id, start, end, **query_fields)` computes one metric into KpiValues.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, insert
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

import deskpulse.kpi_core.models  # noqa: F401 - registers the tables on SQLModel.metadata
from deskpulse.kpi_core import KpiQuery, KpiValue, compute
from deskpulse.kpi_core.canonical import coerce_row
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from tests.pg import postgres_schema_url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def kpi_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    with postgres_schema_url() as url:
        engine = create_engine(url)
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()


@dataclass
class Wh:
    conn: Connection

    def add(self, table: str, *rows: Mapping[str, Any], source: str = "zd") -> None:
        model = WAREHOUSE_MODELS[table]
        values = [coerce_row(table, row, source=row.get("source", source)) for row in rows]
        if values:
            self.conn.execute(insert(model.__table__), values)  # type: ignore[attr-defined]

    def kpi(self, metric_id: str, start: datetime, end: datetime, **fields: Any) -> list[KpiValue]:
        return compute(self.conn, [metric_id], KpiQuery(start=start, end=end, **fields))


@pytest.fixture
def wh(kpi_engine: Engine) -> Iterator[Wh]:
    with kpi_engine.connect() as conn:
        trans = conn.begin()
        try:
            yield Wh(conn)
        finally:
            trans.rollback()


# The ticket metrics' small help desk (documented in test_ticket_metrics), shared with the
# per-ticket tests.
from tests.kpi_core.test_ticket_metrics import desk  # noqa: E402, F401
