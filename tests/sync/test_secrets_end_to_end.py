"""Secrets stay secret, end to end: every vendor's key, right or wrong, is absent from what the
CLI prints (DEBUG logs as text and as JSON included) and from the warehouse's bytes, after a sync
of all three sandbox dialects, a push, status and quarantine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sync.fakes import FRT_WRITEBACK

server = pytest.importorskip("deskpulse.sandbox.server")
ROOT = Path(__file__).resolve().parents[2]
SECRET_VARIABLES = (
    "ZENDESK_API_TOKEN",
    "ZENDESK_OAUTH_TOKEN",
    "LIVEAGENT_API_KEY",
    "KLAVIYO_API_KEY",
)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "deskpulse.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_no_key_in_output_or_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    (tmp_path / "wb.toml").write_text(FRT_WRITEBACK)
    printed: list[str] = []
    with server.SandboxServer(seed=5, tickets=100, rate_limit=False) as sb:
        sandbox = sb.env(oauth=True)
        secrets = [sandbox[name] for name in SECRET_VARIABLES]
        assert all(len(s) >= 8 for s in secrets)
        base = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DESKPULSE_")},
            **sandbox,
            "PYTHONPATH": str(ROOT),
            "DESKPULSE_DATABASE_URL": f"sqlite:///{db}",
            "DESKPULSE_WRITEBACK": str(tmp_path / "wb.toml"),
            "DESKPULSE_LOG_LEVEL": "DEBUG",
            "COLUMNS": "200",
        }
        printed.append(_cli(base, "sync"))
        printed.append(_cli({**base, "DESKPULSE_LOG_FORMAT": "json"}, "sync"))
        printed.append(_cli(base, "push"))
        printed.append(_cli(base, "status"))
        printed.append(_cli(base, "quarantine"))
        # Wrong keys: the 401s name the variable to check, never the value sent.
        wrong = {name: sandbox[name] + "-wrong" for name in SECRET_VARIABLES}
        secrets += list(wrong.values())
        printed.append(_cli({**base, **wrong}, "sync"))
    out = "\n".join(printed)
    assert "check ZENDESK_OAUTH_TOKEN" in out  # the wrong-key run said what to check
    assert "authentication failed" in out
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("w.db*"))
    assert len(stored) > 100_000  # the sync really wrote
    for secret in secrets:
        assert secret not in out
        assert secret.encode() not in stored
