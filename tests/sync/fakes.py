"""A queue-driven fake connector: each stream serves a script of pages or errors, by cursor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from deskpulse.connectors.base import Page, RequestStats, Row
from deskpulse.connectors.errors import RecordError
from deskpulse.kpi_core.canonical import coerce_row


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing may catch it)."""


class FakeStream:
    def __init__(
        self,
        name: str,
        script: Sequence[Any],
        table: str = "tickets",
        after: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.script = list(script)  # each item: list of raw records, or an exception to raise
        self.table = table
        self.started_from: list[Any] = []
        self.log: list[str] | None = None  # shared by streams whose order a test checks
        if after is not None:
            self.after = after  # read side by side with any stream not named here

    def pages(self, cursor: Any) -> Iterator[Page]:
        start = int(cursor or 0)
        self.started_from.append(cursor)
        if self.log is not None:
            self.log.append(f"{self.name} starts")
        for index in range(start, len(self.script)):
            item = self.script[index]
            if isinstance(item, BaseException):
                self.script[index] = []  # the fault happens once, like a real outage
                raise item
            yield Page(records=list(item), cursor=index + 1)
        if self.log is not None:
            self.log.append(f"{self.name} ends")

    def normalise(self, record: dict[str, Any]) -> Iterable[Row]:
        if record.get("unmappable"):
            raise RecordError(f"ticket {record['id']}: cannot map")
        return [Row(self.table, coerce_row(self.table, record, source="fake"))]


class FakeConnector:
    vendor = "fake"
    capabilities = frozenset({"read"})

    def __init__(self, *streams: FakeStream, source: str = "fake") -> None:
        self.source = source
        self._streams = list(streams)
        self.stats = RequestStats()

    def streams(self) -> list[FakeStream]:
        return self._streams

    def close(self) -> None:
        pass


def ticket(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(n),
        "created_at": f"2026-01-01T00:{n % 60:02d}:00Z",
        "status": "open",
        **fields,
    }


def pages_of(count: int, size: int) -> list[list[dict[str, Any]]]:
    return [
        [ticket(n) for n in range(start, min(start + size, count))]
        for start in range(0, count, size)
    ]


FRT_WRITEBACK = """
[[ticket_field]]
name = "frt"
source = "zendesk"
field = "360000000101"
value = "first_response_minutes"
days = 3650
"""
"""A write-back file: each ticket's first response minutes into a Zendesk custom field."""
