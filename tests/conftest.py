"""Fixtures shared by every tier: the configured models, one pipeline per session, the Lambda answers' checks, and
the container engine with the function images (one per session: the container and LocalStack tiers share it).

`container_engine` is the user's Docker (DOCKER_HOST) or our own dockerd in a network namespace of this test run
(slmesh.bench.engine), stopped and removed at the end of the session.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from slmesh.bench import cloud_stack, images
from slmesh.bench.engine import Engine, EngineUnavailableError, engine
from slmesh.cloud.events import DirectSkillResult, RoutedRequest
from slmesh.config import settings_from_env
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeResponse, SkillOutcome
from slmesh.skills.registry import registry

# Property tests draw the same examples every run (a failure reproduces, CI is stable) and keep no example database
# in the checkout; model calls have no per-example deadline on a busy machine.
settings.register_profile("slmesh", derandomize=True, database=None, deadline=None)
settings.load_profile("slmesh")

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return settings_from_env().models_dir


@pytest.fixture(scope="session")
def model_store(models_dir: Path) -> ModelStore:
    return ModelStore(models_dir)


@pytest.fixture(scope="session")
def pipeline(model_store: ModelStore) -> Iterator[Pipeline]:
    built = Pipeline(model_store)
    yield built
    built.close()


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


def _finished(sfn: Any, arn: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise TimeoutError(arn)


class LambdaChecks:
    """What each function must answer to its canonical payloads, whatever runs it (emulator on the host, image).

    `fn` is a started function: `invoke(event)`, `logs()` (its JSON output lines) and `log_text()`.
    """

    @staticmethod
    def user_text_absent(fn: Any, *texts: str) -> None:
        raw = fn.log_text()
        for text in texts:
            assert text not in raw, "user text reached the logs"

    def routed(self, fn: Any, payload: dict[str, Any], cold_start: bool | None = None) -> RoutedRequest:
        routed = RoutedRequest.model_validate(fn.invoke(payload))
        assert routed.request_id == payload["correlation_id"]
        assert set(routed.route) == {spec.name for spec in registry.specs()}
        for skill, task in routed.route.items():
            assert (task is not None) == (skill in routed.decision.skills)
        logs = fn.logs()
        routed_line = next(
            line
            for line in logs
            if line.get("message") == "routed" and line.get("correlation_id") == payload["correlation_id"]
        )
        if cold_start is not None:
            assert routed_line["cold_start"] is cold_start
        assert any("RouterLatency" in line for line in logs), "EMF metrics are printed"
        self.user_text_absent(fn, payload["body"]["prompt"])
        return routed

    def skill_answered(self, fn: Any, payload: dict[str, Any], skill: str) -> None:
        result = DirectSkillResult.model_validate(fn.invoke(payload))
        [outcome] = result.outcomes
        assert outcome.status == "ok", outcome
        request_id = payload["tasks"][0]["request_id"]
        logs = fn.logs()
        assert any(line.get("message") == "skill ran" and line.get("correlation_id") == request_id for line in logs)
        assert any(line.get("skill") == skill and "SkillLatency" in line for line in logs)
        self.user_text_absent(fn, payload["tasks"][0]["subject"])

    def retrieved(self, fn: Any, payload: dict[str, Any], source: str) -> RoutedRequest:
        """The canonical plan back with passages for its question (from `source`, a document of the knowledge base)
        and the time it took; counts and metrics in the logs, not the question."""
        routed = RoutedRequest.model_validate(fn.invoke(payload))
        assert routed.request_id == payload["request_id"]
        qa = routed.route["qa"]
        assert qa is not None and qa.passages, routed
        assert qa.passages[0].source.path == source
        assert routed.retrieve_ms is not None and routed.retrieve_ms > 0
        without = {name: t.model_copy(update={"passages": None}) if t else None for name, t in routed.route.items()}
        unchanged = routed.model_copy(update={"route": without, "retrieve_ms": None})
        assert unchanged == RoutedRequest.model_validate(payload), "only the passages and the time are added"
        logs = fn.logs()
        assert any(
            line.get("message") == "retrieved" and line.get("correlation_id") == routed.request_id for line in logs
        )
        assert any("RetrieveLatency" in line for line in logs), "EMF metrics are printed"
        self.user_text_absent(fn, payload["route"]["qa"]["subject"])
        return routed

    @staticmethod
    def aggregated(fn: Any, payload: dict[str, Any]) -> None:
        response = AnalyzeResponse.model_validate(fn.invoke(payload))
        assert response.request_id == payload["request_id"]
        assert response.outcomes["sentiment"].status == "ok"
        assert response.outcomes["qa"].status == "error"
        assert response.outcomes["qa"].error == "Lambda.TooManyRequestsException: Rate exceeded"
        assert response.timings_ms["router"] == payload["router_ms"]

    @staticmethod
    def batch_answers_tokens(
        aws: Callable[[str], Any], start: Callable[[], Any], batch: dict[str, Any], skill: str
    ) -> None:
        """Each record's task token belongs to an execution waiting in Step Functions (`aws` makes its clients);
        `start` starts the function pointed at that endpoint. A poison record is reported, every other answered."""
        sqs, sfn = aws("sqs"), aws("stepfunctions")
        queue = sqs.create_queue(QueueName=f"checks-{skill}")["QueueUrl"]
        definition = json.dumps(WAIT_FOR_TOKEN).replace("QUEUE", queue)
        machine = sfn.create_state_machine(
            name=f"checks-{skill}-{uuid.uuid4().hex[:8]}",
            definition=definition,
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
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
        fn = start()

        response = fn.invoke(batch)

        assert response == {"batchItemFailures": [{"itemIdentifier": f"{skill}-msg-poison"}]}
        for record in batch["Records"]:
            if record["messageId"] not in executions:
                continue
            task = json.loads(record["body"])["task"]
            finished = _finished(sfn, executions[record["messageId"]])
            if task["skill"] == skill:
                assert finished["status"] == "SUCCEEDED", finished
                assert SkillOutcome.model_validate_json(finished["output"]).status == "ok"
            else:
                assert finished["status"] == "FAILED"
                assert finished["error"] == "slmesh.InvalidTask"
        metrics = next(line for line in fn.logs() if "BatchSize" in line)
        assert metrics["BatchSize"] == [len(batch["Records"])]
        assert metrics["skill"] == skill

    @staticmethod
    def batch_without_waiters(fn: Any, batch: dict[str, Any], skill: str) -> None:
        """The canonical file as `sam local invoke` sends it: no execution waits for its tokens."""
        readable = [r for r in batch["Records"] if r["body"].startswith("{")]
        before = sum(line.get("message") == "task token no longer awaited" for line in fn.logs())

        response = fn.invoke(batch)

        assert response == {"batchItemFailures": [{"itemIdentifier": f"{skill}-msg-poison"}]}
        after = sum(line.get("message") == "task token no longer awaited" for line in fn.logs())
        assert after - before == len(readable)


def aws_client(endpoint: str, service: str) -> Any:
    """A boto3 client for a moto endpoint, with the dummy credentials moto takes."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )


