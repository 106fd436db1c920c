"""Sources from settings: each vendor owns its settings class, and `sync` builds every
configured source through the registry (see connectors.base and sync.sources)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors import registry
from deskpulse.connectors.base import RequestStats, SourceOptions
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.sync.settings import load_settings
from deskpulse.sync.source_spec import SourceSpec
from deskpulse.sync.sources import build, build_connectors, configured

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("ZENDESK", "DESKPULSE_", "ACME")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    return tmp_path


def zendesk_env(monkeypatch: pytest.MonkeyPatch, prefix: str = "ZENDESK_", **values: str) -> None:
    values = {"subdomain": "acme", "email": "a@example.com", "api_token": "tok-1", **values}
    for key, value in values.items():
        monkeypatch.setenv(f"{prefix}{key.upper()}", value)


def errors_of(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        build_connectors(load_settings(**overrides))
    return str(info.value)


def test_nothing_set_names_every_vendor() -> None:
    message = errors_of()
    assert message.startswith("no source configured: set the variables of a vendor: ")
    assert "zendesk (ZENDESK_*)" in message
    assert "files (" not in message  # read by `deskpulse import`, not by sync


def test_one_zendesk_source_from_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    zendesk_env(monkeypatch, rate_limits="incremental=30")
    (connector,) = build_connectors(load_settings())
    assert isinstance(connector, ZendeskConnector)
    assert connector.source == "zendesk"
    assert connector.config.url == "https://acme.zendesk.com"
    assert connector.client.limiter._buckets["incremental"].per_minute == 30


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"base_url": "acme.zendesk.com"},
            "invalid setting ZENDESK_BASE_URL: must start with http:// or https://",
        ),
        (
            {"subdomain": "acme.zendesk.com"},
            "invalid setting ZENDESK_SUBDOMAIN: must be the subdomain alone, e.g. 'acme' for "
            "acme.zendesk.com",
        ),
        (
            {"subdomain": "acmé"},
            "invalid setting ZENDESK_SUBDOMAIN: must be the subdomain alone, e.g. 'acme' for "
            "acme.zendesk.com",
        ),
        (
            {"base_url": "http://exa mple.com"},
            "invalid setting ZENDESK_BASE_URL: has no valid host name in 'http://exa mple.com'",
        ),
        (
            {"base_url": "https://١٢٣.zendesk.com"},
            "invalid setting ZENDESK_BASE_URL: is not a valid URL (Invalid IDNA hostname",
        ),
        (
            {"base_url": "http://127.0.0.1:99999"},
            "invalid setting ZENDESK_BASE_URL: has port 99999, outside 1-65535",
        ),
        (
            {"base_url": "https://me:hunter2@acme.zendesk.com"},
            "invalid setting ZENDESK_BASE_URL: must not hold a user or password",
        ),
        ({"rate_limits": "fast=3"}, "invalid setting ZENDESK_RATE_LIMITS: 'fast=3' (use off"),
        ({"api_token": ""}, "zendesk: set ZENDESK_EMAIL and ZENDESK_API_TOKEN (or ZENDESK_OAUTH"),
    ],
)
def test_a_bad_zendesk_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    zendesk_env(monkeypatch, **values)
    assert errors_of().startswith(message)


def test_secrets_stay_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    zendesk_env(monkeypatch, api_token="tok-very-secret")
    (connector,) = build_connectors(load_settings())
    assert isinstance(connector, ZendeskConnector)
    settings = ZendeskConnector.settings_class(_env_file=None)
    assert isinstance(settings.api_token, SecretStr)
    shown = repr(settings) + str(settings) + repr(connector) + repr(connector.config)
    assert "tok-very-secret" not in shown


def test_two_accounts_of_one_vendor_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_SOURCES", "zendesk, zendesk_eu=zendesk")
    zendesk_env(monkeypatch)
    zendesk_env(monkeypatch, "ZENDESK_EU_", subdomain="acme-eu", api_token="tok-2")
    us, eu = build_connectors(load_settings())
    assert (us.source, eu.source) == ("zendesk", "zendesk_eu")
    assert isinstance(us, ZendeskConnector) and isinstance(eu, ZendeskConnector)
    assert us.config.url == "https://acme.zendesk.com"
    assert eu.config.url == "https://acme-eu.zendesk.com"
    assert us.client.limiter is not eu.client.limiter  # a budget each
    only = build_connectors(load_settings(), only=["zendesk_eu"])
    assert [c.source for c in only] == ["zendesk_eu"]


def test_the_second_account_names_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPULSE_SOURCES", "zendesk, zendesk_eu=zendesk")
    zendesk_env(monkeypatch)
    zendesk_env(monkeypatch, "ZENDESK_EU_", base_url="ftp://eu")
    assert errors_of() == "invalid setting ZENDESK_EU_BASE_URL: must start with http:// or https://"
    monkeypatch.delenv("ZENDESK_EU_BASE_URL")
    monkeypatch.delenv("ZENDESK_EU_EMAIL")
    assert errors_of() == (
        "zendesk: set ZENDESK_EU_EMAIL and ZENDESK_EU_API_TOKEN (or ZENDESK_EU_OAUTH_TOKEN)"
    )


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("zendesk_eu=zendesk", "source zendesk_eu (zendesk) is listed in DESKPULSE_SOURCES but "),
        ("acme", "invalid setting DESKPULSE_SOURCES: 'acme': unknown vendor 'acme' (installed: "),
        ("files", "invalid setting DESKPULSE_SOURCES: 'files': unknown vendor 'files'"),
        ("Zendesk EU", "invalid setting DESKPULSE_SOURCES: 'zendesk eu' is not a source name"),
        ("zendesk, zendesk", "invalid setting DESKPULSE_SOURCES: source 'zendesk' is listed twice"),
    ],
)
def test_bad_source_lists(monkeypatch: pytest.MonkeyPatch, sources: str, message: str) -> None:
    zendesk_env(monkeypatch)
    monkeypatch.setenv("DESKPULSE_SOURCES", sources)
    assert errors_of().startswith(message)


def test_settings_come_from_the_env_file_given(tmp_path: Path) -> None:
    env_file = tmp_path / "other.env"
    env_file.write_text(
        "DESKPULSE_SOURCES=zendesk_eu=zendesk\n"
        "ZENDESK_EU_SUBDOMAIN=from-file\nZENDESK_EU_OAUTH_TOKEN=tok\n"
    )
    (tmp_path / ".env").write_text("ZENDESK_SUBDOMAIN=from-dotenv\n")
    (connector,) = build_connectors(load_settings(env_file=env_file))
    assert isinstance(connector, ZendeskConnector)
    assert connector.config.url == "https://from-file.zendesk.com"
    # The default .env is read when no other file is named; no file at all reads neither.
    assert [s.name for s in configured(load_settings())] == ["zendesk"]
    assert configured(load_settings(env_file=None)) == []


# --- a plugin vendor goes through the same path ------------------------------------------------


class AcmeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACME_", extra="ignore", env_ignore_empty=True)
    base_url: str
    api_key: SecretStr


class AcmeConnector:
    vendor = "acme"
    capabilities = frozenset({"read"})
    settings_class = AcmeSettings

    def __init__(self, source: str, settings: AcmeSettings, options: SourceOptions) -> None:
        self.source, self.settings, self.options = source, settings, options
        self.stats = RequestStats()

    @classmethod
    def from_settings(
        cls, source: str, settings: AcmeSettings, options: SourceOptions
    ) -> AcmeConnector:
        return cls(source, settings, options)

    def streams(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "REGISTRY", {})
    monkeypatch.setattr(registry, "_loaded", False)
    registry.load()
    registry.register("acme", AcmeConnector)
    yield


def test_a_plugin_is_configured_by_its_own_variables(
    acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "acme (ACME_*)" in errors_of()
    monkeypatch.setenv("ACME_BASE_URL", "http://acme.test")
    assert errors_of() == "invalid setting ACME_API_KEY: required, not set"
    monkeypatch.setenv("ACME_API_KEY", "k-secret")
    monkeypatch.setenv("DESKPULSE_HTTP_TIMEOUT", "7")
    monkeypatch.setenv("DESKPULSE_START_DATE", "2026-01-01")
    (connector,) = build_connectors(load_settings())
    assert isinstance(connector, AcmeConnector)
    assert connector.source == "acme"
    assert connector.settings.api_key.get_secret_value() == "k-secret"
    assert connector.options.timeout == 7.0
    assert connector.options.start_time is not None
    assert connector.options.start_time.isoformat() == "2026-01-01T00:00:00+00:00"
    assert connector.options.var("api_key") == "ACME_API_KEY"


def test_a_plugin_that_cannot_pace_at_a_share_is_refused_in_one_line(
    acme: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget_share below 1 needs the skeleton's `spend_share`; AcmeConnector has none."""
    monkeypatch.setenv("ACME_BASE_URL", "http://acme.test")
    monkeypatch.setenv("ACME_API_KEY", "k-secret")
    whole = build(SourceSpec("acme", "acme"), load_settings())
    assert isinstance(whole, AcmeConnector)  # the whole budget: nothing to pace
    with pytest.raises(ConfigError, match=r"^source acme: .* budget_share of 0.5: leave"):
        build(SourceSpec("acme", "acme", budget_share=0.5), load_settings())


