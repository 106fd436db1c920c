"""Klaviyo, on its respx fake until its sandbox dialect lands (then: start the dialect and yield
its env, like profiles/zendesk.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskpulse.connectors.base import Connector
from tests.conformance.profiles import profile
from tests.connectors.klaviyo_fakes import FakeKlaviyo


@profile("klaviyo", connect=True)
@contextmanager
def klaviyo(tmp_path: Path) -> Iterator[Connector]:
    connector = FakeKlaviyo(page_size=3).connector()
    try:
        yield connector
    finally:
        connector.close()
