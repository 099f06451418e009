"""The one table of skills, and the skills of one process built from it.

Everything that names skills reads this table: the schemas (valid names, result models), the router (which labels
it may choose), the orchestration, the aggregator's sentences, the CLI, the OpenAPI document, the generated state
machines and the deployed functions. A skill the router knows but that has no implementation yet is listed as
reserved: it is answered 'unavailable' and has no function in the cloud.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from slmesh.budget import InputTooLarge
from slmesh.evaluation.measure import Measure
from slmesh.evaluation.metrics import ROUTER
from slmesh.lazy import OnceMap
from slmesh.runtime import InvalidModelError, ModelNotFoundError, ModelSource
from slmesh.scheduling import StopRequest
from slmesh.schemas import RouterDecision, SkillOutcome, SkillTask
from slmesh.skills.base import Skill
from slmesh.skills.qa import QASkill
from slmesh.skills.router import RouterSkill
from slmesh.skills.sentiment import SentimentSkill
from slmesh.skills.summarize import SummarizeSkill
from slmesh.timing import elapsed_ms

log = logging.getLogger("slmesh.skills")
INTERNAL_ERROR = "internal error while running the model (the server log has the details)"

S = TypeVar("S", bound=Skill[Any, Any])
AnySkill = type[Skill[Any, Any]]


class Router(Protocol):
    """What picks the skills: the router model, or a scripted stand-in in tests."""

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        """`attached`: the request sends a context beside the prompt."""
        ...


class SkillRegistry:
    def __init__(self, specs: Sequence[AnySkill], reserved: dict[str, str]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._reserved = dict(reserved)

    def specs(self) -> tuple[AnySkill, ...]:
        """The skills with an implementation, in table order: each has its own function in the cloud."""
        return tuple(self._specs.values())

    def names(self) -> tuple[str, ...]:
        """Every skill name the router may choose: implemented ones first, then the reserved ones."""
        return (*self._specs, *self._reserved)

    def spec(self, name: str) -> AnySkill | None:
        return self._specs.get(name)

    def title(self, name: str) -> str:
        spec = self._specs.get(name)
        return spec.title if spec is not None else self._reserved[name]

    @contextmanager
    def extended(self, *specs: AnySkill) -> Iterator[SkillRegistry]:
        """The table with `specs` added for the duration of the block (tests, plugins loaded at start-up)."""
        clash = [s.name for s in specs if s.name in self.names()]
        if clash:
            raise ValueError(f"skill(s) {', '.join(clash)} already registered")
        before = dict(self._specs)
        self._specs.update({s.name: s for s in specs})
        try:
            yield self
        finally:
            self._specs = before

    @contextmanager
    def reserving(self, **titles: str) -> Iterator[SkillRegistry]:
        """The table with the names of `titles` reserved for the duration of the block (tests of the answer to a
        skill the router may choose but nothing implements)."""
        clash = [name for name in titles if name in self.names()]
        if clash:
            raise ValueError(f"skill(s) {', '.join(clash)} already registered")
        before = dict(self._reserved)
        self._reserved.update(titles)
        try:
            yield self
        finally:
            self._reserved = before


registry = SkillRegistry(
    specs=(SentimentSkill, QASkill, SummarizeSkill),
    reserved={},
)
"""THE table: a new skill is one module with a `Skill` subclass, added here."""


def measure(name: str) -> Measure:
    """What `slmesh eval NAME` scores: a registered skill's measure, or the router's."""
    if name == "router":
        return ROUTER
    spec = registry.spec(name)
    if spec is None or spec.measure is None:
        raise ValueError(f"no measure for {name!r}")
    return spec.measure


class SkillSet:
    """The skills and the router of one process, each built on first use from a model source and kept."""

    def __init__(self, models: ModelSource, router: Router | None = None) -> None:
        """`router` replaces the router model (tests route with scripted ones)."""
        self.models = models
        self._built: OnceMap[str, Skill[Any, Any]] = OnceMap(self._build)
        self._router: OnceMap[None, Router] = OnceMap(
            lambda _: router if router is not None else RouterSkill.from_bundle(models.get("router"))
        )

    def _build(self, name: str) -> Skill[Any, Any]:
        spec = registry.spec(name)
        if spec is None:
            raise ModelNotFoundError(f"skill {name!r} is not deployed")
        return spec.load(self.models)

    def skill(self, spec: type[S]) -> S:
        """The built skill of `spec`'s class, typed as that class."""
        built = self._built.get(spec.name)
        if not isinstance(built, spec):
            raise TypeError(f"skill {spec.name!r} is a {type(built).__name__}, not a {spec.__name__}")
        return built

    def named(self, name: str) -> Skill[Any, Any]:
        return self._built.get(name)

    @property
    def router(self) -> Router:
        return self._router.get(None)

    def warm(self) -> dict[str, str | None]:
        """Loads the router and every registered skill now; returns, per skill, None when it loaded, else why not.

        The router is required: without it nothing can be routed, so its failure is raised.
        """
        self.router  # noqa: B018
        return self.problems()

    def problems(self) -> dict[str, str | None]:
        """Loads every registered skill now; per skill, None when it loaded, else why not."""
        problems: dict[str, str | None] = {}
        for name in registry.names():
            try:
                self.named(name)
                problems[name] = None
            except (ModelNotFoundError, InvalidModelError) as exc:
                problems[name] = str(exc)
        return problems

    def check(self, name: str, tasks: Sequence[SkillTask]) -> None:
        """Raises `InputTooLarge` when a task is over the skill's token limits; an unavailable skill checks nothing."""
        try:
            skill = self.named(name)
        except (ModelNotFoundError, InvalidModelError):
            return
        skill.check(tasks)

    def run(self, name: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]:
        """One outcome per task, in order; a failure becomes that batch's error, never an exception.

        Errors written for users (limits, budgets, broken models) are passed on; anything else is logged by type and
        frames only (its message may quote the input) and answered with a fixed sentence.
        """
        started = time.perf_counter()
        try:
            skill = self.named(name)
        except (ModelNotFoundError, InvalidModelError) as exc:
            return [_failed(name, "unavailable", str(exc), started) for _ in tasks]
        try:
            results = skill.run(tasks)
        except (InputTooLarge, StopRequest) as exc:
            return [_failed(name, "error", str(exc), started) for _ in tasks]
        except Exception as exc:
            log.error(
                "skill %s failed on %d task(s): %s\n%s",
                name,
                len(tasks),
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            return [_failed(name, "error", INTERNAL_ERROR, started) for _ in tasks]
        latency = elapsed_ms(started)
        return [SkillOutcome(skill=name, status="ok", result=r, latency_ms=latency) for r in results]


def _failed(skill: str, status: str, message: str, started: float) -> SkillOutcome:
    return SkillOutcome(skill=skill, status=status, error=message, latency_ms=elapsed_ms(started))  # type: ignore[arg-type]
