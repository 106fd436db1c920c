from __future__ import annotations

import os
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


def fresh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in `tmp_path` with no vendor or deskpulse setting from the outside, the warehouse a
    fresh SQLite file there."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("ZENDESK", "LIVEAGENT", "KLAVIYO", "DESKPULSE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
