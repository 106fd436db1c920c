"""Zendesk through its sandbox dialect (OAuth, so the Chat API serves chats too)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskpulse.sandbox.server import SandboxServer
from tests.conformance.profiles import profile


@profile("zendesk")
@contextmanager
def zendesk(tmp_path: Path) -> Iterator[dict[str, str]]:
    with SandboxServer(seed=3, tickets=120, rate_limit=False, dialects=["zendesk"]) as sandbox:
        yield {**sandbox.dialect("zendesk").env(oauth=True, limited=False)}
