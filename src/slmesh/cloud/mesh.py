"""The process's SkillSet, created on first use and kept for every later invoke of a warm function."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from slmesh.config import settings_from_env
from slmesh.lazy import Once
from slmesh.runtime import ModelStore
from slmesh.schemas import SkillOutcome, SkillTask
from slmesh.skills.registry import Router, SkillSet


class Mesh(Protocol):
    """What the handlers use of a SkillSet; tests pass in-memory ones."""

    @property
    def router(self) -> Router: ...

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]: ...


def skill_set_from_env() -> Mesh:
    settings = settings_from_env()
    return SkillSet(ModelStore(settings.models_dir, settings.threads))


LazyMesh = Once[Mesh]
"""One Mesh built by a replaceable factory (`use`)."""

mesh: LazyMesh = Once(skill_set_from_env)
