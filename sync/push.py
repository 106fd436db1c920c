"""`deskpulse push` from settings: the actions file, the sources' connectors, the warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from deskpulse.connectors.base import Connector
from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.actions import Actions, check_targets, load_actions
from deskpulse.sync.digest import plan_digests
from deskpulse.sync.reporting import writeback_context
from deskpulse.sync.settings import Settings
from deskpulse.sync.sources import SourceSpec, build_connectors, configured
from deskpulse.sync.warehouse import Warehouse
from deskpulse.sync.writeback import PushReport, push
from deskpulse.sync.writeback_plan import Item


def configured_actions(
    settings: Settings,
    targets: Sequence[str] | None = None,
    *,
    specs: Sequence[SourceSpec] | None = None,
) -> Actions:
    """The actions of DESKPULSE_WRITEBACK (`targets`: only these), the whole file checked
    against the configured sources (`specs`, default: from the settings) first: what `push`,
    `push --dry-run` and the daemon refuse at start (`check_targets`)."""
    if settings.writeback is None:
        raise ConfigError(
            "no write-back actions: set DESKPULSE_WRITEBACK to a TOML file of actions "
            "(see the README, section Write-back)"
        )
    actions = load_actions(settings.writeback)
    if actions.all():
        specs = configured(settings) if specs is None else specs
        check_targets(actions, {s.name: s.vendor for s in specs})
    return actions.only(targets)


KINDS = ("ticket_fields", "digests", "profile_fields", "subscriptions")
"""The fields of `Actions`, in its order."""


def source_actions(actions: Actions, specs: Sequence[SourceSpec]) -> Actions:
    """`actions` plus each source's own write-back file (the sources file's `writeback`), whose
    actions must write to that source; the whole checked against the sources."""
    files = [s for s in specs if s.writeback is not None]
    if not files:
        return actions
    parts = [actions]
    for spec in files:
        own = load_actions(spec.writeback)
        strangers = sorted({a.source for a in own.all()} - {spec.name})
        if strangers:
            raise ConfigError(
                f"{spec.writeback}: the write-back file of source {spec.name} names source "
                f"{', '.join(strangers)}; a source's file writes to that source only"
            )
        # The ledger keys its rows by action name: the same name in two sources' files (one
        # template for many accounts) would mix their values, so a source's own actions are
        # named `<source>:<name>`, as its digests already are by default.
        prefix = f"{spec.name}:"
        parts.append(Actions(*(
            tuple(a if a.name.startswith(prefix) else replace(a, name=prefix + a.name)
                  for a in getattr(own, kind))
            for kind in KINDS
        )))  # fmt: skip
    merged = Actions(*(tuple(a for p in parts for a in getattr(p, kind)) for kind in KINDS))
    names = [a.name for a in merged.all()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"write-back action {', '.join(twice)} is named twice (the ledger keys its rows by "
            "action name): rename one"
        )
    check_targets(merged, {s.name: s.vendor for s in specs})
    return merged


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
