"""The connector protocol: what the sync engine asks of every vendor.

A connector is a set of streams. A stream reads pages starting from an opaque cursor and knows how
to normalise one raw vendor record into canonical warehouse rows. The engine commits each page's
rows together with the page's cursor in one transaction, so a crash resumes from the last
committed page; records whose normalisation raises `RecordError` (genuinely bad vendor data) are
quarantined with the reason and the raw payload, and the page goes on. Any other exception out of
`normalise` (ValueError, KeyError, TypeError...) is a bug in the connector: it stops that stream
with a "this is a bug in the <vendor> connector" line, and nothing is quarantined.

Capability flags (`Connector.capabilities`) say what a connector can do beyond reading, instead of
empty methods: `"read"`, and for writing results back into the help desk `WRITE_TICKET_FIELDS`,
`WRITE_USER_FIELDS` and `WRITE_POSTS`, each with its small protocol at the end of this module.

Declarations a connector class may carry (read with `fills()` and `closed_is_final()`, so a
plugin that has none still works): `fills`, the canonical tables it fills, each with what of the
vendor's fills it ("Zendesk satisfaction ratings"; the report names them where data is missing);
`closed_is_final`, whether the vendor refuses updates of closed tickets (write-back then never
plans a write to one).

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

The built-in connectors stand on `connectors.skeleton.VendorConnector` (built from a `Profile`:
auth, messages, limit reading, pacing, writer), declare their requests in an endpoint table
(`connectors.endpoints`) and read pages through `HttpClient.paginate` (`connectors.paging`);
a plugin may do the same, or implement this protocol on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

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
    A stream in the middle of a long first read may say how far it is in its cursor,
    `{"backfill": {..., "progress": {"share": 0..1, "started": epoch, "eta": epoch | None}}}`:
    `deskpulse status` shows it.
    """

    records: Sequence[Any]
    cursor: Cursor | None = None
    # Rows the stream already normalised outside `normalise` (e.g. sideloads); committed with it.
    rows: list[Row] = field(default_factory=list)
    # Named counts of what the page carried (e.g. Zendesk's metric sets): summed per stream in
    # the run record, so a silent loss shows in `deskpulse status`.
    counts: dict[str, int] = field(default_factory=dict)


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


ContextT = TypeVar("ContextT")