# --- end to end: two sandbox accounts, two sources, separate cursors ---------------------------


def test_two_sandbox_accounts_sync_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deskpulse.sandbox.server import SandboxServer
    from deskpulse.sync.state import SyncState
    from deskpulse.sync.warehouse import Warehouse, table

    with (
        SandboxServer(seed=1, tickets=40, rate_limit=False) as one,
        SandboxServer(seed=2, tickets=60, rate_limit=False) as two,
    ):
        monkeypatch.setenv("DESKPULSE_SOURCES", "zendesk, zendesk_eu=zendesk")
        for prefix, sandbox in (("ZENDESK_", one), ("ZENDESK_EU_", two)):
            for key, value in sandbox.env(oauth=True).items():
                monkeypatch.setenv(key.replace("ZENDESK_", prefix, 1), value)
            monkeypatch.setenv(f"{prefix}RATE_LIMITS", "off")
        result = runner.invoke(app, ["sync"])
        assert result.exit_code == 0, result.output
        assert "zendesk run 1: ok" in result.stdout
        assert "zendesk_eu (zendesk) run 2: ok" in result.stdout
        warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
        with warehouse.connect() as connection:
            tickets = table("tickets")
            per_source = {
                source: {
                    row_id
                    for s, row_id in connection.execute(select(tickets.c.source, tickets.c.id))
                    if s == source
                }
                for source in ("zendesk", "zendesk_eu")
            }
            state = table(SyncState.__tablename__)
            cursors = {
                (source, stream): cursor
                for source, stream, cursor in connection.execute(
                    select(state.c.source, state.c.stream, state.c.cursor)
                )
            }
        assert len(per_source["zendesk"]) == one.account.n_tickets
        assert len(per_source["zendesk_eu"]) == two.account.n_tickets
        assert cursors[("zendesk", "tickets")] != cursors[("zendesk_eu", "tickets")]
        # A second sync of one source leaves the other's cursors alone.
        result = runner.invoke(app, ["sync", "--source", "zendesk_eu"])
        assert result.exit_code == 0, result.output
        assert "zendesk_eu (zendesk) run 3: ok" in result.stdout
        assert "zendesk run" not in result.stdout.replace("zendesk_eu (zendesk) run", "")
