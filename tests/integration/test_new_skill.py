"""A skill is one module: a toy skill defined here, registered in one place, flows through every way slmesh runs.

Given a word-counting skill (no model) registered with `registry.extended`, when a prompt asks for it, then the
embedded pipeline, the HTTP API, the Lambda handlers and both generated state machines (under moto) answer with
its result and its sentence, and the API documents describe it — with no other file edited.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import boto3
import pytest

from slmesh.api.openapi import document
from slmesh.api.server import AnalyzeServer
from slmesh.cloud.statemachines import express, jobs
from slmesh.config import ServeSettings
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, SkillResult, SkillTask
from slmesh.skills.base import Skill
from slmesh.skills.registry import registry

pytestmark = pytest.mark.integration

PROMPT = "[wordcount] three little words"


class WordCountResult(SkillResult):
    words: int


class WordCountSkill(Skill[Any, WordCountResult]):
    name: ClassVar[str] = "wordcount"
    title: ClassVar[str] = "word counting"
    resource: ClassVar[str] = "WordCount"
    result_model = WordCountResult

    def run(self, tasks: Sequence[SkillTask]) -> list[WordCountResult]:
        return [WordCountResult(words=len(t.subject.split())) for t in tasks]

    @classmethod
    def describe(cls, result: WordCountResult) -> str:
        return f"The subject has {result.words} words."


@pytest.fixture
def toy() -> Iterator[None]:
    with registry.extended(WordCountSkill):
        yield


def _check(response: AnalyzeResponse) -> None:
    assert response.skills == ["wordcount"]
    outcome = response.outcomes["wordcount"]
    assert outcome.status == "ok" and outcome.result == WordCountResult(words=3)
    assert response.answer == "The subject has 3 words."


def test_the_embedded_pipeline_runs_it(toy: None, model_store: ModelStore, scripted_router: Any) -> None:
    pipeline = Pipeline(model_store, router=scripted_router)
    try:
        _check(pipeline.analyze(AnalyzeRequest(prompt=PROMPT)))
    finally:
        pipeline.close()


def test_the_http_api_serves_and_documents_it(toy: None, model_store: ModelStore, scripted_router: Any) -> None:
    pipeline = Pipeline(model_store, router=scripted_router)
    try:
        with AnalyzeServer(pipeline, ServeSettings(port=0)).running() as server:
            connection = http.client.HTTPConnection(*server.address, timeout=30)
            connection.request(
                "POST", "/v1/analyze", json.dumps({"prompt": PROMPT}), {"Content-Type": "application/json"}
            )
            reply = connection.getresponse()
            assert reply.status == 200
            _check(AnalyzeResponse.model_validate_json(reply.read()))
            connection.request("GET", "/healthz")
            assert json.loads(connection.getresponse().read())["skills"]["wordcount"] == "ok"
            connection.close()
    finally:
        pipeline.close()
    schemas = document()["components"]["schemas"]
    assert "WordCountResult" in schemas
    assert "wordcount" in schemas["SkillOutcome"]["properties"]["skill"]["enum"]


def test_the_generated_state_machines_have_its_branch(toy: None) -> None:
    for definition in (express(), jobs()):
        [parallel] = [s for s in definition["States"].values() if s["Type"] == "Parallel"]
        assert [b["StartAt"] for b in parallel["Branches"]][-1] == "WordCountChosen"


def test_the_express_machine_and_lambda_handlers_answer_with_it(toy: None, stack: Any) -> None:
    machine = stack.create_machine("analyze-express.asl.json", "EXPRESS")
    execution = stack.run(machine, {"body": {"prompt": PROMPT}, "correlation_id": "toy-1"})
    assert execution["status"] == "SUCCEEDED", execution
    _check(AnalyzeResponse.model_validate_json(execution["output"]))
    assert "wordcount" in stack.invocations


def test_the_jobs_machine_queues_it_and_records_its_answer(toy: None, stack: Any, queue_workers: Any) -> None:
    machine = stack.create_machine("analyze-jobs.asl.json", "STANDARD")
    event = {"detail-type": "AnalysisRequested", "detail": {"job_id": "toy-job", "request": {"prompt": PROMPT}}}
    with queue_workers() as workers:
        execution = stack.run(machine, event)
    assert not workers.errors and execution["status"] == "SUCCEEDED", execution
    item = boto3.client("dynamodb").get_item(TableName=stack.table, Key={"job_id": {"S": "toy-job"}})["Item"]
    _check(AnalyzeResponse.model_validate_json(item["result"]["S"]))
    assert [skill for skill, _, _ in workers.batches] == ["wordcount"]
