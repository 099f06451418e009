"""Builds each skill once from its model and runs batches of tasks with per-task outcomes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slmesh.runtime import ModelNotFoundError, ModelSource
from slmesh.schemas import SkillOutcome, SkillResult, SkillTask
from slmesh.skills.qa import QASkill
from slmesh.skills.router import RouterSkill
from slmesh.skills.sentiment import SentimentSkill

_BUILDERS: dict[str, Callable[[Any], Any]] = {
    "router": RouterSkill,
    "sentiment": SentimentSkill,
    "qa": QASkill,
}


def _sentiment(skill: SentimentSkill, tasks: Sequence[SkillTask]) -> Sequence[SkillResult]:
    return skill.predict([t.subject for t in tasks])


def _qa(skill: QASkill, tasks: Sequence[SkillTask]) -> Sequence[SkillResult]:
    return skill.answer_batch([(t.subject, t.context) for t in tasks])


_RUNNERS: dict[str, Callable[[Any, Sequence[SkillTask]], Sequence[SkillResult]]] = {
    "sentiment": _sentiment,
    "qa": _qa,
}


class SkillSet:
    """The skills of one process, built on first use from a model source."""

    def __init__(self, models: ModelSource) -> None:
        self._models = models
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def skill(self, name: str) -> Any:
        built = self._built.get(name)
        if built is None:
            with self._lock:
                built = self._built.get(name)
                if built is None:
                    built = _BUILDERS[name](self._models.get(name))
                    self._built[name] = built
        return built

    @property
    def router(self) -> RouterSkill:
        router: RouterSkill = self.skill("router")
        return router

    def warm(self, names: Sequence[str] = ("router", "sentiment", "qa")) -> list[str]:
        """Loads every model that exists now, so the first request pays no load time; returns those loaded."""
        loaded = []
        for name in names:
            try:
                self.skill(name)
            except ModelNotFoundError:
                if name == "router":
                    raise
                continue
            loaded.append(name)
        return loaded

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]:
        """One outcome per task, in order; a failure becomes that batch's error, never an exception."""
        started = time.perf_counter()
        runner = _RUNNERS.get(skill)
        if runner is None:
            return [_failed("unavailable", f"skill {skill!r} is not deployed", started) for _ in tasks]
        try:
            results = runner(self.skill(skill), tasks)
        except ModelNotFoundError as exc:
            return [_failed("unavailable", str(exc), started) for _ in tasks]
        except Exception as exc:
            return [_failed("error", f"{type(exc).__name__}: {exc}", started) for _ in tasks]
        latency = _elapsed_ms(started)
        return [SkillOutcome(status="ok", result=r, latency_ms=latency) for r in results]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _failed(status: str, message: str, started: float) -> SkillOutcome:
    return SkillOutcome(status=status, error=message, latency_ms=_elapsed_ms(started))  # type: ignore[arg-type]
