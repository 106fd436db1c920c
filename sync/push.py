"""`deskpulse push` from settings: the actions file, the sources' connectors, the warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.actions import Actions, load_actions
from deskpulse.sync.digest import plan_digests
from deskpulse.sync.reporting import writeback_context
from deskpulse.sync.settings import Settings
from deskpulse.sync.sources import build_connectors
from deskpulse.sync.warehouse import Warehouse
from deskpulse.sync.writeback import Item, PushReport, push


def configured_actions(settings: Settings, targets: Sequence[str] | None = None) -> Actions:
    if settings.writeback is None:
        raise ConfigError(
            "no write-back actions: set DESKPULSE_WRITEBACK to a TOML file of actions "
            "(see the README, section Write-back)"
        )
    return load_actions(settings.writeback).only(targets)


def run_push(
    settings: Settings,
    *,
    targets: Sequence[str] | None = None,
    dry_run: bool = False,
    warehouse: Warehouse | None = None,
) -> PushReport:
    actions = configured_actions(settings, targets)
    warehouse = warehouse or Warehouse(settings.database_url)
    sources = sorted({a.source for a in actions.all()})
    connectors: dict[str, Connector] = {}
    if sources:
        for connector in build_connectors(settings, only=sources):
            connectors[connector.source] = connector
    ctx = writeback_context(settings, warehouse)

    def digests(conn: Connection, now: datetime) -> list[Item]:
        return plan_digests(conn, actions.digests, ctx, now)

    try:
        return push(warehouse, actions, connectors, ctx, dry_run=dry_run, extra=digests)
    finally:
        for connector in connectors.values():
            connector.close()


__all__ = ["configured_actions", "run_push"]
