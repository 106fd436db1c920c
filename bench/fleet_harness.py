"""A fleet on one machine: `deskpulse daemon --fleet` processes against one PostgreSQL schema and
many sandbox accounts on one port (sandbox.accounts). The fleet tests (tests/sync/test_fleet.py)
and the fleet bench (bench.fleet) drive it.

Each run gets its own schema (`fleet_<random>`, dropped after), so parallel runs on one database
never meet. Account `k` is source `acct<k>`; its secrets go to the daemons' environment
(`ACCT<k>_API_TOKEN`...), its other settings to the sources file, as an operator would do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from deskpulse.sandbox.accounts import AccountsServer
from deskpulse.sync.fleet_status import fleet_view
from deskpulse.sync.sources_file import dumps, parse_row, split_env
from deskpulse.sync.warehouse import Warehouse


@contextmanager
def pg_schema(base_url: str, prefix: str = "fleet_") -> Iterator[str]:
    """A URL whose connections use a fresh schema of `base_url`'s database (named `prefix` and
    12 random hex digits, so parallel runs never meet); dropped after."""
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Lab:
    """The sources file and environment for `sb`'s accounts, and the daemon processes."""

    def __init__(
        self,
        sb: AccountsServer,
        db_url: str,
        folder: Path,
        *,
        vendor: str,
        interval: float = 5,
        lease: float = 10,
        writeback: Callable[[str], str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.sb, self.db_url, self.folder = sb, db_url, folder
        self.names = [f"acct{k}" for k in range(sb.n)]
        rows, secrets = [], {}
        for k, name in enumerate(self.names):
            raw, found = split_env(name, vendor, sb.env(k))
            raw["interval"] = interval
            if writeback is not None:
                wb = folder / f"{name}-writeback.toml"
                wb.write_text(writeback(name))
                raw["writeback"] = str(wb)
            rows.append(parse_row(raw, name))
            secrets.update(found)
        (folder / "sources.toml").write_text(dumps(rows))
        keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(secrets)
        self.env.update({
            "DESKPULSE_DATABASE_URL": db_url,
            "DESKPULSE_SOURCES_FILE": str(folder / "sources.toml"),
            "DESKPULSE_FLEET_LEASE": f"{lease:g}",
            "DESKPULSE_METRICS_PORT": "0",
            "DESKPULSE_LOG_LEVEL": "INFO",
            **(env or {}),
        })  # fmt: skip
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.warehouse = Warehouse(db_url)  # migrated here, not by daemons racing at start
        with self.warehouse.connect():
            pass

    def start(self, name: str, *args: str, concurrency: int = 2, **env: str) -> None:
        """Start daemon `name` (`deskpulse daemon --fleet ARGS`); its output in `name`.log."""
        log = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "deskpulse.cli", "daemon", "--fleet", *args],
            env={**self.env, "DESKPULSE_FLEET_CONCURRENCY": str(concurrency), **env},
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def kill9(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()

    def stop_all(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM every daemon still running; their exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes

    def view(self) -> dict[str, Any]:
        with self.warehouse.connect() as conn:
            return fleet_view(conn)

    def wait(self, done: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
        """Poll the fleet's view until `done(view)`; AssertionError with `what` and the logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.view()):
                return
            for name, proc in self.procs.items():
                if proc.poll() not in (None, 0, -signal.SIGKILL):
                    raise AssertionError(
                        f"daemon {name} exited {proc.returncode}: {self.log(name)}"
                    )
            time.sleep(0.2)
        logs = "\n".join(f"--- {n}\n{self.log(n)[-3000:]}" for n in self.procs)
        raise AssertionError(f"timed out waiting for {what}\n{logs}")

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.warehouse.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def overlapping_runs(self) -> list[Any]:
        """Pairs of runs of one source that overlapped in time (none in a working fleet)."""
        return self.query(
            "SELECT a.source, a.id, b.id FROM sync_runs a JOIN sync_runs b ON a.source = b.source"
            " AND a.id < b.id AND b.started_at < COALESCE(a.ended_at, now())"
            " AND a.status <> 'interrupted'"
        )

    def close(self) -> None:
        self.stop_all()
        self.warehouse.dispose()


def cycles_at_least(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda view: bool(view["accounts"]) and min(a["cycles"] for a in view["accounts"]) >= n


def all_synced(view: dict[str, Any]) -> bool:
    """Every account registered and synced successfully at least once."""
    return bool(view["accounts"]) and all(a["lag"] is not None for a in view["accounts"])


__all__ = ["Lab", "all_synced", "cycles_at_least", "pg_schema"]
