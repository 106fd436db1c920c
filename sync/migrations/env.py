"""Alembic environment: migrations run on the connection the warehouse hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import deskpulse.kpi_core.models
import deskpulse.sync.state  # noqa: F401

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` command line: DESKPULSE_DATABASE_URL via sqlalchemy.url
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///deskpulse.db")
        with engine.begin() as own:
            _migrate(own)
        return
    _migrate(connection)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-move
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
