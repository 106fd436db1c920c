"""`deskpulse push` tells the operator about writes in doubt (issue 22, item 1): counted on the
summary line, exit code 3, never reported as written."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.writeback import PushReport
from deskpulse.sync.writeback_plan import IN_DOUBT, Item
from tests.sync.test_cli import clean_env  # noqa: F401 - the shared fixture

runner = CliRunner()


def test_writes_in_doubt_are_counted_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_push(settings: Any, **options: Any) -> PushReport:
        items = [
            Item("frt", "zendesk", "ticket_field", str(t), "360000000101", 3, "new") for t in (1, 2)
        ]
        for i in items:
            i.outcome, i.error = (
                IN_DOUBT,
                "zendesk: ReadTimeout on PUT ...: it may have been applied",
            )
        return PushReport(items)

    monkeypatch.setattr("deskpulse.sync.push.run_push", run_push)
    result = runner.invoke(app, ["push"])
    assert result.exit_code == 3, result.output
    text = " ".join(result.stdout.split())  # rich wraps at the terminal's width
    summary = text[text.index("0 written") :]
    assert summary.startswith("0 written, 0 unchanged")
    assert "2 in doubt (no answer: read back, not re-sent, on the next push)" in summary
