"""`deskpulse import` through the real CLI: good rows kept, bad rows reported as file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync.warehouse import Warehouse, table

runner = CliRunner()

TICKETS = """id,created_at,subject,priority,channel,status,assignee_id,tags,sla_tier
1,2026-01-05T09:00:00Z,Login fails,high,email,solved,a1,login;web,gold
2,2026-01-05 10:30:00,Refund,urgent,phone,open,a2,,silver
3,yesterday,Broken,low,email,open,a1,,
4,2026-01-06T08:00:00+01:00,Fax,normal,fax,open,a1,,
5,,No date,low,web,open,a1,,
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env from a developer's checkout
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    (tmp_path / "data").mkdir()
    return tmp_path


def tickets(env: Path) -> dict[str, dict]:
    wh = Warehouse(f"sqlite:///{env / 'w.db'}")
    with wh.connect() as connection:
        return {r.id: dict(r._mapping) for r in connection.execute(select(table("tickets")))}


def test_import_keeps_good_rows_and_reports_bad_ones_by_file_and_line(env: Path) -> None:
    (env / "data" / "tickets.csv").write_text(TICKETS)
    result = runner.invoke(app, ["import", str(env / "data")])

    assert result.exit_code == 3, result.output
    assert "tickets.csv:4: created_at: not an ISO-8601 date/time: 'yesterday'" in result.stderr
    assert "tickets.csv:5: channel: unknown value 'fax'" in result.stderr
    assert "tickets.csv:6: missing required column 'created_at'" in result.stderr
    rows = tickets(env)
    assert sorted(rows) == ["1", "2"]
    assert rows["1"]["tags"] == "login;web"
    assert rows["1"]["extra"] == {"sla_tier": "gold"}
    assert rows["2"]["created_at"].isoformat() == "2026-01-05T10:30:00+00:00"


def test_reimporting_the_same_files_changes_nothing_and_a_changed_row_updates(env: Path) -> None:
    good = "\n".join(TICKETS.splitlines()[:3]) + "\n"
    (env / "data" / "tickets.csv").write_text(good)
    assert runner.invoke(app, ["import", str(env / "data")]).exit_code == 0
    again = runner.invoke(app, ["import", str(env / "data")])
    assert again.exit_code == 0
    last = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)["sources"][0]
    assert last["last_run"]["streams"]["tickets"] == {
        "status": "ok",
        "records": 2,
        "rows": 2,
        "written": 0,
        "pages": 1,
        "quarantined": 0,
        "error": None,
    }
    first = tickets(env)

    (env / "data" / "tickets.csv").write_text(good.replace("Refund,urgent", "Refund please,urgent"))
    assert runner.invoke(app, ["import", str(env / "data")]).exit_code == 0
    after = tickets(env)
    assert after["2"]["subject"] == "Refund please"
    assert after["1"] == first["1"]
    assert len(after) == 2


def test_jsonl_with_a_broken_line_imports_the_others(env: Path) -> None:
    lines = [
        json.dumps({"id": "s1", "survey": "csat", "score": 5, "created_at": "2026-01-01"}),
        '{"id": "s2", "survey": "csat", "score": ',
        json.dumps({"id": "s3", "survey": "vibes", "score": 3, "created_at": "2026-01-01"}),
        json.dumps({"id": "s4", "survey": "nps", "score": "nine", "created_at": "2026-01-01"}),
        json.dumps({"id": "s5", "survey": "nps", "score": 9, "created_at": "2026-01-02T00:00:00Z"}),
    ]
    (env / "data" / "survey_responses.jsonl").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["import", str(env / "data"), "--source", "legacy"])
    assert result.exit_code == 3
    assert "survey_responses.jsonl:2: not valid JSON" in result.stderr
    assert "survey_responses.jsonl:3: survey: unknown value 'vibes'" in result.stderr
    assert "survey_responses.jsonl:4: score: not a number: 'nine'" in result.stderr
    wh = Warehouse(f"sqlite:///{env / 'w.db'}")
    with wh.connect() as connection:
        got = connection.execute(
            select(table("survey_responses").c.source, table("survey_responses").c.id)
        ).all()
    assert sorted(got) == [("legacy", "s1"), ("legacy", "s5")]

    status = runner.invoke(app, ["status", "--format", "json"])
    data = json.loads(status.stdout)
    assert data["quarantine"]["total"] == 3
    assert data["tables"]["survey_responses"] == 2
    assert data["sources"][0]["last_run"]["status"] == "partial"


def test_a_missing_folder_is_one_clear_line(env: Path) -> None:
    result = runner.invoke(app, ["import", str(env / "nowhere")])
    assert result.exit_code == 2  # a usage error: the user names the folder
    assert result.stderr.strip().startswith("error: no such folder")
    assert "Traceback" not in result.output
