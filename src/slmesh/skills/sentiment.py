"""Sentiment over the model card's labels, with calibrated probabilities for each."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slmesh.encoding import head_tail, pad_batch, windows
from slmesh.runtime import ModelBundle
from slmesh.schemas import SentimentResult
from slmesh.textnorm import normalizer

SLICE = 16
"""Texts per ONNX call: small enough to pad little, large enough to amortise the call."""


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=axis, keepdims=True)
    return result


class SentimentSkill:
    def __init__(self, bundle: ModelBundle, slice_size: int = SLICE) -> None:
        self._bundle = bundle
        self._slice = slice_size
        cfg = bundle.inference
        self._max_length = int(cfg["max_length"])
        self._head = int(cfg.get("head_tokens", self._max_length))
        self._windows = cfg.get("long_text", "head_tail") == "windows"
        self._normalize = normalizer(cfg.get("normalize", "none"))
        self.labels: tuple[str, ...] = tuple(cfg["labels"])
        self._temperature = float(cfg.get("temperature", 1.0))
        self._bias = np.asarray(cfg.get("class_bias", [0.0] * len(self.labels)), dtype=np.float64)

    def _pieces(self, ids: list[int]) -> list[list[int]]:
        if self._windows:
            return windows(ids, self._max_length)
        return [head_tail(ids, self._max_length, self._head)]

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: the mean over its windows when a text is longer than the model reads at once."""
        encodings = self._bundle.tokenizer.encode_batch([self._normalize(t) for t in texts])
        pieces = [(i, piece) for i, e in enumerate(encodings) for piece in self._pieces(e.ids)]
        # Short pieces padded to a long neighbour waste most of a call: run length-sorted slices.
        pieces.sort(key=lambda item: len(item[1]))
        sums = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        counts = np.zeros(len(texts))
        for start in range(0, len(pieces), self._slice):
            part = pieces[start : start + self._slice]
            owners = [i for i, _ in part]
            np.add.at(sums, owners, self._bundle.run(pad_batch([p for _, p in part]))[0])
            np.add.at(counts, owners, 1)
        result: np.ndarray = (sums / counts[:, None]).astype(np.float32)
        return result

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """The card's calibration: logits / temperature + class bias, then softmax."""
        return softmax(logits / self._temperature + self._bias)

    def predict(self, texts: Sequence[str]) -> list[SentimentResult]:
        if not texts:
            return []
        probs = self.probabilities(self.logits(texts))
        results = []
        for row in probs:
            best = int(row.argmax())
            scores = {name: round(float(p), 4) for name, p in zip(self.labels, row, strict=True)}
            results.append(SentimentResult(label=self.labels[best], score=scores[self.labels[best]], scores=scores))
        return results
