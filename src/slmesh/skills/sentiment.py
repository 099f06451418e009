"""Sentiment of a text: the label the model's card names, with a temperature-calibrated score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from slmesh.budget import MAX_TEXT_TOKENS, InputTooLarge, calls
from slmesh.encoding import head_tail, pad_batch, windows
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.metrics import evaluate_sentiment
from slmesh.runtime import ModelBundle
from slmesh.schemas import SkillResult, SkillTask
from slmesh.skills.base import CardSettings, Skill

SLICE = 16
"""Texts per ONNX call: small enough to pad little, large enough to amortise the call."""


class SentimentSettings(CardSettings):
    max_length: int = Field(gt=2)
    labels: tuple[str, ...] = Field(min_length=2, description="Class names in the order of the model's logits.")
    head_tokens: int | None = Field(default=None, gt=0)
    long_text: Literal["head_tail", "windows"] = "head_tail"
    temperature: float = Field(default=1.0, gt=0.0)


class SentimentResult(SkillResult):
    label: str
    score: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the label.")


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=axis, keepdims=True)
    return result


class SentimentSkill(Skill[SentimentSettings, SentimentResult]):
    name: ClassVar[str] = "sentiment"
    title: ClassVar[str] = "sentiment analysis"
    resource: ClassVar[str] = "Sentiment"
    model: ClassVar[str | None] = "sentiment"
    settings_model = SentimentSettings
    measure = Measure(("text", "label"), evaluate_sentiment)
    result_model = SentimentResult

    def __init__(self, settings: SentimentSettings, bundle: ModelBundle | None = None, slice_size: int = SLICE) -> None:
        super().__init__(settings, bundle)
        self.slice_size = slice_size

    def _pieces(self, ids: list[int]) -> list[list[int]]:
        cfg = self.settings
        if cfg.long_text == "windows":
            if len(ids) > MAX_TEXT_TOKENS:
                raise InputTooLarge("text", len(ids), MAX_TEXT_TOKENS, self.name)
            return windows(ids, cfg.max_length)
        return [head_tail(ids, cfg.max_length, cfg.head_tokens or cfg.max_length)]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: the mean over its windows when a text is longer than the model reads at once."""
        encodings = self.bundle.tokenizer.encode_batch(list(texts))
        pieces = [(i, piece) for i, e in enumerate(encodings) for piece in self._pieces(e.ids)]
        # Short pieces padded to a long neighbour waste most of a call: run length-sorted slices.
        pieces.sort(key=lambda item: len(item[1]))
        sums = np.zeros((len(texts), len(self.settings.labels)), dtype=np.float64)
        counts = np.zeros(len(texts))
        for call in calls([len(p) for _, p in pieces], rows=self.slice_size):
            part = pieces[call]
            owners = [i for i, _ in part]
            np.add.at(sums, owners, self.bundle.run(pad_batch([p for _, p in part]))["logits"])
            np.add.at(counts, owners, 1)
        result: np.ndarray = (sums / counts[:, None]).astype(np.float32)
        return result

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        if not texts:
            return []
        probs = softmax(self.logits(texts) / self.settings.temperature)
        best = probs.argmax(axis=-1)
        labels = self.settings.labels
        return [
            SentimentResult(label=labels[int(k)], score=round(float(p[k]), 4)) for k, p in zip(best, probs, strict=True)
        ]

    def run(self, tasks: Sequence[SkillTask]) -> list[SentimentResult]:
        return self.predict([t.subject for t in tasks])

    @classmethod
    def describe(cls, result: SentimentResult) -> str:
        return f"The sentiment is {result.label} ({result.score:.0%})."
