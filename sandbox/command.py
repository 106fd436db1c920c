"""Run the sandbox: in the foreground (`deskpulse sandbox`, `python -m sandbox`), or as a child
process / background thread for the demo, the benchmark and tests.

`run_sandbox` prints exactly the settings that point deskpulse at the sandbox, one `NAME=value`
line each, every registered dialect's in turn (sandbox.dialects), then an empty line, then
serves until interrupted::

    ZENDESK_BASE_URL=http://127.0.0.1:8765
    ZENDESK_SUBDOMAIN=sandbox
    ZENDESK_EMAIL=agent@sandbox.test
    ZENDESK_API_TOKEN=sandbox-token
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import deskpulse
from deskpulse.sandbox.data import DEFAULT_ANCHOR
from deskpulse.sandbox.dialects import DIALECTS
from deskpulse.sandbox.limits import Faults, SandboxConfigError
from deskpulse.sandbox.server import SandboxServer
from deskpulse.sandbox.zendesk import RateLimits


def tune_gc() -> None:
    """Make the cyclic GC cheap for a long-running sandbox process.

    Pages allocate hundreds of thousands of short-lived dicts; with the default thresholds the
    collector keeps re-scanning the live merge windows and halves throughput. Only call this in a
    process dedicated to the sandbox (it changes interpreter-wide settings).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def run_sandbox(
    port: int = 8765,
    seed: int = 1,
    tickets: int = 10_000,
    host: str = "127.0.0.1",
    *,
    anchor: datetime = DEFAULT_ANCHOR,
    days: int = 365,
    rate_limit: bool = True,
    forbid: Iterable[str] = (),
    faults: Faults | None = None,
    oauth: bool = False,
    plan: str | None = None,
    time_scale: float = 1.0,
    out: IO[str] | None = None,
    on_ready: Callable[[SandboxServer], None] | None = None,
) -> None:
    """Start the sandbox in the foreground and print the env lines for deskpulse.

    Blocks until KeyboardInterrupt (Ctrl-C) or SIGTERM. Each dialect serves on its own port,
    from `port` up; `port=0` picks free ports (the printed *_BASE_URL lines say which).
    `oauth=True` also prints ZENDESK_OAUTH_TOKEN (needed for chats: the Chat API takes OAuth
    only). `plan` applies a Zendesk plan's budgets (team, professional, enterprise) and
    `time_scale` K makes every rate-limit window K times shorter. The lines end with an empty
    line. `on_ready(server)` runs once the ports are bound,
    before the lines (the CLI prints its banner there: nothing is printed for a bad option).
    """
    out = out or sys.stdout
    server = SandboxServer(
        seed=seed,
        tickets=tickets,
        host=host,
        port=port,
        anchor=anchor,
        days=days,
        rate_limit=RateLimits.for_plan(plan) if plan and rate_limit else rate_limit,
        forbid=forbid,
        faults=faults,
        time_scale=time_scale,
    )
    if on_ready is not None:
        on_ready(server)
    print_env(server, oauth=oauth, out=out)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def print_env(server: SandboxServer, *, oauth: bool, out: IO[str]) -> None:
    """Every dialect's `NAME=value` lines, then an empty line (start_subprocess reads up to it)."""
    for name, value in server.env(oauth=oauth).items():
        print(f"{name}={value}", file=out)
    print(file=out)
    out.flush()


def _parse_anchor(raw: str) -> datetime:
    dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise argparse.ArgumentTypeError("--anchor needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
    return dt


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("seconds from 0 to 3600")
    return value


def port_problem(port: int) -> str | None:
    """Why the sandbox cannot serve from `port` (each dialect takes the next port up), or None."""
    last = 65535 - (len(DIALECTS) - 1)
    if port == 0 or 1 <= port <= last:
        return None
    return (
        f"--port takes 1 to {last} (the {len(DIALECTS)} vendor APIs take the ports from it up), "
        f"or 0 for any free ports, not {port}"
    )


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}") from None
    if problem := port_problem(port):
        raise argparse.ArgumentTypeError(problem.removeprefix("--port "))
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox", description="help-desk sandbox server")
    p.add_argument("--port", type=_port, default=8765, help="0 = any free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--anchor", type=_parse_anchor, default=DEFAULT_ANCHOR)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--no-rate-limit", action="store_true")
    p.add_argument("--forbid", action="append", default=[], help="stream to answer with 403")
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--latency", type=_seconds, default=0.0)
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--oauth", action="store_true", help="also print ZENDESK_OAUTH_TOKEN")
    p.add_argument("--plan", help="Zendesk plan budgets: team, professional, enterprise")
    p.add_argument("--time-scale", type=float, default=1.0, help="rate-limit windows K x shorter")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = None
        if args.error_rate or args.latency:
            faults = Faults(error_rate=args.error_rate, latency=args.latency, seed=args.fault_seed)
        run_sandbox(
            args.port,
            args.seed,
            args.tickets,
            args.host,
            anchor=args.anchor,
            days=args.days,
            rate_limit=not args.no_rate_limit,
            forbid=args.forbid,
            faults=faults,
            oauth=args.oauth,
            plan=args.plan,
            time_scale=args.time_scale,
        )
    except SandboxConfigError as exc:
        parser.error(str(exc))  # one usage line, exit 2


class SandboxProcess:
    """The sandbox in a child process (its own interpreter and GIL): for `make demo` and the
    benchmark. Use as a context manager, or call `stop()`."""

    def __init__(self, proc: subprocess.Popen[str], env: dict[str, str]) -> None:
        self.proc = proc
        self.env = env
        self.base_url = env["ZENDESK_BASE_URL"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_subprocess(
    seed: int = 1,
    tickets: int = 10_000,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    rate_limit: bool = True,
    forbid: Iterable[str] = (),
    oauth: bool = False,
    extra_args: Sequence[str] = (),
    python: str | None = None,
) -> SandboxProcess:
    """Start `python -m sandbox` and wait until it prints its env lines (it is then listening).

    Returns a SandboxProcess whose `.env` holds every dialect's lines: ZENDESK_BASE_URL etc.
    (and ZENDESK_OAUTH_TOKEN with `oauth=True`).
    """
    # The folder that holds the `deskpulse` package (a checkout or site-packages).
    root = str(Path(deskpulse.__file__).parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = [
        python or sys.executable,
        "-m",
        "deskpulse.sandbox",
        "--port",
        str(port),
        "--host",
        host,
        "--seed",
        str(seed),
        "--tickets",
        str(tickets),
        *(["--no-rate-limit"] if not rate_limit else []),
        *[a for name in forbid for a in ("--forbid", name)],
        *(["--oauth"] if oauth else []),
        *extra_args,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            raise RuntimeError(f"sandbox exited early with code {proc.returncode}")
        if not line.strip():
            break
        name, _, value = line.strip().partition("=")
        lines[name] = value
    return SandboxProcess(proc, lines)


def start_thread(seed: int = 1, tickets: int = 10_000, **kwargs: Any) -> SandboxServer:
    """Start the sandbox in a daemon thread of this process; `.stop()` it when done."""
    return SandboxServer(seed=seed, tickets=tickets, **kwargs).start()
