"""The sandbox help desk: one deterministic, generated account served over real HTTP in each
vendor's dialect (each on its own loopback port).

    from deskpulse.sandbox import SandboxServer
    with SandboxServer(seed=1, tickets=500) as sb:
        ...  # point a connector at sb.base_url with sb.env() credentials

See sandbox.data for what it generates, sandbox.dialect for the seam a vendor dialect fills,
sandbox.dialects for the registered ones (sandbox.zendesk: the API it speaks), sandbox.server
for the shared pipeline, sandbox.options for its options (one object, one command line),
sandbox.command for the CLI entry (`run_sandbox`) and the demo/benchmark helpers
(`start_subprocess`, `start_thread`).
"""

from deskpulse.sandbox.command import SandboxProcess, run_sandbox, start_subprocess, start_thread
from deskpulse.sandbox.limits import Faults, SandboxConfigError
from deskpulse.sandbox.options import SandboxOptions
from deskpulse.sandbox.server import SandboxServer

__all__ = [
    "Faults",
    "SandboxConfigError",
    "SandboxOptions",
    "SandboxProcess",
    "SandboxServer",
    "run_sandbox",
    "start_subprocess",
    "start_thread",
]
