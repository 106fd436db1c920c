"""The `files` connector: the canonical CSV/JSONL import format of KPI_CATALOG.md section 1.

A folder holds any of `agents`, `customers`, `tickets`, ... as `NAME.csv` or `NAME.jsonl`; each
file is a stream. Quirks worth knowing:
- CSV: UTF-8 (a BOM is fine), a header row, an empty cell is null; line numbers in errors are the
  file's physical lines, so a quoted multi-line cell counts its lines.
- JSONL: one object per line; blank lines are skipped; a line that is not a JSON object is a bad
  row, the other lines still import.
- Unknown columns land in `extra`; a bad row (missing required column, unparseable or absurd date,
  unknown enum value, wrong type, a byte that is not UTF-8, a NUL character, a field over the csv
  module's size limit) is quarantined as `file:line: reason` and the good rows are kept. Files are
  read as bytes and decoded line by line, so one bad byte costs one row, never the file.
- A field over `csv.field_size_limit()` (131072 characters unless the embedding program changed
  it; deskpulse never changes that process-wide setting) makes the csv module stop mid-record.
  The reader then starts afresh on the next line, which may be the middle of the same record
  (a quoted field spanning lines), so the importer skips, by the csv module's own quoting rules,
  to the line where that record ends.
- Only regular files are read: a symbolic link (which could point anywhere, e.g. at a secret),
  a FIFO (reading it would block for ever), a device or a directory named like a table is
  refused with one line, and the other files still import.
- No cursor: every import reads every file. Rows upsert by (source, id), so re-importing the same
  files changes nothing and a changed row updates in place.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from deskpulse.connectors.base import Cursor, Page, RequestStats, Row
from deskpulse.connectors.errors import ConfigError, RecordError, StreamError
from deskpulse.kpi_core.canonical import InvalidRow, coerce_row
from deskpulse.kpi_core.models import CANONICAL_MODELS

log = logging.getLogger("deskpulse.files")
PAGE_ROWS = 5000
RAW_KEPT = 1024
"""Characters of an unparseable CSV record kept in its quarantine payload."""

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes `surrogateescape` could not decode
_BOM = b"\xef\xbb\xbf"


class BadRow(RecordError):
    """One row of a file that cannot be imported; `str()` is the reason, `location` says where."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(reason)
        self.location = location


@dataclass(frozen=True)
class FileRecord:
    location: str  # "tickets.csv:7"
    values: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None  # the record's text, when it could not be parsed into values

    def as_payload(self) -> dict[str, Any]:
        payload = {"location": self.location, "row": self.values, "error": self.error}
        if self.raw is not None:
            payload["raw"] = self.raw
        return payload


def _printable(text: str) -> str:
    """Undecodable bytes as `\\xNN`, so a quarantined row can be stored and shown."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _bad_byte(text: str) -> str | None:
    found = _NOT_UTF8.search(text)
    return None if found is None else f"0x{ord(found.group()) - 0xDC00:02x}"


_FILE_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse_unless_regular(name: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")
    raise StreamError(f"{name}: refused: {kind} (deskpulse imports regular files only)")


def open_regular(path: Path) -> IO[bytes]:
    """Open `path` for reading bytes if it is a regular file, else raise `StreamError`.

    Checked before opening (so a FIFO or a device is never opened) and again on the open file
    (so a file swapped for a link in between is caught): O_NOFOLLOW refuses a link, O_NONBLOCK
    keeps a FIFO from blocking the open."""
    name = path.name
    try:
        _refuse_unless_regular(name, path.lstat().st_mode)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if os.path.islink(path):
            _refuse_unless_regular(name, stat.S_IFLNK)
        raise StreamError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        _refuse_unless_regular(name, os.fstat(fd).st_mode)
    except StreamError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _decoded_lines(handle: Iterable[bytes]) -> Iterator[str]:
    """The file's lines as text; a byte that is not UTF-8 stays visible as a lone surrogate
    (`surrogateescape`) for the row's own check, instead of failing the whole read."""
    first = True
    for line in handle:
        if first:
            first = False
            if line.startswith(_BOM):
                line = line[len(_BOM) :]
        yield line.decode("utf-8", "surrogateescape")


