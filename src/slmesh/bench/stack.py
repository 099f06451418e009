"""What every system offers: one request at a time (and, in process, batches); the latency loop over them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from slmesh.bench.stats import ms_since, summarize
from slmesh.bench.workload import article_requests

STAGES = ("router", "sentiment", "qa", "aggregate")


class Answerer(Protocol):
    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        """Answers one prompt; returns the milliseconds each stage in STAGES took."""
        ...


class Stack(Answerer, Protocol):
    """An in-process system: one request at a time, and batches for each skill."""

    name: str
    notes: list[str]
    load_ms: dict[str, float]
    """Seconds-scale costs paid once: building or loading each model."""

    def sentiment(self, texts: Sequence[str]) -> object: ...

    def qa(self, pairs: Sequence[tuple[str, str]]) -> object: ...

    def close(self) -> None: ...


def article_latency(stack: Answerer, runs: int, warmup: int) -> dict[str, Any]:
    """Round-robin over the article's prompts, so drift in background load spreads over all three."""
    requests = article_requests()
    samples: list[dict[str, list[float]]] = [{} for _ in requests]
    for run in range(warmup + runs):
        for i, (prompt, context) in enumerate(requests):
            started = time.perf_counter()
            stages = stack.analyze(prompt, context)
            total = ms_since(started)
            if run < warmup:
                continue
            row = {**stages, "task_execution": total - stages["router"], "total": total}
            for key, value in row.items():
                samples[i].setdefault(key, []).append(value)
    return latency_summary(samples)


def latency_summary(samples: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Per-prompt and pooled statistics; the raw samples are kept so that passes can be merged."""
    pooled: dict[str, list[float]] = {}
    for per_prompt in samples:
        for key, values in per_prompt.items():
            pooled.setdefault(key, []).extend(values)
    return {
        "per_prompt": [{k: summarize(v) for k, v in s.items()} for s in samples],
        "all_prompts": {k: summarize(v) for k, v in pooled.items()},
        "stages": [s for s in STAGES if s in pooled],
        "samples": samples,
    }


def merge_latency(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One summary over both passes' samples, prompt by prompt."""
    merged = [
        {key: [*a.get(key, []), *b.get(key, [])] for key in dict.fromkeys([*a, *b])}
        for a, b in zip(first["samples"], second["samples"], strict=True)
    ]
    return latency_summary(merged)
