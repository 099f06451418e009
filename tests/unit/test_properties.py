"""Property-based: span decoding, subject extraction, the aggregator and the request parser take any input without
raising anything but their documented errors, and keep their promises (spans inside the context, subjects inside
the prompt, one sentence per outcome)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slmesh.aggregator import compose_answer
from slmesh.api.contract import RequestError, parse_analyze_request
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeRequest, ErrorResponse, RouterDecision, SkillOutcome
from slmesh.skills.qa import QAResult, QASkill
from slmesh.skills.registry import SkillSet, registry
from slmesh.skills.router import RouterSkill, subject_span
from slmesh.skills.sentiment import SentimentResult
from slmesh.skills.spans import Window, best_span
from slmesh.skills.summarize import SummaryResult

pytestmark = pytest.mark.unit

MODELS = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
"""Inputs that run a model: fewer examples, each some milliseconds."""

logits = st.floats(min_value=-30, max_value=30, allow_nan=False, width=32)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    length = draw(st.integers(1, 24))
    offsets: list[tuple[int, int] | None] = []
    position = 0
    for _ in range(length):
        if draw(st.booleans()):
            width = draw(st.integers(0, 6))
            offsets.append((position, position + width))
            position += width + draw(st.integers(0, 2))
        else:
            offsets.append(None)
    starts = np.array(draw(st.lists(logits, min_size=length, max_size=length)), dtype=np.float32)
    ends = np.array(draw(st.lists(logits, min_size=length, max_size=length)), dtype=np.float32)
    return Window(starts, ends, offsets)


@settings(max_examples=300)
@given(st.lists(windows(), max_size=4), st.integers(1, 40))
def test_span_decoding_keeps_spans_ordered_inside_some_window(found: list[Window], max_tokens: int) -> None:
    decoded = best_span(found, max_tokens)
    if decoded.best is None:
        return
    assert decoded.best.start <= decoded.best.end
    assert 0.0 <= decoded.best.probability <= 1.0 + 1e-6
    in_context = [o for w in found for o in w.offsets if o is not None]
    assert any(o[0] == decoded.best.start for o in in_context)
    assert any(o[1] == decoded.best.end for o in in_context)


@pytest.fixture(scope="module")
def skills(model_store: ModelStore) -> SkillSet:
    return SkillSet(model_store)


@MODELS
@given(question=st.text(min_size=1, max_size=200), context=st.text(max_size=600))
def test_qa_answers_any_text_with_a_span_of_its_context(skills: SkillSet, question: str, context: str) -> None:
    result = skills.skill(QASkill).answer(question, context)
    assert isinstance(result, QAResult)
    if result.answer is not None:
        assert result.start is not None and result.end is not None
        assert context[result.start : result.end] == result.answer


@MODELS
@given(prompt=st.text(min_size=1, max_size=400))
def test_the_router_takes_any_prompt_and_its_subject_is_part_of_it(skills: SkillSet, prompt: str) -> None:
    decision = skills.router.route(prompt)
    assert decision.subject in prompt
    assert set(decision.skills) <= set(registry.names())


@MODELS
@given(prompt=st.text(min_size=1, max_size=300), data=st.data())
def test_subject_extraction_takes_any_tagging(skills: SkillSet, prompt: str, data: st.DataObject) -> None:
    router = skills.router
    assert isinstance(router, RouterSkill)
    encoding = router._bundle.tokenizer.encode(prompt)
    # The router may have read only the first tokens: any cut from 1 token to all of them.
    kept = data.draw(st.integers(1, len(encoding.ids)))
    probs = np.array(data.draw(st.lists(st.floats(0, 1), min_size=kept, max_size=kept)))
    assert subject_span(prompt, encoding, probs) in prompt


def _outcome(skill: str, status: str, error: str) -> SkillOutcome:
    if status != "ok":
        return SkillOutcome(skill=skill, status=status, error=error, latency_ms=1.0)  # type: ignore[arg-type]
    spec = registry.spec(skill)
    assert spec is not None
    result: Any
    if spec.result_model is SentimentResult:
        result = SentimentResult(label=error[:20] or "positive", score=0.5, scores={error[:20] or "positive": 0.5})
    elif spec.result_model is QAResult:
        result = QAResult(answer=error or None, score=0.5)
    else:
        words = len(error.split())
        result = SummaryResult(
            summary=error,
            sentences=[error],
            positions=[0],
            words=words,
            source_sentences=1,
            source_words=words,
            read="subject",
            max_words=60,
        )
    return SkillOutcome(skill=skill, status="ok", result=result, latency_ms=1.0)


@settings(max_examples=300)
@given(
    chosen=st.lists(st.sampled_from(registry.names()), unique=True),
    statuses=st.lists(st.sampled_from(["ok", "error", "unavailable"]), min_size=3, max_size=3),
    text=st.text(max_size=80),
    subject=st.text(max_size=80),
)
def test_the_aggregator_writes_one_sentence_per_chosen_skill(
    chosen: list[str], statuses: list[str], text: str, subject: str
) -> None:
    decision = RouterDecision(skills=chosen, scores={}, subject=subject)  # type: ignore[arg-type]
    outcomes = {
        skill: _outcome(skill, "unavailable" if registry.spec(skill) is None else status, text)
        for skill, status in zip(chosen, statuses, strict=False)
    }
    answer = compose_answer(decision, outcomes)
    assert isinstance(answer, str) and answer
    for skill, outcome in outcomes.items():
        if outcome.status == "error":
            assert f"{skill} failed: {text}" in answer


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _parses_or_refuses(body: bytes | str) -> None:
    try:
        request = parse_analyze_request(body, "corr")
    except RequestError as exc:
        assert exc.status in (400, 413, 422)
        ErrorResponse.model_validate(exc.body.model_dump())
        return
    assert isinstance(request, AnalyzeRequest) and request.prompt.strip()


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_the_request_parser_takes_any_bytes(body: bytes) -> None:
    _parses_or_refuses(body)


@settings(max_examples=400)
@given(
    st.dictionaries(
        st.sampled_from(["prompt", "context", "request_id", "extra"]),
        json_values | st.text(max_size=200),
        max_size=4,
    )
    | json_values
)
def test_the_request_parser_takes_any_json(value: Any) -> None:
    _parses_or_refuses(json.dumps(value))
    _parses_or_refuses(json.dumps(value, ensure_ascii=False).encode())
