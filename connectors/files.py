"""The `files` connector: the canonical CSV/JSONL import format of KPI_CATALOG.md section 1.

A folder holds any of `agents`, `customers`, `tickets`, ... as `NAME.csv` or `NAME.jsonl`; each
file is a stream. Quirks worth knowing:
- CSV: UTF-8 (a BOM is fine), a header row, an empty cell is null; line numbers in errors are the
  file's physical lines, so a quoted multi-line cell counts its lines.
- JSONL: one object per line; blank lines are skipped; a line that is not a JSON object is a bad
  row, the other lines still import.
- Unknown columns land in `extra`; a bad row (missing required column, unparseable date, unknown
  enum value, wrong type) is quarantined as `file:line: reason` and the good rows are kept.
- No cursor: every import reads every file. Rows upsert by (source, id), so re-importing the same
  files changes nothing and a changed row updates in place.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deskpulse.connectors.base import Cursor, Page, RequestStats, Row
from deskpulse.connectors.errors import ConfigError, RecordError
from deskpulse.kpi_core.canonical import InvalidRow, coerce_row
from deskpulse.kpi_core.models import CANONICAL_MODELS

log = logging.getLogger("deskpulse.files")
PAGE_ROWS = 5000


class BadRow(RecordError):
    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location


@dataclass(frozen=True)
class FileRecord:
    location: str  # "tickets.csv:7"
    values: dict[str, Any] | None
    error: str | None = None

    def as_payload(self) -> dict[str, Any]:
        return {"location": self.location, "row": self.values, "error": self.error}


class FileStream:
    def __init__(self, source: str, table: str, path: Path) -> None:
        self.source = source
        self.table = table
        self.path = path
        self.name = table

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        batch: list[FileRecord] = []
        for record in self._records():
            batch.append(record)
            if len(batch) >= PAGE_ROWS:
                yield Page(records=batch)
                batch = []
        if batch:
            yield Page(records=batch)

    def _records(self) -> Iterator[FileRecord]:
        name = self.path.name
        try:
            handle = self.path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        with handle:
            if self.path.suffix == ".csv":
                yield from self._csv_records(handle, name)
            else:
                yield from self._jsonl_records(handle, name)

    @staticmethod
    def _csv_records(handle: Iterable[str], name: str) -> Iterator[FileRecord]:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        header = [column.strip() for column in header]
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not cells or all(cell == "" for cell in cells):
                continue
            location = f"{name}:{start}"
            if len(cells) != len(header):
                yield FileRecord(
                    location,
                    dict(zip(header, cells, strict=False)),
                    f"row has {len(cells)} cells, the header has {len(header)}",
                )
                continue
            yield FileRecord(location, dict(zip(header, cells, strict=True)))

    @staticmethod
    def _jsonl_records(handle: Iterable[str], name: str) -> Iterator[FileRecord]:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            location = f"{name}:{number}"
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield FileRecord(location, None, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(value, dict):
                yield FileRecord(location, None, "not a JSON object")
                continue
            yield FileRecord(location, value)

    def normalise(self, record: FileRecord) -> Iterable[Row]:
        if record.error is not None or record.values is None:
            raise BadRow(record.location, record.error or "empty row")
        try:
            values = coerce_row(self.table, record.values, source=self.source)
        except InvalidRow as exc:
            raise BadRow(record.location, str(exc)) from None
        return (Row(self.table, values),)


class FilesConnector:
    """Imports a folder of canonical CSV/JSONL files as source `source`."""

    vendor = "files"
    capabilities = frozenset({"read"})

    def __init__(self, source: str, path: str | Path) -> None:
        self.source = source
        self.path = Path(path)
        self.stats = RequestStats()
        if not self.path.is_dir():
            raise ConfigError(
                f"no such folder: {self.path} (give the folder holding tickets.csv, ...)"
            )

    def files(self) -> list[tuple[str, Path]]:
        found: list[tuple[str, Path]] = []
        for table in CANONICAL_MODELS:
            candidates = [self.path / f"{table}.csv", self.path / f"{table}.jsonl"]
            present = [p for p in candidates if p.is_file()]
            if len(present) == 2:
                raise ConfigError(
                    f"both {table}.csv and {table}.jsonl are in {self.path}: keep one of them"
                )
            found.extend((table, p) for p in present)
        return found

    def ignored(self) -> list[str]:
        known = {p.name for _, p in self.files()}
        return sorted(
            p.name
            for p in self.path.iterdir()
            if p.is_file() and p.suffix in (".csv", ".jsonl") and p.name not in known
        )

    def streams(self) -> Sequence[FileStream]:
        for name in self.ignored():
            log.warning("ignored %s: not a canonical table name (see KPI_CATALOG.md)", name)
        return [FileStream(self.source, table, path) for table, path in self.files()]

    def close(self) -> None:
        pass
