"""Sources as rows: `deskpulse sources add/list/remove` edit the TOML file, secrets come from the
environment or a per-source file (never the sources file, never the warehouse), each source
keeps its own interval, budget share and write-back file, and `deskpulse sync` reads them all."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.daemon import Daemon
from deskpulse.sync.settings import load_settings
from deskpulse.sync.sources import configured
from deskpulse.sync.sources_file import load
from tests.sync.conftest import fresh_env

server = pytest.importorskip("deskpulse.sandbox.server")
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_env(tmp_path, monkeypatch)
    path = tmp_path / "sources.toml"
    monkeypatch.setenv("DESKPULSE_SOURCES_FILE", str(path))
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_add_list_remove(env: Path) -> None:
    added = invoke("sources", "add", "acme", "--vendor", "liveagent", "--interval", "120",
                   "--budget-share", "0.5", "--set", "url=https://acme.example.com")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert invoke("sources", "add", "beta", "--vendor", "zendesk", "--account", "acme",
                  "--budget-share", "0.5").exit_code == 0  # fmt: skip
    listed = json.loads(invoke("sources", "list", "--format", "json").stdout)
    assert [(r["name"], r["account"], r["interval"], r["budget_share"]) for r in listed] == [
        ("acme", "acme", 120.0, 0.5),
        ("beta", "acme", 300.0, 0.5),  # the default interval, DESKPULSE_SYNC_INTERVAL
    ]
    assert invoke("sources", "remove", "acme").exit_code == 0
    assert [s.name for s in load(env)] == ["beta"]
    gone = invoke("sources", "remove", "acme")
    assert gone.exit_code == 2 and "no source acme" in gone.stderr


def one_line(result: Any) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_secret_in_the_file_is_refused_with_the_variable_to_use(env: Path) -> None:
    line = one_line(invoke("sources", "add", "acme", "--vendor", "liveagent",
                           "--set", "api_key=hunter2"))  # fmt: skip
    assert "api_key is a secret" in line and "ACME_API_KEY" in line
    assert "hunter2" not in line
    assert not env.exists()


def test_budget_shares_of_one_account_add_up_to_one_at_most(env: Path) -> None:
    assert invoke("sources", "add", "a", "--vendor", "zendesk", "--account", "x",
                  "--budget-share", "0.75").exit_code == 0  # fmt: skip
    line = one_line(invoke("sources", "add", "b", "--vendor", "zendesk", "--account", "x",
                           "--budget-share", "0.5"))  # fmt: skip
    assert "budget shares of account x add up to 1.25" in line
    assert [s.name for s in load(env)] == ["a"]  # the file as it was


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[source]]\nname = "a"\nvendor = "nope"\n', "unknown vendor 'nope'"),
        ('[[source]]\nname = "A b"\nvendor = "zendesk"\n', "is not a source name"),
        ('[[source]]\nname = "a"\nvendor = "zendesk"\ninterval = 0\n', "interval is seconds"),
        ('[[source]]\nname = "a"\nvendor = "zendesk"\ncolour = 1\n', "unknown key colour"),
        (
            '[[source]]\nname = "a"\nvendor = "zendesk"\n[[source]]\nname = "a"\n'
            'vendor = "zendesk"\n',
            "listed twice",
        ),
        ("[[source]\n", "sources file"),
    ],
)
def test_a_bad_file_is_one_line(env: Path, text: str, says: str) -> None:
    env.write_text(text)
    with pytest.raises(ConfigError, match=says):
        load(env)


def test_sync_reads_every_row_secrets_from_env_and_file_none_in_the_warehouse(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with server.SandboxServer(seed=5, tickets=40, rate_limit=False) as sb:
        zd, la = (
            sb.dialect("zendesk").env(limited=False),
            sb.dialect("liveagent").env(limited=False),
        )
        secrets = tmp_path / "desk.env"
        secrets.write_text(f"DESK_API_TOKEN={zd['ZENDESK_API_TOKEN']}\n")
        monkeypatch.setenv("CHAT_API_KEY", la["LIVEAGENT_API_KEY"])  # from the environment
        settings = {k.removeprefix("ZENDESK_").lower(): v for k, v in zd.items()
                    if k != "ZENDESK_API_TOKEN"}  # fmt: skip
        assert invoke("sources", "add", "desk", "--vendor", "zendesk", "--secrets-file",
                      str(secrets), *(f"--set={k}={v}" for k, v in settings.items()),
                      "--interval", "60").exit_code == 0  # fmt: skip
        assert invoke("sources", "add", "chat", "--vendor", "liveagent", "--set",
                      f"url={la['LIVEAGENT_URL']}", "--set", f"timezone={la['LIVEAGENT_TIMEZONE']}",
                      "--set", "rate_limit=0").exit_code == 0  # fmt: skip
        synced = invoke("sync")
        assert synced.exit_code == 0, synced.output
        status = json.loads(invoke("status", "--format", "json").stdout)
    assert {s["source"]: s["last_run"]["status"] for s in status["sources"]} == {
        "chat": "ok", "desk": "ok",
    }  # fmt: skip
    assert zd["ZENDESK_API_TOKEN"] not in env.read_text()
    dump = "\n".join(sqlite3.connect(tmp_path / "w.db").iterdump())
    assert zd["ZENDESK_API_TOKEN"] not in dump and la["LIVEAGENT_API_KEY"] not in dump
    daemon = Daemon(load_settings(None))
    assert {n: s.interval for n, s in daemon.sources.items()} == {"desk": 60.0, "chat": 300.0}


def test_without_a_sources_file_the_env_configuration_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_env(tmp_path, monkeypatch)
    monkeypatch.setenv("LIVEAGENT_URL", "https://x.example.com")
    monkeypatch.setenv("LIVEAGENT_API_KEY", "k")
    assert [(s.name, s.vendor) for s in configured(load_settings(None))] == [
        ("liveagent", "liveagent")
    ]


def test_a_source_writeback_file_must_write_to_that_source(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wb = tmp_path / "wb.toml"
    wb.write_text(
        '[[ticket_field]]\nname = "frt"\nsource = "other"\nfield = "360000000101"\n'
        'value = "first_response_minutes"\ndays = 3650\n'
    )
    env.write_text(
        f'[[source]]\nname = "desk"\nvendor = "zendesk"\nwriteback = "{wb}"\n'
        '[source.settings]\nsubdomain = "x"\nemail = "a@b.c"\n'
    )
    monkeypatch.setenv("DESK_API_TOKEN", "t")
    with pytest.raises(ConfigError, match="names source other"):
        Daemon(load_settings(None))


def test_one_template_for_many_sources_keeps_their_ledger_rows_apart(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = []
    for name in ("desk", "help"):
        wb = tmp_path / f"{name}.toml"
        wb.write_text(
            f'[[ticket_field]]\nname = "frt"\nsource = "{name}"\nfield = "360000000101"\n'
            'value = "first_response_minutes"\ndays = 3650\n'
        )
        rows.append(
            f'[[source]]\nname = "{name}"\nvendor = "zendesk"\nwriteback = "{wb}"\n'
            '[source.settings]\nsubdomain = "x"\nemail = "a@b.c"\n'
        )
        monkeypatch.setenv(f"{name.upper()}_API_TOKEN", "t")
    env.write_text("\n".join(rows))
    # The ledger keys its rows by action name: both named "frt" would share (and flip) rows.
    actions = Daemon(load_settings(None)).actions
    assert [(a.name, a.source) for a in actions.ticket_fields] == [
        ("desk:frt", "desk"),
        ("help:frt", "help"),
    ]
