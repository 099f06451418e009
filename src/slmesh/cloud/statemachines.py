"""The two state machines, generated from the skill registry: `python -m slmesh.cloud.statemachines` writes them.

infra/analyze-express.asl.json (sync path) and infra/analyze-jobs.asl.json (event path) are this module's output;
a test fails when the committed files differ from what it generates. Each deployed skill gets one Parallel branch:
Choice (chosen?) -> Task -> Catch -> Pass, with the placeholders `${<Resource>FunctionArn}` (Express) and
`${<Resource>QueueUrl}` (jobs) that template.yaml fills through DefinitionSubstitutions. Between routing and the
skills, both run the retrieve step when the router marked the plan (`needs_passages`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmesh.skills.registry import AnySkill, registry

EXPRESS_FILE = "analyze-express.asl.json"
JOBS_FILE = "analyze-jobs.asl.json"

Json = dict[str, Any]

_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
_SQS_ERRORS = ["SQS.AmazonSQSException", "SQS.SdkClientException"]
_DYNAMODB_ERRORS = [
    "DynamoDB.AmazonDynamoDBException",
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
]
_EVENTS_ERRORS = [
    "EventBridge.AmazonEventBridgeException",
    "EventBridge.InternalException",
    "EventBridge.ThrottlingException",
]


def _retry(errors: list[str]) -> list[Json]:
    return [{"ErrorEquals": errors, "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}]


def _catch(result_path: str, next_state: str) -> list[Json]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def placeholder(spec: AnySkill, kind: str) -> str:
    """The DefinitionSubstitutions key of a skill's function ARN (`FunctionArn`) or queue URL (`QueueUrl`)."""
    return f"{spec.resource}{kind}"


def _branch(spec: AnySkill, run: Json) -> Json:
    """Choice -> Task -> Catch -> Pass for one skill; `run` is its Task state without Retry, Catch and End."""
    name, title = spec.name, spec.resource
    return {
        "StartAt": f"{title}Chosen",
        "States": {
            f"{title}Chosen": {
                "Type": "Choice",
                "Choices": [{"Variable": f"$.route.{name}", "IsNull": False, "Next": f"Run{title}"}],
                "Default": f"{title}NotChosen",
            },
            f"{title}NotChosen": {"Type": "Pass", "Parameters": {"skill": name}, "End": True},
            f"Run{title}": {**run, "Catch": _catch("$.failure", f"{title}Failed"), "End": True},
            f"{title}Failed": {
                "Type": "Pass",
                "Parameters": {"skill": name, "failure.$": "$.failure"},
                "End": True,
            },
        },
    }


def _invoke_skill(spec: AnySkill) -> Json:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "TimeoutSeconds": 60,
        "Parameters": {
            "FunctionName": f"${{{placeholder(spec, 'FunctionArn')}}}",
            "Payload": {"tasks.$": f"States.Array($.route.{spec.name})"},
        },
        "ResultSelector": {"skill": spec.name, "outcome.$": "$.Payload.outcomes[0]"},
        "Retry": _retry(_LAMBDA_ERRORS),
    }


def _queue_skill(spec: AnySkill) -> Json:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "TimeoutSeconds": 900,
        "Parameters": {
            "QueueUrl": f"${{{placeholder(spec, 'QueueUrl')}}}",
            "MessageBody": {"task.$": f"$.route.{spec.name}", "task_token.$": "$$.Task.Token"},
        },
        "ResultSelector": {"skill": spec.name, "outcome.$": "$"},
        "Retry": _retry(_SQS_ERRORS),
    }


def _branches(task: Callable[[AnySkill], Json]) -> list[Json]:
    return [_branch(spec, task(spec)) for spec in registry.specs()]


def _lambda_task(function: str, timeout: int, **fields: Any) -> Json:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "TimeoutSeconds": timeout,
        "Parameters": {"FunctionName": f"${{{function}}}", **fields.pop("parameters")},
        **fields,
        "Retry": _retry(_LAMBDA_ERRORS),
    }


