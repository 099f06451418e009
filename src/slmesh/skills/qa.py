"""Extractive question answering over contexts of any length."""

from __future__ import annotations

from collections.abc import Sequence

from slmesh.encoding import clip_question, encode_windows, pad_batch, windowing_tokenizer
from slmesh.runtime import ModelBundle
from slmesh.schemas import QAResult
from slmesh.skills.spans import Decoded, Window, best_span


class QASkill:
    def __init__(self, bundle: ModelBundle) -> None:
        self._bundle = bundle
        cfg = bundle.inference
        self._max_length = int(cfg["max_length"])
        self._max_question_tokens = int(cfg.get("max_question_tokens", 64))
        self._max_answer_tokens = int(cfg.get("max_answer_tokens", 30))
        self._null_threshold = float(cfg.get("null_threshold", 0.0))
        self._windowed = windowing_tokenizer(bundle.tokenizer, self._max_length, int(cfg["stride"]))

    def decode_batch(self, pairs: Sequence[tuple[str, str]]) -> list[Decoded]:
        """Every window of every (question, context) pair goes through the model in one call."""
        plain = self._bundle.tokenizer
        per_pair = [
            encode_windows(self._windowed, clip_question(plain, q, self._max_question_tokens), c) for q, c in pairs
        ]
        encodings = [e for windows in per_pair for e in windows]
        feeds = pad_batch([e.ids for e in encodings], [e.type_ids for e in encodings])
        start_logits, end_logits = self._bundle.run(feeds)[:2]
        decoded, row = [], 0
        for windows in per_pair:
            found = []
            for encoding in windows:
                n = len(encoding.ids)
                offsets = [
                    off if seq == 1 else None for off, seq in zip(encoding.offsets, encoding.sequence_ids, strict=True)
                ]
                found.append(Window(start_logits[row, :n], end_logits[row, :n], offsets))
                row += 1
            decoded.append(best_span(found, self._max_answer_tokens))
        return decoded

    def _result(self, context: str, decoded: Decoded) -> QAResult:
        span = decoded.best
        if span is None:
            return QAResult(answer=None, score=0.0, no_answer_reason="below_threshold")
        if span.score - decoded.null_score < self._null_threshold:
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
