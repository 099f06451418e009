"""Best-span search over the start/end logits of every window of a context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """One window's logits and, per token, its character span in the context (None outside it)."""

    start_logits: np.ndarray
    end_logits: np.ndarray
    offsets: Sequence[tuple[int, int] | None]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    score: float
    """start + end logit: comparable across windows."""
    probability: float
    """Probability of this (start, end) pair within its window."""


@dataclass(frozen=True)
class Decoded:
    best: Span | None
    null_score: float
    """The smallest [CLS] score over the windows: how strongly the model says 'no answer'."""


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max()
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


def best_span(windows: Sequence[Window], max_answer_tokens: int = 30, top_k: int = 20) -> Decoded:
    best: Span | None = None
    null_score = float("inf")
    for window in windows:
        null_score = min(null_score, float(window.start_logits[0] + window.end_logits[0]))
        in_context = np.array([o is not None for o in window.offsets], dtype=bool)
        if not in_context.any():
            continue
        start_logits = np.where(in_context, window.start_logits, -np.inf)
        end_logits = np.where(in_context, window.end_logits, -np.inf)
        start_lp = _log_softmax(window.start_logits)
        end_lp = _log_softmax(window.end_logits)
        k = min(top_k, int(in_context.sum()))
        starts = np.argsort(start_logits)[::-1][:k]
        ends = np.argsort(end_logits)[::-1][:k]
        for s in starts:
            for e in ends:
                if e < s or e - s + 1 > max_answer_tokens:
                    continue
                score = float(start_logits[s] + end_logits[e])
                if best is None or score > best.score:
                    first, last = window.offsets[s], window.offsets[e]
                    assert first is not None and last is not None
                    best = Span(first[0], last[1], score, float(np.exp(start_lp[s] + end_lp[e])))
    return Decoded(best, null_score if windows else 0.0)
