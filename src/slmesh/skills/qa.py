"""Extractive question answering over contexts of any length: a span of the context, or no answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import Field

from slmesh.budget import MAX_CONTEXT_TOKENS, InputTooLarge, calls
from slmesh.encoding import clip_question, encode_windows, pad_batch, windowing_tokenizer
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.metrics import evaluate_qa
from slmesh.runtime import ModelBundle
from slmesh.schemas import SkillResult, SkillTask
from slmesh.skills.base import CardSettings, Skill
from slmesh.skills.spans import Decoded, Window, best_span

if TYPE_CHECKING:
    from tokenizers import Encoding


class QASettings(CardSettings):
    max_length: int = Field(gt=8)
    stride: int = Field(ge=0)
    max_question_tokens: int = Field(default=64, gt=0)
    max_answer_tokens: int = Field(default=30, gt=0)
    null_threshold: float = 0.0
    """Margin the best span's score must have over the no-answer score ([CLS]) to be given as the answer."""


class QAResult(SkillResult):
    answer: str | None = Field(description="The extracted span, or null when there is no answer.")
    score: float = Field(ge=0.0, le=1.0, description="Probability of the span within its window.")
    start: int | None = Field(default=None, description="Character offset of the answer in the context.")
    end: int | None = Field(default=None, description="Character offset one past the answer's end.")
    no_answer_reason: Literal["no_context", "below_threshold"] | None = None


class QASkill(Skill[QASettings, QAResult]):
    name: ClassVar[str] = "qa"
    title: ClassVar[str] = "question answering"
    resource: ClassVar[str] = "QA"
    model: ClassVar[str | None] = "qa"
    settings_model = QASettings
    measure = Measure(("question", "context", "answers"), evaluate_qa)
    result_model = QAResult

    def __init__(self, settings: QASettings, bundle: ModelBundle | None = None) -> None:
        super().__init__(settings, bundle)
        self._windowed = windowing_tokenizer(self.bundle.tokenizer, settings.max_length, settings.stride)

    def _windows(self, question: str, context: str) -> list[Encoding]:
        question = clip_question(self.bundle.tokenizer, question, self.settings.max_question_tokens)
        windows = encode_windows(self._windowed, question, context)
        # Each window after the first repeats `stride` context tokens of the one before it.
        in_context = [sum(1 for s in w.sequence_ids if s == 1) for w in windows]
        tokens = in_context[0] + sum(n - self.settings.stride for n in in_context[1:])
        if tokens > MAX_CONTEXT_TOKENS:
            raise InputTooLarge("context", tokens, MAX_CONTEXT_TOKENS, self.name)
        return windows

    def check(self, tasks: Sequence[SkillTask]) -> None:
        for task in tasks:
            if task.context:
                tokens = len(self.bundle.tokenizer.encode_batch([task.context], add_special_tokens=False)[0].ids)
                if tokens > MAX_CONTEXT_TOKENS:
                    raise InputTooLarge("context", tokens, MAX_CONTEXT_TOKENS, self.name)

    def decode_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Decoded]:
        """Every window of every (question, context) pair, in model calls of at most `CALL_TOKENS` tokens."""
        per_pair = [self._windows(q, c) for q, c in pairs]
        encodings = [e for windows in per_pair for e in windows]
        start_rows: list[np.ndarray] = []
        end_rows: list[np.ndarray] = []
        for part in calls([len(e.ids) for e in encodings]):
            chunk = encodings[part]
            outputs = self.bundle.run(pad_batch([e.ids for e in chunk], [e.type_ids for e in chunk]))
            start_rows += list(outputs["start_logits"])
            end_rows += list(outputs["end_logits"])
        decoded, row = [], 0
        for windows in per_pair:
            found = []
            for encoding in windows:
                n = len(encoding.ids)
                offsets = [
                    off if seq == 1 else None for off, seq in zip(encoding.offsets, encoding.sequence_ids, strict=True)
                ]
                found.append(Window(start_rows[row][:n], end_rows[row][:n], offsets))
                row += 1
            decoded.append(best_span(found, self.settings.max_answer_tokens))
        return decoded

    def _result(self, context: str, decoded: Decoded) -> QAResult:
        span = decoded.best
        if span is None:
            return QAResult(answer=None, score=0.0, no_answer_reason="below_threshold")
        if span.score - decoded.null_score < self.settings.null_threshold:
            return QAResult(answer=None, score=round(span.probability, 4), no_answer_reason="below_threshold")
        return QAResult(
            answer=context[span.start : span.end],
            score=round(span.probability, 4),
            start=span.start,
            end=span.end,
        )

    def answer_batch(self, pairs: Sequence[tuple[str, str | None]]) -> list[QAResult]:
        answerable = [(i, q, c) for i, (q, c) in enumerate(pairs) if c is not None and c.strip()]
        results = [QAResult(answer=None, score=0.0, no_answer_reason="no_context") for _ in pairs]
        if answerable:
            decoded = self.decode_batch([(q, c) for _, q, c in answerable])
            for (i, _, c), d in zip(answerable, decoded, strict=True):
                results[i] = self._result(c, d)
        return results

    def answer(self, question: str, context: str | None) -> QAResult:
        return self.answer_batch([(question, context)])[0]

    def run(self, tasks: Sequence[SkillTask]) -> list[QAResult]:
        return self.answer_batch([(t.subject, t.context) for t in tasks])

    @classmethod
    def describe(cls, result: QAResult) -> str:
        if result.answer is not None:
            return f"Answer: {result.answer} ({result.score:.0%})."
        if result.no_answer_reason == "no_context":
            return "There is no context to answer from."
        return "The context does not contain an answer."
