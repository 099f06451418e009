"""Typed shapes of everything that crosses a function or state-machine boundary, and the errors they raise."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, RouterDecision, SkillName, SkillOutcome, SkillTask

MAX_DIRECT_TASKS = 64
CorrelationId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TaskToken = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class _Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InvalidEvent(ValueError):
    """The event does not have the documented shape; the message names each bad field.

    Step Functions sees the class name as the error name, so its Retry lists never match it.
    """

    @classmethod
    def from_validation(cls, what: str, exc: ValidationError) -> InvalidEvent:
        fields = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors())
        return cls(f"invalid {what}: {fields}")


class InvalidRequest(ValueError):
    """The user's request is invalid; the message is the ErrorResponse JSON the API returns with 422."""


class RouteEvent(_Edge):
    """The router function's input: the API body (or an AnalysisRequested request) and its correlation id."""

    body: Any = Field(description="The request body as JSON, or the JSON text itself.")
    correlation_id: CorrelationId | None = None


class RoutedRequest(_Edge):
    """The router function's output; `route` holds each deployed skill's task, or null when not chosen.

    Every deployed skill has a key, so that each state-machine branch can test its own with `IsNull`.
    """

    request_id: str
    decision: RouterDecision
    route: dict[str, SkillTask | None]
    router_ms: float = Field(ge=0.0)
    needs_passages: bool = Field(
        default=False,
        description="A knowledge base is deployed and a retrieving skill's task has no context: the state machines"
        " run their retrieve step (slmesh.orchestration.needs_passages).",
    )
    retrieve_ms: float | None = Field(default=None, ge=0.0, description="Set by the retrieve function when it ran.")


class DirectSkillEvent(_Edge):
    """A model function's direct-invoke payload (the Express machine sends one task)."""

    tasks: list[SkillTask] = Field(min_length=1, max_length=MAX_DIRECT_TASKS)


class DirectSkillResult(_Edge):
    outcomes: list[SkillOutcome]


class TaskMessage(_Edge):
    """The body of a queued skill message: the task and the token the worker answers the state machine with.

    `task` stays untyped here so that a bad task is still answered with SendTaskFailure through its token.
    """

    task_token: TaskToken
    task: dict[str, Any]


class StatesFailure(BaseModel):
    """What a Catch puts at its ResultPath."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")

    def describe(self, limit: int = 500) -> str:
        detail = self.cause or ""
        try:
            parsed = json.loads(detail)
        except (json.JSONDecodeError, TypeError):
            parsed = None
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            detail = str(parsed["errorMessage"])
        text = f"{self.error}: {detail}" if detail else self.error
        return text[:limit]


class BranchResult(_Edge):
    """One Parallel branch's output: an outcome, a caught failure, or neither (skill not chosen)."""

    skill: SkillName
    outcome: SkillOutcome | None = None
    failure: StatesFailure | None = None

    @model_validator(mode="after")
    def _one_of(self) -> BranchResult:
        if self.outcome is not None and self.failure is not None:
            raise ValueError("a branch has either an outcome or a failure, not both")
        return self


class AggregateEvent(_Edge):
    request_id: str
    decision: RouterDecision
    router_ms: float = Field(ge=0.0)
    retrieve_ms: float | None = Field(default=None, ge=0.0)
    results: list[BranchResult]
    started_at: datetime | None = Field(default=None, description="The execution's start, for the total.")


class AnalysisRequested(_Edge):
    """The `detail` of an AnalysisRequested event on the slmesh bus, from the API or any other producer."""

    job_id: CorrelationId
    request: AnalyzeRequest


class AnalysisCompleted(_Edge):
    """The `detail` of the AnalysisCompleted event the jobs state machine puts on the bus."""

    job_id: str
    status: Literal["SUCCEEDED", "FAILED"]
    response: AnalyzeResponse | None = None
    error: StatesFailure | None = None

    @model_validator(mode="after")
    def _matches_status(self) -> AnalysisCompleted:
        if (self.status == "SUCCEEDED") != (self.response is not None) or (self.status == "FAILED") != (
            self.error is not None
        ):
            raise ValueError("a SUCCEEDED job carries a response, a FAILED one an error")
        return self