def _passages_needed(flag: str) -> Json:
    """The Choice before the skills: the retrieve step runs only for a plan the router marked."""
    return {
        "Type": "Choice",
        "Choices": [{"Variable": flag, "BooleanEquals": True, "Next": "Retrieve"}],
        "Default": "RunSkills",
    }


def _retrieve(timeout: int, **fields: Any) -> Json:
    """The retrieve Task: Lambda's service errors retried; any failure left after that caught with the plan kept as
    it was (ResultPath null), so the skills still run and QA says it found nothing rather than the request failing."""
    return {
        **_lambda_task("RetrieveFunctionArn", timeout, **fields),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "RunSkills"}],
        "Next": "RunSkills",
    }


def express() -> Json:
    """The sync path (POST /v1/analyze): route, run the chosen skills in parallel, aggregate."""
    return {
        "Comment": (
            "slmesh sync path (POST /v1/analyze): route, retrieve passages when a question has no context, run the"
            " chosen skills in parallel, aggregate."
        ),
        "StartAt": "Route",
        "TimeoutSeconds": 29,
        "States": {
            "Route": {
                **_lambda_task("RouterFunctionArn", 20, parameters={"Payload.$": "$"}, OutputPath="$.Payload"),
                "Next": "PassagesNeeded",
            },
            "PassagesNeeded": _passages_needed("$.needs_passages"),
            "Retrieve": _retrieve(15, parameters={"Payload.$": "$"}, OutputPath="$.Payload"),
            "RunSkills": {
                "Type": "Parallel",
                "ResultPath": "$.results",
                "Next": "Aggregate",
                "Branches": _branches(_invoke_skill),
            },
            "Aggregate": {
                **_lambda_task(
                    "AggregatorFunctionArn",
                    10,
                    parameters={
                        "Payload": {
                            "request_id.$": "$.request_id",
                            "decision.$": "$.decision",
                            "router_ms.$": "$.router_ms",
                            "retrieve_ms.$": "$.retrieve_ms",
                            "results.$": "$.results",
                            "started_at.$": "$$.Execution.StartTime",
                        }
                    },
                    OutputPath="$.Payload",
                ),
                "End": True,
            },
        },
    }


def _record(status: str, field: str, value: str, next_state: str, catch: bool) -> Json:
    state: Json = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": "${JobsTableName}",
            "Key": {"job_id": {"S.$": "$.detail.job_id"}},
            "UpdateExpression": f"SET #status = :status, #{field} = :{field}, finished_at = :at",
            "ExpressionAttributeNames": {"#status": "status", f"#{field}": field},
            "ExpressionAttributeValues": {
                ":status": {"S": status},
                f":{field}": {"S.$": f"States.JsonToString({value})"},
                ":at": {"S.$": "$$.State.EnteredTime"},
            },
        },
        "ResultPath": None,
        "Retry": _retry(_DYNAMODB_ERRORS),
    }
    if catch:
        state["Catch"] = _catch("$.error", "RecordFailure")
    state["Next"] = next_state
    return state


def _announce(status: str, field: str, value: str) -> Json:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {
            "Entries": [
                {
                    "EventBusName": "${EventBusName}",
                    "Source": "slmesh.jobs",
                    "DetailType": "AnalysisCompleted",
                    "Detail": {"job_id.$": "$.detail.job_id", "status": status, f"{field}.$": value},
                }
            ]
        },
        "ResultPath": None,
        "Retry": _retry(_EVENTS_ERRORS),
    }


_ROUTED = {
    f"{name}.$": f"$.Payload.{name}"
    for name in ("request_id", "decision", "route", "router_ms", "needs_passages", "retrieve_ms")
}
"""The router's (and the retrieve function's) output kept beside the job's event: everything but the Lambda
response's envelope."""


