"""Soak benchmark: a week of `deskpulse daemon` under an operator's faults (`python -m bench soak`).

A sandbox help desk (DESKPULSE_BENCH_SOAK_TICKETS, default 300, in a child process, rate limits
off, its "now" Monday 2026-12-07 00:00 UTC) and the daemon as a real subprocess
(`deskpulse daemon --env-file soak.env`, as systemd runs it): Zendesk synced every 2 s, a
write-back file with a ticket-field action (each ticket's resolution minutes) and two digests
(daily and weekly, `at = "08:00"` UTC), HTTP timeout 4 s and 2 retries (a cycle in an outage
fails in seconds).

The week's clock: libfaketime (Debian package `faketime`) runs each daemon process with
`FAKETIME="@<day> 07:59:30"` and FAKETIME_DONT_FAKE_MONOTONIC=1: the wall clock starts at that
simulated moment and then runs at the real rate, the monotonic clock is real. So every wait,
timeout, Retry-After, backoff and SIGTERM is measured in real seconds as in production, and the
product has no fake-clock setting. A simulated day is one daemon process started half a minute
before the digests' `at` (it posts them from its cron job while running) and stopped after its
faults; the next day's process starts on the next date, like a host whose daemon is stopped and
started every night (the warehouse, its ledger and the help desk persist). A speeded-up clock
(FAKETIME "x720") was rejected: libfaketime scales poll() and socket timeouts too, so the HTTP
timeout of 30 s became 40 ms of real time while the sandbox's answers still took real
milliseconds. `deskpulse status` runs under the same faked clock, at the simulated moment.
libfaketime 0.9.10 (Debian 12) has one bug in this mode: `clock_nanosleep` with an absolute
monotonic deadline, which Python's `time.sleep` uses, fails with EINVAL (and with the monotonic
clock faked too, `threading` waits never return). The harness puts a `sitecustomize.py` on the
daemon's PYTHONPATH that makes `time.sleep(s)` wait on a `threading.Event` for `s` real
seconds instead: the same wait, through a call libfaketime leaves alone (SHIM below).

The faults, switched on in the sandbox while the daemon runs (`POST /__sandbox/faults`) or sent
to the process, one day each (DESKPULSE_BENCH_SOAK_DAYS, default 7, cycles through them), then a
last clean day (the Monday after) that lets everything settle:

1. a clean day: tickets solved in the help desk, their values written back, SIGTERM when idle;
2. bulk updates whose answer times out after the write landed (`write_timeout`);
3. the daily digest's post times out after it landed;
4. a deploy over 08:00 (the daemon starts at 08:05: the day's digest is due at start), then a
   429 with `Retry-After: 86400` on every request, and SIGTERM while it holds;
5. the vendor down (503) past the source's backoff, kill -9, a restart into the outage (as
   systemd's Restart=on-failure), the vendor back;
6. SIGHUP, then bulk jobs that never end and SIGTERM while the write-back polls them;
7. the warehouse file replaced under the running daemon (a restored copy moved in).

After each kill or death the harness starts the daemon again, as systemd would. At checkpoints
(each day's start and end, and inside each fault) the operator's view is checked against what is
true: `deskpulse status --format json` says the daemon runs exactly when its process is alive;
/healthz answers 200 on a healthy daemon and 503 once the vendor has been down past the source's
backoff (two runs have ended since the vendor went down: every request of both answered 503,
whatever status the daemon gave them); `deskpulse_syncs_total{status="failed"}` equals the failed runs the warehouse recorded
since the process started, and `deskpulse_sync_lag_seconds` the age of the warehouse's last
success. At the end: every (ticket, field, value) the help desk received exactly once, each
open ticket's field holding the value its data gives, one digest per period and none missing,
the worst SIGTERM-to-exit under 10 s (each wait capped at DESKPULSE_BENCH_SOAK_SIGTERM_CAP, 30 s,
then kill -9). Prints the figures and PASS/FAIL per invariant; skipped when libfaketime is not
installed. Files (logs of each daemon process, the warehouse) in DESKPULSE_BENCH_DIR/soak.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import env_number
from bench.daemon import FIELD
from bench.daemon import WRITEBACK as DAEMON_WRITEBACK
from deskpulse.sandbox.command import SandboxProcess, start_subprocess

ANCHOR = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday: the sandbox's "now"
LEAD = timedelta(seconds=30)  # a day's daemon starts this long before 08:00
INTERVAL = 2  # DESKPULSE_SYNC_INTERVAL
HTTP_TIMEOUT = 4.0  # DESKPULSE_HTTP_TIMEOUT; a held write answers after HOLD
HOLD = HTTP_TIMEOUT + 4
SIGTERM_TARGET = 10.0
WRITEBACK = (
    DAEMON_WRITEBACK
    + """
