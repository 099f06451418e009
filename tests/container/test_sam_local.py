"""`sam build` of the template, then `sam local invoke` of every function with each of its events/ payloads.

sam builds the images in the engine from the staged contexts (the classic builder: no buildx) and runs each
invoke in a fresh container; it runs inside the engine's namespace, where those containers publish their port.
The zip aggregator runs on the Lambda base (`--invoke-image`) with the built layer, as sam mounts it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slmesh.bench import images
from slmesh.bench.engine import Engine
from slmesh.cloud.events import RoutedRequest
from slmesh.skills.registry import registry

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
SAM = str(Path(sys.executable).parent / "sam")
# Offline, Step Functions is unreachable and sam local passes only the variables the template declares, so
# a batch's callbacks cannot go anywhere: this name resolves to the container's own loopback and fails at once.
NO_STEP_FUNCTIONS = ["--add-host", "states.us-east-1.amazonaws.com:127.0.0.1"]
SKILLS = [spec.name for spec in registry.specs()]


@pytest.fixture(scope="module")
def sam_template(
    container_engine: Engine, built: dict[str, images.Built], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """`sam build` as the README runs it, on the host (the layer's wheels come from the package index)."""
    out = tmp_path_factory.mktemp("sam")
    done = subprocess.run(
        [SAM, "build", "--build-dir", str(out / "build"), "--cache-dir", str(out / "cache")],
        cwd=ROOT, env=container_engine.env(), capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "build" / "template.yaml"


class SamInvoked:
    """One function as `sam local invoke` runs it: every invoke is a new container (a cold start)."""

    def __init__(self, eng: Engine, template: Path, function: str, *extra: str) -> None:
        self.eng, self.template, self.function, self.extra = eng, template, function, extra
        self.output = ""

    def invoke(self, event: Any) -> Any:
        path = self.template.parent / f"event-{self.function}.json"
        path.write_text(json.dumps(event))
        done = self.eng.run(
            [SAM, "local", "invoke", self.function, "-t", str(self.template), "-e", str(path), "--skip-pull-image",
             *self.extra],
            cwd=ROOT, timeout=300,
        )  # fmt: skip
        self.output = done.stderr
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def log_text(self) -> str:
        return self.output

    def logs(self) -> list[dict[str, Any]]:
        return images.json_lines(self.output)


@pytest.mark.parametrize("payload", ["router-direct.json", "express-input.json"])
def test_sam_local_invoke_router(
    container_engine: Engine, sam_template: Path, event: Any, lambda_checks: Any, payload: str
) -> None:
    fn = SamInvoked(container_engine, sam_template, "RouterFunction")

    lambda_checks.routed(fn, event(payload), cold_start=True)


def _function(skill: str) -> str:
    spec = registry.spec(skill)
    assert spec is not None
    return f"{spec.resource}Function"


@pytest.mark.parametrize("skill", SKILLS)
def test_sam_local_invoke_skill_direct(
    container_engine: Engine, sam_template: Path, event: Any, lambda_checks: Any, skill: str
) -> None:
    fn = SamInvoked(container_engine, sam_template, _function(skill))

    lambda_checks.skill_answered(fn, event(f"{skill}-direct.json"), skill)


@pytest.mark.parametrize("skill", SKILLS)
def test_sam_local_invoke_skill_batch_reports_what_it_could_not_answer(
    container_engine: Engine, sam_template: Path, event: Any, skill: str
) -> None:
    fn = SamInvoked(container_engine, sam_template, _function(skill), *NO_STEP_FUNCTIONS)
    batch = event(f"{skill}-sqs-batch.json")

    response = fn.invoke(batch)

    # SQS redelivers each reported record: the poison one, and those whose callback found no Step Functions.
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in batch["Records"]]}
    assert sum(line.get("message") == "task callback failed" for line in fn.logs()) == len(batch["Records"]) - 1


def test_sam_local_invoke_retrieve_without_a_knowledge_base(
    container_engine: Engine, sam_template: Path, event: Any
) -> None:
    payload = event("retrieve-direct.json")

    answer = SamInvoked(container_engine, sam_template, "RetrieveFunction").invoke(payload)

    # The template's default deploys no knowledge base: the plan comes back as the router sent it.
    assert RoutedRequest.model_validate(answer) == RoutedRequest.model_validate(payload)


def test_sam_local_invoke_aggregator_on_the_base_with_its_layer(
    container_engine: Engine, sam_template: Path, lambda_base: str, event: Any, lambda_checks: Any
) -> None:
    fn = SamInvoked(container_engine, sam_template, "AggregatorFunction", "--invoke-image", lambda_base)

    lambda_checks.aggregated(fn, event("aggregator-direct.json"))
