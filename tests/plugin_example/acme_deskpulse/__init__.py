"""Example deskpulse connector plugin: the made-up Acme help desk's ticket API.

The whole plugin contract (deskpulse.connectors.base) in one screen:

* registration: an entry point `acme = "acme_deskpulse:AcmeConnector"` in the group
  `deskpulse.connectors` (pyproject.toml); `deskpulse sync` finds it like a built-in vendor;
* settings: `AcmeSettings`, a pydantic-settings class. deskpulse reads it under the source's
  prefix (`ACME_BASE_URL`, `ACME_API_KEY`; a second account named `acme_eu=acme` in
  DESKPULSE_SOURCES reads `ACME_EU_*`); `from_settings` builds the connector from it;
* streams: each yields pages with an opaque cursor; deskpulse commits a page's rows with its
  cursor in one transaction and hands the last committed cursor back on the next sync. The
  shared client's `paginate` is the page loop, led by a paginator (connectors.paging);
* normalise: one raw record -> canonical rows (KPI_CATALOG.md); `RecordError` quarantines the
  record with the reason, and the page goes on.

The Acme API: `GET {base_url}/api/tickets[?after=TOKEN]` with `Authorization: Bearer KEY` answers
`{"tickets": [...], "after": TOKEN, "end": true|false}`; `after` resumes behind the last ticket
served, so a later sync from the stored token reads only what changed since. Ticket states are
Acme's own words (`open`, `waiting`, `done`), mapped to the canonical statuses here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from deskpulse.connectors.base import Cursor, Page, RequestStats, Row, SourceOptions, Stream
from deskpulse.connectors.errors import RecordError
from deskpulse.connectors.http import BodyCursor, HttpClient
from deskpulse.kpi_core.canonical import InvalidRow, coerce_row

STATES = {"open": "open", "waiting": "pending", "done": "solved"}
"""Acme's ticket states -> canonical ticket statuses."""


class AcmeSettings(BaseSettings):
    """ACME_* variables (deskpulse substitutes the source's own prefix)."""

    model_config = SettingsConfigDict(env_prefix="ACME_", extra="ignore")
    base_url: str
    api_key: SecretStr


class TicketsStream:
    name = "tickets"

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        # The one page loop: the paginator reads `after` from each answer into the next
        # request until `end`; a token served twice is an error, not a loop.
        paginator = BodyCursor(
            "acme tickets", cursor="after", param="after", more=None, done="end", sticky=True
        )
        first = {"after": cursor} if isinstance(cursor, str) else None
        for page in self.client.paginate(
            "api/tickets", first, paginator=paginator, records="tickets"
        ):
            yield Page(page.records, cursor=paginator.after(page))

    def normalise(self, record: Any) -> Iterable[Row]:
        state = record.get("state")
        if state not in STATES:
            raise RecordError(f"unknown ticket state {state!r}")
        values = {
            "id": record.get("id"),
            "created_at": record.get("created"),
            "subject": record.get("subject"),
            "status": STATES[state],
            "channel": record.get("channel"),
            "solved_at": record.get("done_at"),
        }
        try:
            # The source column is the engine's to fill; coerce_row checks types and enums.
            return [Row("tickets", coerce_row("tickets", values, source=""))]
        except InvalidRow as exc:
            raise RecordError(str(exc)) from None


class AcmeConnector:
    vendor = "acme"
    capabilities = frozenset({"read"})
    settings_class = AcmeSettings

    @classmethod
    def from_settings(
        cls, source: str, settings: AcmeSettings, options: SourceOptions
    ) -> AcmeConnector:
        return cls(
            source,
            base_url=settings.base_url,
            api_key=settings.api_key,
            timeout=options.timeout,
            max_retries=options.max_retries,
            sleep=options.sleep,
            auth_hint=f"check {options.var('api_key')}",
        )

    def __init__(
        self,
        source: str = "acme",
        *,
        base_url: str,
        api_key: SecretStr,
        timeout: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        auth_hint: str = "check ACME_API_KEY",
    ) -> None:
        self.source = source
        self.client = HttpClient(
            base_url,
            vendor="acme",
            headers={"Authorization": f"Bearer {api_key.get_secret_value()}"},
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
            auth_hint=auth_hint,
        )
        self.stats: RequestStats = self.client.stats

    def streams(self) -> Sequence[Stream]:
        return [TicketsStream(self.client)]

    def close(self) -> None:
        self.client.close()
