"""Sentiment over the model card's labels, with calibrated probabilities for each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from slmesh.budget import MAX_TEXT_TOKENS, InputTooLarge, calls
from slmesh.encoding import head_tail, pad_batch, windows
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.metrics import evaluate_sentiment
from slmesh.runtime import ModelBundle
from slmesh.schemas import SkillResult, SkillTask
from slmesh.skills.base import CardSettings, Skill
from slmesh.textnorm import NORMALIZERS, normalizer

SLICE = 16
"""Texts per ONNX call: small enough to pad little, large enough to amortise the call."""


class SentimentSettings(CardSettings):
    max_length: int = Field(gt=2)
    labels: tuple[str, ...] = Field(min_length=2, description="Class names in the order of the model's logits.")
    head_tokens: int | None = Field(default=None, gt=0)
    long_text: Literal["head_tail", "windows"] = "head_tail"
    temperature: float = Field(default=1.0, gt=0.0)
    class_bias: tuple[float, ...] | None = Field(default=None, description="Vector scaling: a bias per label.")
    normalize: str = Field(default="none", description="The text normalisation before tokenising (slmesh.textnorm).")

    @model_validator(mode="after")
    def _consistent(self) -> SentimentSettings:
        if self.class_bias is not None and len(self.class_bias) != len(self.labels):
            raise ValueError("class_bias needs one value per label")
        if self.normalize not in NORMALIZERS:
            raise ValueError(f"unknown normalize {self.normalize!r} (known: {', '.join(NORMALIZERS)})")
        return self


class SentimentResult(SkillResult):
    label: str = Field(description="The most probable class: one of the model card's labels.")
    score: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the label.")
    scores: dict[str, float] = Field(description="Calibrated probability of every label.")


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
        self.labels = settings.labels
        self._normalize = normalizer(settings.normalize)
        self._bias = np.asarray(settings.class_bias or [0.0] * len(settings.labels), dtype=np.float64)

    def _pieces(self, ids: list[int]) -> list[list[int]]:
        cfg = self.settings
        if cfg.long_text == "windows":
            if len(ids) > MAX_TEXT_TOKENS:
                raise InputTooLarge("text", len(ids), MAX_TEXT_TOKENS, self.name)
            return windows(ids, cfg.max_length)
        return [head_tail(ids, cfg.max_length, cfg.head_tokens or cfg.max_length)]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: the mean over its windows when a text is longer than the model reads at once."""
        encodings = self.bundle.tokenizer.encode_batch([self._normalize(t) for t in texts])
        pieces = [(i, piece) for i, e in enumerate(encodings) for piece in self._pieces(e.ids)]
        # Short pieces padded to a long neighbour waste most of a call: run length-sorted slices.
        pieces.sort(key=lambda item: len(item[1]))
        sums = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        counts = np.zeros(len(texts))
        for call in calls([len(p) for _, p in pieces], rows=self.slice_size):
            part = pieces[call]
            owners = [i for i, _ in part]
            np.add.at(sums, owners, self.bundle.run(pad_batch([p for _, p in part]))["logits"])
            np.add.at(counts, owners, 1)
        result: np.ndarray = (sums / counts[:, None]).astype(np.float32)
        return result

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The card's calibration: logits / temperature + class bias, then softmax."""
        return softmax(logits / self.settings.temperature + self._bias)

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        if not texts:
            return []
        results = []
        for row in self.probabilities(self.logits(texts)):
            best = int(row.argmax())
            scores = {name: round(float(p), 4) for name, p in zip(self.labels, row, strict=True)}
            results.append(SentimentResult(label=self.labels[best], score=scores[self.labels[best]], scores=scores))
        return results

    def run(self, tasks: Sequence[SkillTask]) -> list[SentimentResult]:
        return self.predict([t.text for t in tasks])

    @classmethod
    def describe(cls, result: SentimentResult) -> str:
        return f"The sentiment is {result.label} ({result.score:.0%})."
