from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deskpulse.sync.warehouse import Warehouse
from tests.pg import postgres_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """The same warehouse tests on SQLite and on PostgreSQL (skipped when no URL is set)."""
    if request.param == "sqlite":
        wh = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
        yield wh
        wh.dispose()
        return
    with postgres_schema_url() as url:
        wh = Warehouse(url)
        yield wh
        wh.dispose()
