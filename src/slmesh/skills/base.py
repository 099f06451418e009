"""What a skill is: a name, the model it loads (or none), typed settings from its card, a run, a result, a sentence.

A new skill is one module with one `Skill` subclass, listed once in `slmesh.skills.registry`; the schemas, the
CLI, the API documents, the orchestration, the aggregator and the state machines all read it from there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from slmesh.evaluation.measure import Measure
from slmesh.runtime import CARD_FILE, InvalidModelError, ModelBundle, ModelSource
from slmesh.schemas import SkillResult, SkillTask, Target

ResultT = TypeVar("ResultT", bound=SkillResult)
SettingsT = TypeVar("SettingsT", bound="CardSettings")


class CardSettings(BaseModel):
    """A model's inference settings as its card's `inference` object holds them; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoSettings(CardSettings):
    """The settings of a skill that loads no model."""


def card_settings(bundle: ModelBundle, model: type[SettingsT]) -> SettingsT:
    """The bundle's settings checked against `model`; a bad card is an error naming its file and fields."""
    try:
        return model.model_validate(bundle.inference)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'inference'}: {e['msg']}" for e in exc.errors())
        raise InvalidModelError(f"{bundle.name}/{CARD_FILE}: invalid inference settings: {problems}") from exc


class Skill(ABC, Generic[SettingsT, ResultT]):
    """One skill of the mesh. Subclasses set the class attributes and implement `run` and `describe`."""

    name: ClassVar[str]
    """The router's label for the skill, the key of its outcome and of its task."""
    title: ClassVar[str]
    """What it does, for sentences such as 'none of the available skills (...) fits'."""
    resource: ClassVar[str]
    """The CloudFormation name prefix of its function and queue: `<resource>Function`, `<resource>Queue`."""
    model: ClassVar[str | None] = None
    """The folder of its model in the models directory, or None for a skill that loads none."""
    fixed_target: ClassVar[Target | None] = None
    """What it always works on whatever the router says (QA: the subject as question, the context as passage);
    None for a skill that reads one text, the subject or the context as the router decides."""
    retrieves: ClassVar[bool] = False
    """A task of this skill sent without a context is given passages from the knowledge base, when there is one."""
    settings_model: ClassVar[type[CardSettings]] = NoSettings
    result_model: ClassVar[type[SkillResult]]
    measure: ClassVar[Measure | None] = None
    """How `slmesh eval` scores it on a labelled file; None for a skill with no such measure."""

    def __init__(self, settings: SettingsT, bundle: ModelBundle | None = None) -> None:
        self.settings = settings
        self._bundle = bundle

    @property
    def bundle(self) -> ModelBundle:
        if self._bundle is None:
            raise RuntimeError(f"skill {self.name!r} loads no model")
        return self._bundle

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, **options: Any) -> Self:
        """The skill on `bundle`, its card's settings checked first."""
        return cls(card_settings(bundle, cls.settings_model), bundle, **options)  # type: ignore[arg-type]

    @classmethod
    def load(cls, models: ModelSource) -> Self:
        """Builds the skill from its model (checked against its card) or, without one, from no settings."""
        if cls.model is None:
            return cls(cls.settings_model())  # type: ignore[arg-type]
        return cls.from_bundle(models.get(cls.model))

    def check(self, tasks: Sequence[SkillTask]) -> None:
        """Raises `slmesh.budget.InputTooLarge` for a task over the skill's token limits, before any model call.

        `run` enforces the same limits; this lets a caller refuse a request before its other skills run.
        """

    @abstractmethod
    def run(self, tasks: Sequence[SkillTask]) -> Sequence[ResultT]:
        """One result per task, in order."""

    @classmethod
    @abstractmethod
    def describe(cls, result: ResultT) -> str:
        """The sentence the aggregator writes for one of its results."""
