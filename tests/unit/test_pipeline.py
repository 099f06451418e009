"""The embedded pipeline end to end on the committed models, and its behaviour when a skill breaks."""

from __future__ import annotations

from typing import Any

import pytest

from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelBundle, ModelNotFoundError, ModelStore
from slmesh.schemas import AnalyzeRequest
from slmesh.skills.qa import QAResult
from slmesh.skills.sentiment import SentimentResult, SentimentSkill
from slmesh.skills.summarize import SummaryResult

pytestmark = pytest.mark.unit


class CrashingSession:
    """An ONNX session whose every run fails, as a model that loads but breaks at inference time does."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get_inputs(self) -> Any:
        return self._real.get_inputs()

    def get_outputs(self) -> Any:
        return self._real.get_outputs()

    def run(self, *args: Any) -> Any:
        raise RuntimeError("the model crashed")


class BrokenSkill:
    """A model source whose `broken` model is missing, mis-set or crashing; the others come from the real store."""

    def __init__(self, store: ModelStore, broken: str, how: str) -> None:
        self._store = store
        self._broken = broken
        self._how = how

    def get(self, name: str) -> ModelBundle:
        if name != self._broken:
            return self._store.get(name)
        if self._how == "missing":
            raise ModelNotFoundError(f"no model for {name}")
        real = self._store.get(name)
        if self._how == "mis-set":
            return ModelBundle(name, real.session, real.tokenizer, {**real.inference, "max_length": "not a number"})
        return ModelBundle(name, CrashingSession(real.session), real.tokenizer, real.inference)


@pytest.mark.parametrize("prompt", REFERENCE_PROMPTS)
def test_reference_prompts_get_sentiment_and_qa(pipeline: Pipeline, prompt: str) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt=prompt, context=TRAIN_SERVICE_CONTEXT))
    assert response.skills == ["sentiment", "qa"]
    assert "Analyse sentiment" not in response.router.subject
    assert set(response.outcomes) == {"sentiment", "qa"}
    assert all(o.status == "ok" for o in response.outcomes.values())
    assert {"router", "sentiment", "qa", "aggregate", "total"} <= set(response.timings_ms)
    assert response.timings_ms["total"] >= response.timings_ms["router"]


def test_the_reference_prompts_are_negative_neutral_and_positive(pipeline: Pipeline) -> None:
    labels = []
    for prompt in REFERENCE_PROMPTS:
        result = pipeline.analyze(AnalyzeRequest(prompt=prompt)).outcomes["sentiment"].result
        assert isinstance(result, SentimentResult)
        labels.append(result.label)
    assert labels == ["negative", "neutral", "positive"]


def test_a_message_of_emoji_alone_gets_no_confident_wrong_pole(pipeline: Pipeline) -> None:
    # Emoji are named before tokenising ("face with symbols on mouth"): unknown tokens once made both of these 0.90
    # positive.
    angry, approving = pipeline.skills.skill(SentimentSkill).predict(["🤬🤬", "👍👍👍"])
    assert angry.label != "positive" and approving.label == "positive"


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


BRIDGE = (
    "The Harbour Bridge opened in 1932 after six years of work by 1,400 men. It carries eight lanes of traffic and two"
    " railway lines, and its arch spans 503 metres. Locals call it the coat hanger."
)


@pytest.mark.parametrize(
    "prompt", [f"{BRIDGE} When did the bridge open?", f"Summarise this and tell me when the bridge opened: {BRIDGE}"]
)
def test_a_question_about_a_text_pasted_in_the_prompt_is_answered_from_it(pipeline: Pipeline, prompt: str) -> None:
    # Given a passage pasted in the prompt, no context sent
    response = pipeline.analyze(AnalyzeRequest(prompt=prompt))
    # Then QA answers from it, its offsets in the prompt, and a summary beside it reads the passage, not the question
    result = response.outcomes["qa"].result
    assert isinstance(result, QAResult)
    assert result.answer is not None and "1932" in result.answer
    assert result.start is not None and prompt[result.start : result.end] == result.answer
    if prompt.startswith("Summarise"):
        summary = response.outcomes["summarize"].result
        assert isinstance(summary, SummaryResult) and summary.source_words >= len(BRIDGE.split())


def test_a_failing_skill_gives_a_partial_answer(model_store: ModelStore) -> None:
    # Given a QA model that fails at inference time
    pipeline = Pipeline(BrokenSkill(model_store, "qa", "crashing"))
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
    pipeline = Pipeline(BrokenSkill(model_store, "sentiment", "missing"))
    try:
        response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[0]))
    finally:
        pipeline.close()
    assert response.outcomes["sentiment"].status == "unavailable"
    assert response.outcomes["qa"].status == "ok"


def test_a_card_with_bad_settings_is_refused_at_load_and_reported_unavailable(model_store: ModelStore) -> None:
    pipeline = Pipeline(BrokenSkill(model_store, "qa", "mis-set"))
    try:
        response = pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[0], context=TRAIN_SERVICE_CONTEXT))
    finally:
        pipeline.close()
    qa = response.outcomes["qa"]
    assert qa.status == "unavailable"
    assert qa.error is not None and "qa/card.json" in qa.error and "max_length" in qa.error
    assert response.outcomes["sentiment"].status == "ok"


def test_small_talk_chooses_no_skill(pipeline: Pipeline) -> None:
    response = pipeline.analyze(AnalyzeRequest(prompt="hello there, thanks a lot"))
    assert response.skills == []
    assert response.outcomes == {}
    assert "None of the available skills" in response.answer


def test_request_id_is_kept_or_generated(pipeline: Pipeline) -> None:
    assert pipeline.analyze(AnalyzeRequest(prompt="hi", request_id="abc-1")).request_id == "abc-1"
    assert pipeline.analyze(AnalyzeRequest(prompt="hi")).request_id
