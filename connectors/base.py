"""The connector protocol: what the sync engine asks of every vendor.

A connector is a set of streams. A stream reads pages starting from an opaque cursor and knows how
to normalise one raw vendor record into canonical warehouse rows. The engine commits each page's
rows together with the page's cursor in one transaction, so a crash resumes from the last
committed page; records whose normalisation raises `RecordError` (genuinely bad vendor data) are
quarantined with the reason and the raw payload, and the page goes on. Any other exception out of
`normalise` (ValueError, KeyError, TypeError...) is a bug in the connector: it stops that stream
with a "this is a bug in the <vendor> connector" line, and nothing is quarantined.

Capability flags (`Connector.capabilities`) say what a connector can do beyond reading, instead of
empty methods.

Configuration: a connector owns its settings (the seam `deskpulse sync` builds sources through)
    class AcmeSettings(BaseSettings):          # pydantic-settings; SecretStr for keys
        model_config = SettingsConfigDict(env_prefix="ACME_", extra="ignore")
        base_url: str                          # required: ACME_BASE_URL
        api_key: SecretStr                     # required: ACME_API_KEY

    class AcmeConnector:                       # the factory registered in connectors.registry
        vendor = "acme"
        settings_class = AcmeSettings
        @classmethod
        def from_settings(cls, source, settings: AcmeSettings, options: SourceOptions): ...

* One source per name: `DESKPULSE_SOURCES="acme, acme_eu=acme"` (unset: one source per registered
  vendor, named after it). Source `acme_eu` reads its settings class with env prefix `ACME_EU_`
  (`options.env_prefix`), so two accounts of one vendor sit side by side, each with its own
  cursors and rate-limit budget.
* A source is configured when any of its variables is set (environment or the env file given to
  the loader); then its settings must validate. A field error is one line naming the variable
  ("invalid setting ACME_EU_BASE_URL: must start with http:// or https://"); cross-field rules
  go in `from_settings`, which raises ConfigError naming variables through `options.var(...)`.
* `SourceOptions` carries what every source shares (timeouts, retries, start time, sleep).
  Vendor knobs (rate limits, regions) are fields of the vendor's settings class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True)
class SourceOptions:
    """What every source shares, from DESKPULSE_* settings; passed to `from_settings`."""

    env_prefix: str  # e.g. "ZENDESK_EU_": name variables with `var()` in messages and hints
    timeout: float = 30.0  # seconds per HTTP request (DESKPULSE_HTTP_TIMEOUT)
    max_retries: int = 6  # retries of a failed request (DESKPULSE_MAX_RETRIES)
    start_time: datetime | None = None  # first sync starts here (DESKPULSE_START_DATE)
    sleep: Callable[[float], None] = time.sleep  # injectable: tests never really wait

    def var(self, field: str) -> str:
        """The environment variable behind a settings field: `var("base_url")` ->
        `ZENDESK_EU_BASE_URL`."""
        return f"{self.env_prefix}{field}".upper()
