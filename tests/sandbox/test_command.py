"""The CLI entry and the subprocess helper used by `make demo` and the benchmark."""

from __future__ import annotations

import inspect
import io
import re
from datetime import UTC, datetime

import httpx
import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.base import SourceOptions
from deskpulse.connectors.klaviyo import KlaviyoConnector
from deskpulse.connectors.klaviyo import config as klaviyo_config
from deskpulse.connectors.liveagent import LiveAgentConnector, LiveAgentSettings
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.connectors.zendesk.endpoints import INCREMENTAL
from deskpulse.connectors.zendesk.settings import ZendeskSettings
from deskpulse.sandbox import (
    Faults,
    SandboxConfigError,
    SandboxOptions,
    SandboxServer,
    command,
    start_subprocess,
    start_thread,
)
from deskpulse.sandbox.command import main
from deskpulse.sandbox.options import parse


def test_subprocess_prints_env_lines_and_serves() -> None:
    with start_subprocess(seed=3, tickets=100, rate_limit=False, oauth=False) as proc:
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
            "FRESHDESK_DOMAIN",
            "FRESHDESK_API_KEY",
            "FRESHDESK_PLAN",
            "FRESHDESK_RATE_LIMIT",
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


# ---- one sandbox CLI -------------------------------------------------------------------------


_RUN_SANDBOX = inspect.signature(command.run_sandbox)


