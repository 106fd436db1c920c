"""What the benchmarks share: their settings from the environment and a fresh warehouse file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text


def env_number(name: str, default: float) -> float:
    """A benchmark knob: the variable's number, or `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def fresh_db(name: str) -> str:
    """The URL of an empty SQLite warehouse `name` in DESKPULSE_BENCH_DIR (bench-results/)."""
    path = bench_dir() / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def bench_dir() -> Path:
    """DESKPULSE_BENCH_DIR (default bench-results/), made when missing."""
    folder = Path(os.environ.get("DESKPULSE_BENCH_DIR", "bench-results"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty PostgreSQL schema named `prefix` and a random
    tail (so parallel runs on one database do not meet); dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
