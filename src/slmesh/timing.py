"""The one stopwatch every stage's latency is read from."""

from __future__ import annotations

import time


def elapsed_ms(started: float, digits: int = 3) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), rounded to microseconds by default."""
    return round((time.perf_counter() - started) * 1000.0, digits)
