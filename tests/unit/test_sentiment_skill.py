"""Sentiment on the committed model: how a review longer than one model call is read."""

from __future__ import annotations

import dataclasses

import pytest

from slmesh.pipeline import Pipeline
from slmesh.skills.sentiment import SentimentSkill

pytestmark = pytest.mark.unit

FILLER = "The screening started at eight and the film runs for about two hours. "
VERDICT = "The acting was dreadful, the plot was boring and I hated every minute of it. "


def _skill(pipeline: Pipeline, long_text: str) -> SentimentSkill:
    bundle = pipeline.skills.skill(SentimentSkill).bundle
    return SentimentSkill.from_bundle(
        dataclasses.replace(bundle, inference={**bundle.inference, "long_text": long_text})
    )


def test_windows_read_the_middle_of_a_review_that_head_and_tail_cut_out(pipeline: Pipeline) -> None:
    # Given a review whose verdict sits between long neutral passages at both ends
    review = FILLER * 12 + VERDICT * 30 + FILLER * 30
    # When it is read in overlapping windows
    windowed = _skill(pipeline, "windows").predict([review])[0]
    # Then the verdict decides, far more surely than the first and last tokens alone
    assert windowed.label == "negative"
    head_tail = _skill(pipeline, "head_tail").logits([review])[0]
    assert _skill(pipeline, "windows").logits([review])[0][0] - head_tail[0] > 1.0


def test_short_texts_get_the_same_logits_either_way_and_keep_their_order(pipeline: Pipeline) -> None:
    texts = ["What a wonderful, moving film.", VERDICT, "fine", FILLER * 3]
    windows = _skill(pipeline, "windows")
    assert (windows.logits(texts) == _skill(pipeline, "head_tail").logits(texts)).all()
    assert [r.label for r in windows.predict(texts)][:2] == ["positive", "negative"]
    assert [r.label for r in windows.predict(texts[:2][::-1])] == ["negative", "positive"]


def _with(pipeline: Pipeline, **inference: object) -> SentimentSkill:
    bundle = pipeline.skills.skill(SentimentSkill).bundle
    return SentimentSkill.from_bundle(dataclasses.replace(bundle, inference={**bundle.inference, **inference}))


def test_every_label_of_the_card_gets_a_calibrated_probability(pipeline: Pipeline) -> None:
    skill = pipeline.skills.skill(SentimentSkill)
    for result in skill.predict(["What a wonderful, moving film.", "When does the shop open?"]):
        assert list(result.scores) == list(skill.labels)
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert result.score == result.scores[result.label] == max(result.scores.values())


def test_labels_are_the_cards_not_the_codes(pipeline: Pipeline) -> None:
    labels = pipeline.skills.skill(SentimentSkill).labels
    renamed = [f"class {i}" for i in range(len(labels))]
    result = _with(pipeline, labels=renamed).predict(["What a wonderful, moving film."])[0]
    assert set(result.scores) == set(renamed) and result.label in renamed


def test_the_class_bias_of_the_card_moves_the_probabilities(pipeline: Pipeline) -> None:
    labels = pipeline.skills.skill(SentimentSkill).labels
    last_wins = [0.0] * (len(labels) - 1) + [50.0]
    results = _with(pipeline, class_bias=last_wins).predict(["Dreadful.", "What a wonderful, moving film."])
    assert [r.label for r in results] == [labels[-1]] * 2


def test_emoji_are_read_by_their_names_when_the_card_says_so(pipeline: Pipeline) -> None:
    named = _with(pipeline, normalize="emoji_names")
    assert (named.logits(["👍👍👍"]) == named.logits(["thumbs up thumbs up thumbs up"])).all()
    raw = _with(pipeline, normalize="none")
    assert (raw.logits(["👍👍👍"]) == raw.logits(["🤬🤬"])).all(), "both are a lone [UNK] without names"
