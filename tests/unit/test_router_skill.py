"""Router thresholds and subject extraction."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelBundle
from slmesh.skills.router import RouterSkill, subject_span

pytestmark = pytest.mark.unit


def test_subject_is_the_tagged_tokens_with_quotes_trimmed(pipeline: Pipeline) -> None:
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    prompt = 'Answer this: "Where is the station?"'
    encoding = tokenizer.encode(prompt)
    start = prompt.index("Where")
    probs = np.array(
        [
            1.0 if seq == 0 and s >= start else 0.0
            for (s, _), seq in zip(encoding.offsets, encoding.sequence_ids, strict=True)
        ]
    )
    assert subject_span(prompt, encoding, probs) == "Where is the station?"


def test_untagged_prompt_falls_back_to_the_whole_prompt(pipeline: Pipeline) -> None:
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    prompt = "“Is the train late?”"
    encoding = tokenizer.encode(prompt)
    assert subject_span(prompt, encoding, np.zeros(len(encoding.ids))) == "Is the train late?"


def _router_with(pipeline: Pipeline, thresholds: dict[str, float]) -> RouterSkill:
    real = pipeline.skills.router._bundle
    inference = {**real.inference, "thresholds": thresholds}
    return RouterSkill.from_bundle(ModelBundle("router", real.session, real.tokenizer, inference))


def test_thresholds_decide_which_skills_run(pipeline: Pipeline) -> None:
    prompt = "Analyse sentiment and answer the following question: is the train late again?"
    everything = _router_with(pipeline, {"sentiment": 0.0, "qa": 0.0, "summarize": 0.0}).route(prompt)
    nothing = _router_with(pipeline, {"sentiment": 1.01, "qa": 1.01, "summarize": 1.01}).route(prompt)
    assert everything.skills == ["sentiment", "qa", "summarize"]
    assert nothing.skills == []
    assert everything.scores == nothing.scores


def test_scores_are_probabilities_for_every_skill(pipeline: Pipeline) -> None:
    decision = pipeline.skills.router.route("What is the capital of France?")
    assert set(decision.scores) == {"sentiment", "qa", "summarize"}
    assert all(0.0 <= p <= 1.0 for p in decision.scores.values())
    assert "qa" in decision.skills
