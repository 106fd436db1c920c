"""Freshdesk through its sandbox dialect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskpulse.sandbox.server import SandboxServer
from tests.conformance.profiles import profile


@profile("freshdesk")
@contextmanager
def freshdesk(tmp_path: Path) -> Iterator[dict[str, str]]:
    with SandboxServer(seed=3, tickets=120, rate_limit=False, dialects=["freshdesk"]) as sandbox:
        yield {**sandbox.dialect("freshdesk").env(limited=False)}
