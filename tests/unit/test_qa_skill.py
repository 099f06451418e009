"""Extractive QA on the committed model: empty and very long contexts, answers across window boundaries."""

from __future__ import annotations

import pytest

from slmesh.pipeline import Pipeline
from slmesh.skills.qa import QASkill

pytestmark = pytest.mark.unit

FACT = "The observatory on Mount Pelmo was opened in 1923 by the astronomer Clara Voss."
FILLER = "The valley below is known for its quiet farms, narrow roads and slow rivers. "


@pytest.fixture(scope="module")
def qa(pipeline: Pipeline) -> QASkill:
    skill = pipeline.skills.skill(QASkill)
    return skill


@pytest.mark.parametrize("context", [None, "", "   \n  "])
def test_empty_context_has_no_answer(qa: QASkill, context: str | None) -> None:
    result = qa.answer("Who opened the observatory?", context)
    assert result.answer is None
    assert result.no_answer_reason == "no_context"


def test_very_long_context_is_read_in_windows(qa: QASkill) -> None:
    # Given a fact buried in the middle of a context ten times longer than one window
    context = FILLER * 60 + FACT + " " + FILLER * 60
    # When the question is asked
    result = qa.answer("In which year was the observatory on Mount Pelmo opened?", context)
    # Then the answer is found, as a span of the context
    assert result.answer is not None
    assert "1923" in result.answer
    assert result.start is not None and context[result.start : result.end] == result.answer


def test_answer_straddling_a_window_boundary(qa: QASkill) -> None:
    # Place the fact so that the first window ends inside it; the stride gives a later window all of it.
    words_before = 330
    context = " ".join(["field"] * words_before) + " " + FACT + " " + " ".join(["field"] * 200)
    result = qa.answer("Who opened the observatory on Mount Pelmo?", context)
    assert result.answer is not None
    assert "Clara Voss" in result.answer


def test_overlong_question_is_clipped_not_rejected(qa: QASkill) -> None:
    question = "Who opened the observatory on Mount Pelmo? " * 40
    result = qa.answer(question, FACT)
    assert result.no_answer_reason != "no_context"


def test_batch_answers_keep_their_order(qa: QASkill) -> None:
    results = qa.answer_batch([("Who opened the observatory?", FACT), ("When?", None)])
    assert results[0].no_answer_reason != "no_context"
    assert results[1].no_answer_reason == "no_context"
