"""The request, result and response shapes shared by the CLI, the HTTP API and the Lambda functions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_PROMPT_CHARS = 4000
MAX_CONTEXT_CHARS = 100_000

SkillName = Literal["sentiment", "qa", "summarize"]
Prompt = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalyzeRequest(_Strict):
    """What a user sends: a prompt and, until retrieval exists, the passage QA answers from."""

    prompt: Prompt = Field(description="The instruction and the text it applies to.")
    context: Annotated[str, StringConstraints(max_length=MAX_CONTEXT_CHARS)] | None = Field(
        default=None, description="Passage that extractive QA answers from."
    )
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="Correlation id; generated when absent."
    )


class RouterDecision(_Strict):
    skills: list[SkillName] = Field(description="Skills whose score reached their threshold, in a stable order.")
    scores: dict[str, float] = Field(description="Probability per skill.")
    subject: str = Field(description="The text the skills work on: the quoted or trailing part of the prompt.")


class SentimentResult(_Strict):
    label: str = Field(description="The most probable class: one of the model card's labels.")
    score: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the label.")
    scores: dict[str, float] = Field(description="Calibrated probability of every label.")


class QAResult(_Strict):
    answer: str | None = Field(description="The extracted span, or null when there is no answer.")
    score: float = Field(ge=0.0, le=1.0, description="Probability of the span within its window.")
    start: int | None = Field(default=None, description="Character offset of the answer in the context.")
    end: int | None = Field(default=None, description="Character offset one past the answer's end.")
    no_answer_reason: Literal["no_context", "below_threshold"] | None = None


SkillResult = SentimentResult | QAResult


class SkillOutcome(_Strict):
    status: Literal["ok", "error", "unavailable"]
    result: SkillResult | None = None
    error: str | None = None
    latency_ms: float = Field(ge=0.0)


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


class SkillTask(_Strict):
    """One skill's share of a request, as the pipeline, the state machine and the queues pass it."""

    request_id: str
    skill: SkillName
    subject: Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
    context: Annotated[str, StringConstraints(max_length=MAX_CONTEXT_CHARS)] | None = None
