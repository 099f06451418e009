"""The request, outcome and response shapes shared by the CLI, the HTTP API and the Lambda functions.

Skill names and result models come from the skill registry when a value is validated or a schema is written, so a
skill registered in `slmesh.skills.registry` is accepted and documented everywhere without editing this module.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializeAsAny,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

MAX_PROMPT_CHARS = 4000
MAX_CONTEXT_CHARS = 100_000
MAX_REQUEST_ID_CHARS = 128


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "must contain a character that is not white space")
    return text


Prompt = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS),
    AfterValidator(_not_blank),
    # The same rule for validators that only read the schema (API Gateway).
    Field(json_schema_extra={"pattern": r"\S"}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _registry() -> Any:
    # The registry imports every skill module, and those import this one.
    from slmesh.skills.registry import registry

    return registry


def _known_skill(name: str) -> str:
    names = _registry().names()
    if name not in names:
        raise ValueError(f"unknown skill {name!r} (known: {', '.join(names)})")
    return name


class _SkillNames:
    """The JSON schema of a skill name: an enum of the registered names at the time the schema is written."""

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        written = handler(schema)
        written["enum"] = list(_registry().names())
        return written


SkillName = Annotated[str, AfterValidator(_known_skill), _SkillNames]


class SkillResult(_Strict):
    """Base of every skill's result model; each skill module defines its own fields."""


class _SkillResults:
    """The JSON schema of a result: any of the registered skills' result models."""

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        models = tuple(spec.result_model for spec in _registry().specs())
        union = TypeAdapter(Union[models]).core_schema  # noqa: UP007
        return handler(union)


class AnalyzeRequest(_Strict):
    """What a user sends: a prompt and, optionally, the passage the skills work on."""

    prompt: Prompt = Field(description="The instruction and the text it applies to.")
    context: Annotated[str, StringConstraints(max_length=MAX_CONTEXT_CHARS)] | None = Field(
        default=None, description="Passage that extractive QA answers from."
    )
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REQUEST_ID_CHARS)] | None = Field(
        default=None, description="Correlation id; generated when absent."
    )


Target = Literal["subject", "context", "both"]


class RouterDecision(_Strict):
    skills: list[SkillName] = Field(description="Skills whose score reached their threshold, in a stable order.")
    scores: dict[str, float] = Field(description="Probability per skill.")
    subject: str = Field(description="The text the skills work on: the quoted or trailing part of the prompt.")
    subject_start: int | None = Field(
        default=None,
        ge=0,
        description="Where the subject begins in the prompt, in characters; null when the router does not say.",
    )
    targets: dict[str, Target] = Field(
        default_factory=dict,
        description="Per chosen skill, the text it works on: the subject, the request's context (the prompt asks"
        " about the attached text and a context was sent), or both (QA: the subject is the question, the context the"
        " passage).",
    )


class SkillOutcome(_Strict):
    """One skill's outcome for one task: its result when `status` is ok, else why not."""

    skill: SkillName
    status: Literal["ok", "error", "unavailable"]
    result: Annotated[SerializeAsAny[SkillResult], _SkillResults] | None = None
    error: str | None = None
    latency_ms: float = Field(ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _typed_result(cls, data: Any) -> Any:
        """A result given as JSON is read with the result model of the outcome's skill."""
        if isinstance(data, dict) and isinstance(data.get("result"), dict):
            spec = _registry().spec(str(data.get("skill")))
            if spec is not None:
                data = {**data, "result": spec.result_model.model_validate(data["result"])}
        return data

    @model_validator(mode="after")
    def _result_matches_skill(self) -> SkillOutcome:
        spec = _registry().spec(self.skill)
        if self.result is not None and (spec is None or not isinstance(self.result, spec.result_model)):
            raise ValueError(f"a {type(self.result).__name__} is not a result of skill {self.skill!r}")
        if (self.status == "ok") != (self.result is not None):
            raise ValueError("an ok outcome carries a result, and only an ok outcome does")
        return self


class AnalyzeResponse(_Strict):
    request_id: str
    skills: list[SkillName]
    router: RouterDecision
    outcomes: dict[str, SkillOutcome]
    answer: str = Field(description="A short natural-language summary of every outcome.")
    timings_ms: dict[str, float] = Field(description="Per-stage latency: router, each skill, aggregate, total.")


class ErrorDetail(_Strict):
    field: str | None
    message: str


class ErrorResponse(_Strict):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


MAX_PASSAGES = 20


class Source(_Strict):
    """Where a retrieved passage comes from: a document of the knowledge base and the heading it sits under."""

    path: str = Field(description="The document's path as it was ingested.")
    heading: str | None = Field(default=None, description="The nearest heading above the passage.")
    score: float = Field(ge=-1.0, le=1.0, description="Cosine similarity of the passage to the question.")


class Passage(_Strict):
    """A chunk of the knowledge base retrieved for a question without a context."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTEXT_CHARS)]
    source: Source


class SkillTask(_Strict):
    """One skill's share of a request, as the pipeline, the state machine and the queues pass it."""

    request_id: str
    skill: SkillName
    subject: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
    context: Annotated[str, StringConstraints(max_length=MAX_CONTEXT_CHARS)] | None = None
    target: Target = Field(default="subject", description="The text a one-text skill works on.")
    passages: Annotated[list[Passage], Field(max_length=MAX_PASSAGES)] | None = Field(
        default=None,
        description="Retrieved passages, best first, for a question sent without a context; None when nothing was"
        " retrieved.",
    )

    @property
    def text(self) -> str:
        """The text a skill that reads one text works on: the context when it is the target, else the subject."""
        return self.context if self.target == "context" and self.context is not None else self.subject
