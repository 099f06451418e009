"""Percentiles and timing loops shared by every measurement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def summarize(samples_ms: Sequence[float]) -> dict[str, Any]:
    """p50/p95 (linear interpolation), mean, min and the sample count, rounded to microseconds."""
    if not samples_ms:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "min": None}
    values = np.asarray(samples_ms, dtype=float)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "mean": round(float(values.mean()), 3),
        "min": round(float(values.min()), 3),
    }


def latency_samples(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(ms_since(started))
    return samples


def throughput(fn: Callable[[], object], items_per_call: int, min_seconds: float, min_calls: int = 2) -> float:
    """Items per second over at least `min_calls` calls and `min_seconds`, after one warm-up call."""
    fn()
    calls, started = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return round(calls * items_per_call / (time.perf_counter() - started), 1)
