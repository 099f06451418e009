"""Executes infra/*.asl.json on moto's Step Functions interpreter with the real handlers and models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from slmesh.cloud.events import AnalysisCompleted
from slmesh.schemas import AnalyzeResponse
from slmesh.skills.registry import registry

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
RESERVED = "translate"
CONTEXT = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres tall."

CASES = {
    "sentiment only": ("[sentiment] I loved this film", ["sentiment"]),
    "qa only": ("[qa] When was the Eiffel Tower completed?", ["qa"]),
    "both": ("[sentiment] [qa] Was the Eiffel Tower completed in 1889?", ["sentiment", "qa"]),
    "none": ("Write me a poem", []),
    "summarize": ("[summarize] the Eiffel Tower", ["summarize"]),
    "a reserved skill": ("[translate] the Eiffel Tower", ["translate"]),
}


@pytest.fixture(autouse=True)
def reserved() -> Iterator[None]:
    """A skill the router may choose that nothing implements: answered unavailable, with no branch."""
    with registry.reserving(**{RESERVED: "translation"}):
        yield


def _express_input(prompt: str) -> dict[str, Any]:
    return {"body": {"prompt": prompt, "context": CONTEXT}, "correlation_id": "req-1"}


def _response(execution: dict[str, Any]) -> AnalyzeResponse:
    assert execution["status"] == "SUCCEEDED", execution
    return AnalyzeResponse.model_validate_json(execution["output"])


@pytest.mark.parametrize("case", list(CASES))
def test_express_routes_runs_and_aggregates(stack: Any, case: str) -> None:
    prompt, skills = CASES[case]
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")

    response = _response(stack.run(machine, _express_input(prompt)))

    assert response.request_id == "req-1"
    assert response.skills == skills
    assert set(response.outcomes) == set(skills)
    for skill in skills:
        expected = "unavailable" if skill == RESERVED else "ok"
        assert response.outcomes[skill].status == expected, response.outcomes[skill]
    assert {"router", "aggregate", "total"} <= set(response.timings_ms)
    invoked_skills = [name for name in stack.invocations if registry.spec(name) is not None]
    assert sorted(invoked_skills) == sorted(s for s in skills if s != RESERVED)


def test_express_catches_a_crashed_skill_into_a_partial_answer(stack: Any) -> None:
    stack.mesh.crash.add("qa")
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")

    response = _response(stack.run(machine, _express_input(CASES["both"][0])))

    assert response.outcomes["sentiment"].status == "ok"
    assert response.outcomes["qa"].status == "error"
    assert response.outcomes["qa"].error == "RuntimeError: qa model crashed"
    assert "qa failed" in response.answer
    assert stack.invocations.count("qa") == 1, "a function error is not a service error: no retry"


def test_express_retries_a_throttled_skill(stack: Any) -> None:
    stack.throttle_next.add("sentiment")
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")

    response = _response(stack.run(machine, _express_input(CASES["sentiment only"][0])))

    assert response.outcomes["sentiment"].status == "ok"
    assert stack.invocations.count("sentiment") == 2


def test_express_fails_an_invalid_request_with_the_api_error(stack: Any) -> None:
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")

    execution = stack.run(machine, {"body": {"prompt": "", "colour": "red"}, "correlation_id": "req-2"})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "InvalidRequest"
    error = json.loads(json.loads(execution["cause"])["errorMessage"])
    assert {d["field"] for d in error["details"]} == {"prompt", "colour"}
    assert "router" in stack.invocations and "aggregator" not in stack.invocations


def test_express_runs_the_canonical_input(stack: Any) -> None:
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")
    canonical = json.loads((EVENTS / "express-input.json").read_text())

    response = _response(stack.run(machine, canonical))

    assert response.request_id == canonical["correlation_id"]


def _job_event(job_id: str, prompt: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "eventbridge-analysis-requested.json").read_text())
    event["detail"] = {"job_id": job_id, "request": {"prompt": prompt, "context": CONTEXT}}
    return event


def _job_item(stack: Any, job_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=stack.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    return item


def _completed_events(stack: Any) -> list[AnalysisCompleted]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.completed_queue, MaxNumberOfMessages=10).get("Messages", [])
    return [AnalysisCompleted.model_validate(json.loads(m["Body"])["detail"]) for m in messages]


@pytest.mark.parametrize("case", list(CASES))
def test_jobs_queue_each_skill_and_answer_by_task_token(stack: Any, queue_workers: Any, case: str) -> None:
    prompt, skills = CASES[case]
    machine = stack.create_machine("analyze-jobs.asl.json", "STANDARD")

    with queue_workers() as workers:
        execution = stack.run(machine, _job_event("job-1", prompt))
    assert not workers.errors

    item = _job_item(stack, "job-1")
    assert execution["status"] == "SUCCEEDED", item
    assert item["status"]["S"] == "SUCCEEDED"
    assert item["execution_arn"]["S"] == execution["executionArn"]
    response = AnalyzeResponse.model_validate_json(item["result"]["S"])
    assert response.request_id == "job-1"
    assert response.skills == skills
    for skill in skills:
        assert response.outcomes[skill].status == ("unavailable" if skill == RESERVED else "ok")
    queued = sorted(skill for skill, _, _ in workers.batches)
    assert queued == sorted(s for s in skills if s != RESERVED)
    assert all(r == {"batchItemFailures": []} for _, _, r in workers.batches)
    [completed] = _completed_events(stack)
    assert completed.job_id == "job-1" and completed.status == "SUCCEEDED"
    assert completed.response == response


def test_jobs_turn_a_failed_skill_into_a_partial_answer(stack: Any, queue_workers: Any) -> None:
    stack.mesh.error.add("sentiment")
    machine = stack.create_machine("analyze-jobs.asl.json", "STANDARD")

    with queue_workers() as workers:
        execution = stack.run(machine, _job_event("job-2", CASES["both"][0]))
    assert not workers.errors

    assert execution["status"] == "SUCCEEDED", execution
    response = AnalyzeResponse.model_validate_json(_job_item(stack, "job-2")["result"]["S"])
    assert response.outcomes["qa"].status == "ok"
    assert response.outcomes["sentiment"].status == "error"
    # moto's SendTaskFailure keeps the error name but drops the cause; the unit tests check the cause is sent.
    assert (response.outcomes["sentiment"].error or "").startswith("slmesh.SkillError")


def test_jobs_record_and_announce_an_invalid_request(stack: Any) -> None:
    machine = stack.create_machine("analyze-jobs.asl.json", "STANDARD")
    event = _job_event("job-3", "x")
    event["detail"]["request"] = {"context": "no prompt"}

    execution = stack.run(machine, event)

    assert execution["status"] == "FAILED"
    item = _job_item(stack, "job-3")
    assert item["status"]["S"] == "FAILED"
    assert json.loads(item["error"]["S"])["Error"] == "InvalidRequest"
    [completed] = _completed_events(stack)
    assert completed.status == "FAILED" and completed.error is not None
    assert completed.error.error == "InvalidRequest"


def test_a_job_delivered_twice_is_run_recorded_and_announced_once(stack: Any, queue_workers: Any) -> None:
    # Given the same AnalysisRequested event delivered twice (EventBridge delivers at least once)
    machine = stack.create_machine("analyze-jobs.asl.json", "STANDARD")
    event = _job_event("job-twice", CASES["both"][0])
    with queue_workers() as workers:
        first = stack.run(machine, event, name="delivery-1")
        second = stack.run(machine, event, name="delivery-2")
    assert not workers.errors
    # Then the second execution stops at the conditional first write and the first one's answer stands
    assert first["status"] == second["status"] == "SUCCEEDED"
    history = stack.sfn.get_execution_history(executionArn=second["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["RecordJob", "AlreadyRecorded"]
    item = _job_item(stack, "job-twice")
    assert item["execution_arn"]["S"] == first["executionArn"] and item["status"]["S"] == "SUCCEEDED"
    assert sorted(skill for skill, _, _ in workers.batches) == ["qa", "sentiment"]
    assert [e.job_id for e in _completed_events(stack)] == ["job-twice"]
