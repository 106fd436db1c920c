"""Bookkeeping tables of the sync engine: cursors, runs and quarantined records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
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
    # running | ok | partial (some streams failed or records quarantined) | failed | interrupted
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
    """One write deskpulse made (or tried) in a help desk: what, where, and how it went.

    The write-back job reads this log to stay idempotent: a value already written is not sent again.
    """

    __tablename__ = "write_back_log"
    __table_args__ = (Index("ix_write_back_target", "source", "target_kind", "target_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = None
    source: str = Field(max_length=64)
    target_kind: str = Field(max_length=32)  # ticket_field | summary_post | ...
    target_id: str = Field(max_length=128)
    payload: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed | skipped
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
