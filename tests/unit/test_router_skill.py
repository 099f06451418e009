"""Router thresholds and subject extraction."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Encoding, Tokenizer

from slmesh.evaluation.metrics import evaluate_router
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelBundle
from slmesh.schemas import RouterDecision, Target
from slmesh.skills.router import RouterSkill, encode_prompts, seen_positions, subject_bounds, subject_span

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


def test_the_subject_s_bounds_are_where_it_lies_in_the_prompt(pipeline: Pipeline) -> None:
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    # Given a question that is asked twice, tagged at its second occurrence only
    prompt = 'She asked "Is it late?" and so do I: "Is it late?"'
    encoding = tokenizer.encode(prompt)
    second = prompt.rindex("Is it late?")
    probs = _tagged(encoding, list(range(len(encoding.ids))), second - 1, len(prompt))
    # Then the bounds are the second occurrence's, its quotes trimmed
    assert subject_bounds(prompt, encoding, probs) == (second, second + len("Is it late?"))
    # And a prompt nothing in which is tagged is all of it but its quotes
    quoted = tokenizer.encode("“Late?”")
    assert subject_bounds("“Late?”", quoted, np.zeros(len(quoted.ids))) == (1, 6)


def test_a_routed_decision_says_where_its_subject_begins(pipeline: Pipeline) -> None:
    prompt = 'Analyse sentiment and answer the following question: "Is the train coming at all?"'
    decision = pipeline.skills.router.route(prompt)
    assert decision.subject_start is not None
    assert prompt[decision.subject_start :].startswith(decision.subject)


def test_untagged_prompt_falls_back_to_the_whole_prompt(pipeline: Pipeline) -> None:
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    prompt = "“Is the train late?”"
    encoding = tokenizer.encode(prompt)
    assert subject_span(prompt, encoding, np.zeros(len(encoding.ids))) == "Is the train late?"


def test_a_prompt_sent_with_a_context_is_read_with_the_marker_as_its_second_segment(pipeline: Pipeline) -> None:
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    prompts = ["gist please", "gist please"]
    alone, marked = encode_prompts(tokenizer, prompts, [False, True], "attached text")
    # The marked prompt is the same prompt, then the marker's tokens in segment 1 before the last [SEP]
    assert marked.ids[: len(alone.ids)] == alone.ids
    assert marked.type_ids[len(alone.ids) :] == [1] * (len(marked.ids) - len(alone.ids))
    assert tokenizer.decode(marked.ids[len(alone.ids) :]) == "attached text"
    # And the subject never reaches into the marker, even when every token is tagged
    assert subject_span(prompts[1], marked, np.ones(len(marked.ids))) == "gist please"
    # And a router trained without a marker reads a prompt alike with a context or without one
    unmarked = encode_prompts(tokenizer, prompts, [False, True], None)
    assert unmarked[0].ids == unmarked[1].ids == alone.ids


LONG_COMPLAINT = " ".join(["The train was late again and nobody on the platform told us anything about it."] * 30)


def _tagged(encoding: Encoding, positions: list[int], start: int, end: int) -> np.ndarray:
    """Subject probabilities that tag the seen tokens inside prompt[start:end]."""
    return np.array(
        [1.0 if encoding.sequence_ids[p] == 0 and start <= encoding.offsets[p][0] < end else 0.0 for p in positions]
    )


def test_a_subject_running_into_the_unseen_middle_runs_across_it(pipeline: Pipeline) -> None:
    # Given a long text with the request at its end, of which the router sees the head and the tail
    tokenizer: Tokenizer = pipeline.skills.router._bundle.tokenizer
    prompt = f"{LONG_COMPLAINT} What is the sentiment of this?"
    encoding = tokenizer.encode(prompt)
    positions = seen_positions(len(encoding.ids), 128)
    assert len(positions) == 128 < len(encoding.ids)
    # When the text is tagged in the head and in the tail up to the request
    probs = _tagged(encoding, positions, 0, len(LONG_COMPLAINT))
    # Then the subject is the whole text, middle included
    assert subject_span(prompt, encoding, probs, positions) == LONG_COMPLAINT
    # And a subject tagged only up to the end of the head runs on to where the tail starts
    head_only = probs * (np.arange(len(positions)) < 64)
    tail_start = encoding.offsets[positions[64]][0]
    assert subject_span(prompt, encoding, head_only, positions) == prompt[:tail_start].strip()


@pytest.mark.parametrize(
    ("prompt", "attached", "targets"),
    [
        ("I hate this app", False, {"sentiment": "subject"}),
        ("I love this app", False, {"sentiment": "subject"}),
        ("This app is terrible", False, {"sentiment": "subject"}),
        ("analyze sentimant: the food was cold", False, {"sentiment": "subject"}),
        ("tl;dr of the charter please", False, {"summarize": "context"}),
        ("Summarize the passage and tell me its sentiment", True, {"sentiment": "context", "summarize": "context"}),
        ("translate this into French", False, {}),
        ("write a poem about trains", False, {}),
    ],
)
def test_the_issue_s_reproductions_route_to_the_skills_and_texts_asked_for(
    pipeline: Pipeline, prompt: str, attached: bool, targets: dict[str, Target]
) -> None:
    # Given the served router and a prompt the router-v2 issue found misrouted (or one that must stay unrouted)
    decision = pipeline.skills.router.route(prompt, attached)
    # Then it runs exactly the skills asked for, each on the text the request names
    assert decision.skills == list(targets)
    assert {s: decision.targets[s] for s in decision.skills} == targets


def test_a_request_at_the_end_of_a_long_prompt_is_seen(pipeline: Pipeline) -> None:
    prompt = f"{LONG_COMPLAINT} Please analyse the sentiment and answer: how long do I have to claim compensation?"
    assert len(pipeline.skills.router._bundle.tokenizer.encode(prompt).ids) > 3 * 128

    decision = pipeline.skills.router.route(prompt)

    assert decision.skills == ["sentiment", "qa"]


def test_the_subject_of_a_request_between_a_long_text_and_its_question_spans_the_text(pipeline: Pipeline) -> None:
    prompt = f"{LONG_COMPLAINT} Please analyse the sentiment and answer: how long do I have to claim compensation?"
    assert pipeline.skills.router.route(prompt).subject.startswith("The train was late again")


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


class _Fixed:
    """A router that answers each prompt with the skills (and targets) given for it."""

    def __init__(self, answers: dict[str, list[str]], targets: dict[str, dict[str, Target]] | None = None) -> None:
        self.skills = ["sentiment", "qa", "summarize"]
        self._answers = answers
        self._targets = targets or {}
        self.attached: dict[str, bool] = {}

    def route_batch(self, prompts: list[str], attached: list[bool] | None = None) -> list[RouterDecision]:
        self.attached.update(zip(prompts, attached or [False] * len(prompts), strict=True))
        return [
            RouterDecision(skills=self._answers[p], scores={}, subject=p, targets=self._targets.get(p, {}))
            for p in prompts
        ]


def test_router_evaluation_reports_precision_and_recall_per_skill() -> None:
    # Given four prompts: sentiment right twice, once missed, once chosen where it was not asked for
    rows = [
        {"prompt": "a", "tasks": ["sentiment"]},
        {"prompt": "b", "tasks": ["sentiment", "qa"]},
        {"prompt": "c", "tasks": ["sentiment"]},
        {"prompt": "d", "tasks": []},
    ]
    router = _Fixed({"a": ["sentiment"], "b": ["sentiment", "qa"], "c": [], "d": ["sentiment"]})

    metrics = evaluate_router(router, rows)  # type: ignore[arg-type]

    assert metrics["exact_task_set_accuracy"] == 50.0
    assert metrics["precision_sentiment"] == pytest.approx(66.67)
    assert metrics["recall_sentiment"] == pytest.approx(66.67)
    assert metrics["precision_qa"] == metrics["recall_qa"] == 100.0
    assert "f1_summarize" not in metrics


def test_router_evaluation_scores_targets_where_a_row_gives_them() -> None:
    # Given two rows with targets: one sent to the context as asked, one to the subject though the row says context
    rows = [
        {"prompt": "a", "tasks": ["sentiment"], "targets": {"sentiment": "context"}},
        {
            "prompt": "b",
            "tasks": ["sentiment", "summarize"],
            "targets": {"sentiment": "context", "summarize": "subject"},
        },
        {"prompt": "c", "tasks": ["qa"]},
    ]
    router = _Fixed(
        {"a": ["sentiment"], "b": ["sentiment"], "c": ["qa"]},
        {"a": {"sentiment": "context"}, "b": {"sentiment": "subject", "summarize": "subject"}},
    )

    metrics = evaluate_router(router, rows)  # type: ignore[arg-type]

    # Then one target of three is right: b's sentiment went to the subject, and summarize was not chosen
    assert metrics["target_accuracy"] == pytest.approx(33.33)


def test_files_without_targets_report_no_target_accuracy() -> None:
    metrics = evaluate_router(_Fixed({"a": ["qa"]}), [{"prompt": "a", "tasks": ["qa"]}])  # type: ignore[arg-type]
    assert "target_accuracy" not in metrics


def test_the_router_gives_every_label_a_target(pipeline: Pipeline) -> None:
    decision = pipeline.skills.router.route("What is the sentiment of 'the food was cold'?")
    assert set(decision.targets) == {"sentiment", "qa", "summarize"}
    assert decision.targets["sentiment"] == "subject"


def test_router_evaluation_tells_the_router_which_rows_send_a_context() -> None:
    rows = [
        {"prompt": "a", "tasks": ["summarize"], "context": "The meeting moved to Thursday."},
        {"prompt": "b", "tasks": ["qa"], "context": "  "},
        {"prompt": "c", "tasks": ["qa"], "has_context": True},
        {"prompt": "d", "tasks": []},
    ]
    router = _Fixed({"a": ["summarize"], "b": ["qa"], "c": ["qa"], "d": []})
    evaluate_router(router, rows)  # type: ignore[arg-type]
    assert router.attached == {"a": True, "b": False, "c": True, "d": False}


def test_router_evaluation_routes_one_prompt_per_call_as_requests_are_routed() -> None:
    calls: list[int] = []

    class _Counting(_Fixed):
        def route_batch(self, prompts: list[str], attached: list[bool] | None = None) -> list[RouterDecision]:
            calls.append(len(prompts))
            return super().route_batch(prompts, attached)

    rows = [{"prompt": p, "tasks": ["qa"]} for p in "abc"]
    evaluate_router(_Counting({p: ["qa"] for p in "abc"}), rows)  # type: ignore[arg-type]
    assert calls == [1, 1, 1]
