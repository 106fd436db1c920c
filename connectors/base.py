"""The connector protocol: what the sync engine asks of every vendor.

A connector is a set of streams. A stream reads pages starting from an opaque cursor and knows how
to normalise one raw vendor record into canonical warehouse rows. The engine commits each page's
rows together with the page's cursor in one transaction, so a crash resumes from the last
committed page; records whose normalisation raises `RecordError` (or ValueError/KeyError/TypeError)
are quarantined with the reason and the raw payload, and the page goes on.

Capability flags (`Connector.capabilities`) say what a connector can do beyond reading, instead of
empty methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

Cursor = Any
"""Whatever JSON-serialisable value a stream needs to resume (dict, str, int). Opaque to the engine."""


class Row(NamedTuple):
    """One canonical row bound for a warehouse table (see kpi_core.models). A named tuple: a
    sync makes one per row, and a tuple is the cheapest object Python builds."""

    table: str
    values: dict[str, Any]


@dataclass
class Page:
    """One vendor response: its raw records, and the cursor to persist once they are committed.

    `cursor=None` leaves the stored cursor unchanged (e.g. a full-table stream's middle pages).
    """

    records: Sequence[Any]
    cursor: Cursor | None = None
    # Rows the stream already normalised outside `normalise` (e.g. sideloads); committed with it.
    rows: list[Row] = field(default_factory=list)


@runtime_checkable
class Stream(Protocol):
    """A stream may also say `after = ("users", ...)`: the streams it must wait for. The engine
    then reads it side by side with the others; a stream that does not say waits for every
    stream before it."""

    name: str

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        """Yield pages from `cursor` (None: from the beginning) until the stream is exhausted."""
        ...

    def normalise(self, record: Any) -> Iterable[Row]:
        """Canonical rows for one raw record; raise RecordError for a record that cannot map."""
        ...


@dataclass
class RequestStats:
    """Counters a connector's HTTP client keeps; the engine records them per run."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0


@runtime_checkable
class Connector(Protocol):
    vendor: str
    source: str
    capabilities: frozenset[str]
    stats: RequestStats

    def streams(self) -> Sequence[Stream]: ...

    def close(self) -> None: ...
