"""The cloud adapters with in-memory fakes: SQS batches and task tokens, aggregation, config, schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from slmesh.cloud.aggregation import aggregate_event
from slmesh.cloud.apischema import _draft4, gateway_request_schema
from slmesh.cloud.callbacks import StepFunctionsCallbacks, TaskGone
from slmesh.cloud.config import cloud_settings_from_env
from slmesh.cloud.events import AnalysisRequested, InvalidEvent, StatesFailure
from slmesh.cloud.producer import PutEventsFailed, analysis_requested_entry, request_analysis
from slmesh.cloud.skill_worker import INVALID_TASK, SKILL_ERROR, SkillBatch, run_direct
from slmesh.config import ConfigError
from slmesh.lazy import Once
from slmesh.schemas import AnalyzeRequest, RouterDecision, SkillOutcome, SkillTask
from slmesh.skills.registry import registry
from slmesh.skills.sentiment import SentimentResult

pytestmark = pytest.mark.unit


POSITIVE = SentimentResult(label="positive", score=0.9, scores={"negative": 0.04, "neutral": 0.06, "positive": 0.9})


@dataclass
class RecordingCallbacks:
    answers: list[tuple[str, str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    broken: set[str] = field(default_factory=set)

    def _check(self, token: str) -> None:
        if token in self.gone:
            raise TaskGone("TaskTimedOut")
        if token in self.broken:
            raise ConnectionError("throttled")

    def succeed(self, token: str, output: str) -> None:
        self._check(token)
        self.answers.append(("success", token, output))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._check(token)
        self.answers.append(("failure", token, f"{error}|{cause}"))


@dataclass
class CountingMesh:
    """Answers sentiment tasks; 'boom' in a subject makes that outcome an error; records every model call."""

    calls: list[int] = field(default_factory=list)

    @property
    def router(self) -> Any:
        raise AssertionError("skill functions never route")

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]:
        self.calls.append(len(tasks))
        return [
            SkillOutcome(skill=skill, status="error", error="model failed", latency_ms=2.0)
            if "boom" in t.subject
            else SkillOutcome(skill=skill, status="ok", result=POSITIVE, latency_ms=2.0)
            for t in tasks
        ]


def _record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "rh",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "s",
            "ApproximateFirstReceiveTimestamp": "1",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def _task(subject: str, skill: str = "sentiment", token: str = "t") -> str:
    return json.dumps({"task": {"request_id": f"r-{token}", "skill": skill, "subject": subject}, "task_token": token})


def _answer_all(batch: SkillBatch, event: dict[str, Any]) -> dict[str, str]:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    results = {}
    for raw in event["Records"]:
        try:
            batch.answer(SQSRecord(raw))
            results[raw["messageId"]] = "done"
        except Exception as exc:
            results[raw["messageId"]] = type(exc).__name__
    return results


def test_sqs_batch_runs_one_model_call_and_answers_every_token() -> None:
    event = {
        "Records": [
            _record("m1", _task("great", token="t1")),
            _record("m2", _task("boom", token="t2")),
            _record("m3", _task("x", skill="qa", token="t3")),
            _record("m4", json.dumps({"task": {"skill": "sentiment"}, "task_token": "t4"})),
            _record("m5", "not json"),
            _record("m6", json.dumps({"task": {}})),
        ]
    }
    mesh, callbacks = CountingMesh(), RecordingCallbacks()

    results = _answer_all(SkillBatch(event, "sentiment", mesh, callbacks), event)

    assert mesh.calls == [2], "the two readable sentiment tasks ran in one call"
    assert results == {
        "m1": "done",
        "m2": "done",
        "m3": "done",
        "m4": "done",
        "m5": "UnreadableRecord",
        "m6": "UnreadableRecord",
    }
    answers = {token: (kind, detail) for kind, token, detail in callbacks.answers}
    assert answers["t1"][0] == "success" and SkillOutcome.model_validate_json(answers["t1"][1]).status == "ok"
    assert answers["t2"] == ("failure", f"{SKILL_ERROR}|model failed")
    assert answers["t3"] == (
        "failure",
        f"{INVALID_TASK}|invalid task: skill: this function serves 'sentiment'",
    )
    kind, detail = answers["t4"]
    assert kind == "failure" and detail.startswith(INVALID_TASK) and "request_id" in detail and "subject" in detail


def test_sqs_batch_drops_only_tokens_nobody_waits_for() -> None:
    event = {"Records": [_record("m1", _task("a", token="gone")), _record("m2", _task("b", token="busy"))]}
    callbacks = RecordingCallbacks(gone={"gone"}, broken={"busy"})

    results = _answer_all(SkillBatch(event, "sentiment", CountingMesh(), callbacks), event)

    assert results == {"m1": "done", "m2": "ConnectionError"}


def test_a_message_delivered_twice_runs_once_and_is_answered_once() -> None:
    # Given one message delivered twice in a batch, and again in a later batch after its token was answered
    twice = _task("great", token="t1")
    event = {"Records": [_record("m1", twice), _record("m1-again", twice), _record("m2", _task("fine", token="t2"))]}
    mesh, callbacks = CountingMesh(), RecordingCallbacks()
    results = _answer_all(SkillBatch(event, "sentiment", mesh, callbacks), event)
    callbacks.gone.add("t1")  # Step Functions: a token that was answered is no longer awaited
    later = {"Records": [_record("m1-later", twice)]}
    later_results = _answer_all(SkillBatch(later, "sentiment", mesh, callbacks), later)
    # Then the model saw it once per batch, the execution got one answer, and no record failed
    assert mesh.calls == [2, 1]
    assert [token for _, token, _ in callbacks.answers] == ["t1", "t2"]
    assert set(results.values()) == set(later_results.values()) == {"done"}


def test_sqs_batch_rejects_an_event_that_is_not_sqs() -> None:
    with pytest.raises(InvalidEvent, match="Records"):
        SkillBatch({"Records": [{"body": "x"}]}, "sentiment", CountingMesh(), RecordingCallbacks())


def test_direct_invoke_names_the_bad_field() -> None:
    with pytest.raises(InvalidEvent, match=r"tasks\.0\.subject"):
        run_direct({"tasks": [{"request_id": "r", "skill": "sentiment"}]}, "sentiment", CountingMesh())
    with pytest.raises(InvalidEvent, match="tasks: List should have at least 1 item"):
        run_direct({"tasks": []}, "sentiment", CountingMesh())


class FakeStepFunctions:
    def __init__(self, code: str | None) -> None:
        self.code = code
        self.calls: list[tuple[str, dict[str, str]]] = []

    def _answer(self, name: str, kwargs: dict[str, str]) -> None:
        self.calls.append((name, kwargs))
        if self.code:
            raise ClientError({"Error": {"Code": self.code, "Message": "m"}}, name)

    def send_task_success(self, **kwargs: str) -> None:
        self._answer("send_task_success", kwargs)

    def send_task_failure(self, **kwargs: str) -> None:
        self._answer("send_task_failure", kwargs)


def test_callbacks_tell_a_gone_task_from_a_retryable_error() -> None:
    StepFunctionsCallbacks(FakeStepFunctions(None)).succeed("t", "{}")
    with pytest.raises(TaskGone):
        StepFunctionsCallbacks(FakeStepFunctions("TaskTimedOut")).succeed("t", "{}")
    with pytest.raises(ClientError):
        StepFunctionsCallbacks(FakeStepFunctions("ThrottlingException")).succeed("t", "{}")
    client = FakeStepFunctions(None)
    StepFunctionsCallbacks(client).fail("t", "E" * 300, "c" * 40_000)
    [(_, sent)] = client.calls
    assert len(sent["error"]) == 256 and len(sent["cause"]) == 32_768


def _decision(*skills: str) -> dict[str, Any]:
    return RouterDecision(skills=list(skills), scores={}, subject="s").model_dump()  # type: ignore[arg-type]


@pytest.fixture
def translate_reserved() -> Iterator[None]:
    """A skill the router may choose that nothing implements."""
    with registry.reserving(translate="translation"):
        yield


def test_aggregate_fills_unavailable_failed_and_missing_skills(translate_reserved: None) -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    lambda_cause = json.dumps({"errorType": "RuntimeError", "errorMessage": "qa model crashed"})
    event = {
        "request_id": "r",
        "decision": _decision("sentiment", "qa", "translate"),
        "router_ms": 3.0,
        "started_at": started.isoformat(),
        "results": [
            {"skill": "qa", "failure": {"Error": "RuntimeError", "Cause": lambda_cause}},
            {"skill": "sentiment"},
        ],
    }

    response = aggregate_event(event, now=started + timedelta(milliseconds=250))

    assert response.outcomes["qa"].error == "RuntimeError: qa model crashed"
    assert response.outcomes["translate"].status == "unavailable"
    assert response.outcomes["sentiment"].error == "no outcome was received"
    assert response.timings_ms["total"] == 250.0 and response.timings_ms["router"] == 3.0


def test_aggregate_rejects_a_branch_with_outcome_and_failure() -> None:
    result = {"label": "positive", "score": 0.5, "scores": {"negative": 0.5, "positive": 0.5}}
    outcome = {"skill": "sentiment", "status": "ok", "result": result, "latency_ms": 1.0}
    with pytest.raises(InvalidEvent, match=r"results\.0"):
        aggregate_event(
            {
                "request_id": "r",
                "decision": _decision("sentiment"),
                "router_ms": 1.0,
                "results": [{"skill": "sentiment", "outcome": outcome, "failure": {"Error": "E"}}],
            }
        )


def test_states_failure_describes_plain_and_missing_causes() -> None:
    assert StatesFailure.model_validate({"Error": "States.Timeout"}).describe() == "States.Timeout"
    assert StatesFailure.model_validate({"Error": "E", "Cause": "x" * 900}).describe() == ("E: " + "x" * 900)[:500]


def test_config_names_every_bad_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        cloud_settings_from_env({"POWERTOOLS_SERVICE_NAME": "", "POWERTOOLS_LOG_LEVEL": "LOUD"})
    message = str(raised.value)
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"):
        assert name in message
    ok = cloud_settings_from_env(
        {
            "POWERTOOLS_SERVICE_NAME": "qa",
            "POWERTOOLS_METRICS_NAMESPACE": "n",
            "POWERTOOLS_LOG_LEVEL": "debug",
        }
    )
    assert ok.log_level == "DEBUG"


def test_gateway_schema_lets_null_through_to_pydantic_but_keeps_limits() -> None:
    schema = gateway_request_schema()
    assert schema["required"] == ["prompt"] and schema["additionalProperties"] is False
    assert "type" not in schema["properties"]["context"]
    assert "title" not in schema["properties"]["prompt"]
    with pytest.raises(ValueError, match="cannot express"):
        _draft4({"anyOf": [{"type": "string"}, {"type": "integer"}]})


def test_lazy_mesh_builds_once_until_replaced() -> None:
    built: list[CountingMesh] = []

    def factory() -> CountingMesh:
        built.append(CountingMesh())
        return built[-1]

    lazy = Once(factory)
    assert lazy.get() is lazy.get() and len(built) == 1
    lazy.use(factory)
    assert lazy.get() is built[-1] and len(built) == 2


class FakeEvents:
    def __init__(self, failed: bool) -> None:
        self.failed = failed
        self.entries: list[dict[str, str]] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        if self.failed:
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "Throttled", "ErrorMessage": "slow down"}],
            }
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


def test_producer_puts_a_valid_analysis_requested_event() -> None:
    events = FakeEvents(failed=False)

    assert request_analysis(events, "bus", "job-1", AnalyzeRequest(prompt="Is this good?")) == "e-1"

    [entry] = events.entries
    assert entry == analysis_requested_entry("bus", "job-1", AnalyzeRequest(prompt="Is this good?"))
    assert entry["DetailType"] == "AnalysisRequested"
    assert AnalysisRequested.model_validate_json(entry["Detail"]).job_id == "job-1"
    with pytest.raises(PutEventsFailed, match="Throttled"):
        request_analysis(FakeEvents(failed=True), "bus", "job-2", AnalyzeRequest(prompt="p"))


def test_the_layer_code_path_loads_no_model_runtime() -> None:
    # numpy comes with the skill modules (the layer carries it); the model runtime must not.
    probe = "import sys, slmesh.cloud.aggregation; print('onnxruntime' in sys.modules, 'tokenizers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]
