"""The conformance suite every registered connector runs (built-ins and plugins alike).

A vendor registered in `connectors.registry` needs a sample builder in `SAMPLES`: a function
that returns an instance reading small local data (fixtures, a mock transport, a temp folder).
The suite then checks the protocol, the cursors and every row the connector produces against
the warehouse contract, without knowing anything vendor-specific.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

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
)
from deskpulse.connectors.errors import RecordError
from deskpulse.kpi_core.canonical import ENUMS, REQUIRED, columns
from deskpulse.kpi_core.models import WAREHOUSE_MODELS
from tests.connectors import liveagent_fakes
from tests.connectors.klaviyo_fakes import FakeKlaviyo
from tests.connectors.zendesk_fakes import make_connector, zendesk_router

WRITE_PROTOCOLS = {
    WRITE_TICKET_FIELDS: TicketFieldWriter,
    WRITE_USER_FIELDS: UserFieldWriter,
    WRITE_POSTS: Poster,
    WRITE_SUBSCRIPTIONS: Subscriber,
}
KNOWN_CAPABILITIES = frozenset({"read", *WRITE_PROTOCOLS})


def _zendesk(tmp_path: Path) -> Connector:
    return make_connector(zendesk_router())


def _files(tmp_path: Path) -> Connector:
    (tmp_path / "tickets.csv").write_text(
        "id,created_at,status,channel,priority,tags\n"
        "1,2026-01-05T10:00:00Z,open,email,high,a;b\n"
        "2,2026-01-06 09:30,solved,web,,\n"
    )
    (tmp_path / "agents.jsonl").write_text('{"id": "a1", "name": "Ada", "role": "agent"}\n')
    factory = registry.load()["files"]
    return factory("files", path=tmp_path)


def _klaviyo(tmp_path: Path) -> Connector:
    return FakeKlaviyo(page_size=3).connector()


def _liveagent(tmp_path: Path) -> Connector:
    return liveagent_fakes.make_connector(liveagent_fakes.liveagent_router())


SAMPLES: dict[str, Callable[[Path], Connector]] = {
    "zendesk": _zendesk,
    "files": _files,
    "klaviyo": _klaviyo,
    "liveagent": _liveagent,
}


def _vendors() -> list[str]:
    return sorted(registry.load())


def test_every_registered_vendor_has_a_sample():
    missing = sorted(set(_vendors()) - set(SAMPLES))
    assert not missing, f"add a sample builder to tests/conformance for: {missing}"


@pytest.fixture(params=_vendors())
def connector(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    builder = SAMPLES.get(request.param)
    if builder is None:
        pytest.skip(f"no sample builder for {request.param}")
    instance = builder(tmp_path)
    yield request.param, instance
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
        # A write capability is a promise of its protocol, and the protocol implies the flag.
        assert (capability in instance.capabilities) == isinstance(instance, protocol), capability
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
                except (RecordError, ValueError, KeyError, TypeError):
                    continue  # quarantined by the engine; fixtures may hold bad records on purpose
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
    assert produced > 0, "the sample produced no rows"
