"""Run the sandbox: in the foreground (`deskpulse sandbox` and `python -m deskpulse.sandbox`, one
set of options: build_parser), or as a child process / background thread for the demo, the
benchmark and tests.

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
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

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


DEFAULT_PORT = 8765
DEFAULT_SEED = 42
DEFAULT_TICKETS = 1000


def run_sandbox(
    port: int = DEFAULT_PORT,
    seed: int = DEFAULT_SEED,
    tickets: int = DEFAULT_TICKETS,
    host: str = "127.0.0.1",
    *,
    anchor: datetime = DEFAULT_ANCHOR,
    days: int = 365,
    rate_limit: bool = True,
    forbid: Iterable[str] = (),
    faults: Faults | None = None,
    oauth: bool = True,
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
    `time_scale` K makes every rate-limit window K times shorter (the lines then carry each
    vendor's `*_RATE_WINDOW`, so a sync paces at the sandbox's minute). The lines end with an
    empty line. `on_ready(server)` runs once the ports are bound, before the lines.
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
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"is not a time: {raw!r} (e.g. 2026-11-01T00:00:00Z)"
        ) from None
    if dt.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a UTC offset, e.g. 2026-11-01T00:00:00Z")
    return dt


def _number(raw: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"is not {what}: {raw!r}") from None


def _seconds(raw: str) -> float:
    value = float(_number(raw, float, "a number of seconds"))
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("is seconds added to every response: 0 to 3600")
    return value


def _share(raw: str) -> float:
    value = float(_number(raw, float, "a share"))
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            "is a share of requests: fault rates are shares between 0 and 1"
        )
    return value


def _tickets(raw: str) -> int:
    value = int(_number(raw, int, "a number of tickets"))
    if not 100 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError("must be between 100 and 1,000,000")
    return value


def _days(raw: str) -> int:
    value = int(_number(raw, int, "a number of days"))
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError("must be between 1 and 3650")
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
    port = int(_number(raw, int, "a port number"))
    if problem := port_problem(port):
        raise argparse.ArgumentTypeError(problem.removeprefix("--port "))
    return port


class _Parser(argparse.ArgumentParser):
    """Bad input is one line on stderr, `error: --option what is wrong`, exit 2 (as every
    deskpulse command says it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, "error: " + re.sub(r"^argument ([^:]+): ", r"\1 ", message) + "\n")


def build_parser(prog: str = "python -m deskpulse.sandbox") -> argparse.ArgumentParser:
    """The sandbox's options: one definition for `deskpulse sandbox` and `python -m
    deskpulse.sandbox` (same names, same defaults)."""
    p = _Parser(
        prog=prog,
        description="Serve a generated help desk on loopback, in each vendor's API on its own "
        "port, and print the lines that point deskpulse at it (Ctrl-C stops it).",
    )
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port of the first vendor (Zendesk); each other vendor takes the next one "
        "(0 = any free ports)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same data")
    p.add_argument(
        "--tickets", type=_tickets, default=DEFAULT_TICKETS, help="100 to 1,000,000 tickets"
    )
    p.add_argument(
        "--anchor",
        type=_parse_anchor,
        default=DEFAULT_ANCHOR,
        help="the sandbox's 'now' (data covers --days before it), e.g. 2026-11-01T00:00:00Z "
        f"(default {DEFAULT_ANCHOR:%Y-%m-%dT%H:%M:%SZ})",
    )
    p.add_argument("--days", type=_days, default=365, help="days of history before --anchor")
    p.add_argument(
        "--rate-limit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each vendor's limits (Zendesk: 700/min, 10/min incremental exports)",
    )
    p.add_argument(
        "--plan", help="Zendesk plan budgets: team (200/min), professional (400), enterprise (700)"
    )
    p.add_argument(
        "--time-scale",
        type=lambda raw: float(_number(raw, float, "a number")),
        default=1.0,
        help="rate-limit windows K times shorter (1 to 60): an hour in 60/K min; the lines "
        "then carry each vendor's *_RATE_WINDOW",
    )
    p.add_argument(
        "--forbid",
        action="append",
        default=[],
        help="answer this stream with 403, as a plan that lacks it (talk, chat, ...)",
    )
    p.add_argument(
        "--error-rate", type=_share, default=0.0, help="share of requests answered 429/5xx"
    )
    p.add_argument("--timeout-rate", type=_share, default=0.0, help="share of requests that hang")
    p.add_argument(
        "--malformed-rate", type=_share, default=0.0, help="share of 200s that are not JSON"
    )
    p.add_argument(
        "--truncate-rate", type=_share, default=0.0, help="share of answers cut off half-way"
    )
    p.add_argument("--latency", type=_seconds, default=0.0, help="seconds added to every answer")
    p.add_argument("--fault-seed", type=int, help="seed of the faults' draws (default: --seed)")
    p.add_argument(
        "--oauth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print ZENDESK_OAUTH_TOKEN too (the Chat API takes OAuth only)",
    )
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "python -m deskpulse.sandbox",
    banner: Callable[[str], None] | None = None,
) -> None:
    """Parse the options (build_parser) and serve; `banner(text)` says what is served once
    the ports are bound (the CLI prints it on stderr)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.plan is not None and not args.rate_limit:
        parser.error("--plan sets rate limits; it does not go with --no-rate-limit")
    rates = (args.error_rate, args.timeout_rate, args.malformed_rate, args.truncate_rate)
    faults = None
    try:
        if any(rates) or args.latency:
            faults = Faults(
                error_rate=args.error_rate,
                timeout_rate=args.timeout_rate,
                malformed_rate=args.malformed_rate,
                truncate_rate=args.truncate_rate,
                latency=args.latency,
                seed=args.seed if args.fault_seed is None else args.fault_seed,
            )

        def ready(_: SandboxServer) -> None:
            if banner is not None:
                banner(
                    f"sandbox: {args.tickets:,} tickets, seed {args.seed}; point deskpulse at "
                    "it with these lines (in .env or exported); Ctrl-C stops it"
                )

        run_sandbox(
            args.port,
            args.seed,
            args.tickets,
            args.host,
            anchor=args.anchor,
            days=args.days,
            rate_limit=args.rate_limit,
            forbid=args.forbid,
            faults=faults,
            oauth=args.oauth,
            plan=args.plan,
            time_scale=args.time_scale,
            on_ready=ready,
        )
    except SandboxConfigError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.exit(
            1, f"error: cannot serve on {args.host}:{args.port}: {exc.strerror} (try --port 0)\n"
        )


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
    """Start `python -m deskpulse.sandbox` and wait until it prints its env lines (it is then listening).

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
        "--oauth" if oauth else "--no-oauth",
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


def start_thread(
    seed: int = DEFAULT_SEED, tickets: int = DEFAULT_TICKETS, **kwargs: Any
) -> SandboxServer:
    """Start the sandbox in a daemon thread of this process; `.stop()` it when done."""
    return SandboxServer(seed=seed, tickets=tickets, **kwargs).start()
