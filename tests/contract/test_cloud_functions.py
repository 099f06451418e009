"""Every function, invoked over the emulator's HTTP API with each canonical payload in events/."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from slmesh.cloud.events import DirectSkillResult, RoutedRequest
from slmesh.schemas import AnalyzeResponse, SkillOutcome

pytestmark = pytest.mark.contract


def _user_text_absent(fn: Any, *texts: str) -> None:
    raw = fn.log_path.read_text()
    for text in texts:
        assert text not in raw, "user text reached the logs"


def test_router_routes_the_canonical_request(lambda_function: Any, event: Any) -> None:
    fn = lambda_function("router")
    payload = event("router-direct.json")

    routed = RoutedRequest.model_validate(fn.invoke(payload))

    assert routed.request_id == payload["correlation_id"]
    assert set(routed.route) == {"sentiment", "qa"}
    for skill, task in routed.route.items():
        assert (task is not None) == (skill in routed.decision.skills)
    logs = fn.logs()
    routed_line = next(line for line in logs if line.get("message") == "routed")
    assert routed_line["correlation_id"] == payload["correlation_id"]
    assert routed_line["cold_start"] is True
    assert any("RouterLatency" in line for line in logs), "EMF metrics are printed"
    _user_text_absent(fn, "I loved this film")


def test_router_rejects_a_bad_request_naming_the_field(lambda_function: Any) -> None:
    fn = lambda_function("router")

    error = fn.invoke({"body": {"prompt": "", "tone": "angry"}, "correlation_id": "c-1"})

    assert error["errorType"] == "InvalidRequest"
    details = json.loads(error["errorMessage"])["details"]
    assert {d["field"] for d in details} == {"prompt", "tone"}


@pytest.mark.parametrize("skill", ["sentiment", "qa"])
def test_skill_answers_a_direct_invoke(lambda_function: Any, event: Any, skill: str) -> None:
    fn = lambda_function(skill)
    payload = event(f"{skill}-direct.json")

    result = DirectSkillResult.model_validate(fn.invoke(payload))

    [outcome] = result.outcomes
    assert outcome.status == "ok", outcome
    skill_line = next(line for line in fn.logs() if line.get("message") == "skill ran")
    assert skill_line["correlation_id"] == payload["tasks"][0]["request_id"]
    assert any(line.get("skill") == skill and "SkillLatency" in line for line in fn.logs())
    _user_text_absent(fn, payload["tasks"][0]["subject"])


def test_skill_rejects_another_skills_task(lambda_function: Any, event: Any) -> None:
    fn = lambda_function("sentiment")

    error = fn.invoke(event("qa-direct.json"))

    assert error["errorType"] == "InvalidEvent"
    assert "tasks.0.skill" in error["errorMessage"]


def test_skill_rejects_a_malformed_payload_naming_the_field(lambda_function: Any) -> None:
    fn = lambda_function("qa")

    error = fn.invoke({"tasks": [{"request_id": "r", "skill": "qa"}]})

    assert error["errorType"] == "InvalidEvent"
    assert "tasks.0.subject" in error["errorMessage"]


def test_aggregator_merges_the_canonical_branches(lambda_function: Any, event: Any) -> None:
    fn = lambda_function("aggregator")
    payload = event("aggregator-direct.json")

    response = AnalyzeResponse.model_validate(fn.invoke(payload))

    assert response.request_id == payload["request_id"]
    assert response.outcomes["sentiment"].status == "ok"
    assert response.outcomes["qa"].status == "error"
    assert response.outcomes["qa"].error == "Lambda.TooManyRequestsException: Rate exceeded"
    assert response.timings_ms["router"] == payload["router_ms"]


# ---------------------------------------------------------------- SQS batches, answered through task tokens

WAIT_FOR_TOKEN = {
    "StartAt": "Queued",
    "States": {
        "Queued": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": "QUEUE",
                "MessageBody": {"task.$": "$.task", "task_token.$": "$$.Task.Token"},
            },
            "End": True,
        }
    },
}


def _aws(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _wait(sfn: Any, arn: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise TimeoutError(arn)


@pytest.mark.parametrize("skill", ["sentiment", "qa"])
def test_sqs_batch_answers_each_token_and_reports_partial_failures(
    lambda_function: Any, event: Any, moto_server: str, skill: str
) -> None:
    sqs, sfn = _aws(moto_server, "sqs"), _aws(moto_server, "stepfunctions")
    queue = sqs.create_queue(QueueName=f"contract-{skill}")["QueueUrl"]
    definition = json.dumps(WAIT_FOR_TOKEN).replace("QUEUE", queue)
    machine = sfn.create_state_machine(
        name=f"contract-{skill}", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    batch = event(f"{skill}-sqs-batch.json")
    executions: dict[str, str] = {}
    for record in batch["Records"]:
        try:
            body = json.loads(record["body"])
        except json.JSONDecodeError:
            continue
        started = sfn.start_execution(
            stateMachineArn=machine, name=record["messageId"], input=json.dumps({"task": body["task"]})
        )
        [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        # The canonical record, with the token of an execution that really waits for it.
        body["task_token"] = json.loads(message["Body"])["task_token"]
        record["body"] = json.dumps(body)
        executions[record["messageId"]] = started["executionArn"]
    fn = lambda_function(skill, AWS_ENDPOINT_URL_SFN=moto_server)

    response = fn.invoke(batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": f"{skill}-msg-poison"}]}
    for record in batch["Records"]:
        if record["messageId"] not in executions:
            continue
        task = json.loads(record["body"])["task"]
        finished = _wait(sfn, executions[record["messageId"]])
        if task["skill"] == skill:
            assert finished["status"] == "SUCCEEDED", finished
            assert SkillOutcome.model_validate_json(finished["output"]).status == "ok"
        else:
            assert finished["status"] == "FAILED"
            assert finished["error"] == "slmesh.InvalidTask"
    metrics = next(line for line in fn.logs() if "BatchSize" in line)
    assert metrics["BatchSize"] == [len(batch["Records"])]
    assert metrics["skill"] == skill


def test_sqs_batch_survives_tokens_no_execution_waits_for(lambda_function: Any, event: Any, moto_server: str) -> None:
    """The canonical file as `sam local invoke` sends it: no execution waits for its tokens."""
    fn = lambda_function("qa", AWS_ENDPOINT_URL_SFN=moto_server)

    response = fn.invoke(event("qa-sqs-batch.json"))

    assert response == {"batchItemFailures": [{"itemIdentifier": "qa-msg-poison"}]}
    assert sum(line.get("message") == "task token no longer awaited" for line in fn.logs()) == 3
