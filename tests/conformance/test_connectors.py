"""The conformance suite every registered connector runs (built-ins and plugins alike).

Each vendor registers a profile (tests/conformance/profiles/, one module per vendor) that starts
its sandbox dialect and yields the environment pointing at it. The suite builds the source the
way `deskpulse sync` does (DESKPULSE_SOURCES, the vendor's settings class, `from_settings`),
checks the protocol, every page, cursor and row against the warehouse contract, and syncs it
end to end twice through the engine. Any exception other than RecordError out of a normaliser
fails the suite: a normaliser bug is a bug, never quarantined data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from deskpulse.connectors import registry
from deskpulse.connectors.base import (
    WRITE_POSTS,
    WRITE_SUBSCRIPTIONS,
    WRITE_TICKET_FIELDS,
    WRITE_USER_FIELDS,
    Connector,
    Page,
    Poster,
    RequestStats,
    Row,
    Stream,
    Subscriber,
    TicketFieldWriter,
    UserFieldWriter,
    writer_of,
)
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.webhooks import READ_TICKETS, TicketReader
from deskpulse.kpi_core.canonical import ENUMS, REQUIRED, columns
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from deskpulse.sync.engine import run_sync
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import build_connectors
from deskpulse.sync.warehouse import Warehouse, table
from tests.conformance.profiles import PROFILES

WRITE_PROTOCOLS = {
    WRITE_TICKET_FIELDS: TicketFieldWriter,
    WRITE_USER_FIELDS: UserFieldWriter,
    WRITE_POSTS: Poster,
    WRITE_SUBSCRIPTIONS: Subscriber,
}
# connectors.webhooks: named tickets read on a webhook's hint, by the connector itself
KNOWN_CAPABILITIES = frozenset({"read", READ_TICKETS, *WRITE_PROTOCOLS})


def _vendors() -> list[str]:
    return sorted(registry.load())


def test_every_registered_vendor_has_a_profile():
    missing = sorted(set(_vendors()) - set(PROFILES))
    assert not missing, f"add a conformance profile to tests/conformance/profiles for: {missing}"


@pytest.fixture(params=_vendors())
def connector(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Connector]]:
    vendor = request.param
    found = PROFILES.get(vendor)
    if found is None:
        pytest.fail(f"no conformance profile for {vendor}")
    with found.start(tmp_path) as started:
        if found.connect:
            yield vendor, started
            return
        for name in list(os.environ):  # only the profile's settings count
            if name.startswith("DESKPULSE_") or name.startswith(f"{vendor.upper()}_"):
                monkeypatch.delenv(name)
        for name, value in started.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("DESKPULSE_SOURCES", vendor)
        monkeypatch.setenv("DESKPULSE_MAX_RETRIES", "1")
        (instance,) = build_connectors(load_settings(env_file=None))
        try:
            yield vendor, instance
        finally:
            instance.close()


def test_protocol(connector):
    vendor, instance = connector
    assert isinstance(instance, Connector)
    assert instance.vendor == vendor
    assert isinstance(instance.source, str) and instance.source
    assert isinstance(instance.capabilities, frozenset)
    assert "read" in instance.capabilities
    assert instance.capabilities <= KNOWN_CAPABILITIES
    for capability, protocol in WRITE_PROTOCOLS.items():
        # A write capability is a promise of its writer's protocol, and the protocol implies
        # the flag; the connector itself forwards none of the writer's methods.
        writer = writer_of(instance)
        assert (capability in instance.capabilities) == isinstance(writer, protocol), capability
        assert not isinstance(instance, protocol), capability
    assert (READ_TICKETS in instance.capabilities) == isinstance(instance, TicketReader)
    assert isinstance(instance.stats, RequestStats)
    streams = instance.streams()
    assert streams, "a connector has at least one stream"
    assert all(isinstance(s, Stream) for s in streams)
    names = [s.name for s in streams]
    assert len(names) == len(set(names)), "stream names are unique"
    again = instance.streams()
    assert [s.name for s in again] == names, "stream order is stable"
    assert all(a is not b for a, b in zip(streams, again, strict=True)), "fresh streams per run"


def _check_value(table: str, name: str, kind: type, value: Any) -> None:
    if value is None:
        return
    where = f"{table}.{name} = {value!r}"
    if kind is datetime:
        assert isinstance(value, datetime), where
        assert value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None), where
    elif kind is bool:
        assert isinstance(value, bool), where
    elif kind is int:
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), where
        assert math.isfinite(value), where
    elif kind is str:
        assert isinstance(value, str), where
        allowed = ENUMS.get((table, name))
        if allowed is not None:
            assert value in allowed, where
    else:  # JSON columns
        orjson.dumps(value)


def test_pages_cursors_and_rows_meet_the_warehouse_contract(connector):
    _, instance = connector
    produced = 0
    for stream in instance.streams():
        for page in stream.pages(None):
            assert isinstance(page, Page)
            if page.cursor is not None:
                orjson.dumps(page.cursor)  # cursors are stored as JSON
            rows: list[Row] = list(page.rows)
            for record in page.records:
                try:
                    rows.extend(stream.normalise(record))
                except RecordError:
                    continue  # quarantined by the engine; anything else is a bug: it fails here
            for row in rows:
                assert isinstance(row, Row)
                assert row.table in WAREHOUSE_MODELS, row.table
                spec = columns(row.table)
                unknown = set(row.values) - set(spec) - {"source"}
                assert not unknown, f"{row.table}: unknown columns {unknown}"
                assert isinstance(row.values.get("id"), str) and row.values["id"], row
                for name in REQUIRED.get(row.table, ("id",)):
                    if (row.table, name) == ("survey_responses", "score"):
                        continue  # null score = offered, not answered (models.py)
                    assert row.values.get(name) is not None, f"{row.table}.{name} is required"
                for name, value in row.values.items():
                    if name in spec:
                        _check_value(row.table, name, spec[name].kind, value)
                produced += 1
    assert produced > 0, "the profile produced no rows"


def _dump(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with warehouse.connect() as connection:
        for name in WAREHOUSE_MODELS:
            rows = table(name)
            out[name] = [tuple(r) for r in connection.execute(select(rows).order_by(rows.c.id))]
    return out


def test_syncs_end_to_end_and_a_second_sync_changes_nothing(connector, tmp_path):
    vendor, instance = connector
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'conformance.db'}")
    first = run_sync(warehouse, instance)
    failed = {s.name: s.error for s in first.streams if s.status != "ok"}
    assert not failed, f"{vendor}: streams did not finish: {failed}"
    assert first.message is None and first.status in ("ok", "partial"), first.message
    assert first.status == "ok" or first.quarantined, "partial only for quarantined records"
    assert first.written > 0
    before = _dump(warehouse)
    second = run_sync(warehouse, instance)
    assert all(s.status == "ok" for s in second.streams), second.message
    assert second.message is None
    assert _dump(warehouse) == before, "a second sync of unchanged data changed the warehouse"