class ContextStream(Generic[ContextT]):
    """A base for a connector's streams that share one run's context (its HTTP client,
    directories, settings): subclasses set `name` (and `after`) and implement both methods."""

    name = ""
    after: tuple[str, ...] = ()

    def __init__(self, ctx: ContextT) -> None:
        self.ctx = ctx

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:  # pragma: no cover - abstract
        raise NotImplementedError

    def normalise(self, record: Any) -> Iterable[Row]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class RequestStats:
    """Counters a connector's HTTP client keeps; the engine records them per run."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0
    # The latest time a vendor asked to wait until, past what a request waits (RateLimited):
    # the daemon holds the source's syncs until then.
    blocked_until: datetime | None = None


@runtime_checkable
class Connector(Protocol):
    vendor: str
    source: str
    capabilities: frozenset[str]
    stats: RequestStats

    def streams(self) -> Sequence[Stream]: ...

    def close(self) -> None: ...


def fills(connector: object) -> Mapping[str, str]:
    """The canonical tables a connector (class or instance) fills -> what of the vendor's fills
    each; empty when it does not say."""
    declared: Mapping[str, str] = getattr(connector, "fills", None) or {}
    return declared


def closed_is_final(connector: object) -> bool:
    """Whether the vendor refuses updates of closed tickets (False when it does not say)."""
    return bool(getattr(connector, "closed_is_final", False))


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


# --- write-back -------------------------------------------------------------------------------
#
# A connector that can write results back says which kinds in `capabilities`, and its `writer`
# (`writer_of(connector)`) implements the matching protocol below, nothing else: a connector
# without WRITE_POSTS has no post methods. The writer is the write-back surface itself: the
# connector does not forward its methods.
# Writes are batched per call; the connector decides how (Zendesk: bulk `update_many` jobs of up
# to 100 records; LiveAgent: one `PUT /tickets/{id}` each) and paces them within the vendor's
# limits. Every record gets a `WriteResult`, so the caller's ledger retries only the failures.
# A write whose answer never came (a timeout after sending, a dropped connection, a 5xx, a bulk
# job still running) may have been applied: it is answered `doubt`, never sent again by the
# connector, and the caller reads back (`read_*`, `find_post` by key) before writing it again.

WRITE_TICKET_FIELDS = "write:ticket_fields"
"""Capability: per-ticket custom field values (`TicketFieldWriter`). The connector class may
also declare `ticket_field_problem(field: str) -> str | None` (a static method): why `field`
cannot name one of its ticket fields (Zendesk: not a numeric id), or None; a write-back action
naming such a field is refused at start (sync.actions.check_targets)."""
WRITE_USER_FIELDS = "write:user_fields"
"""Capability: per-customer values on user/profile records (`UserFieldWriter`)."""
WRITE_POSTS = "write:posts"
"""Capability: summary posts, e.g. a KPI digest (`Poster`)."""
WRITE_CAPABILITIES = (WRITE_TICKET_FIELDS, WRITE_USER_FIELDS, WRITE_POSTS)
WRITE_SUBSCRIPTIONS = "write:subscriptions"
"""Capability: subscribing people who consented to a marketing list (`Subscriber`)."""


@dataclass(frozen=True, slots=True)
class FieldValues:
    """Values for one vendor record (a ticket or a user), keyed by the vendor's field key
    (Zendesk: the custom ticket field's id, or the user field's key; Klaviyo: the property)."""

    record_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Post:
    """A summary post. `key` is its idempotency key (e.g. `digest:weekly:2026-W48`): the
    connector stores it with the post at the vendor so that `find_post(key)` finds it again."""

    key: str
    title: str
    body: str


OK = "ok"
FAILED = "failed"
RETRY = "retry"
DOUBT = "doubt"
THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What became of one record's write: `ok`; `failed` (the vendor refused it: `reason` says
    why; the caller may try again on a later run); `retry` (not applied: unavailable, try again
    after `retry_after` seconds when given); `throttled` (not applied: the vendor asked to wait
    `retry_after` seconds, longer than a request waits; `reason` says until when); or `doubt`
    (the answer never came: it may have been applied, read back before writing again, not
    before `retry_after` seconds when given, e.g. a bulk job still running). `ref` is the
    vendor's id for a created post."""

    record_id: str
    status: str = OK
    reason: str | None = None
    retry_after: float | None = None
    ref: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


def writer_of(connector: object) -> Any:
    """The connector's write-back surface (its `writer`), or None when it writes nothing."""
    return getattr(connector, "writer", None)


@runtime_checkable
class TicketFieldWriter(Protocol):
    def write_ticket_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        """Write each ticket's field values; one result per record of `batch`."""
        ...

    def read_ticket_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The current values of `fields` on these tickets (missing tickets are left out)."""
        ...


@runtime_checkable
class UserFieldWriter(Protocol):
    def write_user_fields(self, batch: Sequence[FieldValues]) -> list[WriteResult]:
        """Write each user's (customer's) field values; one result per record of `batch`."""
        ...

    def read_user_fields(
        self, record_ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]: ...


@runtime_checkable
class Poster(Protocol):
    def post(self, post: Post) -> WriteResult:
        """Publish `post`; the result's `record_id` is the post's key, `ref` the vendor's id."""
        ...

    def find_post(self, key: str) -> str | None:
        """The vendor's id of the post published under `key`, or None."""
        ...


@runtime_checkable
class Subscriber(Protocol):
    def subscribe(self, list_id: str, emails: Sequence[str]) -> list[WriteResult]:
        """Subscribe these people (who consented) to `list_id`; one result per e-mail, whose
        `record_id` is the e-mail as given. Safe to repeat: subscribing twice changes nothing."""
        ...

    def subscribed(self, list_id: str, emails: Sequence[str]) -> set[str]:
        """Those of `emails` (as given) already on `list_id`: the read-back of subscriptions in
        doubt (a second job could mail a double opt-in request again)."""
        ...
