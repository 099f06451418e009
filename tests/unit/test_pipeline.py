"""The embedded pipeline end to end on the committed models, and its behaviour when a skill breaks."""

from __future__ import annotations

import pytest

from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelBundle, ModelNotFoundError, ModelStore
from slmesh.schemas import AnalyzeRequest, QAResult, SentimentResult

pytestmark = pytest.mark.unit


class BrokenSkill:
    """A model source whose `broken` skill fails at inference time, the others served by the real store."""

    def __init__(self, store: ModelStore, broken: str, missing: bool = False) -> None:
        self._store = store
        self._broken = broken
        self._missing = missing

    def get(self, skill: str) -> ModelBundle:
        if skill != self._broken:
            return self._store.get(skill)
        if self._missing:
            raise ModelNotFoundError(f"no model for {skill}")
        real = self._store.get(skill)
        return ModelBundle(skill, real.session, real.tokenizer, {**real.inference, "max_length": "not a number"})


@pytest.mark.parametrize("prompt", REFERENCE_PROMPTS)
def test_reference_prompts_get_sentiment_and_qa(pipeline: Pipeline, prompt: str) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt=prompt, context=TRAIN_SERVICE_CONTEXT))
    assert response.skills == ["sentiment", "qa"]
    assert "Analyse sentiment" not in response.router.subject
    assert set(response.outcomes) == {"sentiment", "qa"}
    assert all(o.status == "ok" for o in response.outcomes.values())
    assert {"router", "sentiment", "qa", "aggregate", "total"} <= set(response.timings_ms)
    assert response.timings_ms["total"] >= response.timings_ms["router"]


def test_first_reference_prompt_is_negative_and_third_positive(pipeline: Pipeline) -> None:
    labels = []
    for prompt in (REFERENCE_PROMPTS[0], REFERENCE_PROMPTS[2]):
        result = pipeline.analyze(AnalyzeRequest(prompt=prompt)).outcomes["sentiment"].result
        assert isinstance(result, SentimentResult)
        labels.append(result.label)
    assert labels == ["negative", "positive"]


def test_straight_quotes_route_like_curly_quotes(pipeline: Pipeline) -> None:
    curly = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[1]))
    straight = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[1].replace("”", '"')))
    assert straight.skills == curly.skills
    assert straight.router.subject == curly.router.subject


def test_question_without_context_says_so_instead_of_inventing(pipeline: Pipeline) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[1]))
    result = response.outcomes["qa"].result
    assert isinstance(result, QAResult)
    assert result.answer is None
    assert result.no_answer_reason == "no_context"
    assert "no context" in response.answer


def test_answer_is_a_span_of_the_context(pipeline: Pipeline) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[1], context=TRAIN_SERVICE_CONTEXT))
    result = response.outcomes["qa"].result
    assert isinstance(result, QAResult)
    assert result.answer is not None, "the demo passage states when the next train arrives"
    assert result.start is not None and result.end is not None
    assert TRAIN_SERVICE_CONTEXT[result.start : result.end] == result.answer


def test_a_failing_skill_gives_a_partial_answer(model_store: ModelStore) -> None:
    # Given a QA model whose settings make it fail at inference time
    pipeline = Pipeline(BrokenSkill(model_store, "qa"))
    try:
        # When the reference prompt is analysed
        response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[0], context=TRAIN_SERVICE_CONTEXT))
    finally:
        pipeline.close()
    # Then sentiment still answers and QA reports its error
    assert response.outcomes["sentiment"].status == "ok"
    assert response.outcomes["qa"].status == "error"
    assert response.outcomes["qa"].error
    assert "qa failed" in response.answer


def test_a_missing_model_is_reported_unavailable(model_store: ModelStore) -> None:
    pipeline = Pipeline(BrokenSkill(model_store, "sentiment", missing=True))
    try:
        response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[0]))
    finally:
        pipeline.close()
    assert response.outcomes["sentiment"].status == "unavailable"
    assert response.outcomes["qa"].status == "ok"


def test_small_talk_chooses_no_skill(pipeline: Pipeline) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt="hello there, thanks a lot"))
    assert response.skills == []
    assert response.outcomes == {}
    assert "None of the available skills" in response.answer


def test_request_id_is_kept_or_generated(pipeline: Pipeline) -> None:
    assert pipeline.analyze(AnalyzeRequest(prompt="hi", request_id="abc-1")).request_id == "abc-1"
    assert pipeline.analyze(AnalyzeRequest(prompt="hi")).request_id
