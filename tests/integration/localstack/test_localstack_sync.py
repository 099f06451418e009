"""The sync path in LocalStack: POST /v1/analyze -> API Gateway (infra/api.yaml's VTL) -> Step Functions Express
(infra/analyze-express.asl.json) -> the router, skill and aggregator functions in their containers.

Answers are compared with the embedded pipeline's on the same models: the deployment must not change them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from slmesh.bench.cloud_stack import Deployed
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.schemas import AnalyzeResponse, ErrorResponse

pytestmark = pytest.mark.integration

SENTIMENT_ONLY = {"prompt": 'Is this review positive: "I loved this film"'}
QA_ONLY = {"prompt": "When was it built?", "context": "The tower was built in 1889."}
NEITHER = {"prompt": "Hello, nice to meet you"}
SameAnswers = Callable[[Any, dict[str, Any]], AnalyzeResponse]
THROTTLED = "Lambda.TooManyRequestsException"
MOCKED_SENTIMENT = {
    "skill": "sentiment",
    "status": "ok",
    "result": {"label": "positive", "score": 0.5, "scores": {"negative": 0.5, "positive": 0.5}},
    "latency_ms": 1,
}


def _analyzed(deployed: Deployed, body: dict[str, Any]) -> AnalyzeResponse:
    answer = deployed.analyze(body)
    assert answer.status == 200, answer.body
    return AnalyzeResponse.model_validate(answer.body)


@pytest.mark.parametrize("prompt", REFERENCE_PROMPTS)
def test_the_articles_prompts_are_answered_by_the_deployed_models(
    deployed: Deployed, same_answers: SameAnswers, prompt: str
) -> None:
    body = {"prompt": prompt, "context": TRAIN_SERVICE_CONTEXT}

    response = _analyzed(deployed, body)

    assert response.skills == ["sentiment", "qa"]
    same_answers(response.model_dump(), body)
    assert {"router", "sentiment", "qa", "aggregate", "total"} <= response.timings_ms.keys()


@pytest.mark.parametrize(
    ("body", "skills"),
    [(SENTIMENT_ONLY, ["sentiment"]), (QA_ONLY, ["qa"]), (NEITHER, [])],
    ids=["sentiment", "qa", "none"],
)
def test_only_the_chosen_skills_run(
    deployed: Deployed, same_answers: SameAnswers, body: dict[str, Any], skills: list[str]
) -> None:
    response = _analyzed(deployed, body)

    assert response.skills == skills
    same_answers(response.model_dump(), body)


def test_the_request_id_travels_as_the_correlation_id(deployed: Deployed) -> None:
    request_id = f"sync-{uuid.uuid4()}"

    response = _analyzed(deployed, {**SENTIMENT_ONLY, "request_id": request_id})

    assert response.request_id == request_id


@pytest.fixture
def broken_qa(deployed: Deployed) -> Iterator[None]:
    """The QA function pointed at a models folder that does not exist: every invoke fails, as a crash would."""
    client = deployed.ls.client("lambda")
    name = deployed.function_name("QAFunction")
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    def configure(env: dict[str, str]) -> None:
        client.update_function_configuration(FunctionName=name, Environment={"Variables": env})
        client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})

    configure({**variables, "SLMESH_MODELS_DIR": "/nonexistent"})
    try:
        yield
    finally:
        configure(variables)


def test_a_failing_skill_gives_a_partial_answer(deployed: Deployed, broken_qa: None) -> None:
    response = _analyzed(deployed, {"prompt": REFERENCE_PROMPTS[0], "context": TRAIN_SERVICE_CONTEXT})

    assert response.outcomes["sentiment"].status == "ok"
    assert response.outcomes["qa"].status == "error"
    assert response.outcomes["qa"].error


@pytest.fixture
def express_test_case(
    deployed: Deployed, mock_config: Callable[[Any], None]
) -> Iterator[Callable[[str, list[Any]], str]]:
    """A Step Functions Local mock test case for the Express machine: RunSentiment answers `responses` in turn
    (every other state runs for real); returns the ARN to start it with."""
    arn = deployed.stack.outputs["AnalyzeStateMachineArn"]
    machine = arn.rsplit(":", 1)[1]

    def case(name: str, responses: list[Any]) -> str:
        mocked = {str(i): response for i, response in enumerate(responses)}
        mock_config(
            {
                "StateMachines": {machine: {"TestCases": {name: {"RunSentiment": f"{name}Sentiment"}}}},
                "MockedResponses": {f"{name}Sentiment": mocked},
            }
        )
        return f"{arn}#{name}"

    yield case
    mock_config({})


def _sync_execution(deployed: Deployed, arn: str) -> tuple[dict[str, Any], float]:
    body = {"body": {"prompt": REFERENCE_PROMPTS[0], "context": TRAIN_SERVICE_CONTEXT}, "correlation_id": "mocked"}
    started = time.perf_counter()
    execution = deployed.ls.client("stepfunctions").start_sync_execution(stateMachineArn=arn, input=json.dumps(body))
    return execution, time.perf_counter() - started


def test_a_throttled_skill_is_retried(deployed: Deployed, express_test_case: Callable[[str, list[Any]], str]) -> None:
    throttle = {"Throw": {"Error": THROTTLED, "Cause": "Rate exceeded"}}
    arn = express_test_case("ThrottledOnce", [throttle, {"Return": {"Payload": {"outcomes": [MOCKED_SENTIMENT]}}}])

    execution, seconds = _sync_execution(deployed, arn)

    assert execution["status"] == "SUCCEEDED", execution
    response = AnalyzeResponse.model_validate_json(execution["output"])
    assert response.outcomes["sentiment"].status == "ok"
    assert response.outcomes["sentiment"].latency_ms == 1
    assert response.outcomes["qa"].status == "ok"
    assert seconds >= 1.0, "the retry waits IntervalSeconds (1 s)"


def test_a_skill_throttled_past_its_retries_is_an_error_outcome(
    deployed: Deployed, express_test_case: Callable[[str, list[Any]], str]
) -> None:
    throttle = {"Throw": {"Error": THROTTLED, "Cause": "Rate exceeded"}}
    arn = express_test_case("AlwaysThrottled", [throttle] * 4)

    execution, seconds = _sync_execution(deployed, arn)

    assert execution["status"] == "SUCCEEDED", execution
    response = AnalyzeResponse.model_validate_json(execution["output"])
    assert response.outcomes["sentiment"].status == "error"
    assert response.outcomes["sentiment"].error == f"{THROTTLED}: Rate exceeded"
    assert response.outcomes["qa"].status == "ok"
    assert seconds >= 1.0 + 2.0 + 4.0, "three retries, 1 s apart doubling"


def test_a_request_without_the_api_key_is_refused(deployed: Deployed) -> None:
    answer = deployed.request("POST", "/v1/analyze", SENTIMENT_ONLY, key="")

    assert answer.status == 403


@pytest.mark.parametrize(
    "body",
    [{"prompt": ""}, {"context": "no prompt"}, {"prompt": "hi", "unknown": 1}, {"prompt": "x" * 4001}],
    ids=["empty-prompt", "no-prompt", "extra-field", "prompt-too-long"],
)
def test_an_invalid_body_is_refused_at_the_gateway(deployed: Deployed, body: dict[str, Any]) -> None:
    answer = deployed.request("POST", "/v1/analyze", body)

    # AWS answers 422 with the ErrorResponse of infra/api.yaml's BAD_REQUEST_BODY; LocalStack's validator 400.
    assert answer.status in (400, 422), answer.body
    if answer.status == 422:
        ErrorResponse.model_validate(answer.body)


def test_a_body_that_is_not_json_is_refused(deployed: Deployed) -> None:
    answer = deployed.request("POST", "/v1/analyze", raw=b"not json")

    assert 400 <= answer.status < 500, answer.body
