"""A write-back file that could never be written as meant is refused at start, alike by `push`,
`push --dry-run` and the daemon: exit 2, one line naming the file, the action and the key, no
request to the help desk and nothing in the ledger (sync.actions.check_targets)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.connectors.errors import ConfigError
from deskpulse.connectors.zendesk import ZendeskConnector
from deskpulse.sync.actions import actions_from_dict, check_targets
from deskpulse.sync.warehouse import Warehouse
from tests.sync.conftest import fresh_env

runner = CliRunner()

FIELD = """
[[ticket_field]]
name = "frt"
source = "zendesk"
field = "{field}"
value = "first_response_minutes"
"""
DIGEST = """
[[digest]]
source = "zendesk"
every = "day"
{line}
"""

# (file content, what the one line says after "error: <file>: ")
CASES = {
    "field id not a number": (
        FIELD.format(field="first_response"),
        "ticket_field #1 (frt): `field` 'first_response' is not a Zendesk ticket field id",
    ),
    "field id past 64 bits": (
        FIELD.format(field="1" * 30),
        f"ticket_field #1 (frt): `field` '{'1' * 30}' is not a Zendesk ticket field id",
    ),
    "map value a table": (
        FIELD.format(field="360000000101") + 'map = { true = { label = "yes" } }\n',
        "ticket_field #1: `map.true` must be a text, a number or true/false (what the field "
        "takes), not a table",
    ),
    "map value not finite": (
        FIELD.format(field="360000000101") + "map = { 0 = inf }\n",
        "ticket_field #1: `map.0` must be a text, a number or true/false (what the field "
        "takes), not inf",
    ),
    "digest metric unknown": (
        DIGEST.format(line='metrics = ["first_response_time", "speed"]'),
        "digest #1: `metrics`: unknown metric 'speed' (`deskpulse kpi --list` lists them)",
    ),
    "digest by unknown": (
        DIGEST.format(line='by = "planet"'),
        'digest #1: `by` must be one of agent, group, channel, type, priority, source ("" for '
        "none), not 'planet'",
    ),
    "source not configured": (
        FIELD.format(field="360000000101").replace('"zendesk"', '"zendsk"'),
        "ticket_field #1 (frt): `source` 'zendsk' is not a configured source (configured: zendesk)",
    ),
    "source cannot write that kind": (
        '[[subscribe]]\nsource = "zendesk"\nlist = "L1"\ntag = "opt_in"\n',
        "subscribe #1 (zendesk:subscribe:L1): `source` zendesk (zendesk) cannot write "
        "subscriptions",
    ),
    "two actions, one ticket field": (
        FIELD.format(field="360000000101")
        + FIELD.format(field="360000000101").replace('"frt"', '"frt_again"'),
        "ticket_field #2 (frt_again): `field`: 360000000101 of source zendesk is also written "
        "by ticket_field #1 (frt): keep one of the two actions",
    ),
    "two actions, one user field": (
        '[[profile_fields]]\nsource = "zendesk"\nvalues = ["clv", "last_nps"]\n'
        '[[profile_fields]]\nname = "nps"\nsource = "zendesk"\nvalues = ["last_nps"]\n',
        "profile_fields #2 (nps): `values`: deskpulse_last_nps of source zendesk is also "
        "written by profile_fields #1 (zendesk:profile_fields): keep one of the two actions",
    ),
}
COMMANDS = {
    "push": ["push"],
    "push --dry-run": ["push", "--dry-run"],
    "daemon": ["daemon", "--cycles", "1"],
}


@pytest.fixture
def help_desk() -> Iterator[socket.socket]:
    """A loopback port that counts as the help desk: a refused file connects to it never."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)
        yield listening


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, help_desk: socket.socket) -> Path:
    fresh_env(tmp_path, monkeypatch)
    monkeypatch.setenv("DESKPULSE_METRICS_PORT", "0")
    monkeypatch.setenv("DESKPULSE_MAX_RETRIES", "0")
    monkeypatch.setenv("DESKPULSE_HTTP_TIMEOUT", "1")  # a regression fails fast
    monkeypatch.setenv("ZENDESK_BASE_URL", f"http://127.0.0.1:{help_desk.getsockname()[1]}")
    monkeypatch.setenv("ZENDESK_OAUTH_TOKEN", "t")
    monkeypatch.setenv("DESKPULSE_WRITEBACK", str(tmp_path / "wb.toml"))
    return tmp_path


def ledger_rows(path: Path) -> int:
    if not path.exists():
        return 0
    warehouse = Warehouse(f"sqlite:///{path}", migrate=False)
    try:
        with warehouse.engine.connect() as conn:
            if not inspect(conn).has_table("write_back_log"):
                return 0
            return int(conn.execute(text("SELECT count(*) FROM write_back_log")).scalar_one())
    finally:
        warehouse.dispose()


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CASES))
def test_a_file_that_cannot_be_written_is_refused_at_start(
    env: Path, help_desk: socket.socket, case: str, command: str
) -> None:
    content, said = CASES[case]
    (env / "wb.toml").write_text(content)
    result = runner.invoke(app, COMMANDS[command])
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {env / 'wb.toml'}: {said}"), lines[0]
    assert result.exit_code == 2, result.output
    with pytest.raises(BlockingIOError):
        help_desk.accept()  # no request reached the help desk
    assert ledger_rows(env / "w.db") == 0


def test_a_good_file_passes_the_same_check() -> None:
    actions = actions_from_dict(
        {
            "ticket_field": [
                {"source": "zendesk", "field": "360000000101", "value": "sla_met",
                 "map": {"true": "met", "false": 0}},
                {"source": "zendesk", "field": str(2**63 - 1), "value": "first_response_minutes"},
                {"source": "liveagent", "field": "frt_minutes", "value": "first_response_minutes"},
                # The same field id on another account is another field.
                {"source": "zendesk_eu", "field": "360000000101", "value": "sla_met"},
            ],
            "digest": [{"source": "zendesk", "metrics": ["csat"], "by": ""}],
            "profile_fields": [{"source": "klaviyo", "values": ["clv"]},
                               {"source": "zendesk", "values": ["clv"]}],
        }
    )  # fmt: skip
    check_targets(
        actions,
        {"zendesk": "zendesk", "zendesk_eu": "zendesk", "liveagent": "liveagent",
         "klaviyo": "klaviyo"},
    )  # fmt: skip
    assert actions.digests[0].by is None  # by = "": a digest without worst slices


@pytest.mark.parametrize("field", ["0", str(2**63), "-5", "3.5", "٣", " 12", ""])
def test_zendesk_names_its_ticket_fields_by_a_64_bit_id(field: str) -> None:
    assert ZendeskConnector.ticket_field_problem(field) is not None
    assert ZendeskConnector.ticket_field_problem("360000000101") is None


def test_an_action_of_a_source_built_by_hand_is_checked_for_its_name_only() -> None:
    actions = actions_from_dict(
        {"ticket_field": [{"source": "fake", "field": "x", "value": "sla_met"}]}
    )
    check_targets(actions, {"fake": "a-vendor-no-registry-knows"})
    with pytest.raises(ConfigError, match="`source` 'fake' is not a configured source"):
        check_targets(actions, {"zendesk": "zendesk"})
