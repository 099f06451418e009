"""The retrieve step of both state machines under moto: a knowledge base built with the real embed model from
examples/kb, pushed to moto's S3 as `slmesh kb push` does, read by the real retrieve function.

A question sent without a context is answered from it with its source; a retriever that fails is caught and the
question answered honestly (no context to answer from) instead of the request failing; with no knowledge base
deployed, or a question that brings its own context, the step does not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from slmesh.cloud.kbstore import IndexLocation, push
from slmesh.cloud.retrieval import make_retrieve_handler
from slmesh.cloud.routing import make_router_handler
from slmesh.lazy import Once
from slmesh.schemas import AnalyzeResponse, Passage

pytestmark = pytest.mark.integration

LOCATION = IndexLocation(bucket="slmesh-kb-test", prefix="indexes/demo")
QUESTION = "[qa] Can I take my bicycle on the train?"
CONTEXT = "The Eiffel Tower was completed in 1889 for the World's Fair in Paris."
MACHINES = {"express": ("analyze-express.asl.json", "EXPRESS"), "jobs": ("analyze-jobs.asl.json", "STANDARD")}


class BrokenIndex:
    def passages(self, questions: Sequence[str]) -> list[list[Passage]]:
        raise RuntimeError("index unreadable")


@pytest.fixture
def deployed_kb(stack: Any, demo_kb: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack with a knowledge base: pushed to S3, and the router and retrieve functions started (cold) with
    template.yaml's variables pointing at it."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=LOCATION.bucket)
    push(s3, demo_kb, LOCATION)
    monkeypatch.setenv("SLMESH_KB_BUCKET", LOCATION.bucket)
    monkeypatch.setenv("SLMESH_KB_PREFIX", LOCATION.prefix)
    stack.handlers["router"] = make_router_handler(Once(lambda: stack.mesh))
    stack.handlers["retrieve"] = make_retrieve_handler()
    return stack


def _answer(stack: Any, machine: str, body: dict[str, Any], queue_workers: Any) -> tuple[AnalyzeResponse, list[str]]:
    """The response of one execution of `machine`, and the states it entered."""
    asl, kind = MACHINES[machine]
    arn = stack.create_machine(asl, kind)
    if machine == "express":
        execution = stack.run(arn, {"body": body, "correlation_id": "req-kb"})
        assert execution["status"] == "SUCCEEDED", execution
        response = AnalyzeResponse.model_validate_json(execution["output"])
    else:
        with queue_workers() as workers:
            execution = stack.run(
                arn, {"detail-type": "AnalysisRequested", "detail": {"job_id": "req-kb", "request": body}}
            )
        assert not workers.errors and execution["status"] == "SUCCEEDED", execution
        item = boto3.client("dynamodb").get_item(TableName=stack.table, Key={"job_id": {"S": "req-kb"}})["Item"]
        response = AnalyzeResponse.model_validate_json(item["result"]["S"])
    history = stack.sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert response.request_id == "req-kb"
    return response, entered


def _qa(response: AnalyzeResponse) -> dict[str, Any]:
    outcome = response.outcomes["qa"]
    assert outcome.status == "ok", outcome
    assert outcome.result is not None
    result: dict[str, Any] = outcome.result.model_dump()
    return result


@pytest.mark.parametrize("machine", list(MACHINES))
def test_a_question_without_a_context_is_answered_from_the_knowledge_base(
    deployed_kb: Any, queue_workers: Any, machine: str
) -> None:
    response, entered = _answer(deployed_kb, machine, {"prompt": QUESTION}, queue_workers)

    assert "Retrieve" in entered
    result = _qa(response)
    assert result["source"]["path"] == "bicycles.md"
    assert result["no_answer_reason"] is None or result["evidence"], result
    assert "bicycles.md" in response.answer
    # The same stage timings as the embedded pipeline's: routing, retrieval, each skill, aggregation, total.
    assert list(response.timings_ms)[:3] == ["router", "retrieve", "qa"]
    assert response.timings_ms["retrieve"] > 0
    assert deployed_kb.invocations.count("retrieve") == 1


@pytest.mark.parametrize("machine", list(MACHINES))
def test_a_failing_retriever_is_caught_and_the_question_answered_honestly(
    deployed_kb: Any, queue_workers: Any, machine: str
) -> None:
    deployed_kb.handlers["retrieve"] = make_retrieve_handler(Once(BrokenIndex))

    response, entered = _answer(deployed_kb, machine, {"prompt": QUESTION}, queue_workers)

    assert "Retrieve" in entered and "RunSkills" in entered
    result = _qa(response)
    assert result["answer"] is None and result["no_answer_reason"] == "no_context"
    assert "retrieve" not in response.timings_ms
    assert deployed_kb.invocations.count("retrieve") == 1, "a function error is not a service error: no retry"


def test_a_throttled_retriever_is_retried(deployed_kb: Any, queue_workers: Any) -> None:
    deployed_kb.throttle_next.add("retrieve")

    response, _ = _answer(deployed_kb, "express", {"prompt": QUESTION}, queue_workers)

    assert _qa(response)["source"]["path"] == "bicycles.md"
    assert deployed_kb.invocations.count("retrieve") == 2


@pytest.mark.parametrize("machine", list(MACHINES))
def test_without_a_knowledge_base_the_step_is_skipped(stack: Any, queue_workers: Any, machine: str) -> None:
    response, entered = _answer(stack, machine, {"prompt": QUESTION}, queue_workers)

    assert "PassagesNeeded" in entered and "Retrieve" not in entered
    assert "retrieve" not in stack.invocations
    assert _qa(response)["no_answer_reason"] == "no_context"


@pytest.mark.parametrize("machine", list(MACHINES))
def test_a_question_with_its_own_context_skips_the_step(deployed_kb: Any, queue_workers: Any, machine: str) -> None:
    body = {"prompt": "[sentiment] [qa] When was the Eiffel Tower completed?", "context": CONTEXT}

    response, entered = _answer(deployed_kb, machine, body, queue_workers)

    assert "Retrieve" not in entered and "retrieve" not in deployed_kb.invocations
    assert _qa(response)["answer"] == "1889"
    assert response.outcomes["sentiment"].status == "ok"
