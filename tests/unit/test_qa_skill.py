"""Extractive QA on the committed model: empty and very long contexts, answers across window boundaries."""

from __future__ import annotations

import pytest

from slmesh.pipeline import Pipeline
from slmesh.research.grounding import CHARTER, PRODUCT_PAGE
from slmesh.schemas import Passage, SkillTask, Source
from slmesh.skills.qa import QAResult, QASkill

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


def _over_passage(qa: QASkill, question: str, text: str) -> QAResult:
    passage = Passage(text=text, source=Source(path="kb.md", score=0.6))
    return qa.run([SkillTask(request_id="-", skill="qa", subject=question, passages=[passage])])[0]


def test_a_charter_that_names_no_chief_executive_gets_no_answer(qa: QASkill) -> None:
    # Given a passenger charter that names the Rail Ombudsman and no chief executive
    # When the user asks who the chief executive is, with the charter as context or as a retrieved passage
    given = qa.answer("Who is the chief executive?", CHARTER)
    retrieved = _over_passage(qa, "Who is the chief executive?", CHARTER)
    # Then neither answers
    assert given.answer is None and given.no_answer_reason == "below_threshold"
    assert retrieved.answer is None and retrieved.no_answer_reason == "not_in_knowledge_base"


@pytest.mark.xfail(
    strict=True,
    reason="issue 19: the model gives '25 euros' a margin of about 20 over no-answer, far above any threshold that"
    " keeps answerable F1 (docs/retrieval.md); it needs QA trained on hard negatives",
)
def test_a_product_page_that_prices_only_the_spare_cushions_gets_no_price_for_the_headphones(qa: QASkill) -> None:
    # Given a product page that prices the spare ear cushions, not the headphones
    # When the user asks what the headphones cost
    result = qa.answer("How much do the Aurora X2 cost?", PRODUCT_PAGE)
    # Then there is no answer
    assert result.answer is None


def test_a_retrieved_passage_needs_the_retrieved_threshold(qa: QASkill) -> None:
    # Given the served model with a retrieved-passage threshold above any margin it gives
    strict = QASkill(qa.settings.model_copy(update={"retrieved_null_threshold": 1e9}), qa.bundle)
    question = "Who opened the observatory on Mount Pelmo?"
    # When the same fact is sent as the context and as a retrieved passage
    given = strict.answer(question, FACT)
    retrieved = _over_passage(strict, question, FACT)
    # Then the context is answered from and the retrieved passage is not
    assert given.answer is not None and "Clara Voss" in given.answer
    assert retrieved.answer is None and retrieved.no_answer_reason == "not_in_knowledge_base"
    # And the served card's threshold answers it from the passage, with its source
    served = _over_passage(qa, question, FACT)
    assert served.answer is not None and served.source is not None and served.source.path == "kb.md"
