"""Build-once caches: a value is made on first use, under a lock, and kept for the life of the process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OnceMap(Generic[K, V]):
    """Each key's value is built once by `build(key)`; concurrent first uses wait for the one build.

    A build that raises is not cached, so a later call tries again (a model that appears after start-up loads).
    """

    def __init__(self, build: Callable[[K], V]) -> None:
        self._build = build
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V:
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:
                self._values[key] = self._build(key)
            return self._values[key]

    def peek(self, key: K) -> V | None:
        """The value if it was built already; never builds."""
        return self._values.get(key)

    def rebuild_with(self, build: Callable[[K], V]) -> None:
        """Replaces the builder and drops every value built so far."""
        with self._lock:
            self._build = build
            self._values = {}


class Once(Generic[V]):
    """One value built on first use by a replaceable factory."""

    def __init__(self, factory: Callable[[], V]) -> None:
        self._values: OnceMap[None, V] = OnceMap(lambda _: factory())

    def get(self) -> V:
        return self._values.get(None)

    def use(self, factory: Callable[[], V]) -> None:
        """Replaces the factory and drops the built value; the next `get` builds from the new factory."""
        self._values.rebuild_with(lambda _: factory())
