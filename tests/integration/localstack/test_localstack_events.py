"""The event path in LocalStack: POST /v1/jobs or AnalysisRequested on the bus -> the Standard machine
(infra/analyze-jobs.asl.json) -> task-token messages on the skill queues -> the skill functions through their SQS
event source mappings -> SendTaskSuccess -> aggregate -> the jobs table -> AnalysisCompleted on the bus.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from slmesh.bench import event_path, report
from slmesh.bench.cloud_stack import Deployed
from slmesh.bench.event_path import Completions
from slmesh.cloud.producer import request_analysis
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse

pytestmark = pytest.mark.integration

JOB_TIMEOUT_S = 120.0
BURST_JOBS = 200
BURST_TIMEOUT_S = 420.0
# The poison test's visibility timeout: the template's 180 s would make three receives take nine minutes.
POISON_VISIBILITY_S = 1
MAX_RECEIVE_COUNT = 3
QA_PROMPT = "When will the next train to Harbour Park arrive?"


def _completed(completions: Completions, job_id: str) -> event_path.Completion:
    done = completions.wait([job_id], JOB_TIMEOUT_S).get(job_id)
    assert done, f"no AnalysisCompleted for {job_id} within {JOB_TIMEOUT_S:.0f} s"
    assert len(done) == 1, done
    return done[0]


@pytest.fixture
def quick_redelivery(deployed: Deployed) -> Iterator[tuple[str, str]]:
    """The sentiment queue and its DLQ, with the queue's visibility timeout shortened for the test."""
    sqs = deployed.ls.client("sqs")
    queue, dlq = deployed.physical("SentimentQueue"), deployed.physical("SentimentDeadLetterQueue")
    before = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"]
    (mapping,) = deployed.ls.client("lambda").list_event_source_mappings(EventSourceArn=_arn(sqs, queue))[
        "EventSourceMappings"
    ]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": str(POISON_VISIBILITY_S)})
    # A receive takes the queue's timeout when it starts: a long poll of the event source mapping already waiting
    # would hide the poison for the old 180 s. Every poll that starts after this one window takes the new timeout.
    time.sleep(mapping["MaximumBatchingWindowInSeconds"] + 1)
    try:
        yield queue, dlq
    finally:
        sqs.set_queue_attributes(QueueUrl=queue, Attributes=before)
        sqs.purge_queue(QueueUrl=dlq)


