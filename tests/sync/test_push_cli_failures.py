"""A long push's output still says why writes failed, in a few lines: the failed rows first in
the table, then one line per target and reason (the demo's Klaviyo step relies on it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from tests.sync.test_cli import clean_env  # noqa: F401 - the shared fixture

server = pytest.importorskip("deskpulse.sandbox.server")
runner = CliRunner()

SUBSCRIBE = """
[[subscribe]]
source = "klaviyo"
list = "NwsLtr"
tag = "newsletter_opt_in"
"""
REASON = "not on the list after the subscription job"


def test_failed_writes_come_first_and_are_summed_up_by_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wb.toml").write_text(SUBSCRIBE)
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))
    with server.SandboxServer(seed=42, tickets=400, rate_limit=False) as sb:
        for key, value in sb.env(oauth=True).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DESKPULSE_SOURCES", "zendesk, klaviyo")
        assert runner.invoke(app, ["sync"]).exit_code in (0, 3)
        plan = json.loads(runner.invoke(app, ["push", "--dry-run", "--format", "json"]).stdout)
        pushed = runner.invoke(app, ["push", "--limit", "2"])
    # The sandbox's job drops one address in twelve (and invalid ones): some sign-ups fail.
    assert pushed.exit_code == 3, pushed.output
    lines = pushed.stdout.splitlines()
    text = " ".join(pushed.stdout.split())  # rich wraps at the terminal's width
    failed = [line for line in lines if line.startswith("failed: ")]
    assert len(failed) == 1
    count = int(failed[0].split()[1])
    assert 0 < count < len(plan["writes"])
    assert f"failed: {count} to klaviyo:subscribe:NwsLtr: {REASON}" in text
    # The rows shown are the failures first (the ones to read), though most writes succeeded.
    table = [line for line in lines if line.startswith("│ klaviyo")]
    assert table and "failed" in table[0]
    assert f"{len(plan['writes']) - count} written" in text
    assert f"{count} failed" in text