[[digest]]
name = "daily"
source = "zendesk"
every = "day"
metrics = ["first_response_time", "resolution_time"]
at = "08:00"

[[digest]]
name = "weekly"
source = "zendesk"
every = "week"
metrics = ["first_response_time", "resolution_time"]
at = "08:00"
"""
)
SHIM = '''"""Written by bench/soak.py: time.sleep through threading.Event.wait (libfaketime 0.9.10
breaks clock_nanosleep on an absolute monotonic deadline with EINVAL)."""
import threading
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
'''
DAYS = {  # a day's faults -> the Soak method that injects them
    "clean": "_clean",
    "write timeouts": "_write_timeouts",
    "digest timeout": "_digest_timeout",
    "deploy over 08:00, 429 of a day": "_deploy_then_429",
    "vendor down, kill -9": "_vendor_down",
    "SIGHUP, job never ends": "_sighup_and_job",
    "warehouse replaced": "_warehouse_replaced",
}


def libfaketime() -> str | None:
    for pattern in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
                    "/usr/local/lib/faketime/libfaketimeMT.so.1"):  # fmt: skip
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _metric(text: str, name: str, **labels: str) -> float | None:
    """The sum of a Prometheus sample's values over lines matching `labels` (None: no line)."""
    total: float | None = None
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Figures:
    checks: dict[str, list[bool]] = field(default_factory=dict)
    wrong: dict[str, list[str]] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    sigterm: list[tuple[str, float, int | None]] = field(default_factory=list)
    sighup: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    launches: int = 0

    def check(self, what: str, ok: bool, why: str) -> None:
        self.checks.setdefault(what, []).append(ok)
        if not ok:
            self.wrong.setdefault(what, []).append(why)


