"""Run the sandbox: in the foreground (`deskpulse sandbox` and `python -m deskpulse.sandbox`, one
set of options: sandbox.options), or as a child process / background thread for the demo, the
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

import contextlib
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import deskpulse
from deskpulse.sandbox.limits import SandboxConfigError
from deskpulse.sandbox.options import SandboxOptions, parse
from deskpulse.sandbox.server import SandboxServer


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
    options: SandboxOptions | None = None,
    *,
    out: IO[str] | None = None,
    on_ready: Callable[[SandboxServer], None] | None = None,
) -> None:
    """Start the sandbox in the foreground and print the env lines for deskpulse.

    Blocks until KeyboardInterrupt (Ctrl-C) or SIGTERM. Each dialect serves on its own port,
    from `options.port` up; port 0 picks free ports (the printed *_BASE_URL lines say which).
    `options.oauth` also prints each dialect's optional OAuth lines; under a time scale the lines
    carry each vendor's `*_RATE_WINDOW`, so a sync paces at the sandbox's minute. The lines end
    with an empty line. `on_ready(server)` runs once the ports are bound, before the lines.
    """
    options = options or SandboxOptions()
    out = out or sys.stdout
    server = options.server()
    if on_ready is not None:
        on_ready(server)
    print_env(server, oauth=options.oauth, out=out)
    tune_gc()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def print_env(server: SandboxServer, *, oauth: bool, out: IO[str]) -> None:
    """Every dialect's `NAME=value` lines, then an empty line (start_subprocess reads up to it)."""
    for name, value in server.env(oauth=oauth).items():
        print(f"{name}={value}", file=out)
    print(file=out)
    out.flush()


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "python -m deskpulse.sandbox",
    banner: Callable[[str], None] | None = None,
) -> None:
    """Parse the options (sandbox.options.build_parser) and serve; `banner(text)` says what is
    served once the ports are bound (the CLI prints it on stderr)."""
    parser, options = parse(argv, prog)

    def ready(_: SandboxServer) -> None:
        if banner is not None:
            banner(
                f"sandbox: {options.tickets:,} tickets, seed {options.seed}; point deskpulse at "
                "it with these lines (in .env or exported); Ctrl-C stops it"
            )

    try:
        run_sandbox(options, on_ready=ready)
    except SandboxConfigError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.exit(
            1,
            f"error: cannot serve on {options.host}:{options.port}: {exc.strerror} "
            "(try --port 0)\n",
        )


class SandboxProcess:
    """The sandbox in a child process (its own interpreter and GIL): for `make demo` and the
    benchmark. Use as a context manager, or call `stop()`."""

    def __init__(self, proc: subprocess.Popen[str], env: dict[str, str]) -> None:
        self.proc = proc
        self.env = env
        # The first dialect's host: its lines come first, its base URL the first *_URL.
        self.base_url = next(value for name, value in env.items() if name.endswith("_URL"))

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
    options: SandboxOptions | None = None, *, python: str | None = None, **changes: Any
) -> SandboxProcess:
    """Start `python -m deskpulse.sandbox` with `options` (default: the CLI's, on free ports;
    `changes` are SandboxOptions fields, e.g. `seed=3, rate_limit=False`) and wait until it
    prints its env lines (it is then listening).

    Returns a SandboxProcess whose `.env` holds every dialect's lines.
    """
    options = (options or SandboxOptions(port=0)).with_(**changes)
    # The folder that holds the `deskpulse` package (a checkout or site-packages).
    root = str(Path(deskpulse.__file__).parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    args = [python or sys.executable, "-m", "deskpulse.sandbox", *options.argv()]
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


def start_thread(options: SandboxOptions | None = None, **changes: Any) -> SandboxServer:
    """Start the sandbox with `options` (default: the CLI's, on free ports; `changes` are
    SandboxOptions fields) in daemon threads of this process; `.stop()` it when done."""
    return (options or SandboxOptions(port=0)).with_(**changes).server().start()
