"""What one run of the Zendesk streams shares (`Context`), and the stream base they stand on.

Streams share a per-run `Directory` (zendesk.directory: group names, staff roles) and never read
the warehouse; `query` builds a request's parameters through the endpoint table
(zendesk.endpoints), so a parameter the spec test has not checked cannot be sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deskpulse.connectors.base import ContextStream
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.http import HttpClient
from deskpulse.connectors.watermark import Watermark
from deskpulse.connectors.zendesk import normalise as nz
from deskpulse.connectors.zendesk.directory import Directory
from deskpulse.connectors.zendesk.endpoints import ENDPOINTS

EXPORT_PAGE = 1000
"""Records per page of the incremental exports (Zendesk's default and maximum)."""


def query(name: str, **values: Any) -> dict[str, Any]:
    """Query parameters for endpoint `name` (an undeclared one is a bug: Endpoint.query)."""
    return ENDPOINTS[name].query(**values)


@dataclass
class Context:
    client: HttpClient
    directory: Directory
    start_time: int
    oauth: bool = False
    prefix: str = "ZENDESK_"  # the source's variables, for messages
    history: str = "auto"  # how a first sync reads ticket events: auto | audits | incremental
    source: str = "zendesk"
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The sync's start: no stream's watermark passes it (connectors.watermark)."""

    def mark(self, stream: str) -> Watermark:
        return Watermark(f"{self.source}/{stream}", self.started)


class ZendeskStream(ContextStream[Context]):
    """This connector's streams, on one run's Context (connectors.base.ContextStream)."""

    """This connector's streams, on one run's Context (connectors.base.ContextStream)."""


def when_or_none(value: Any) -> datetime | None:
    """A record's time for the watermark's report, or None when it has no readable one."""
    try:
        return nz.when(value)
    except RecordError:
        return None


def start_epoch(value: datetime | int | None) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        return int(value.timestamp())
    return int(value)
