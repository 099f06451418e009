"""Binary sentiment with a temperature-calibrated score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from slmesh.encoding import encode_single
from slmesh.runtime import ModelBundle
from slmesh.schemas import SentimentResult

SLICE = 16
"""Texts per ONNX call: small enough to pad little, large enough to amortise the call."""
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
        feeds = encode_single(self._bundle.tokenizer, texts, self._max_length, self._head)
        return self._bundle.run(feeds)[0]

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        if not texts:
            return []
        # Short texts padded to a long neighbour waste most of a batch: run length-sorted slices, then restore order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        logits = np.empty((len(texts), len(LABELS)), dtype=np.float32)
        for start in range(0, len(order), SLICE):
            rows = order[start : start + SLICE]
            logits[rows] = self.logits([texts[i] for i in rows])
        probs = softmax(logits / self._temperature)
        best = probs.argmax(axis=-1)
        return [
            SentimentResult(label=LABELS[int(k)], score=round(float(p[k]), 4)) for k, p in zip(best, probs, strict=True)
        ]
