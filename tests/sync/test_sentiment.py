"""Social sentiment scored in the sync (sync.sentiment): the labels VADER gives, other languages
left unscored, nothing downloaded, and `social_sentiment` computed from what the import scored."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from deskpulse.cli import app
from deskpulse.sync import sentiment
from deskpulse.sync.warehouse import Warehouse, table

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "label", "compound"),
    [
        # VADER's compound scores for these texts (vaderSentiment 3.3.2), and the label by the
        # thresholds +-0.05.
        ("Love the new update, thanks!", "positive", 0.8122),
        ("Integration broken with Slack", "negative", -0.4767),
        ("Shipping delay", "negative", -0.3182),
        ("Password reset not working", "neutral", 0.0),
    ],
)
def test_english_text_is_scored(text: str, label: str, compound: float) -> None:
    verdict = sentiment.score(text)
    assert (verdict.label, verdict.language) == (label, "en")
    assert verdict.compound == pytest.approx(compound, abs=1e-4)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ich kann mein Passwort nicht zurücksetzen, das ist furchtbar", "de"),
        ("Merci beaucoup pour votre aide, super service", "fr"),
        ("¿Dónde está mi pedido? Llevo una semana esperando", "es"),
    ],
)
def test_other_languages_are_left_unscored_not_read_as_english(text: str, language: str) -> None:
    verdict = sentiment.score(text)
    assert (verdict.label, verdict.compound, verdict.language) == (None, None, language)
    assert verdict.reason == f"language {language}: the model reads English only"


def test_text_without_words_is_unscored() -> None:
    assert sentiment.score("#12345 !!!").label is None
    assert sentiment.score("#12345 !!!").reason == "no words to read"


def test_models_load_from_the_packages_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("sentiment scoring tried to open a network connection")

    sentiment.score.cache_clear()
    sentiment._detector.cache_clear()
    sentiment._analyzer.cache_clear()
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert sentiment.score("Thanks a lot, great help!").label == "positive"
    assert sentiment.score("Vielen Dank für die schnelle Hilfe").language == "de"


def test_a_given_sentiment_is_kept_and_extra_is_merged() -> None:
    rows: list[dict[str, Any]] = [
        {"text": "Shipping delay", "sentiment": "positive", "extra": None},  # the source's own
        {"text": "Love it, thanks!", "sentiment": None, "extra": {"lang_hint": "en"}},
        {"text": None, "sentiment": None, "extra": None},
    ]
    sentiment.score_mentions(rows)
    assert rows[0] == {"text": "Shipping delay", "sentiment": "positive", "extra": None}
    assert rows[1]["sentiment"] == "positive"
    assert rows[1]["extra"]["lang_hint"] == "en"
    assert rows[1]["extra"]["sentiment"]["model"] == "vader"
    assert rows[2]["sentiment"] is None and rows[2]["extra"] is None


MENTIONS = """id,created_at,network,text
1,2026-03-02T09:00:00Z,twitter,"Love the new update, thanks!"
2,2026-03-02T10:00:00Z,twitter,Great support today
3,2026-03-03T09:00:00Z,facebook,Integration broken with Slack
4,2026-03-03T10:00:00Z,facebook,Password reset not working
5,2026-03-04T09:00:00Z,twitter,"Ich kann mein Passwort nicht zurücksetzen, das ist furchtbar"
"""


def test_imported_mentions_are_scored_and_social_sentiment_has_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESKPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "social_mentions.csv").write_text(MENTIONS, encoding="utf-8")
    result = runner.invoke(app, ["import", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output

    with Warehouse(f"sqlite:///{tmp_path / 'w.db'}").connect() as connection:
        rows = {r.id: r for r in connection.execute(select(table("social_mentions")))}
    assert {i: r.sentiment for i, r in rows.items()} == {
        "1": "positive",
        "2": "positive",
        "3": "negative",
        "4": "neutral",
        "5": None,
    }
    assert rows["5"].extra["sentiment"]["language"] == "de"

    out = runner.invoke(
        app, ["kpi", "--from", "2026-03-01", "--to", "2026-03-08", "--metric", "social_sentiment",
              "--format", "json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    (value,) = json.loads(out.stdout)
    # 4 scored: 2 positive, 1 neutral, 1 negative -> 2/4 - 1/4 = 0.25; the German one unknown.
    assert value["value"] == pytest.approx(0.25)
    assert value["n"] == 4
    assert value["details"]["unknown"] == 1
