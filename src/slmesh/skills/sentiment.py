"""Binary sentiment with a temperature-calibrated score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from slmesh.encoding import encode_single
from slmesh.runtime import ModelBundle
from slmesh.schemas import SentimentResult

LABELS: tuple[Literal["negative"], Literal["positive"]] = ("negative", "positive")


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=axis, keepdims=True)
    return result


class SentimentSkill:
    def __init__(self, bundle: ModelBundle) -> None:
        self._bundle = bundle
        cfg = bundle.inference
        self._max_length = int(cfg["max_length"])
        self._head = int(cfg.get("head_tokens", self._max_length))
        self._temperature = float(cfg.get("temperature", 1.0))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        feeds, _ = encode_single(self._bundle.tokenizer, texts, self._max_length, self._head)
        return self._bundle.run(feeds)[0]

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        if not texts:
            return []
        probs = softmax(self.logits(texts) / self._temperature)
        best = probs.argmax(axis=-1)
        return [
            SentimentResult(label=LABELS[int(k)], score=round(float(p[k]), 4)) for k, p in zip(best, probs, strict=True)
        ]
