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