def jobs() -> Json:
    """The event path (AnalysisRequested on the bus): record, route, queue each chosen skill, aggregate, announce."""
    return {
        "Comment": (
            "slmesh event path (AnalysisRequested on the bus): route, retrieve passages when a question has no "
            "context, queue each chosen skill with a task token, aggregate, record the job and announce "
            "AnalysisCompleted."
        ),
        "StartAt": "RecordJob",
        "States": {
            "RecordJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": "${JobsTableName}",
                    "Item": {
                        "job_id": {"S.$": "$.detail.job_id"},
                        "status": {"S": "RUNNING"},
                        "execution_arn": {"S.$": "$$.Execution.Id"},
                        "submitted_at": {"S.$": "$$.State.EnteredTime"},
                    },
                    # EventBridge delivers at least once: the first execution of a job id owns it, a second one
                    # (the same event delivered again) stops here, so a job is run, recorded and announced once.
                    "ConditionExpression": "attribute_not_exists(job_id)",
                },
                "ResultPath": None,
                "Retry": _retry(_DYNAMODB_ERRORS),
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": None,
                        "Next": "AlreadyRecorded",
                    },
                    *_catch("$.error", "RecordFailure"),
                ],
                "Next": "Route",
            },
            "AlreadyRecorded": {
                "Type": "Succeed",
                "Comment": "Another execution holds this job id: a duplicate delivery, nothing to do.",
            },
            "Route": {
                **_lambda_task(
                    "RouterFunctionArn",
                    60,
                    parameters={"Payload": {"body.$": "$.detail.request", "correlation_id.$": "$.detail.job_id"}},
                    ResultSelector=_ROUTED,
                    ResultPath="$.routed",
                ),
                "Catch": _catch("$.error", "RecordFailure"),
                "Next": "PassagesNeeded",
            },
            "PassagesNeeded": _passages_needed("$.routed.needs_passages"),
            "Retrieve": _retrieve(
                60, parameters={"Payload.$": "$.routed"}, ResultSelector=_ROUTED, ResultPath="$.routed"
            ),
            "RunSkills": {
                "Type": "Parallel",
                "Parameters": {"route.$": "$.routed.route"},
                "ResultPath": "$.results",
                "Branches": _branches(_queue_skill),
                "Catch": _catch("$.error", "RecordFailure"),
                "Next": "Aggregate",
            },
            "Aggregate": {
                **_lambda_task(
                    "AggregatorFunctionArn",
                    60,
                    parameters={
                        "Payload": {
                            "request_id.$": "$.routed.request_id",
                            "decision.$": "$.routed.decision",
                            "router_ms.$": "$.routed.router_ms",
                            "retrieve_ms.$": "$.routed.retrieve_ms",
                            "results.$": "$.results",
                            "started_at.$": "$$.Execution.StartTime",
                        }
                    },
                    ResultSelector={"response.$": "$.Payload"},
                    ResultPath="$.aggregated",
                ),
                "Catch": _catch("$.error", "RecordFailure"),
                "Next": "RecordResult",
            },
            "RecordResult": _record("SUCCEEDED", "result", "$.aggregated.response", "AnnounceCompleted", catch=True),
            "AnnounceCompleted": {**_announce("SUCCEEDED", "response", "$.aggregated.response"), "End": True},
            "RecordFailure": _record("FAILED", "error", "$.error", "AnnounceFailed", catch=False),
            "AnnounceFailed": {**_announce("FAILED", "error", "$.error"), "Next": "JobFailed"},
            "JobFailed": {"Type": "Fail", "Error": "slmesh.JobFailed", "Cause": "The job record holds the error."},
        },
    }


DEFINITIONS: dict[str, Callable[[], Json]] = {EXPRESS_FILE: express, JOBS_FILE: jobs}


def render(definition: Json) -> str:
    return json.dumps(definition, indent=2) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m slmesh.cloud.statemachines", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("infra"), help="folder to write the ASL files to")
    args = parser.parse_args(argv)
    for name, build in DEFINITIONS.items():
        (args.out / name).write_text(render(build()))


if __name__ == "__main__":
    main()
