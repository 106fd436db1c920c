"""Bookkeeping tables of the sync engine: cursors, runs and quarantined records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from deskpulse.kpi_core.types import JSONValue, UTCDateTime


class SyncState(SQLModel, table=True):
    """The committed cursor of one stream of one source; moves only with the rows it covers."""

    __tablename__ = "sync_state"
    source: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=64)
    cursor: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SyncRun(SQLModel, table=True):
    """One run of one source: when, how it ended, and per-stream counters in `streams`."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_source_started", "source", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    vendor: str = Field(max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # running | ok | partial (some streams failed or records quarantined) | failed | stopped
    # (SIGTERM in the daemon, Ctrl-C) | interrupted (killed: marked by the next run)
    status: str = Field(default="running", max_length=16)
    full_refresh: bool = False
    rows: int = 0
    requests: int = 0
    retries: int = 0
    errors: int = 0
    quarantined: int = 0
    # {stream: {"rows": n, "written": n, "pages": n, "quarantined": n, "status": ..., "error": ...}}
    streams: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Quarantine(SQLModel, table=True):
    """A record that could not enter the warehouse, kept with the reason and its raw payload.

    One entry per record: `fingerprint` (stream, location and content, see
    `sync.engine.fingerprint`) is unique per source, so a record that comes again (a re-import,
    a re-read page) updates its entry's `run_id` (the last run that saw it) and `reason`
    instead of adding a second one; `created_at` stays when it was first seen.
    """

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_source_stream", "source", "stream"),
        Index("ux_quarantine_fingerprint", "source", "fingerprint", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = None
    source: str = Field(max_length=64)
    stream: str = Field(max_length=64)
    location: str | None = Field(default=None, max_length=512)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    payload: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    fingerprint: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class WriteBack(SQLModel, table=True):
    """The write-back ledger: one row per value deskpulse means to write into a help desk.

    `key` is the idempotency key, unique: `<target>|<record>|<field>|v<version>` for field values
    (the version goes up each time the value to write changes, so A -> B -> A writes A again),
    `<target>|<period>` for a digest. A row is planned (`pending`) and committed before anything
    is sent, marked `sending` (committed) just before its request, and `sent` or `failed` after.
    A row left `sending` by a crash is in doubt: the next push reads the help desk back and
    marks it sent if the value is there, instead of writing it twice.
    """

    __tablename__ = "write_back_log"
    __table_args__ = (
        UniqueConstraint("key", name="uq_write_back_key"),
        Index("ix_write_back_record", "target", "record_id", "field"),
        Index("ix_write_back_status", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=512)
    target: str = Field(max_length=128)  # the action's name in DESKPULSE_WRITEBACK
    source: str = Field(max_length=64)  # the source whose connector writes it
    kind: str = Field(max_length=16)  # ticket_field | user_field | post
    record_id: str = Field(max_length=128)  # ticket / user id, or the digest's period
    field: str = Field(max_length=128)
    version: int = 1
    value: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # pending | sending | sent | failed | superseded
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceLockRow(SQLModel, table=True):
    """Who is syncing a source right now (sync.locks): one row while a process holds the lock."""

    __tablename__ = "source_locks"
    source: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=32)  # a random token per holder: only it may beat or release
    pid: int
    host: str = Field(max_length=255)  # shown in the refusal message
    node: str = Field(max_length=255)  # host and pid namespace: where `pid` can be checked
    acquired_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DaemonSchedule(SQLModel, table=True):
    """When the running daemon next syncs each source (sync.daemon keeps it; `deskpulse status`
    shows it). Its rows go when the daemon stops cleanly; after a kill they stay, overdue."""

    __tablename__ = "daemon_schedule"
    source: str = Field(primary_key=True, max_length=64)
    interval_seconds: float
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0  # failed cycles in a row (the source is backed off)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class FleetLease(SQLModel, table=True):
    """Fleet mode (sync.fleet): one row per vendor account the fleet syncs. The daemon whose id
    is in `holder` syncs the account's sources until `lease_until` (renewed while it syncs);
    `epoch` goes up with every claim, so a daemon that lost its lease cannot renew or release
    the next holder's. `due_at` is when the account should next be synced (its interval, or its
    backoff after failures); the rest is what `deskpulse status` and /metrics show."""

    __tablename__ = "fleet_leases"
    __table_args__ = (Index("ix_fleet_leases_due", "due_at"),)
    account: str = Field(primary_key=True, max_length=128)
    sources: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    interval_seconds: float
    holder: str | None = Field(default=None, max_length=255)
    epoch: int = 0
    acquired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_holder: str | None = Field(default=None, max_length=255)
    last_success: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cycles: int = 0


class FleetMember(SQLModel, table=True):
    """A daemon of the fleet: it beats while it runs (a row whose beat is older than the lease is
    a dead daemon's, shown as such and not counted in the fair share)."""

    __tablename__ = "fleet_members"
    daemon: str = Field(primary_key=True, max_length=255)
    host: str = Field(max_length=255)
    pid: int
    concurrency: int
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
