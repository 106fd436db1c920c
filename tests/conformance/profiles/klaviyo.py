"""Klaviyo through its sandbox dialect (the shop of the sandbox help desk's customers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskpulse.sandbox.server import SandboxServer
from tests.conformance.profiles import profile


@profile("klaviyo")
@contextmanager
def klaviyo(tmp_path: Path) -> Iterator[dict[str, str]]:
    with SandboxServer(seed=3, tickets=120, rate_limit=False, dialects=["klaviyo"]) as sandbox:
        yield {**sandbox.dialect("klaviyo").env(limited=False)}
