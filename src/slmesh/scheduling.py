"""Per-request time budgets, and small requests first: how one long request shares the cores with short ones.

Every model call of a request passes the request's `CallGate` (`slmesh.runtime.call_gate`) first. The gate stops
the request once its time budget is spent or its client has gone, and a large request's gate waits while small
requests are being served: at most as long as its own previous call took, so a large request keeps at least half
the time it would have alone and a small one never waits for more than the one call already running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from slmesh.schemas import AnalyzeRequest

LARGE_CONTEXT_CHARS = 10_000
"""A request whose context is longer is large: several QA windows, so seconds of model time instead of milliseconds."""
MAX_YIELD_S = 1.0
YIELD_TOKENS = 512
"""A large request's calls of more padded tokens than this let small requests go first; its short ones do not."""


def is_large(request: AnalyzeRequest) -> bool:
    return len(request.context or "") > LARGE_CONTEXT_CHARS


class StopRequest(RuntimeError):
    """The request stops before its next model call; the message is safe to show a user."""


class DeadlineExceeded(StopRequest):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request's time budget of {seconds:g} s ran out")


class RequestCancelled(StopRequest):
    def __init__(self) -> None:
        super().__init__("the client closed the connection")


class RequestBudget:
    """How long one request may take from the moment it was admitted, and whether its client still waits."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._cancelled = threading.Event()

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def cancel(self) -> None:
        self._cancelled.set()

    def check(self) -> None:
        if self._cancelled.is_set():
            raise RequestCancelled()
        if self.remaining() <= 0:
            raise DeadlineExceeded(self.seconds)


class Lanes:
    """Counts the small requests being served, so that large ones can let them go first."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._small = 0

    @contextmanager
    def small(self) -> Iterator[None]:
        with self._changed:
            self._small += 1
        try:
            yield
        finally:
            with self._changed:
                self._small -= 1
                self._changed.notify_all()

    def busy(self) -> bool:
        return self._small > 0

    def wait_for_small(self, at_most_s: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._small == 0, timeout=max(at_most_s, 0.0))


class CallGate:
    """Called before each model call of one request (the calls are sequential per skill, parallel across skills)."""

    def __init__(self, budget: RequestBudget | None, lanes: Lanes, large: bool) -> None:
        self._budget = budget
        self._lanes = lanes
        self._large = large
        self._last = time.monotonic()

    def __call__(self, tokens: int) -> None:
        if self._budget is not None:
            self._budget.check()
        if self._large and tokens > YIELD_TOKENS and self._lanes.busy():
            ran = min(time.monotonic() - self._last, MAX_YIELD_S)
            if self._budget is not None:
                ran = min(ran, self._budget.remaining())
            self._lanes.wait_for_small(ran)
            if self._budget is not None:
                self._budget.check()
        self._last = time.monotonic()