class Soak:
    def __init__(self, workdir: Path, sandbox: SandboxProcess, lib: str) -> None:
        self.dir = workdir
        self.sandbox = sandbox
        self.lib = lib
        self.db = workdir / "soak.db"
        self.url = f"sqlite:///{self.db}"
        self.env_file = workdir / "soak.env"
        (workdir / "writeback.toml").write_text(WRITEBACK)
        (workdir / "shim").mkdir()
        (workdir / "shim" / "sitecustomize.py").write_text(SHIM)
        self.settings = {
            **{k: v for k, v in sandbox.env.items() if k.startswith("ZENDESK_")},
            "DESKPULSE_DATABASE_URL": self.url,
            "DESKPULSE_WRITEBACK": str(workdir / "writeback.toml"),
            "DESKPULSE_SYNC_INTERVAL": str(INTERVAL),
            "DESKPULSE_SYNC_JITTER": "0",
            "DESKPULSE_TIMEZONE": "UTC",
            "DESKPULSE_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
            "DESKPULSE_MAX_RETRIES": "2",  # a failing cycle ends in seconds, not minutes
            "DESKPULSE_LOG_LEVEL": "INFO",
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        self.desk = httpx.Client(
            base_url=sandbox.base_url,
            timeout=30,
            headers={"Authorization": f"Bearer {sandbox.env['ZENDESK_OAUTH_TOKEN']}"},
        )
        self.exe = str(Path(sys.executable).with_name("deskpulse"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.sim_start = ANCHOR
        self.real_start = time.time()
        self.figures = Figures()
        self.next_ticket = 1

    # the clock ---------------------------------------------------------------------------

    def sim_now(self) -> datetime:
        return self.sim_start + timedelta(seconds=time.time() - self.real_start)

    def _faked(self, at: datetime) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        return {
            "PYTHONPATH": str(self.dir / "shim") + (os.pathsep + path if path else ""),
            "LD_PRELOAD": self.lib,
            "FAKETIME": "@" + at.strftime("%Y-%m-%d %H:%M:%S"),
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    # the daemon ------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self, at: datetime | None = None, label: str = "") -> None:
        """Start the daemon with its wall clock at `at` (default: where the last one was)."""
        at = at or self.sim_now()
        self.sim_start, self.real_start = at, time.time()
        self.port = _free_port()
        env = {**os.environ, **self._faked(at), "DESKPULSE_METRICS_PORT": str(self.port)}
        self.figures.launches += 1
        log = open(self.dir / f"daemon-{self.figures.launches:02d}.log", "wb")  # noqa: SIM115
        log.write(f"# {label} at {at:%Y-%m-%d %H:%M:%S} (simulated)\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [self.exe, "daemon", "--env-file", str(self.env_file)],
            env=env, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.wait(lambda: self.healthz()[0] is not None or not self.alive, 90)

    def restart_if_dead(self, why: str) -> None:
        """systemd's Restart=on-failure (and a restart after any exit)."""
        if not self.alive:
            self.launch(label=f"restart after {why}")

    def stop(self, sig: int, cap: float, what: str) -> float:
        """Send `sig`, wait for the exit (at most `cap` seconds, then kill -9); seconds."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code: int | None = self.proc.wait(cap)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        took = time.monotonic() - started
        if sig == signal.SIGTERM and "end of day" not in what and "settle" not in what:
            self.figures.faults["SIGTERM mid-fault"] += 1
        if sig == signal.SIGTERM:
            self.figures.sigterm.append((what, took, code))
        return took

    def kill9(self, count: bool = True) -> None:
        assert self.proc is not None
        self.figures.faults["kill -9"] += count
        self.proc.kill()
        self.proc.wait()

    @staticmethod
    def wait(predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.25)
        return False

    # the operator's view ---------------------------------------------------------------

    def healthz(self) -> tuple[int | None, dict[str, Any]]:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)
        except httpx.HTTPError:
            return None, {}
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {}

    def status(self) -> dict[str, Any] | None:
        env = {**os.environ, **self.settings, **self._faked(self.sim_now())}
        try:
            done = subprocess.run(
                [self.exe, "status", "--format", "json"],
                env=env, cwd=self.dir, capture_output=True, timeout=120,
            )  # fmt: skip
            data: dict[str, Any] = json.loads(done.stdout)
        except (ValueError, subprocess.TimeoutExpired):
            return None
        return data

    def _runs_since(self, since: datetime) -> tuple[int, datetime | None]:
        """(failed runs started since `since`, the end of the last successful run)."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
                rows = conn.execute("SELECT started_at, ended_at, status FROM sync_runs").fetchall()
        except sqlite3.Error:
            return 0, None
        failed, last_ok = 0, None
        for started, ended, status in rows:
            begun = _parse_ts(started)
            if status == "failed" and begun is not None and begun >= since:
                failed += 1
            end = _parse_ts(ended)
            if status in ("ok", "partial") and end is not None:
                last_ok = end if last_ok is None or end > last_ok else last_ok
        return failed, last_ok

    def _ended_since(self, since: datetime) -> list[str]:
        """The statuses of the runs started since `since` that have ended."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
                rows = conn.execute("SELECT started_at, status FROM sync_runs").fetchall()
        except sqlite3.Error:
            return []
        return [
            status for started, status in rows
            if status != "running" and (_parse_ts(started) or since) > since
        ]  # fmt: skip

    def checkpoint(self, label: str, expect: int | None = 200) -> None:
        """Whether status, /healthz and /metrics tell the truth now. `expect`: the /healthz code
        a truthful daemon answers now (None: not judged)."""
        f = self.figures
        alive = self.alive
        pid = self.proc.pid if self.proc is not None else -1
        data = self.status()
        said = [str(s.get("daemon")) for s in (data or {}).get("sources", [])]
        running = [s.startswith("running") for s in said]
        if alive:
            ok = bool(said) and all(s.startswith(f"running (pid {pid} ") for s in said)
        else:
            ok = data is not None and not any(running)
        f.check("status", ok, f"{label}: process {'alive' if alive else 'dead'}, status {said}")
        code, body = self.healthz()
        if not alive:
            f.check("healthz", code is None, f"{label}: dead daemon, /healthz {code}")
            return
        if expect is not None:
            f.check("healthz", code == expect, f"{label}: /healthz {code} ({body.get('status')}), "
                    f"truth {expect}")  # fmt: skip
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except httpx.HTTPError:
            f.check("metrics", False, f"{label}: /metrics unreachable")
            return
        failed, last_ok = self._runs_since(self.sim_start - timedelta(seconds=1))
        counted = _metric(text, "deskpulse_syncs_total", status="failed") or 0.0
        f.check("metrics", counted == failed, f"{label}: syncs_total{{failed}} {counted:g}, "
                f"failed runs in the warehouse {failed}")  # fmt: skip
        lag = _metric(text, "deskpulse_sync_lag_seconds", source="zendesk")
        if last_ok is not None and lag is not None:
            truth = (self.sim_now() - last_ok).total_seconds()
            f.check("metrics", abs(lag - truth) <= INTERVAL * 4 + 5,
                    f"{label}: lag gauge {lag:.0f} s, last success {truth:.0f} s ago")  # fmt: skip

    # the help desk ---------------------------------------------------------------------

    def fault(self, **body: Any) -> None:
        self.desk.post("/__sandbox/faults", json=body).raise_for_status()
        for kind, value in body.items():
            if kind not in ("count", "paths", "methods") and value:
                self.figures.faults[kind] += 1

    def clear(self) -> None:
        self.desk.delete("/__sandbox/faults").raise_for_status()

    def injected(self, kind: str) -> int:
        return int(self.desk.get("/__sandbox/faults").json()["injected"][kind])

    def solve(self, n: int) -> int:
        """Solve the next `n` open tickets in the help desk (new values to write back)."""
        solved = 0
        while solved < n and self.next_ticket < 10**6:
            ids = ",".join(str(i) for i in range(self.next_ticket, self.next_ticket + 50))
            self.next_ticket += 50
            found = self.desk.get("/api/v2/tickets/show_many.json", params={"ids": ids})
            tickets = found.json().get("tickets", [])
            if not tickets:
                break
            for t in tickets:
                if solved < n and t["status"] in ("new", "open", "pending", "hold"):
                    self.desk.put(f"/api/v2/tickets/{t['id']}.json",
                                  json={"ticket": {"status": "solved"}}).raise_for_status()  # fmt: skip
                    solved += 1
        return solved

    def writes(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.desk.get("/__sandbox/writes").json()["writes"]
        return got

    def field_writes(self) -> int:
        return sum(1 for w in self.writes() if w["path"].startswith("/api/v2/tickets/update_many"))

    # the days ----------------------------------------------------------------------------

    def day(self, kind: str, date: datetime) -> None:
        eight = date.replace(hour=8)
        if kind == "deploy over 08:00, 429 of a day":
            self.launch(eight + timedelta(minutes=5), kind)  # down at 08:00: a deploy
        else:
            self.launch(eight - LEAD, kind)
        if kind == "digest timeout":  # the post at 08:00 lands, its answer comes too late
            self.fault(write_timeout=HOLD, count=1, paths=["/api/v2/tickets"], methods=["POST"])
        self.wait(lambda: self.sim_now() > eight + timedelta(seconds=2), 60)
        self.checkpoint(f"{kind}: start", None)
        rss = _rss_mb(self.proc.pid) if self.proc else None
        if rss:
            self.figures.rss.append(rss)
        getattr(self, DAYS[kind])()
        if self.alive:
            rss = _rss_mb(self.proc.pid) if self.proc else None
            if rss:
                self.figures.rss.append(rss)
            self.stop(signal.SIGTERM, self.cap, f"{kind}: end of day")
        self.clear()

    cap = 30.0

    def _settle(self, seconds: float = 8.0) -> None:
        time.sleep(seconds)

    def _clean(self) -> None:
        self.solve(5)
        self._settle()
        self.checkpoint("clean: healthy")

    def _write_timeouts(self) -> None:
        self.fault(write_timeout=HOLD, count=1, paths=["/api/v2/tickets/update_many"])
        before = self.field_writes()
        self.solve(5)
        self.wait(lambda: self.field_writes() > before, 30)
        self._settle(HOLD + INTERVAL * 3)
        self.checkpoint("write timeouts: after the held write")

    def _digest_timeout(self) -> None:  # switched on in day(), before 08:00
        self._settle(HOLD + INTERVAL * 2)
        self.checkpoint("digest timeout: after the post")

    def _deploy_then_429(self) -> None:
        self._settle(4)
        self.checkpoint("deploy: started after 08:00")
        self.fault(retry_after=86400)
        self.solve(3)
        self._settle(HTTP_TIMEOUT + INTERVAL * 4)
        self.checkpoint("429 with Retry-After 86400", None)
        self.stop(signal.SIGTERM, self.cap, "during a Retry-After of 86400")
        self.clear()
        self.checkpoint("after SIGTERM", None)

    def _vendor_down(self) -> None:
        self.fault(down=503)
        since = self.sim_now()
        # Down past its backoff: two cycles have ended since the vendor went down (every request
        # of both answered 503), whatever the daemon calls them.
        past = self.wait(lambda: len(self._ended_since(since)) >= 2, 120)
        runs = ", ".join(self._ended_since(since))
        self.checkpoint(f"vendor down past backoff (runs since: {runs})", 503 if past else None)
        self.kill9()
        self.checkpoint("after kill -9", None)
        self.launch(label="restart after kill -9, vendor still down")
        self._settle(3)
        self.checkpoint("restarted into the outage", None)
        self.clear()
        self.wait(lambda: self.healthz()[0] == 200 and self.healthz()[1].get("status") == "ok", 90)
        self._settle(INTERVAL * 2)
        self.checkpoint("vendor back")

    def _sighup_and_job(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        self.figures.faults["SIGHUP"] += 1
        self.wait(lambda: not self.alive, 8)
        if self.alive:
            self.figures.sighup.append("kept running")
        else:
            code = self.proc.returncode
            self.figures.sighup.append("exit 0" if code == 0 else f"died (exit {code})")
        self.checkpoint("after SIGHUP", None)
        self.restart_if_dead("SIGHUP")
        self.fault(job_never_ends=True)
        self.solve(3)
        polled = self.wait(lambda: self.injected("job_never_ends") > 0, 30)
        time.sleep(1.0)
        self.checkpoint("write-back polling a job that never ends", None)
        self.stop(signal.SIGTERM, self.cap,
                  "mid-poll of a job that never ends" + ("" if polled else " (no poll seen)"))  # fmt: skip
        self.clear()

    def _warehouse_replaced(self) -> None:
        self._settle(INTERVAL * 2)
        copy = self.dir / "restored.db"
        copy.unlink(missing_ok=True)
        with sqlite3.connect(self.db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db}{suffix}").unlink(missing_ok=True)
        os.replace(copy, self.db)
        self.figures.faults["warehouse replaced"] += 1
        before = _count_runs(self.db)
        self.solve(3)
        self._settle(INTERVAL * 5)
        after = _count_runs(self.db)
        if not self.alive:
            code = self.proc.returncode if self.proc else None
            self.figures.replaced.append(f"daemon stopped (exit {code})")
            ok = code not in (0, None)
        elif after > before:
            self.figures.replaced.append(f"synced into the new file ({after - before} runs)")
            ok = True
        else:
            self.figures.replaced.append("still running, nothing written to the new file")
            ok = False
        self.figures.check("warehouse", ok, f"replaced file: {self.figures.replaced[-1]}")
        self.checkpoint("warehouse replaced", None)
        self.restart_if_dead("the warehouse replaced")

    def last_day(self, date: datetime) -> None:
        """A clean day after the week: everything due settles."""
        self.launch(date.replace(hour=8) - LEAD, "settle")
        self.wait(lambda: self.sim_now() > date.replace(hour=8, second=5), 60)
        self._settle(INTERVAL * 4)
        self.checkpoint("settle: healthy")
        self.stop(signal.SIGTERM, self.cap, "settle: end")


def _parse_ts(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _count_runs(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM sync_runs").fetchone()[0])
    except sqlite3.Error:
        return 0


def expected_values(db: Path, end: datetime) -> dict[str, Any]:
    """Each open ticket's resolution minutes, as the final warehouse gives them (rendered as
    the action writes them)."""
    from deskpulse.kpi_core.per_ticket import ticket_values
    from deskpulse.sync.actions import load_actions
    from deskpulse.sync.warehouse import Warehouse, table

    action = load_actions(db.parent / "writeback.toml").ticket_fields[0]
    warehouse = Warehouse(f"sqlite:///{db}", reading=True)
    tickets = table("tickets")
    with warehouse.connect() as conn:
        closed = {str(i) for (i,) in conn.execute(
            tickets.select().with_only_columns(tickets.c.id).where(tickets.c.status == "closed")
        )}  # fmt: skip
        values = ticket_values(conn, sources=["zendesk"], now=end)
    out: dict[str, Any] = {}
    for (_, tid), tv in values.items():
        value = action.render(tv.get(action.value))
        if value is not None and str(tid) not in closed:
            out[str(tid)] = value
    return out


def _digest_periods(first: datetime, last: datetime) -> dict[str, list[str]]:
    """The periods a daemon running on days first..last posts: yesterday each day, the week
    before each Monday."""
    from zoneinfo import ZoneInfo

    from deskpulse.sync.digest import last_period

    utc = ZoneInfo("UTC")
    daily, weekly = [], []
    day = first
    while day <= last:
        at = day.replace(hour=8, minute=1)
        daily.append(last_period("day", at, utc)[0])
        if day.weekday() == 0:
            weekly.append(last_period("week", at, utc)[0])
        day += timedelta(days=1)
    return {"daily": daily, "weekly": weekly}


def verdicts(soak: Soak, first: datetime, last: datetime) -> None:
    f = soak.figures
    writes = soak.writes()
    received: Counter[tuple[str, str]] = Counter()
    desk: dict[str, Any] = {}
    digests: dict[str, Counter[str]] = {"daily": Counter(), "weekly": Counter()}
    for w in writes:
        body = w.get("body") or {}
        if w["path"].startswith("/api/v2/tickets/update_many"):
            for t in body.get("tickets", []):
                for cf in t.get("custom_fields", []):
                    if str(cf.get("id")) == FIELD:
                        received[(str(t["id"]), json.dumps(cf.get("value")))] += 1
                        desk[str(t["id"])] = cf.get("value")
        elif w["method"] == "POST" and w["path"].removesuffix(".json") == "/api/v2/tickets":
            key = str((body.get("ticket") or {}).get("external_id") or "")
            period = key.rsplit("|", 1)[-1]
            digests["weekly" if "-W" in period else "daily"][period] += 1
    expected = expected_values(soak.db, soak.sim_now())
    dupes = sum(n - 1 for n in received.values() if n > 1)
    missing = sorted(t for t, v in expected.items() if desk.get(t) != v)
    periods = _digest_periods(first, last)
    posted = sum(sum(c.values()) for c in digests.values())
    wanted = sum(len(p) for p in periods.values())
    twice = {k: sorted(p for p, n in c.items() if n > 1) for k, c in digests.items()}
    absent = {k: [p for p in periods[k] if digests[k][p] == 0] for k in periods}
    # A daemon's first start posts the last period before it (no post of it in the ledger).
    before = sorted(p for k, c in digests.items() for p in c if p not in periods[k])
    posted -= sum(digests[k][p] for k in digests for p in before if p in digests[k])
    worst = max((t for _, t, _ in f.sigterm), default=0.0)
    unclean = [f"{w} ({t:.1f} s, exit {c})" for w, t, c in f.sigterm if c != 0]
    rows: list[tuple[str, str]] = [
        ("simulated days", f"{(last - first).days + 1} ({first:%a %d %b} to {last:%a %d %b})"),
        ("daemon processes started", f"{f.launches}"),
        (
            "faults injected",
            ", ".join(f"{k} {n}" for k, n in sorted(f.faults.items())) or "none",
        ),
        (
            "requests injected by the sandbox",
            ", ".join(
                f"{k} {n}" for k, n in soak.desk.get("/__sandbox/faults").json()["injected"].items()
            ),
        ),
        (
            "field writes received",
            f"{sum(received.values())} ({len(received)} distinct, {dupes} duplicates)",
        ),
        ("values expected / missing or stale", f"{len(expected)} / {len(missing)}"),
        (
            "digests posted / expected",
            f"{posted} / {wanted}"
            + (
                f" (and {len(before)} for the period before the first day: {', '.join(before)})"
                if before
                else ""
            ),
        ),
        ("SIGTERM to exit", "; ".join(f"{w}: {t:.1f} s" for w, t, _ in f.sigterm)),
        ("SIGHUP", ", ".join(f.sighup) or "-"),
        ("warehouse replaced", ", ".join(f.replaced) or "-"),
        ("daemon RSS (MB)", f"{f.rss[0]:.0f} first day, {f.rss[-1]:.0f} last" if f.rss else "-"),
    ]
    for what in ("status", "healthz", "metrics"):
        got = f.checks.get(what, [])
        rows.append((f"{what} checks true / false", f"{sum(got)} / {len(got) - sum(got)}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    results = [
        ("each value in the help desk exactly once", dupes == 0 and not missing,
         f"{dupes} duplicate sends, {len(missing)} tickets without their value "
         f"{missing[:5]}"),
        ("every digest once per period, none missing",
         not any(twice.values()) and not any(absent.values()),
         f"posted twice {twice}, missing {absent}"),
        ("status tells the truth", all(f.checks.get("status", [])),
         "; ".join(f.wrong.get("status", [])[:3])),
        ("/healthz code tells the truth", all(f.checks.get("healthz", [])),
         "; ".join(f.wrong.get("healthz", [])[:3])),
        ("metrics tell the truth", all(f.checks.get("metrics", [])),
         "; ".join(f.wrong.get("metrics", [])[:3])),
        ("a replaced warehouse is noticed", all(f.checks.get("warehouse", [True])),
         "; ".join(f.wrong.get("warehouse", []))),
        ("SIGHUP handled (reload, or a clean exit 0)",
         all(s in ("kept running", "exit 0") for s in f.sighup), ", ".join(f.sighup)),
        (f"worst SIGTERM under {SIGTERM_TARGET:.0f} s, exit 0",
         worst < SIGTERM_TARGET and not unclean,
         f"worst {worst:.1f} s" + (f"; not clean: {'; '.join(unclean)}" if unclean else "")),
    ]  # fmt: skip
    for name, ok, why in results:
        print(f"{'PASS' if ok else 'FAIL'} soak: {name}" + ("" if ok else f": {why}"))


def run() -> None:
    lib = libfaketime()
    if lib is None:
        print("SKIP soak: needs libfaketime for the daemon's simulated days "
              "(Debian/Ubuntu: apt-get install faketime)")  # fmt: skip
        return
    days = int(env_number("DESKPULSE_BENCH_SOAK_DAYS", len(DAYS)))
    tickets = int(env_number("DESKPULSE_BENCH_SOAK_TICKETS", 300))
    workdir = Path(os.environ.get("DESKPULSE_BENCH_DIR", "bench-results")).resolve() / "soak"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with start_subprocess(seed=22, tickets=tickets, rate_limit=False, anchor=ANCHOR) as sandbox:
        soak = Soak(workdir, sandbox, lib)
        soak.cap = env_number("DESKPULSE_BENCH_SOAK_SIGTERM_CAP", 30.0)
        first = ANCHOR
        try:
            for n in range(days):
                kind = list(DAYS)[n % len(DAYS)]
                print(f"  day {n + 1} ({first + timedelta(days=n):%a %d %b}): {kind}", flush=True)
                soak.day(kind, first + timedelta(days=n))
            last = first + timedelta(days=days)
            print(f"  day {days + 1} ({last:%a %d %b}): settle", flush=True)
            soak.last_day(last)
        finally:
            if soak.alive:
                soak.kill9(count=False)
        verdicts(soak, first, last)
