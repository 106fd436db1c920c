"""The files connector (read by `deskpulse import`, no sandbox): a small folder of canonical files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deskpulse.connectors.base import Connector
from deskpulse.connectors.files import FilesConnector
from tests.conformance.profiles import profile


@profile("files", connect=True)
@contextmanager
def files(tmp_path: Path) -> Iterator[Connector]:
    folder = tmp_path / "import"
    folder.mkdir()
    (folder / "tickets.csv").write_text(
        "id,created_at,status,channel,priority,tags\n"
        "1,2026-01-05T10:00:00Z,open,email,high,a;b\n"
        "2,2026-01-06 09:30,solved,web,,\n"
    )
    (folder / "agents.jsonl").write_text('{"id": "a1", "name": "Ada", "role": "agent"}\n')
    connector = FilesConnector("files", folder)
    try:
        yield connector
    finally:
        connector.close()
