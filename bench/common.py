"""What the benchmarks share: their settings from the environment and a fresh warehouse file."""

from __future__ import annotations

import os
from pathlib import Path


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