class _CountedLines:
    """An iterator over lines that counts them and keeps those taken since `mark()`."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.count = 0
        self.taken: list[str] = []

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        self.taken.append(line)
        return line

    def mark(self) -> None:
        self.taken = []


def _quote_state(state: str, line: str) -> str:
    """The csv module's default (excel) quoting state after `line`: "quoted" while inside a
    quoted field. A quote opens a quoted field only at a field's start; `""` inside one is a
    quote; anything else after its closing quote continues the field unquoted."""
    for char in line:
        if state == "quoted":
            if char == '"':
                state = "quote"
        elif state == "quote" and char == '"':
            state = "quoted"
        elif char == "," or char in "\r\n":
            state = "start"
        elif state == "start" and char == '"':
            state = "quoted"
        else:
            state = "plain"
    return state


def _csv_error(exc: csv.Error) -> str:
    message = str(exc)
    if message.startswith("field larger than field limit"):
        return f"a field is larger than the {csv.field_size_limit()}-character field limit"
    return f"not valid CSV ({message})"


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
        with open_regular(self.path) as handle:
            lines = _decoded_lines(handle)
            if self.path.suffix == ".csv":
                yield from self._csv_records(lines, name)
            else:
                yield from self._jsonl_records(lines, name)

    @staticmethod
    def _csv_records(lines: Iterator[str], name: str) -> Iterator[FileRecord]:
        counted = _CountedLines(lines)
        reader = csv.reader(counted)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise StreamError(f"{name}:1: the header row: {_csv_error(exc)}") from None
        if header is None:
            return
        if any(_bad_byte(column) for column in header):
            raise StreamError(f"{name}:1: the header row is not UTF-8")
        header = [column.strip() for column in header]
        while True:
            start = counted.count + 1
            counted.mark()
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                # The reader gave up mid-record; skip the rest of that record (see the module
                # docstring) so the next one is read from its start.
                state = "start"
                for line in counted.taken:
                    state = _quote_state(state, line)
                while state == "quoted" and (more := next(counted, None)) is not None:
                    state = _quote_state(state, more)
                raw = "".join(counted.taken)
                yield FileRecord(
                    f"{name}:{start}", None, _csv_error(exc), _printable(raw[:RAW_KEPT])
                )
                continue
            if cells is None:
                return
            if not cells or all(cell == "" for cell in cells):
                continue
            location = f"{name}:{start}"
            bad = next(
                ((column, byte) for column, cell in zip(header, cells, strict=False)
                 if (byte := _bad_byte(cell)) is not None),
                None,
            )  # fmt: skip
            if bad is not None:
                values = dict(zip(header, map(_printable, cells), strict=False))
                yield FileRecord(location, values, f"not UTF-8: byte {bad[1]} in column {bad[0]!r}")
                continue
            if len(cells) != len(header):
                yield FileRecord(
                    location,
                    dict(zip(header, cells, strict=False)),
                    f"row has {len(cells)} cells, the header has {len(header)}",
                )
                continue
            yield FileRecord(location, dict(zip(header, cells, strict=True)))

    @staticmethod
    def _jsonl_records(lines: Iterable[str], name: str) -> Iterator[FileRecord]:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            location = f"{name}:{number}"
            byte = _bad_byte(text)
            if byte is not None:
                yield FileRecord(
                    location, None, f"not UTF-8: byte {byte}", _printable(text[:RAW_KEPT])
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield FileRecord(location, None, f"not valid JSON ({exc.msg})", text[:RAW_KEPT])
                continue
            except RecursionError:
                yield FileRecord(
                    location, None, "not valid JSON (nested too deeply)", text[:RAW_KEPT]
                )
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
    fills: ClassVar[Mapping[str, str]] = {t: f"an import of {t}.csv" for t in CANONICAL_MODELS}
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
            # Present even when not a regular file: FileStream refuses it with one line.
            present = [p for p in candidates if os.path.lexists(p)]
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
