"""`deskpulse import` against hostile files: each bad value costs its own row, nothing else.

Every case runs through the real CLI. The ones a warehouse can refuse by itself (NUL bytes and
dates, which PostgreSQL stores differently from SQLite) run on both dialects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import deskpulse.connectors.files as files
from deskpulse.cli import app
from deskpulse.sync.warehouse import Warehouse, table
from tests.pg import postgres_schema_url

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'w.db'}"
        return
    with postgres_schema_url() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'w.db'}"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from a developer's checkout
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def run_import(url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", url)
    result = runner.invoke(app, ["import", str(folder)])
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


def ids(url: str, name: str = "tickets") -> list[str]:
    wh = Warehouse(url)
    try:
        with wh.connect() as connection:
            return sorted(connection.execute(select(table(name).c.id)).scalars())
    finally:
        wh.dispose()


def quarantine(url: str) -> list[tuple[str, str]]:
    wh = Warehouse(url)
    try:
        q = table("quarantine")
        with wh.connect() as connection:
            rows = connection.execute(select(q.c.location, q.c.reason).order_by(q.c.id)).all()
        return [(location, reason) for location, reason in rows]
    finally:
        wh.dispose()


def write_bytes(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_absurd_dates_cost_their_own_rows_only(
    db_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two rows a page: a bad row's page, and every page after it, must still commit.
    monkeypatch.setattr(files, "PAGE_ROWS", 2)
    write_bytes(
        folder / "tickets.csv",
        [
            b"id,created_at,solved_at",
            b"1,2026-01-05T09:00:00Z,",
            b"2,0001-01-01T00:30:00+01:00,",  # before year 1 in UTC
            b"3,2026-01-05T09:00:00Z,9999-12-31T23:30:00-01:00",  # after year 9999 in UTC
            b"4,0000-00-00,",
            b"5,1850-06-01T00:00:00Z,",
            b"6,2026-01-06T09:00:00Z,",
        ],
    )
    lines = [
        {"id": "s1", "survey": "csat", "score": 5, "created_at": 1e20},
        {"id": "s2", "survey": "csat", "score": 4, "created_at": -1e20},
        {"id": "s3", "survey": "csat", "score": 4, "created_at": 1767225600},
        {"id": "s4", "survey": "csat", "score": 4, "created_at": "2026-01-01T00:00:00Z"},
    ]
    (folder / "survey_responses.jsonl").write_text("\n".join(json.dumps(x) for x in lines))

    code, _ = run_import(db_url, folder, monkeypatch)

    assert code == 3
    assert ids(db_url) == ["1", "6"]
    assert ids(db_url, "survey_responses") == ["s3", "s4"]
    found = dict(quarantine(db_url))
    assert found == {
        "tickets.csv:3": "created_at: out of range (1900-2199): '0001-01-01T00:30:00+01:00'",
        "tickets.csv:4": "solved_at: out of range (1900-2199): '9999-12-31T23:30:00-01:00'",
        "tickets.csv:5": "created_at: not an ISO-8601 date/time: '0000-00-00'",
        "tickets.csv:6": "created_at: out of range (1900-2199): '1850-06-01T00:00:00Z'",
        "survey_responses.jsonl:1": "created_at: out of range (1900-2199): 1e+20",
        "survey_responses.jsonl:2": "created_at: out of range (1900-2199): -1e+20",
    }


def test_nul_bytes_and_lone_surrogates_cost_their_own_rows_only(
    db_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bytes(
        folder / "tickets.csv",
        [
            b"id,created_at,subject,note",
            b"1,2026-01-05T09:00:00Z,fine,",
            b"2,2026-01-05T09:00:00Z,nul\x00here,",
            b"3,2026-01-05T09:00:00Z,fine,nul in an extra column \x00",
            b"4,2026-01-05T09:00:00Z,fine too,",
        ],
    )
    lines = [
        '{"id": "a1", "name": "Ann"}',
        '{"id": "a2", "name": "nul \\u0000 escaped"}',
        '{"id": "a3", "name": "lone \\ud800 surrogate"}',
        '{"id": "a4", "name": "nested", "profile": {"bio": "x\\u0000"}}',
        '{"id": "a5", "name": "not a number", "score": NaN}',
        '{"id": "a6", "name": "Bo"}',
    ]
    (folder / "agents.jsonl").write_text("\n".join(lines) + "\n")

    code, _ = run_import(db_url, folder, monkeypatch)

    assert code == 3
    assert ids(db_url) == ["1", "4"]
    assert ids(db_url, "agents") == ["a1", "a6"]
    assert dict(quarantine(db_url)) == {
        "tickets.csv:3": "subject: contains a NUL character",
        "tickets.csv:4": "note: contains a NUL character",
        "agents.jsonl:2": "name: contains a NUL character",
        "agents.jsonl:3": "name: not valid Unicode (a lone surrogate)",
        "agents.jsonl:4": "profile: contains a NUL character",
        "agents.jsonl:5": "score: not a finite number: nan",
    }


def test_a_byte_that_is_not_utf8_costs_its_own_line_only(
    sqlite_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "PAGE_ROWS", 2)
    write_bytes(
        folder / "tickets.csv",
        [
            b"id,created_at,subject",
            b"1,2026-01-05T09:00:00Z,caf\xc3\xa9",  # UTF-8, fine
            b"2,2026-01-05T09:00:00Z,caf\xe9",  # Latin-1
            b'3,2026-01-05T09:00:00Z,"two',
            b'lines"',
            b"4,2026-01-05T09:00:00Z,\xff\xfe",
            b"5,2026-01-05T09:00:00Z,ok",
        ],
    )
    write_bytes(
        folder / "agents.jsonl",
        [b'{"id": "a1", "name": "Ann"}', b'{"id": "a2", "name": "\xe9"}', b'{"id": "a3"}'],
    )

    code, _ = run_import(sqlite_url, folder, monkeypatch)

    assert code == 3
    assert ids(sqlite_url) == ["1", "3", "5"]
    assert ids(sqlite_url, "agents") == ["a1", "a3"]
    assert dict(quarantine(sqlite_url)) == {
        "tickets.csv:3": "not UTF-8: byte 0xe9 in column 'subject'",
        "tickets.csv:6": "not UTF-8: byte 0xff in column 'subject'",
        "agents.jsonl:2": "not UTF-8: byte 0xe9",
    }


def test_a_field_over_the_csv_size_limit_costs_its_own_row_only(
    sqlite_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"x" * 131_073
    write_bytes(
        folder / "tickets.csv",
        [
            b"id,created_at,subject",
            b"1,2026-01-05T09:00:00Z,ok",
            b"2,2026-01-05T09:00:00Z," + big,
            b'3,2026-01-05T09:00:00Z,"quoted over',
            big + b'",more cells',  # a quoted field running over lines, past the limit
            b"4,2026-01-05T09:00:00Z,ok",
        ],
    )

    code, err = run_import(sqlite_url, folder, monkeypatch)

    assert code == 3
    assert ids(sqlite_url) == ["1", "4"]
    found = quarantine(sqlite_url)
    assert [location for location, _ in found] == ["tickets.csv:3", "tickets.csv:4"]
    assert all("larger than the 131072-character field limit" in reason for _, reason in found)
    assert len(err) < 2_000  # the oversized value is not echoed back


def test_reimporting_changes_nothing_quarantine_included(
    db_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bytes(
        folder / "tickets.csv",
        [
            b"id,created_at",
            b"1,2026-01-05T09:00:00Z",
            b"2,yesterday",
            b"3,2026-01-05T09:00:00Z",
            b"4,0001-01-01T00:00:00+01:00",
        ],
    )
    first_code, first_err = run_import(db_url, folder, monkeypatch)
    before = quarantine(db_url)
    again_code, again_err = run_import(db_url, folder, monkeypatch)

    assert (first_code, again_code) == (3, 3)
    assert quarantine(db_url) == before
    assert len(before) == 2
    # Each run still names the bad lines it found, once each, the location once.
    for err in (first_err, again_err):
        assert err.count("tickets.csv:3") == 1
        assert err.count("tickets.csv:5") == 1
        assert "tickets.csv:3: created_at: not an ISO-8601 date/time: 'yesterday'" in err

    # A bad line that changes is a new record; the quarantine keeps the old one too.
    (folder / "tickets.csv").write_text("id,created_at\n1,2026-01-05T09:00:00Z\n2,tomorrow\n")
    run_import(db_url, folder, monkeypatch)
    assert len(quarantine(db_url)) == 3


def test_symlinks_and_other_non_regular_files_are_refused(
    sqlite_url: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = folder.parent / "secret.txt"
    secret.write_text("id,created_at\nhunter2,2026-01-01\n")
    (folder / "tickets.csv").symlink_to(secret)
    (folder / "customers.csv").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "agents.csv")  # opening a FIFO for reading would block for ever
    (folder / "orders.csv").write_text("id,customer_id,amount,created_at\no1,c1,10,2026-01-02\n")

    code, err = run_import(sqlite_url, folder, monkeypatch)

    assert code == 3
    assert ids(sqlite_url, "orders") == ["o1"]
    assert ids(sqlite_url) == []
    assert "hunter2" not in err
    assert err.count("tickets.csv: refused: a symbolic link") == 1
    assert err.count("customers.csv: refused: a directory") == 1
    if hasattr(os, "mkfifo"):
        assert err.count("agents.csv: refused: a FIFO") == 1
