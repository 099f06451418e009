"""A model function: one handler for direct invokes (Express) and SQS batches with task tokens (Standard)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import SqsModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.cloud.callbacks import TaskCallbacks, TaskGone
from slmesh.cloud.callbacks import callbacks as default_callbacks
from slmesh.cloud.events import DirectSkillEvent, DirectSkillResult, InvalidEvent, TaskMessage
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.mesh import LazyMesh, Mesh
from slmesh.cloud.mesh import mesh as default_mesh
from slmesh.cloud.observability import configure, instrumented, logger, metrics
from slmesh.schemas import SkillOutcome, SkillTask

SKILL_ERROR = "slmesh.SkillError"
INVALID_TASK = "slmesh.InvalidTask"


class UnreadableRecord(ValueError):
    """A queued message without a usable task token: nothing can answer it, so it goes on to the DLQ."""


def is_sqs_batch(event: Any) -> bool:
    return isinstance(event, dict) and "Records" in event


def run_direct(event: Any, skill: str, mesh: Mesh) -> DirectSkillResult:
    try:
        parsed = DirectSkillEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("skill event", exc) from exc
    wrong = [f"tasks.{i}.skill" for i, t in enumerate(parsed.tasks) if t.skill != skill]
    if wrong:
        raise InvalidEvent(f"invalid skill event: {', '.join(wrong)}: this function serves {skill!r}")
    outcomes = _run(skill, parsed.tasks, mesh)
    return DirectSkillResult(outcomes=outcomes)


@dataclass(frozen=True)
class _Ready:
    token: str
    task: SkillTask

    @property
    def request_id(self) -> str:
        return self.task.request_id


@dataclass(frozen=True)
class _Rejected:
    token: str
    reason: str
    request_id: str | None


@dataclass(frozen=True)
class _Unreadable:
    reason: str
    request_id: None = None


_Parsed = _Ready | _Rejected | _Unreadable


def _parse_record(body: str, skill: str) -> _Parsed:
    try:
        message = TaskMessage.model_validate_json(body)
    except ValidationError as exc:
        return _Unreadable(str(InvalidEvent.from_validation("queued message", exc)))
    request_id = message.task.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    try:
        task = SkillTask.model_validate(message.task)
    except ValidationError as exc:
        return _Rejected(message.task_token, str(InvalidEvent.from_validation("task", exc)), request_id)
    if task.skill != skill:
        reason = f"invalid task: skill: this function serves {skill!r}"
        return _Rejected(message.task_token, reason, request_id)
    return _Ready(message.task_token, task)


class SkillBatch:
    """Parses every record, runs the readable tasks in one model call, then answers each record's token."""

    def __init__(self, event: dict[str, Any], skill: str, mesh: Mesh, callbacks: TaskCallbacks) -> None:
        try:
            records = SqsModel.model_validate(event).Records
        except ValidationError as exc:
            raise InvalidEvent.from_validation("SQS event", exc) from exc
        self._callbacks = callbacks
        self._parsed = {r.messageId: _parse_record(str(r.body), skill) for r in records}
        ready = [p for p in self._parsed.values() if isinstance(p, _Ready)]
        invalid = len(self._parsed) - len(ready)
        metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=len(self._parsed))
        if invalid:
            metrics.add_metric(name="InvalidRecords", unit=MetricUnit.Count, value=invalid)
        # SQS delivers at least once: one message twice in a batch carries one token. Its task runs and is answered
        # once; a copy in a later batch finds its token answered (TaskGone) and is dropped.
        unique = list({p.token: p for p in ready}.values())
        if len(unique) < len(ready):
            metrics.add_metric(name="DuplicateRecords", unit=MetricUnit.Count, value=len(ready) - len(unique))
        outcomes = _run(skill, [p.task for p in unique], mesh) if unique else []
        self._outcomes = {p.token: o for p, o in zip(unique, outcomes, strict=True)}
        self._answered: set[str] = set()

    def answer(self, record: SQSRecord) -> None:
        parsed = self._parsed[record.message_id]
        logger.set_correlation_id(parsed.request_id)
        if isinstance(parsed, _Unreadable):
            logger.warning("unreadable record", extra={"message_id": record.message_id, "reason": parsed.reason})
            raise UnreadableRecord(parsed.reason)
        if parsed.token in self._answered:
            logger.info("duplicate delivery", extra={"message_id": record.message_id})
            return
        try:
            if isinstance(parsed, _Rejected):
                self._callbacks.fail(parsed.token, INVALID_TASK, parsed.reason)
            else:
                outcome = self._outcomes[parsed.token]
                if outcome.status == "error":
                    self._callbacks.fail(parsed.token, SKILL_ERROR, outcome.error or "")
                else:
                    self._callbacks.succeed(parsed.token, outcome.model_dump_json())
            self._answered.add(parsed.token)
        except TaskGone as exc:
            # The execution stopped waiting; redelivery could never be answered either.
            logger.warning("task token no longer awaited", extra={"message_id": record.message_id, "code": str(exc)})
        except Exception:
            # Left to SQS: the record is reported failed and redelivered, then after maxReceiveCount, DLQ.
            logger.exception("task callback failed", extra={"message_id": record.message_id})
            raise


def run_sqs_batch(
    event: dict[str, Any], context: LambdaContext, skill: str, mesh: Mesh, callbacks: TaskCallbacks
) -> dict[str, Any]:
    batch = SkillBatch(event, skill, mesh, callbacks)
    # A batch where every record failed is reported item by item too, not as a function error: SQS retries
    # exactly those records either way, and the function's error metric stays about the function.
    response = process_partial_response(
        event=event,
        record_handler=batch.answer,
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        context=context,
    )
    return dict(response)


def _run(skill: str, tasks: list[SkillTask], mesh: Mesh) -> list[SkillOutcome]:
    outcomes = mesh.run(skill, tasks)
    latency = max((o.latency_ms for o in outcomes), default=0.0)
    errors = sum(o.status == "error" for o in outcomes)
    metrics.add_metric(name="SkillLatency", unit=MetricUnit.Milliseconds, value=latency)
    metrics.add_metric(name="SkillTasks", unit=MetricUnit.Count, value=len(tasks))
    metrics.add_metric(name="SkillErrors", unit=MetricUnit.Count, value=errors)
    logger.info(
        "skill ran",
        extra={
            "request_ids": [t.request_id for t in tasks],
            "tasks": len(tasks),
            "latency_ms": latency,
            "errors": errors,
        },
    )
    return outcomes


def make_skill_handler(
    skill: str, lazy: LazyMesh = default_mesh, callbacks: TaskCallbacks = default_callbacks
) -> Handler:
    configure()

    # SQS batches carry one correlation id per record (set as each is answered); the path resets it to null.
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.add_dimension(name="skill", value=skill)
        if is_sqs_batch(event):
            return run_sqs_batch(event, context, skill, lazy.get(), callbacks)
        return run_direct(event, skill, lazy.get()).model_dump(mode="json")

    return instrumented(handler, correlation_id_path="tasks[0].request_id")
