"""The process's SkillSet, created on first use and kept for every later invoke of a warm function."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from slmesh.config import settings_from_env
from slmesh.runtime import ModelStore
from slmesh.schemas import RouterDecision, SkillOutcome, SkillTask
from slmesh.skills.registry import SkillSet


class Router(Protocol):
    def route(self, prompt: str) -> RouterDecision: ...


class Mesh(Protocol):
    """What the handlers use of a SkillSet; tests pass in-memory ones."""

    @property
    def router(self) -> Router: ...

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]: ...


def skill_set_from_env() -> Mesh:
    settings = settings_from_env()
    return SkillSet(ModelStore(settings.models_dir, settings.threads))


class LazyMesh:
    """Holds one Mesh built by a replaceable factory."""

    def __init__(self, factory: Callable[[], Mesh] = skill_set_from_env) -> None:
        self._factory = factory
        self._mesh: Mesh | None = None
        self._lock = threading.Lock()

    def get(self) -> Mesh:
        mesh = self._mesh
        if mesh is None:
            with self._lock:
                mesh = self._mesh
                if mesh is None:
                    mesh = self._factory()
                    self._mesh = mesh
        return mesh

    def use(self, factory: Callable[[], Mesh]) -> None:
        """Replaces the factory and drops the built mesh; the next `get` builds from the new factory."""
        with self._lock:
            self._factory = factory
            self._mesh = None


mesh = LazyMesh()