@pytest.fixture(scope="session")
def aws() -> Callable[[str, str], Any]:
    """`aws(endpoint, service)`: a boto3 client for that moto endpoint."""
    return aws_client


@pytest.fixture(scope="session")
def lambda_checks() -> LambdaChecks:
    return LambdaChecks()


@pytest.fixture(scope="session")
def event() -> Any:
    """Loads a canonical payload from events/ by file name."""

    def load(name: str) -> Any:
        return json.loads((EVENTS_DIR / name).read_text())

    return load


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory: pytest.TempPathFactory, model_store: ModelStore) -> Path:
    """The demo knowledge base (examples/kb) ingested with the real embed model, as `make run` builds it."""
    from slmesh.embedding import Embedder
    from slmesh.kb.index import ingest

    folder = tmp_path_factory.mktemp("kb") / "demo"
    ingest([EVENTS_DIR.parent / "examples" / "kb"], Embedder.load(model_store), folder)
    return folder


@pytest.fixture(scope="session")
def container_engine() -> Iterator[Engine]:
    try:
        with engine() as started:
            yield started
    except EngineUnavailableError as exc:
        pytest.skip(f"no container engine: {exc}")


@pytest.fixture(scope="session")
def lambda_base(container_engine: Engine) -> str:
    try:
        return images.lambda_base(container_engine)
    except EngineUnavailableError as exc:
        pytest.skip(f"no Lambda base image: {exc}")


@pytest.fixture(scope="session")
def built(container_engine: Engine, lambda_base: str) -> dict[str, images.Built]:
    """Every model function's image, from a freshly staged context (the locked wheels, in our own engine)."""
    return cloud_stack.build_images(container_engine)


@pytest.fixture(scope="session")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.stage_layer(tmp_path_factory.mktemp("layer"))
