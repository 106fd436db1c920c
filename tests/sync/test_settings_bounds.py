"""Every number a setting holds is bounded: inf, nan, 1e12 or a negative number is refused at
start with one line naming the variable and its range (exit 2), instead of overflowing in the
scheduler later (DESKPULSE_SYNC_INTERVAL=inf was an internal error, DESKPULSE_SYNC_JITTER=inf a
hang with a traceback from a scheduler thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.errors import ConfigError
from deskpulse.sync.settings import load_settings
from tests.sync.conftest import fresh_env

runner = CliRunner()

# variable -> (the range the line states, a value at each end that is accepted)
BOUNDED = {
    "DESKPULSE_SYNC_INTERVAL": ("a number from 1 to 604,800 (seconds)", ("1", "604800")),
    "DESKPULSE_SYNC_JITTER": ("a number from 0 to 86,400 (seconds)", ("0", "86400")),
    "DESKPULSE_METRICS_PORT": ("a whole number from 0 to 65,535", ("0", "65535")),
    "DESKPULSE_KPI_MAX_BUCKETS": ("a whole number from 1 to 1,000,000", ("1", "1000000")),
    "DESKPULSE_KPI_MAX_ROWS": ("a whole number from 1 to 100,000,000", ("1", "100000000")),
    "DESKPULSE_KPI_WORKERS": ("a whole number from 0 to 64", ("0", "64")),
    "DESKPULSE_HTTP_TIMEOUT": ("a number from 0.1 to 3,600 (seconds)", ("0.1", "3600")),
    "DESKPULSE_MAX_RETRIES": ("a whole number from 0 to 20", ("0", "20")),
}
BAD = ("inf", "-inf", "nan", "1e12", "-1", "99999999999999999999999999999", "ten")


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fresh_env(tmp_path, monkeypatch)
    return tmp_path


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", list(BOUNDED))
def test_a_number_out_of_its_range_names_the_variable_and_the_range(
    monkeypatch: pytest.MonkeyPatch, name: str, bad: str
) -> None:
    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert str(caught.value) == f"invalid setting {name}: {BOUNDED[name][0]}, not {bad!r}"


@pytest.mark.parametrize("name", list(BOUNDED))
def test_the_ends_of_each_range_are_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    for good in BOUNDED[name][1]:
        monkeypatch.setenv(name, good)
        load_settings(None)


@pytest.mark.parametrize("bad", ["inf", "nan", "1e12", "-5", "0.5", "fast", ""])
def test_each_per_source_interval_is_bounded(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("DESKPULSE_SYNC_INTERVALS", f"zendesk=120, klaviyo={bad}")
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    assert str(caught.value) == (
        f"invalid setting DESKPULSE_SYNC_INTERVALS: 'klaviyo={bad}': each is source=seconds, "
        "seconds a number from 1 to 604800 (7 days)"
    )
    monkeypatch.setenv("DESKPULSE_SYNC_INTERVALS", "zendesk=1, klaviyo=604800,")
    assert load_settings(None).sync_intervals == "zendesk=1, klaviyo=604800,"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DESKPULSE_SYNC_INTERVAL", "inf"),
        ("DESKPULSE_SYNC_INTERVAL", "1e12"),
        ("DESKPULSE_SYNC_JITTER", "inf"),
        ("DESKPULSE_SYNC_INTERVALS", "zendesk=nan"),
    ],
)
def test_the_daemon_refuses_them_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("ZENDESK_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
    monkeypatch.setenv("DESKPULSE_METRICS_PORT", "0")
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["daemon", "--cycles", "1"])
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid setting {name}: "), lines
    assert "from 1 to 604" in lines[0] or "from 0 to 86,400" in lines[0]
    assert result.exit_code == 2
