"""The CLI entry and the subprocess helper used by `make demo` and the benchmark."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sandbox import Faults, SandboxConfigError, start_subprocess
from deskpulse.sandbox.command import main


def test_subprocess_prints_env_lines_and_serves() -> None:
    with start_subprocess(seed=3, tickets=100, rate_limit=False) as proc:
        assert list(proc.env) == [
            "ZENDESK_BASE_URL",
            "ZENDESK_SUBDOMAIN",
            "ZENDESK_EMAIL",
            "ZENDESK_API_TOKEN",
            "ZENDESK_RATE_LIMITS",
            "KLAVIYO_BASE_URL",
            "KLAVIYO_API_KEY",
            "KLAVIYO_RATE_LIMITS",
            "LIVEAGENT_URL",
            "LIVEAGENT_API_KEY",
            "LIVEAGENT_TIMEZONE",
            "LIVEAGENT_RATE_LIMIT",
        ]
        assert proc.env["ZENDESK_RATE_LIMITS"] == "off"  # started without limits: no pacing
        assert proc.env["KLAVIYO_RATE_LIMITS"] == "off"
        assert proc.env["LIVEAGENT_RATE_LIMIT"] == "0"
        la = httpx.get(
            f"{proc.env['LIVEAGENT_URL']}/api/v3/agents",
            headers={"apikey": proc.env["LIVEAGENT_API_KEY"]},
            timeout=10,
        )
        assert la.status_code == 200 and isinstance(la.json(), list) and la.json()
        assert proc.base_url.startswith("http://127.0.0.1:")
        auth = (f"{proc.env['ZENDESK_EMAIL']}/token", proc.env["ZENDESK_API_TOKEN"])
        r = httpx.get(f"{proc.base_url}/api/v2/groups.json", auth=auth, timeout=10)
        assert r.status_code == 200 and r.json()["groups"]
    assert proc.proc.poll() is not None  # stopped


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency", "-1"], "--latency"),
        (["--forbid", "tickts"], "unknown stream tickts"),
        (["--error-rate", "2"], "fault rates"),
        (["--plan", "gold"], "unknown plan"),
        (["--time-scale", "0"], "time scale"),
        (["--plan", "team", "--no-rate-limit"], "--plan"),
    ],
)
def test_cli_refuses_bad_options_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["sandbox", "--port", "0", *args])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["--latency", "-1"], ["--forbid", "tickts"]])
def test_module_entry_refuses_bad_options(args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", *args])
    assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_faults_refuse_nonsense() -> None:
    with pytest.raises(SandboxConfigError, match="latency"):
        Faults(latency=-1)
    with pytest.raises(SandboxConfigError, match="error_rate"):
        Faults(error_rate=1.5)
