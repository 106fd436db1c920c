"""The sandbox's options: one object (`SandboxOptions`) that every way of starting the sandbox
takes, and one command line built from it.

`deskpulse sandbox` and `python -m deskpulse.sandbox` parse their arguments with `build_parser`
(so both list the same flags with the same defaults); `sandbox.command.start_subprocess` turns
the object back into those flags (`SandboxOptions.argv`), and `start_thread` builds the server
from it in this process (`SandboxOptions.server`). A default lives in one place: the field's.

Options that only one vendor's API knows are not flags of their own: a dialect that has plans
(named rate-limit budget sets) lists them in a `plans` mapping on its class, and `--plan NAME`
applies the one dialect plan of that name (sandbox.dialect.DialectFactory).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from deskpulse.sandbox.data import DEFAULT_ANCHOR
from deskpulse.sandbox.dialect import BudgetSet
from deskpulse.sandbox.dialects import DIALECTS
from deskpulse.sandbox.limits import Faults, SandboxConfigError

if TYPE_CHECKING:
    from deskpulse.sandbox.server import SandboxServer

DEFAULT_PORT = 8765


@dataclass(frozen=True)
class SandboxOptions:
    """What a sandbox serves and how (the flags of `deskpulse sandbox`, field for field)."""

    port: int = DEFAULT_PORT  # the first dialect's; each other takes the next one (0: any free)
    host: str = "127.0.0.1"
    seed: int = 42
    tickets: int = 1000
    anchor: datetime = DEFAULT_ANCHOR
    days: int = 365
    rate_limit: bool = True
    plan: str | None = None
    time_scale: float = 1.0
    forbid: tuple[str, ...] = ()
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    malformed_rate: float = 0.0
    truncate_rate: float = 0.0
    latency: float = 0.0
    fault_seed: int | None = None  # None: the data's seed
    oauth: bool = True

    def with_(self, **changes: Any) -> SandboxOptions:
        """A copy with some fields changed (`forbid` may be any iterable of stream names)."""
        if "forbid" in changes:
            changes["forbid"] = tuple(changes["forbid"])
        return replace(self, **changes)

    def faults(self) -> Faults | None:
        """The fault injection these options ask for, or None (no fault flag given)."""
        rates = (self.error_rate, self.timeout_rate, self.malformed_rate, self.truncate_rate)
        if not any(rates) and not self.latency:
            return None
        return Faults(
            error_rate=self.error_rate,
            timeout_rate=self.timeout_rate,
            malformed_rate=self.malformed_rate,
            truncate_rate=self.truncate_rate,
            latency=self.latency,
            seed=self.seed if self.fault_seed is None else self.fault_seed,
        )

    def rate_limits(self) -> bool | BudgetSet:
        """`SandboxServer(rate_limit=...)`: True (each vendor's limits), False, or a plan's."""
        if self.plan is None or not self.rate_limit:
            return self.rate_limit
        return plan_budgets(self.plan)

    def server(self, **extra: Any) -> SandboxServer:
        """A SandboxServer with these options (not started); `extra` are its other keywords
        (clock, dialects, options, idle_timeout)."""
        from deskpulse.sandbox.server import SandboxServer

        if self.plan is not None and not self.rate_limit:
            raise SandboxConfigError("--plan sets rate limits; it does not go with --no-rate-limit")
        return SandboxServer(
            seed=self.seed,
            tickets=self.tickets,
            host=self.host,
            port=self.port,
            anchor=self.anchor,
            days=self.days,
            rate_limit=self.rate_limits(),
            forbid=self.forbid,
            faults=self.faults(),
            time_scale=self.time_scale,
            **extra,
        )

    def argv(self) -> list[str]:
        """These options as command-line flags (only the ones that differ from the defaults):
        `build_parser().parse_args(o.argv())` gives `o` back."""
        default = SandboxOptions()
        args: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                args.append(flag if value else "--no-" + flag[2:])
            elif f.name == "forbid":
                args += [a for stream in value for a in (flag, stream)]
            elif isinstance(value, datetime):
                args += [flag, value.isoformat()]
            else:
                args += [flag, str(value)]
        return args

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SandboxOptions:
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        values["forbid"] = tuple(values["forbid"])
        return cls(**values)


def plans() -> dict[str, BudgetSet]:
    """Every registered dialect's plans by name (a dialect lists its own in `plans`)."""
    found: dict[str, BudgetSet] = {}
    for factory in DIALECTS.values():
        found.update(getattr(factory, "plans", {}))
    return found


def plan_budgets(name: str) -> BudgetSet:
    known = plans()
    if name not in known:
        raise SandboxConfigError(f"unknown plan {name!r} (known: {', '.join(known) or 'none'})")
    return known[name]


# ---- the command line ------------------------------------------------------------------------


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
    """The sandbox's flags, one per SandboxOptions field, with its defaults."""
    d = SandboxOptions()
    first, *_ = DIALECTS
    p = _Parser(
        prog=prog,
        description="Serve a generated help desk on loopback, in each vendor's API on its own "
        "port, and print the lines that point deskpulse at it (Ctrl-C stops it).",
    )
    p.add_argument(
        "--port",
        type=_port,
        default=d.port,
        help=f"port of the first vendor API ({first}); each other takes the next one "
        "(0 = any free ports)",
    )
    p.add_argument("--host", default=d.host, help="address to listen on")
    p.add_argument("--seed", type=int, default=d.seed, help="same seed, same data")
    p.add_argument("--tickets", type=_tickets, default=d.tickets, help="100 to 1,000,000 tickets")
    p.add_argument(
        "--anchor",
        type=_parse_anchor,
        default=d.anchor,
        help="the sandbox's 'now' (data covers --days before it), e.g. 2026-11-01T00:00:00Z "
        f"(default {d.anchor:%Y-%m-%dT%H:%M:%SZ})",
    )
    p.add_argument("--days", type=_days, default=d.days, help="days of history before --anchor")
    p.add_argument(
        "--rate-limit",
        action=argparse.BooleanOptionalAction,
        default=d.rate_limit,
        help="each vendor's documented rate limits",
    )
    p.add_argument(
        "--plan",
        default=d.plan,
        help="a vendor plan's budgets instead of the defaults (known: "
        + (", ".join(plans()) or "none")
        + ")",
    )
    p.add_argument(
        "--time-scale",
        type=lambda raw: float(_number(raw, float, "a number")),
        default=d.time_scale,
        help="rate-limit windows K times shorter (1 to 60): an hour in 60/K min; the lines "
        "then carry each vendor's *_RATE_WINDOW",
    )
    p.add_argument(
        "--forbid",
        action="append",
        default=list(d.forbid),
        help="answer this stream with 403, as a plan that lacks it (talk, chat, ...)",
    )
    for name, what in (
        ("error", "share of requests answered 429/5xx"),
        ("timeout", "share of requests that hang"),
        ("malformed", "share of 200s that are not JSON"),
        ("truncate", "share of answers cut off half-way"),
    ):
        p.add_argument(f"--{name}-rate", type=_share, default=getattr(d, f"{name}_rate"), help=what)
    p.add_argument(
        "--latency", type=_seconds, default=d.latency, help="seconds added to every answer"
    )
    p.add_argument(
        "--fault-seed",
        type=int,
        default=d.fault_seed,
        help="seed of the faults' draws (default: --seed)",
    )
    p.add_argument(
        "--oauth",
        action=argparse.BooleanOptionalAction,
        default=d.oauth,
        help="print each vendor's optional OAuth lines too (an API may take OAuth only)",
    )
    return p


def parse(
    argv: Sequence[str] | None = None, prog: str = "python -m deskpulse.sandbox"
) -> tuple[argparse.ArgumentParser, SandboxOptions]:
    """The options `argv` asks for; bad input ends the process with one line (exit 2)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.plan is not None and not args.rate_limit:
        parser.error("--plan sets rate limits; it does not go with --no-rate-limit")
    return parser, SandboxOptions.from_args(args)