def _dead_letters(sqs: Any, dlq: str, body: str, timeout_s: float = 60) -> dict[str, Any]:
    """Waits for `body` in the DLQ, reads it and makes it visible again at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", []):
            sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            if message["Body"] == body:
                return dict(message)
    raise AssertionError(f"{body!r} did not reach the DLQ within {timeout_s:.0f} s")


def _arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def test_a_poison_message_lands_in_the_dlq_and_can_be_redriven(
    deployed: Deployed, quick_redelivery: tuple[str, str]
) -> None:
    sqs = deployed.ls.client("sqs")
    queue, dlq = quick_redelivery
    poison = f"not a task {uuid.uuid4()}"

    sqs.send_message(QueueUrl=queue, MessageBody=poison)

    dead = _dead_letters(sqs, dlq, poison)
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT
    sqs.start_message_move_task(SourceArn=_arn(sqs, dlq), DestinationArn=_arn(sqs, queue))
    deadline = time.monotonic() + 60
    while True:
        # The newest task comes first; only a running task has a TaskHandle.
        moved = sqs.list_message_move_tasks(SourceArn=_arn(sqs, dlq), MaxResults=1)["Results"][0]
        if moved["Status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert moved["Status"] == "COMPLETED", moved
    assert moved["ApproximateNumberOfMessagesMoved"] == 1
    # Redriven, it is received again by the skill function and fails again: back in the DLQ after three receives.
    assert int(_dead_letters(sqs, dlq, poison)["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT


def test_a_job_posted_over_http_completes(
    deployed: Deployed, completions: Completions, same_answers: Callable[[Any, dict[str, Any]], AnalyzeResponse]
) -> None:
    request = {"prompt": REFERENCE_PROMPTS[0], "context": TRAIN_SERVICE_CONTEXT}

    queued = deployed.submit(request)

    assert queued.status == 202 and queued.body["status"] == "QUEUED", queued.body
    job_id = queued.body["job_id"]
    announced = _completed(completions, job_id)
    assert announced.status == "SUCCEEDED", announced.detail
    same_answers(announced.detail["response"], request)
    polled = deployed.job(job_id)
    assert polled.status == 200 and polled.body["status"] == "SUCCEEDED", polled.body
    assert same_answers(polled.body["result"], request).request_id == job_id
    record = deployed.ls.client("dynamodb").get_item(
        TableName=deployed.stack.outputs["JobsTableName"], Key={"job_id": {"S": job_id}}, ConsistentRead=True
    )["Item"]
    assert record["status"]["S"] == "SUCCEEDED"
    assert record["execution_arn"]["S"].startswith(
        deployed.stack.outputs["JobsStateMachineArn"].replace(":stateMachine:", ":execution:")
    )


def test_an_event_put_on_the_bus_by_another_producer_completes(
    deployed: Deployed, completions: Completions, same_answers: Callable[[Any, dict[str, Any]], AnalyzeResponse]
) -> None:
    job_id = f"producer-{uuid.uuid4()}"
    request = {"prompt": QA_PROMPT, "context": TRAIN_SERVICE_CONTEXT}

    request_analysis(
        deployed.ls.client("events"), deployed.stack.outputs["EventBusName"], job_id, AnalyzeRequest(**request)
    )

    announced = _completed(completions, job_id)
    assert announced.status == "SUCCEEDED", announced.detail
    assert same_answers(announced.detail["response"], request).skills == ["qa"]
    assert deployed.job(job_id).body["status"] == "SUCCEEDED"


def test_an_unknown_job_is_not_found(deployed: Deployed) -> None:
    answer = deployed.job(f"missing-{uuid.uuid4()}")

    assert answer.status == 404, answer.body


def test_the_redrive_policy_is_the_templates(deployed: Deployed) -> None:
    sqs = deployed.ls.client("sqs")
    queue, dlq = deployed.physical("SentimentQueue"), deployed.physical("SentimentDeadLetterQueue")

    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )

    assert policy["deadLetterTargetArn"] == _arn(sqs, dlq)
    assert int(policy["maxReceiveCount"]) == MAX_RECEIVE_COUNT


def test_a_burst_of_jobs_all_complete_once(deployed: Deployed, completions: Completions) -> None:
    measured = event_path.burst(deployed, completions, BURST_JOBS, BURST_TIMEOUT_S)

    print(f"burst: {json.dumps({k: v for k, v in measured.items() if k != 'job_ids'})}")
    assert measured["completed"] == BURST_JOBS, measured
    assert measured["duplicates"] == 0
    assert measured["statuses"] == {"SUCCEEDED": BURST_JOBS}
    table = deployed.stack.outputs["JobsTableName"]
    records = deployed.ls.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    statuses = {item["job_id"]["S"]: item["status"]["S"] for page in records for item in page["Items"]}
    assert all(statuses.get(job) == "SUCCEEDED" for job in measured["job_ids"])


def test_the_bench_measures_both_paths(deployed: Deployed) -> None:
    """What `slmesh bench` reports as system 5, on this deployment, in its quick sizes."""
    measured = event_path.measure_deployed(deployed, runs=3, warmup=1, burst_jobs=6)

    print(f"system 5 (quick): {json.dumps({k: v for k, v in measured.items() if k != 'latency'})}")
    assert measured["latency"]["all_prompts"]["total"]["n"] == 3 * len(REFERENCE_PROMPTS)
    assert measured["event_path"]["submit_to_completed_ms"]["n"] == 3
    assert measured["event_path"]["burst"]["completed"] == 6
    section = "\n".join(report.event_path_table({"systems": {"5": {"available": True, **measured}}}))
    assert "burst of 6 (6 completed, 0 duplicated)" in section
    assert report.fmt(measured["event_path"]["submit_to_completed_ms"]["p50"], " ms") in section