def _served_with(monkeypatch: pytest.MonkeyPatch, run) -> dict:
    """The arguments run_sandbox was called with (every one, defaults filled in)."""
    signature = _RUN_SANDBOX
    calls: list[dict] = []

    def record(*args, **kwargs) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append({k: v for k, v in bound.arguments.items() if k not in ("on_ready", "out")})

    monkeypatch.setattr(command, "run_sandbox", record)
    run()
    (call,) = calls
    return call


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--anchor", "2026-03-01T00:00:00Z", "--days", "30", "--port", "0", "--no-oauth"],
        ["--time-scale", "5", "--error-rate", "0.1", "--fault-seed", "3", "--tickets", "200"],
        ["--host", "127.0.0.2", "--timeout-rate", "0.2", "--plan", "team", "--forbid", "chat"],
    ],
)
def test_both_entry_points_take_the_same_options_with_the_same_defaults(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    def from_cli() -> None:
        result = CliRunner().invoke(app, ["sandbox", *args])
        assert result.exit_code == 0, result.output

    cli = _served_with(monkeypatch, from_cli)
    module = _served_with(monkeypatch, lambda: main(args))
    assert cli == module
    if "--anchor" in args:
        options = cli["options"]
        assert options.anchor == datetime(2026, 3, 1, tzinfo=UTC) and options.days == 30
    # The helpers that start it for the demo, the benchmark and tests take the same object:
    # written back as flags, the options parse to themselves.
    assert parse(cli["options"].argv())[1] == cli["options"]


def test_the_defaults_are_the_options_objects() -> None:
    """One set of defaults: the CLI's flags, `start_subprocess` and `start_thread` all start
    from SandboxOptions (seed 42, 1,000 tickets, OAuth lines printed)."""
    _, options = parse([])
    assert options == SandboxOptions()
    assert (options.seed, options.tickets, options.oauth, options.port) == (42, 1000, True, 8765)
    assert SandboxOptions().argv() == []
    changed = SandboxOptions(port=0, forbid=("chat", "talk"), latency=0.5, rate_limit=False)
    assert changed.argv() == [
        "--port", "0", "--no-rate-limit", "--forbid", "chat", "--forbid", "talk",
        "--latency", "0.5",
    ]  # fmt: skip


def test_a_child_sandbox_takes_the_fault_flags() -> None:
    """start_subprocess passes every option, faults included: every answer fails."""
    with start_subprocess(seed=3, tickets=100, rate_limit=False, error_rate=1.0) as proc:
        auth = (f"{proc.env['ZENDESK_EMAIL']}/token", proc.env["ZENDESK_API_TOKEN"])
        r = httpx.get(f"{proc.base_url}/api/v2/groups.json", auth=auth, timeout=10)
        assert r.status_code in (429, 500, 502, 503)


def test_a_thread_sandbox_starts_from_the_same_options() -> None:
    sb = start_thread(tickets=100, rate_limit=False, forbid=["chat"])
    try:
        info = sb.client().get("/__sandbox/info").json()
        assert (info["seed"], info["tickets"]) == (42, 100)
        assert sb.forbid == {"chat"}
    finally:
        sb.stop()


def test_a_plan_is_a_dialects() -> None:
    """`--plan` is no vendor's flag: a dialect lists its plans and the option finds the one."""
    budgets = SandboxOptions(plan="team").rate_limits()
    assert not isinstance(budgets, bool)
    assert budgets.dialect == "zendesk" and budgets.budgets()["account"] == 200
    with pytest.raises(SandboxConfigError, match="unknown plan 'gold'"):
        SandboxOptions(plan="gold").rate_limits()


def test_both_entry_points_list_the_same_options(capsys: pytest.CaptureFixture) -> None:
    cli = CliRunner().invoke(app, ["sandbox", "--help"]).output
    with pytest.raises(SystemExit):
        main(["--help"])
    module = capsys.readouterr().out
    options = set(re.findall(r"--[a-z][a-z-]+", module))
    assert {"--anchor", "--days", "--host", "--time-scale", "--fault-seed"} <= options
    assert set(re.findall(r"--[a-z][a-z-]+", cli)) == options


def _lines(server: SandboxServer) -> dict[str, str]:
    out = io.StringIO()
    command.print_env(server, oauth=False, out=out)
    return dict(line.split("=", 1) for line in out.getvalue().splitlines() if line)


def test_a_time_scaled_sandbox_tells_every_connector_its_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SandboxServer(tickets=100) as plain:
        assert not any(name.endswith("_RATE_WINDOW") for name in _lines(plain))
    with SandboxServer(tickets=100, time_scale=5) as scaled:
        lines = _lines(scaled)
    windows = {name: value for name, value in lines.items() if name.endswith("_RATE_WINDOW")}
    assert windows == {
        "ZENDESK_RATE_WINDOW": "12",
        "KLAVIYO_RATE_WINDOW": "12",
        "LIVEAGENT_RATE_WINDOW": "12",
        "FRESHDESK_RATE_WINDOW": "12",
    }
    for name, value in lines.items():
        monkeypatch.setenv(name, value)
    slept: list[float] = []
    options = SourceOptions(env_prefix="ZENDESK_", sleep=slept.append)
    zendesk = ZendeskConnector.from_settings("zendesk", ZendeskSettings(), options)
    # Eleven incremental exports at 10 a window: the eleventh waits for the sandbox's window
    # (12 s, paced 1% and 0.15 s longer), not Zendesk's minute.
    for _ in range(11):
        zendesk.client.limiter.acquire(INCREMENTAL)
    assert 12 <= sum(slept) <= 12 * 1.01 + 0.2
    klaviyo = KlaviyoConnector.from_settings(
        "klaviyo", klaviyo_config.load(), SourceOptions(env_prefix="KLAVIYO_", sleep=slept.append)
    )
    assert klaviyo.client.limiter.window == 12
    liveagent = LiveAgentConnector.from_settings(
        "liveagent",
        LiveAgentSettings(),
        SourceOptions(env_prefix="LIVEAGENT_", sleep=slept.append),
    )
    assert liveagent.client.limiter.window == 12
    for connector in (zendesk, klaviyo, liveagent):
        connector.close()


def test_a_window_setting_out_of_bounds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_RATE_WINDOW", "600")
    with pytest.raises(ValueError, match="rate_window"):
        ZendeskSettings()
