"""The sandbox help desk: a deterministic, generated Zendesk account served over real HTTP.

    from deskpulse.sandbox import SandboxServer
    with SandboxServer(seed=1, tickets=500) as sb:
        ...  # point a connector at sb.base_url with sb.env() credentials

See sandbox.zendesk for the API it speaks, sandbox.data for what it generates, sandbox.command for
the CLI entry (`run_sandbox`) and the demo/benchmark helpers (`start_subprocess`).
"""

from deskpulse.sandbox.command import SandboxProcess, run_sandbox, start_subprocess, start_thread
from deskpulse.sandbox.limits import Faults, RateLimits
from deskpulse.sandbox.server import SandboxServer

__all__ = [
    "Faults",
    "RateLimits",
    "SandboxProcess",
    "SandboxServer",
    "run_sandbox",
    "start_subprocess",
    "start_thread",
]
