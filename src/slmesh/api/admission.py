"""Which requests the server takes on now: bounded counts instead of unbounded queues.

Small requests are admitted while fewer than `max_in_flight` are being answered. Large ones (a long context) have
their own admission: `max_large` run at once and `large_queue` more wait for a turn, each at most until its time
budget runs out. Anything beyond is answered 503 with Retry-After at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from slmesh.scheduling import RequestBudget


class Busy(Exception):
    """The server cannot take the request now; the client may try again after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Load:
    in_flight: int
    large_in_flight: int
    large_waiting: int


class Admission:
    def __init__(self, max_in_flight: int, max_large: int, large_queue: int, large_retry_s: int) -> None:
        self.max_in_flight = max_in_flight
        self.max_large = max_large
        self.large_queue = large_queue
        self._large_retry_s = large_retry_s
        self._small = 0
        self._large = 0
        self._waiting = 0
        self._turn = asyncio.Condition()

    def load(self) -> Load:
        return Load(self._small, self._large, self._waiting)

    @asynccontextmanager
    async def slot(self, large: bool, budget: RequestBudget) -> AsyncIterator[None]:
        if large:
            async with self._large_slot(budget):
                yield
            return
        if self._small >= self.max_in_flight:
            raise Busy(f"the server is answering {self._small} requests, its limit", 1)
        self._small += 1
        try:
            yield
        finally:
            self._small -= 1

    @asynccontextmanager
    async def _large_slot(self, budget: RequestBudget) -> AsyncIterator[None]:
        async with self._turn:
            if self._large >= self.max_large:
                if self._waiting >= self.large_queue:
                    raise Busy(
                        f"the server is answering {self._large} large request(s) and {self._waiting} wait, its limit",
                        self._large_retry_s,
                    )
                self._waiting += 1
                try:
                    await asyncio.wait_for(
                        self._turn.wait_for(lambda: self._large < self.max_large), budget.remaining()
                    )
                except TimeoutError as exc:
                    raise Busy(
                        f"the request waited its whole time budget ({budget.seconds:g} s) for a turn",
                        self._large_retry_s,
                    ) from exc
                finally:
                    self._waiting -= 1
            self._large += 1
        try:
            yield
        finally:
            async with self._turn:
                self._large -= 1
                self._turn.notify()
