"""Extractive summaries on the committed embedding model: which sentences, in which order, within which budget."""

from __future__ import annotations

import numpy as np
import pytest

from slmesh.budget import InputTooLarge
from slmesh.pipeline import Pipeline
from slmesh.schemas import MAX_CONTEXT_CHARS, AnalyzeRequest, SkillTask, Target
from slmesh.skills.summarize import SummarizeSkill, centrality, select, sentences_of

pytestmark = pytest.mark.unit

REVIEW = (
    "The hotel was dirty, the staff were rude and the breakfast was cold. Never again. We booked the room in March"
    " for a family wedding. The check-in took forty minutes because only one desk was open. Our room smelled of"
    " smoke and the window did not close. The pool was closed without notice. On the bright side, the location near"
    " the station was convenient. We asked for a refund and were offered a voucher instead."
)


@pytest.fixture
def skill(pipeline: Pipeline) -> SummarizeSkill:
    return pipeline.skills.skill(SummarizeSkill)


def _task(subject: str, context: str | None = None, target: Target = "subject") -> SkillTask:
    return SkillTask(request_id="r", skill="summarize", subject=subject, context=context, target=target)


def test_mmr_skips_a_sentence_that_repeats_one_already_chosen() -> None:
    # Given sentences 0 and 1 saying the same thing, both the most central, and 2 saying something else
    similarity = np.array([[1.0, 0.99, 0.5, 0.3], [0.99, 1.0, 0.5, 0.3], [0.5, 0.5, 1.0, 0.2], [0.3, 0.3, 0.2, 1.0]])
    # When two are chosen
    chosen = select(similarity, [5, 5, 5, 5], max_sentences=2, max_words=60)
    # Then the second is not the repeat, and the order is the document's
    assert chosen == [0, 2]
    assert centrality(similarity).argmax() in (0, 1)


def test_the_word_budget_skips_what_does_not_fit_and_keeps_filling() -> None:
    similarity = np.eye(4) * 0.5 + 0.5
    # Sentence 0 is the most central but too long for what is left after 1; 2 and 3 fit
    chosen = select(similarity, [50, 30, 20, 10], max_sentences=3, max_words=60)
    assert sum([50, 30, 20, 10][i] for i in chosen) <= 60 and len(chosen) >= 2


def test_markdown_titles_are_left_out_and_list_items_are_sentences() -> None:
    text = "# Bikes\n\n## Folding bikes\nFolding bikes go free.\n- Fold it first\n- Keep aisles clear\n1. Board"
    assert sentences_of(text) == ["Folding bikes go free.", "Fold it first", "Keep aisles clear", "Board"]
    one_line = "# Bikes on trains are welcome at any hour of the day and night here ## Parking Racks are free."
    assert sentences_of(one_line)[-1] == "Parking Racks are free."


def test_a_review_is_cut_to_its_central_sentences_in_document_order(skill: SummarizeSkill) -> None:
    result = skill.summarize(REVIEW)
    assert result.positions == sorted(result.positions) and len(result.positions) <= 3
    assert result.words <= 60 and result.source_words == len(REVIEW.split())
    assert result.sentences[0] == "The hotel was dirty, the staff were rude and the breakfast was cold."
    assert all(sentence in REVIEW for sentence in result.sentences)
    assert SummarizeSkill.describe(result).startswith("In short: The hotel was dirty")


def test_a_text_within_the_budget_is_not_repeated_back(skill: SummarizeSkill) -> None:
    # Given the router found no text of its own: the subject is the instruction
    [result] = skill.run([_task("tl;dr of the charter please")])
    assert result.summary == "" and result.no_summary_reason == "within_budget" and result.read == "subject"
    assert "send it as the context" in SummarizeSkill.describe(result)
    [empty] = skill.run([_task("   ")])
    assert empty.no_summary_reason == "no_text"


def test_a_short_subject_sent_with_a_context_summarises_the_context(skill: SummarizeSkill) -> None:
    [by_router] = skill.run([_task("Summarise the review", REVIEW, target="context")])
    [by_length] = skill.run([_task("Summarise the review", REVIEW, target="subject")])
    assert by_router.read == by_length.read == "context" and by_router == by_length
    [long_subject] = skill.run([_task(REVIEW, "A different short note.")])
    assert long_subject.read == "subject"


def test_one_sentence_over_the_budget_is_cut_to_it(skill: SummarizeSkill) -> None:
    sentence = " ".join(["word"] * 90) + "."
    result = skill.summarize(sentence)
    assert result.truncated and result.words == 60 and result.summary.endswith("…")


def test_a_text_over_the_token_limit_is_refused_before_any_model_call(skill: SummarizeSkill) -> None:
    # Two tokens per three characters: within the character limit, over the token limit
    huge = "x, " * (MAX_CONTEXT_CHARS // 3)
    with pytest.raises(InputTooLarge, match=r"context is [\d,]+ tokens; summarize reads at most"):
        skill.check([_task("Summarise it", huge, target="context")])


def test_the_pipeline_routes_a_mixed_request_to_summary_and_sentiment(pipeline: Pipeline) -> None:
    response = pipeline.analyze(
        AnalyzeRequest(prompt="Summarize the passage and tell me its sentiment", context=REVIEW)
    )
    assert set(response.skills) == {"sentiment", "summarize"}
    summary = response.outcomes["summarize"]
    assert summary.status == "ok" and summary.result is not None
    assert "In short:" in response.answer and "summarize" in response.timings_ms
