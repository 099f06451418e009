"""An in-process AWS (moto, executing the real ASL files) wired to the real handler code and models.

moto's Lambda without Docker only echoes payloads, so its one invoke method is replaced by a dispatch to our
handlers; everything else (Step Functions interpreter, SQS, DynamoDB, EventBridge) is moto's own.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from samcli.yamlhelper import yaml_parse

from slmesh.cloud.aggregation import make_aggregator_handler
from slmesh.cloud.callbacks import StepFunctionsCallbacks
from slmesh.cloud.retrieval import make_retrieve_handler
from slmesh.cloud.routing import make_router_handler
from slmesh.cloud.skill_worker import make_skill_handler
from slmesh.cloud.statemachines import DEFINITIONS, placeholder, render
from slmesh.config import settings_from_env
from slmesh.lazy import Once
from slmesh.runtime import ModelStore
from slmesh.schemas import RouterDecision, SkillOutcome, SkillTask
from slmesh.skills.registry import SkillSet, registry

ROOT = Path(__file__).resolve().parents[2]


def markers() -> tuple[str, ...]:
    return registry.names()


def load_template() -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
    return template


def substitute(definition: str, values: dict[str, str]) -> str:
    """What CloudFormation does with DefinitionSubstitutions; an unknown placeholder is a test failure."""

    def one(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\$\{(\w+)\}", one, definition)


class ScriptedRouter:
    """Routes on markers like "[qa]" in the prompt, so each test picks its skills, whatever the models."""

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        skills = [s for s in markers() if f"[{s}]" in prompt]
        subject = re.sub(r"\[\w+\]", "", prompt).strip()
        return RouterDecision(
            skills=skills,  # type: ignore[arg-type]
            scores={s: 0.9 if s in skills else 0.1 for s in markers()},
            subject=subject,
        )


@dataclass
class ScriptedMesh:
    """The scripted router in front of the real models; `failing` skills fail the way the test asks."""

    skills: SkillSet
    crash: set[str] = field(default_factory=set)
    error: set[str] = field(default_factory=set)
    router: ScriptedRouter = field(default_factory=ScriptedRouter)

    def run(self, skill: str, tasks: Sequence[SkillTask]) -> list[SkillOutcome]:
        if skill in self.crash:
            raise RuntimeError(f"{skill} model crashed")
        if skill in self.error:
            return [
                SkillOutcome(skill=skill, status="error", error=f"{skill} model failed", latency_ms=1.0) for _ in tasks
            ]
        return self.skills.run(skill, tasks)


@pytest.fixture
def scripted_router() -> ScriptedRouter:
    return ScriptedRouter()


@pytest.fixture(scope="session")
def real_skills() -> SkillSet:
    settings = settings_from_env()
    return SkillSet(ModelStore(settings.models_dir, settings.threads))


@dataclass
class FakeContext:
    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class Throttled(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate exceeded")


@dataclass
class Stack:
    """The deployed resources' names in moto, and the handlers behind the Lambda names."""

    handlers: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]]
    mesh: ScriptedMesh
    queues: dict[str, str]
    table: str
    bus: str
    completed_queue: str
    invocations: list[str] = field(default_factory=list)
    throttle_next: set[str] = field(default_factory=set)
    sfn: Any = None

    def create_machine(self, asl_file: str, kind: str) -> str:
        values = {
            "RouterFunctionArn": "router",
            "RetrieveFunctionArn": "retrieve",
            "AggregatorFunctionArn": "aggregator",
            "JobsTableName": self.table,
            "EventBusName": self.bus,
            **{placeholder(spec, "FunctionArn"): spec.name for spec in registry.specs()},
            **{placeholder(spec, "QueueUrl"): self.queues[spec.name] for spec in registry.specs()},
        }
        # Generated now, from the registry as the test sees it (a test may have registered a skill of its own);
        # a template test checks that the committed files are this output.
        definition = substitute(render(DEFINITIONS[asl_file]()), values)
        arn: str = self.sfn.create_state_machine(
            name=asl_file.split(".")[0], definition=definition, roleArn=_ROLE_ARN, type=kind
        )["stateMachineArn"]
        return arn

    def run(
        self, machine_arn: str, execution_input: dict[str, Any], timeout_s: float = 60.0, name: str | None = None
    ) -> dict[str, Any]:
        """`name` tells executions of one machine apart (moto names each unnamed one "None")."""
        started = self.sfn.start_execution(
            stateMachineArn=machine_arn, input=json.dumps(execution_input), **({"name": name} if name else {})
        )
        arn = started["executionArn"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise TimeoutError(f"execution {arn} still running after {timeout_s}s")


_ROLE_ARN = "arn:aws:iam::123456789012:role/slmesh-test"


def _invoke(stack: Stack) -> Callable[..., bytes]:
    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: bytes | None,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        name = function_name.split(":function:")[-1].split(":")[0]
        stack.invocations.append(name)
        if name in stack.throttle_next:
            stack.throttle_next.discard(name)
            raise Throttled()
        try:
            result = stack.handlers[name](json.loads(body or b"{}"), FakeContext(name))
        except Exception as exc:
            # What Lambda returns for an unhandled handler error: Step Functions names it by errorType.
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

    return invoke


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, real_skills: SkillSet) -> Iterator[Stack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "slmesh-test",
        "POWERTOOLS_METRICS_NAMESPACE": "slmesh-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLMESH_KB_BUCKET", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        mesh = ScriptedMesh(real_skills)
        lazy: Once[Any] = Once(lambda: mesh)
        sqs = boto3.client("sqs")
        queues = {s.name: sqs.create_queue(QueueName=f"slmesh-{s.name}")["QueueUrl"] for s in registry.specs()}
        completed = sqs.create_queue(QueueName="slmesh-completed")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="slmesh-jobs",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        events = boto3.client("events")
        events.create_event_bus(Name="slmesh-bus")
        events.put_rule(
            Name="completed",
            EventBusName="slmesh-bus",
            EventPattern=json.dumps({"detail-type": ["AnalysisCompleted"]}),
        )
        completed_arn = sqs.get_queue_attributes(QueueUrl=completed, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_targets(Rule="completed", EventBusName="slmesh-bus", Targets=[{"Id": "q", "Arn": completed_arn}])
        callbacks = StepFunctionsCallbacks(boto3.client("stepfunctions"))
        stack = Stack(
            handlers={
                "router": make_router_handler(lazy),
                # No knowledge base deployed (SLMESH_KB_BUCKET unset): the router marks no plan, and this one would
                # pass any plan unchanged; tests of the retrieve step deploy one (test_cloud_retrieve_step.py).
                "retrieve": make_retrieve_handler(),
                **{s.name: make_skill_handler(s.name, lazy, callbacks) for s in registry.specs()},
                "aggregator": make_aggregator_handler(),
            },
            mesh=mesh,
            queues=queues,
            table="slmesh-jobs",
            bus="slmesh-bus",
            completed_queue=completed,
            sfn=boto3.client("stepfunctions"),
        )
        monkeypatch.setattr(LambdaSimpleBackend, "invoke", _invoke(stack))
        lam = boto3.client("lambda")
        role = boto3.client("iam").create_role(
            RoleName="slmesh-test",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        assert role == _ROLE_ARN
        for name in stack.handlers:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": b"app"},
            )
        yield stack


class QueueWorkers:
    """Lambda's SQS event source mapping, in a thread: batches of queued records to each skill's handler."""

    def __init__(self, stack: Stack, batch_size: int = 10) -> None:
        self._stack = stack
        self._batch_size = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.batches: list[tuple[str, int, dict[str, Any]]] = []
        self.errors: list[BaseException] = []

    def __enter__(self) -> QueueWorkers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            for skill, url in self._stack.queues.items():
                try:
                    self._poll(sqs, skill, url)
                except BaseException as exc:  # surfaced by the test, not swallowed
                    self.errors.append(exc)
                    return
            time.sleep(0.05)

    def _poll(self, sqs: Any, skill: str, url: str) -> None:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=self._batch_size).get("Messages", [])
        if not messages:
            return
        event = {"Records": [sqs_record(m, skill) for m in messages]}
        response = self._stack.handlers[skill](event, FakeContext(skill))
        self.batches.append((skill, len(messages), response))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def sqs_record(message: dict[str, Any], skill: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1764201600000",
            "SenderId": "AROAEXAMPLE:states",
            "ApproximateFirstReceiveTimestamp": "1764201600001",
        },
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:slmesh-{skill}",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def queue_workers(stack: Stack) -> Callable[[], QueueWorkers]:
    return lambda: QueueWorkers(stack)
